"""Patches to the embedded ``SingleThreadedAgentRuntime``: no work for unread logs and spans, batch dispatch,
instance eviction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import types
from collections.abc import Iterable
from typing import Any

from autogen_core import EVENT_LOGGER_NAME, Agent, AgentId, MessageContext, SingleThreadedAgentRuntime
from autogen_core._message_handler_context import MessageHandlerContext
from autogen_core.logging import DeliveryStage, MessageHandlerExceptionEvent, MessageKind
from autogen_core.logging import MessageEvent as _MessageEvent

from ._base import attr

__all__ = [
    "dispatch_in_batches",
    "evict_instance",
    "get_instance",
    "instance_count",
    "known_agent_types",
    "lean_publish",
    "missing_serializers",
    "serialize_only_when_logged",
    "untraced",
]

_EVENTS = logging.getLogger(EVENT_LOGGER_NAME)
_CORE = logging.getLogger("autogen_core")
_JSON = "application/json"


def serialize_only_when_logged(runtime: Any) -> None:
    """Stop ``SingleThreadedAgentRuntime`` serializing payloads for event-log records nobody reads.

    The engine serializes every message up to three times per delivery for its
    ``autogen_core.events`` log and tracing attributes, whether or not anything
    listens. With this, it does so only while that logger is enabled for INFO.
    """
    serialize = attr(runtime, "_try_serialize")
    events = logging.getLogger(EVENT_LOGGER_NAME)

    def try_serialize(message: Any) -> str:
        return serialize(message) if events.isEnabledFor(logging.INFO) else "(not logged)"

    runtime._try_serialize = try_serialize


class _NoTrace:
    """Stands in for a runtime's ``TraceHelper`` when nothing records spans."""

    _NULL = contextlib.nullcontext()

    def trace_block(self, *args: Any, **kwargs: Any) -> contextlib.nullcontext[None]:
        return self._NULL


async def _no_attributes(*args: Any, **kwargs: Any) -> dict[str, str]:
    return {}


def untraced(runtime: Any) -> None:
    """Skip the engine's per-message span bookkeeping when tracing is off.

    With no tracer provider configured the engine still builds four no-op spans
    and their attributes (a payload serialization and a JSON dump among them)
    for every RPC. Works on ``SingleThreadedAgentRuntime`` (``_tracer_helper``)
    and ``GrpcWorkerAgentRuntime`` (``_trace_helper``).
    """
    if isinstance(runtime, SingleThreadedAgentRuntime):
        attr(runtime, "_tracer_helper")
        attr(runtime, "_create_otel_attributes")
        runtime._tracer_helper = _NoTrace()  # type: ignore[assignment]
        runtime._create_otel_attributes = _no_attributes  # type: ignore[method-assign]
    else:
        attr(runtime, "_trace_helper")
        runtime._trace_helper = _NoTrace()


def lean_publish(runtime: SingleThreadedAgentRuntime) -> None:
    """Deliver published messages without the engine's per-recipient overhead (tracing off only).

    Every streamed token is a published event. For each recipient the engine formats an INFO log
    line (an f-string, built even when nothing logs it) after looking up the sender agent just to
    name it, and then awaits ``asyncio.gather`` of the deliveries: one more task and a gathering
    future per token. This ``_process_publish`` does the same deliveries in the same order with the
    same error handling, builds the log records only when their loggers are on, and awaits a single
    delivery directly. Install it only where :func:`untraced` is (its span blocks are no-ops then).
    """
    attr(runtime, "_process_publish")
    for name in ("_subscription_manager", "_get_agent", "_message_queue", "_ignore_unhandled_handler_exceptions"):
        attr(runtime, name)
    rt: Any = runtime

    async def deliver(agent: Agent, context: MessageContext, message: Any) -> Any:
        with MessageHandlerContext.populate_context(agent.id):
            try:
                return await agent.on_message(message, ctx=context)
            except BaseException as exc:
                _CORE.error(f"Error processing publish message for {agent.id}", exc_info=True)
                if _EVENTS.isEnabledFor(logging.INFO):
                    payload = rt._try_serialize(message)
                    _EVENTS.info(MessageHandlerExceptionEvent(payload=payload, handling_agent=agent.id, exception=exc))
                raise

    async def process_publish(envelope: Any) -> None:
        try:
            deliveries = []
            recipients = await rt._subscription_manager.get_subscribed_recipients(envelope.topic_id)
            sender = envelope.sender
            for agent_id in recipients:
                if sender is not None and agent_id == sender:
                    continue  # not back to the sender
                if _CORE.isEnabledFor(logging.INFO):
                    sender_agent = await rt._get_agent(sender) if sender is not None else None
                    named = str(sender_agent.id) if sender_agent is not None else "Unknown"
                    kind = type(envelope.message).__name__
                    _CORE.info(
                        f"Calling message handler for {agent_id.type} with message type {kind} published by {named}"
                    )
                if _EVENTS.isEnabledFor(logging.INFO):
                    _EVENTS.info(
                        _MessageEvent(
                            payload=rt._try_serialize(envelope.message), sender=sender, receiver=None,
                            kind=MessageKind.PUBLISH, delivery_stage=DeliveryStage.DELIVER,
                        )
                    )  # fmt: skip
                context = MessageContext(
                    sender=sender, topic_id=envelope.topic_id, is_rpc=False,
                    cancellation_token=envelope.cancellation_token, message_id=envelope.message_id,
                )  # fmt: skip
                deliveries.append(deliver(await rt._get_agent(agent_id), context, envelope.message))
            if len(deliveries) == 1:
                await deliveries[0]
            elif deliveries:
                await asyncio.gather(*deliveries)
        except BaseException as exc:
            if not rt._ignore_unhandled_handler_exceptions:
                rt._background_exception = exc
        finally:
            rt._message_queue.task_done()

    rt._process_publish = process_publish


