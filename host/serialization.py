"""The one registry of wire message types; every runtime registers all of them."""

from __future__ import annotations

from autogen_core import AgentRuntime, try_get_known_serializers_for_type

from .messages import CancelReply, CancelRequest, ChatReply, ChatRequest, ForgetReply, ForgetRequest, StreamEvent

__all__ = ["WIRE_TYPES", "register_wire_types"]

WIRE_TYPES: tuple[type, ...] = (
    ChatRequest, ChatReply, StreamEvent, CancelRequest, CancelReply, ForgetRequest, ForgetReply
)  # fmt: skip


def register_wire_types(runtime: AgentRuntime, extra: tuple[type, ...] = ()) -> None:
    """Add a serializer for every wire type (and ``extra`` ones) to ``runtime``."""
    for message_type in WIRE_TYPES + extra:
        runtime.add_message_serializer(try_get_known_serializers_for_type(message_type))
