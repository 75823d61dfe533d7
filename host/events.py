"""What each event kind carries in ``StreamEvent.data``: one typed definition, written by agents, read by the bridge.

``data`` travels as a plain dict (nothing is validated per token); these
``TypedDict``\\ s name its keys, so mypy checks both the side that emits
(:class:`~agenthost.core.emitter.EventEmitter`) and the sides that read (the
HTTP bridge, the CLI), and the OpenAPI document describes the same shapes.

=============  ==========================================================
kind           data
=============  ==========================================================
``status``     :class:`StatusData`: the turn started, or an agent thinks
``chunk``      :class:`ChunkData`: a piece of the reply's text
``message``    :class:`MessageData`: one whole message of an agent
``tool_call``  :class:`ToolCallData`: an agent calls a tool
``tool_result`` :class:`ToolResultData`: the tool's result
``done``       :class:`DoneData`: the turn's end, with the reply and usage
``error``      :class:`ErrorData`: the turn's end, failed
=============  ==========================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NotRequired, cast

from typing_extensions import TypedDict

from .messages import ErrorCode, FinishReason

if TYPE_CHECKING:
    from .messages import StreamEvent

__all__ = [
    "EVENT_DATA",
    "ChunkData",
    "DoneData",
    "ErrorData",
    "MessageData",
    "StatusData",
    "ToolCallData",
    "ToolResultData",
    "UsageData",
    "chunk_of",
    "done_of",
    "error_of",
]


class UsageData(TypedDict):
    prompt_tokens: int
    completion_tokens: int


class StatusData(TypedDict):
    """``started`` (``agent``, ``conversation_id``) or ``thinking`` (``content``, ``source``)."""

    status: str
    agent: NotRequired[str]
    conversation_id: NotRequired[str | None]
    content: NotRequired[str]
    source: NotRequired[str]


class ChunkData(TypedDict):
    """A piece of the reply's text; the reply is every chunk's ``content`` joined."""

    content: str
    source: NotRequired[str]


class MessageData(TypedDict):
    """One whole message; ``source`` is the agent (or team member) that wrote it."""

    content: str
    source: str
    type: NotRequired[str]
    turn: NotRequired[int]
    conversation_id: NotRequired[str | None]


class ToolCallData(TypedDict):
    id: str
    name: str
    arguments: str
    source: NotRequired[str]


class ToolResultData(TypedDict):
    id: str
    name: str
    content: str
    is_error: bool
    source: NotRequired[str]


class DoneData(TypedDict):
    message: str
    conversation_id: str | None
    finish_reason: FinishReason
    usage: UsageData


class ErrorData(TypedDict):
    code: ErrorCode
    message: str


EVENT_DATA: dict[str, type] = {
    "status": StatusData,
    "chunk": ChunkData,
    "message": MessageData,
    "tool_call": ToolCallData,
    "tool_result": ToolResultData,
    "done": DoneData,
    "error": ErrorData,
}
"""Each event kind's data type (the OpenAPI document is generated from these)."""


def chunk_of(event: StreamEvent) -> ChunkData:
    """The data of a ``chunk`` event."""
    return cast("ChunkData", event.data)


def done_of(event: StreamEvent) -> DoneData:
    """The data of a ``done`` event."""
    return cast("DoneData", event.data)


def error_of(event: StreamEvent) -> ErrorData:
    """The data of an ``error`` event."""
    return cast("ErrorData", event.data)
