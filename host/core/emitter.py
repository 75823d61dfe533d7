"""The agent side of a turn's event stream: :class:`EventEmitter` publishes each event with its ``seq``.

An agent publishes each :class:`StreamEvent` of a turn to
``TopicId(type=request.reply_topic_type, source=request.request_id)``; the
caller's side appends it to the turn's run log (:mod:`agenthost.runs`).

Tokens are the bulk of a turn's events, and each event costs a publish through
the runtime (over gRPC, a trip through the host). So ``chunk`` events are
coalesced at their leading edge: a chunk goes out at once unless one went out
within the same pass of the event loop (embedded) or less than ``window``
seconds ago (gRPC); then it waits, with any that follow, for the end of that
pass or for ``window`` seconds, and they go out as one event, in order, never
behind a later event of another kind. The first chunk of a turn, and the first
after a quiet spell, is never held back; a model streaming one token at a time
costs one event per token and no extra task, a burst one event per pass.
One turn may produce at most ``limits.max_events`` events and
``limits.max_bytes`` bytes of text (:class:`~agenthost.errors.TurnLimitExceeded`
ends it), and an agent producing chunks without awaiting anything yields the
event loop every :data:`YIELD_EVERY` chunks, so one turn cannot hold the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from autogen_core import AgentRuntime, TopicId

from ..errors import TurnLimitExceeded
from ..events import (
    ChunkData,
    DoneData,
    ErrorData,
    MessageData,
    StatusData,
    ToolCallData,
    ToolResultData,
    UsageData,
)
from ..messages import ChatReply, ChatRequest, ErrorInfo, EventKind, StreamEvent
from ..settings import LimitSettings

__all__ = ["YIELD_EVERY", "EventData", "EventEmitter", "done_data"]

YIELD_EVERY = 64
"""An agent emitting chunks without awaiting anything else yields the event loop this often."""

EventData = StatusData | ChunkData | MessageData | ToolCallData | ToolResultData | DoneData | ErrorData


class EventEmitter:
    """Publishes one turn's events with consecutive ``seq`` numbers, coalescing chunks.

    When the request asked for no stream nothing is published: the reply
    carries the result.
    """

    __slots__ = (
        "_bytes",
        "_calls",
        "_hold",
        "_limits",
        "_pending",
        "_pending_source",
        "_quiet_at",
        "_request_id",
        "_runtime",
        "_seq",
        "_topic",
        "_window",
        "enabled",
        "finished",
    )

    def __init__(
        self,
        runtime: AgentRuntime | None,
        request_id: str,
        topic_type: str,
        *,
        window: float = 0.0,
        limits: LimitSettings | None = None,
    ) -> None:
        self._runtime = runtime
        self._request_id = request_id
        self.enabled = runtime is not None and bool(topic_type)
        self._topic = TopicId(topic_type, request_id) if self.enabled else None
        self._window = window
        self._limits = limits or LimitSettings()
        self._seq = 0
        self._bytes = 0
        self._calls = 0
        self._pending: list[str] = []
        self._pending_source: str | None = None
        self._hold: asyncio.Handle | None = None  # while set, chunks wait for its end
        self._quiet_at = 0.0  # with a window: the loop time from which a chunk goes out at once
        self.finished = False

    @staticmethod
    def for_request(
        runtime: AgentRuntime, request: ChatRequest, *, window: float = 0.0, limits: LimitSettings | None = None
    ) -> EventEmitter:
        """The request's emitter; one shared, silent one when the request asked for no stream."""
        if not request.stream or not request.reply_topic_type:
            return _SILENT
        return EventEmitter(runtime, request.request_id, request.reply_topic_type, window=window, limits=limits)

    async def publish(self, kind: EventKind, data: EventData) -> None:
        """Publish one event (each kind's ``data`` type is in :mod:`agenthost.events`)."""
        if not self.enabled or self.finished:
            return
        if self._pending:
            await self._flush()
        await self._send(kind, data)

    async def status(self, data: StatusData) -> None:
        await self.publish("status", data)

    async def chunk(self, content: str, source: str | None = None) -> None:
        """A piece of the reply's text; consecutive pieces from one source may be sent as one event."""
        if not self.enabled or self.finished or not content:
            return
        self._count(len(content))
        if self._pending and source != self._pending_source:
            await self._flush()
        if self._hold is None and not self._recent():  # at once; the ones right after it wait
            self._sent()
            await self._send("chunk", _chunk_data(content, source))
            return
        self._pending.append(content)
        self._pending_source = source
        if self._hold is None:  # with a window: a window from the first one waiting
            self._hold = asyncio.get_running_loop().call_later(self._window, self._end_hold)
        self._calls += 1
        if self._calls % YIELD_EVERY == 0:
            await asyncio.sleep(0)

    async def message(self, content: str, source: str, **extra: Any) -> None:
        """A whole message; ``extra`` adds keys of :class:`MessageData` (``type``, ``turn``)."""
        await self.publish("message", cast("MessageData", {"content": content, "source": source, **extra}))

    async def emit(self, kind: EventKind, **data: Any) -> None:
        """An event with ``data`` as keyword arguments (untyped: prefer the methods named after the kind)."""
        await self.publish(kind, cast("EventData", data))

    async def tool_call(self, data: ToolCallData) -> None:
        await self.publish("tool_call", data)

    async def tool_result(self, data: ToolResultData) -> None:
        await self.publish("tool_result", data)

    async def done(self, reply: ChatReply) -> None:
        await self.publish("done", done_data(reply))

    async def error(self, error: ErrorInfo) -> None:
        await self.publish("error", ErrorData(code=error.code, message=error.message))

    # -- internals ---------------------------------------------------------------------------------

    async def _send(self, kind: EventKind, data: EventData) -> None:
        assert self._runtime is not None
        assert self._topic is not None
        if kind not in ("chunk", "done", "error"):
            self._count(sum(len(value) for value in data.values() if isinstance(value, str)))
        seq = self._seq
        event = StreamEvent(request_id=self._request_id, seq=seq, kind=kind, data=dict(data))
        self._seq += 1
        self.finished = event.terminal
        await self._runtime.publish_message(event, self._topic, message_id=f"{self._request_id}.{seq}")

    def _count(self, size: int) -> None:
        """Account one more event's worth of output; over a limit, the turn ends."""
        self._bytes += size
        limits = self._limits
        if self._bytes > limits.max_bytes:
            raise TurnLimitExceeded(
                f"the turn produced over {limits.max_bytes} bytes of output (AGENTHOST_LIMITS__MAX_BYTES)"
            )
        if self._seq >= limits.max_events:
            raise TurnLimitExceeded(f"the turn produced over {limits.max_events} events (AGENTHOST_LIMITS__MAX_EVENTS)")

    def _recent(self) -> bool:
        """With a window: a chunk event went out less than a window ago."""
        return self._window > 0 and asyncio.get_running_loop().time() < self._quiet_at

    def _sent(self) -> None:
        """A chunk event goes out: hold later ones for the rest of this pass, or note the time (window)."""
        loop = asyncio.get_running_loop()
        if self._window > 0:
            self._quiet_at = loop.time() + self._window
        else:
            self._hold = loop.call_soon(self._end_hold)

    def _end_hold(self) -> None:
        """What waited goes out as one event."""
        self._hold = None
        if self._pending and not self.finished:
            self._sent()
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        if not self._pending:
            return
        content, self._pending = "".join(self._pending), []
        await self._send("chunk", _chunk_data(content, self._pending_source))


def _chunk_data(content: str, source: str | None) -> ChunkData:
    return ChunkData(content=content) if source is None else ChunkData(content=content, source=source)


_SILENT = EventEmitter(None, "", "")


def done_data(reply: ChatReply) -> DoneData:
    """The ``data`` of a ``done`` event for ``reply``."""
    usage = UsageData(prompt_tokens=reply.usage.prompt_tokens, completion_tokens=reply.usage.completion_tokens)
    return DoneData(
        message=reply.content, conversation_id=reply.conversation_id, finish_reason=reply.finish_reason, usage=usage
    )
