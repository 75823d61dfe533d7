"""Patches to the embedded ``SingleThreadedAgentRuntime``: no work for unread logs and spans, batch dispatch,
instance eviction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import types
import uuid
from collections.abc import Iterable
from typing import Any

from autogen_core import (
    EVENT_LOGGER_NAME,
    Agent,
    AgentId,
    CancellationToken,
    MessageContext,
    SingleThreadedAgentRuntime,
    TopicId,
)
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
    "lean_delivery",
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


def lean_delivery(runtime: SingleThreadedAgentRuntime) -> None:
    """Send, answer and publish without the engine's per-message overhead (tracing off only).

    The engine formats an INFO log line of every message it sends, answers or publishes (an
    f-string of the whole message: a turn's request with its history, its reply, every streamed
    token), built even when nothing logs it; gathers trace context for each envelope; and moves
    every message through its dispatch loop, which starts one task per message a loop pass later.
    An RPC costs four such passes, a published token two, and under load each pass waits behind
    everything else ready in the loop. For each recipient of a publish it also looks up the sender
    just to name it in a log line, and gathers the deliveries: one more task and future per token.

    These ``send_message``, ``_process_send``, ``publish_message`` and ``_process_publish`` do the
    same deliveries in the same order with the same error handling and queue accounting, build log
    records only when their loggers are on, and leave the envelopes' trace context empty (no spans
    are recorded). When nothing is queued ahead, a message's task starts at once instead of a pass
    of the dispatch loop later (the task the loop would start, counted by the queue until done, so
    ``stop_when_idle`` waits for it), and an RPC's answer resolves its caller at once instead of
    going round the queue again. With anything queued, or intervention handlers, or a failure
    waiting to stop the runtime, messages go through the queue as before. Install it only where
    :func:`untraced` is (its span blocks are no-ops then).
    """
    for name in (
        "send_message", "_process_send", "_process_publish", "publish_message", "_known_agent_names",
        "_subscription_manager", "_get_agent", "_message_queue", "_ignore_unhandled_handler_exceptions",
        "_run_context", "_intervention_handlers", "_background_exception", "_background_tasks",
    ):  # fmt: skip
        attr(runtime, name)
    for name in ("_unfinished_tasks", "_finished", "_is_shutdown"):
        attr(runtime._message_queue, name)
    rt: Any = runtime
    engine = sys.modules[SingleThreadedAgentRuntime.__module__]
    send_envelope, publish_envelope = engine.SendMessageEnvelope, engine.PublishMessageEnvelope
    response_envelope = engine.ResponseMessageEnvelope

    def start_or_enqueue(envelope: Any, process: Any) -> None:
        queue = rt._message_queue
        if not _nothing_ahead(rt):
            queue.put_nowait(envelope)  # unbounded: what put() does, without a coroutine
            return
        queue._unfinished_tasks += 1  # as put_nowait counts it; the task's task_done settles it
        queue._finished.clear()
        task = asyncio.get_running_loop().create_task(process(envelope))
        rt._background_tasks.add(task)
        task.add_done_callback(rt._background_tasks.discard)

    def log_event(message: Any, **fields: Any) -> None:
        if _EVENTS.isEnabledFor(logging.INFO):
            _EVENTS.info(_MessageEvent(payload=rt._try_serialize(message), **fields))

    async def send_message(
        message: Any,
        recipient: AgentId,
        *,
        sender: AgentId | None = None,
        cancellation_token: CancellationToken | None = None,
        message_id: str | None = None,
    ) -> Any:
        if cancellation_token is None:
            cancellation_token = CancellationToken()
        if message_id is None:
            message_id = str(uuid.uuid4())
        send = DeliveryStage.SEND
        log_event(message, sender=sender, receiver=recipient, kind=MessageKind.DIRECT, delivery_stage=send)
        future = asyncio.get_running_loop().create_future()
        if recipient.type not in rt._known_agent_names:
            future.set_exception(Exception("Recipient not found"))
            return await future
        if _CORE.isEnabledFor(logging.INFO):
            _CORE.info(f"Sending message of type {type(message).__name__} to {recipient.type}: {_fields(message)}")
        envelope = send_envelope(
            message=message, recipient=recipient, future=future, cancellation_token=cancellation_token,
            sender=sender, metadata=None, message_id=message_id,
        )  # fmt: skip
        start_or_enqueue(envelope, process_send)
        cancellation_token.link_future(future)
        return await future

    async def process_send(envelope: Any) -> None:
        recipient, queue, future = envelope.recipient, rt._message_queue, envelope.future
        if recipient.type not in rt._known_agent_names:
            raise LookupError(f"Agent type '{recipient.type}' does not exist.")
        try:
            if _CORE.isEnabledFor(logging.INFO):
                sender_id = str(envelope.sender) if envelope.sender is not None else "Unknown"
                kind = type(envelope.message).__name__
                _CORE.info(f"Calling message handler for {recipient} with message type {kind} sent by {sender_id}")
            log_event(
                envelope.message, sender=envelope.sender, receiver=recipient,
                kind=MessageKind.DIRECT, delivery_stage=DeliveryStage.DELIVER,
            )  # fmt: skip
            agent = await rt._get_agent(recipient)
            context = MessageContext(
                sender=envelope.sender, topic_id=None, is_rpc=True,
                cancellation_token=envelope.cancellation_token, message_id=envelope.message_id,
            )  # fmt: skip
            with MessageHandlerContext.populate_context(agent.id):
                response = await agent.on_message(envelope.message, ctx=context)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError) or not future.cancelled():
                future.set_exception(exc)
            queue.task_done()
            if _EVENTS.isEnabledFor(logging.INFO):
                _EVENTS.info(
                    MessageHandlerExceptionEvent(
                        payload=rt._try_serialize(envelope.message), handling_agent=recipient, exception=exc
                    )
                )
            return
        log_event(
            response, sender=recipient, receiver=envelope.sender,
            kind=MessageKind.RESPOND, delivery_stage=DeliveryStage.SEND,
        )  # fmt: skip
        if not _nothing_ahead(rt):
            queue.put_nowait(
                response_envelope(
                    message=response, future=future, sender=recipient, recipient=envelope.sender, metadata=None
                )
            )
        else:  # what the engine's _process_response does for it, a queue round later
            if _CORE.isEnabledFor(logging.INFO):
                _CORE.info(
                    f"Resolving response with message type {type(response).__name__} for recipient "
                    f"{envelope.sender} from {recipient.type}: {_fields(response)}"
                )
            log_event(
                response, sender=recipient, receiver=envelope.sender,
                kind=MessageKind.RESPOND, delivery_stage=DeliveryStage.DELIVER,
            )  # fmt: skip
            if not future.cancelled():
                future.set_result(response)
        queue.task_done()

    async def publish_message(
        message: Any,
        topic_id: TopicId,
        *,
        sender: AgentId | None = None,
        cancellation_token: CancellationToken | None = None,
        message_id: str | None = None,
    ) -> None:
        if cancellation_token is None:
            cancellation_token = CancellationToken()
        if _CORE.isEnabledFor(logging.INFO):
            _CORE.info(f"Publishing message of type {type(message).__name__} to all subscribers: {_fields(message)}")
        if message_id is None:
            message_id = str(uuid.uuid4())
        send = DeliveryStage.SEND
        log_event(message, sender=sender, receiver=topic_id, kind=MessageKind.PUBLISH, delivery_stage=send)
        envelope = publish_envelope(
            message=message, cancellation_token=cancellation_token, sender=sender, topic_id=topic_id,
            metadata=None, message_id=message_id,
        )  # fmt: skip
        start_or_enqueue(envelope, process_publish)

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
                log_event(
                    envelope.message, sender=sender, receiver=None,
                    kind=MessageKind.PUBLISH, delivery_stage=DeliveryStage.DELIVER,
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

    rt.send_message = send_message
    rt._process_send = process_send
    rt.publish_message = publish_message
    rt._process_publish = process_publish


def _fields(message: Any) -> Any:
    """What the engine's log lines show of a message."""
    return message.__dict__ if hasattr(message, "__dict__") else message


def _nothing_ahead(rt: Any) -> bool:
    """True when the dispatch loop would take a message next: it runs, nothing is queued, no intervention
    handler must see the message and no failure is waiting to stop the runtime."""
    return (
        rt._message_queue.empty()
        and rt._run_context is not None
        and rt._intervention_handlers is None
        and rt._background_exception is None
        and not rt._message_queue._is_shutdown
    )


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