class _AsyncioDispatchingInBatches(types.ModuleType):
    """``asyncio`` as the embedded runtime's module sees it, except that ``sleep(0)`` does not yield."""

    def __init__(self) -> None:
        super().__init__("asyncio")

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    def sleep(delay: float, result: Any = None) -> Any:
        return asyncio.sleep(delay, result) if delay else _ready(result)


async def _ready(result: Any) -> Any:
    return result


def _message_event_when_logged(**fields: Any) -> Any:
    """The engine's ``MessageEvent(...)``, built only when its logger would record it."""
    return _MessageEvent(**fields) if _EVENTS.isEnabledFor(logging.INFO) else None


def dispatch_in_batches() -> None:
    """Make ``SingleThreadedAgentRuntime``'s dispatch loop cheap under load.

    After dispatching each message (creating the task that handles it) the
    engine awaits ``asyncio.sleep(0)``, so its dispatch loop moves one message
    per event-loop iteration. In a busy server every iteration also carries all
    the socket work, which made each RPC cost about three times its in-process
    CPU time at 16 concurrent HTTP requests. Without that yield the loop drains
    what is queued (same order, same tasks) and suspends on the empty queue.
    It also builds its four ``MessageEvent`` log records per RPC only when the
    ``autogen_core.events`` logger is on. Process-wide: it swaps two names the
    engine's module sees, once.
    """
    module = sys.modules[SingleThreadedAgentRuntime.__module__]
    if not isinstance(attr(module, "asyncio"), _AsyncioDispatchingInBatches):
        module.asyncio = _AsyncioDispatchingInBatches()  # type: ignore[attr-defined]
    if attr(module, "MessageEvent") is _MessageEvent:
        module.MessageEvent = _message_event_when_logged  # type: ignore[attr-defined]


def evict_instance(runtime: Any, agent_id: AgentId) -> Agent | None:
    """Forget an agent instance; the next message to its id creates a new one."""
    instances: dict[AgentId, Agent] = attr(runtime, "_instantiated_agents")
    return instances.pop(agent_id, None)


def get_instance(runtime: Any, agent_id: AgentId) -> Agent | None:
    """The live instance for ``agent_id`` in this process, if one exists."""
    instances: dict[AgentId, Agent] = attr(runtime, "_instantiated_agents")
    return instances.get(agent_id)


def instance_count(runtime: Any) -> int:
    return len(attr(runtime, "_instantiated_agents"))


def known_agent_types(runtime: Any) -> frozenset[str]:
    """Agent types registered on this runtime (this process only)."""
    return frozenset(attr(runtime, "_agent_factories"))


def missing_serializers(runtime: Any, types: Iterable[type]) -> list[str]:
    """Names of ``types`` with no JSON serializer on ``runtime``."""
    registry = attr(runtime, "_serialization_registry")
    return [t.__name__ for t in types if not registry.is_registered(t.__name__, _JSON)]
