"""The agent side of a turn's event stream: :class:`EventEmitter` publishes each event with its ``seq``.

An agent publishes each :class:`StreamEvent` of a turn to
``TopicId(type=request.reply_topic_type, source=request.request_id)``; the
caller's side collects them (:mod:`agenthost.core.streams`).
"""

from __future__ import annotations

from typing import Any, cast

from autogen_core import AgentRuntime, TopicId

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

__all__ = ["EventEmitter", "done_data"]


class EventEmitter:
    """Publishes one turn's events with consecutive ``seq`` numbers.

    When the request asked for no stream nothing is published: the reply
    carries the result.
    """

    __slots__ = ("_request_id", "_runtime", "_seq", "_topic", "enabled", "finished")

    def __init__(self, runtime: AgentRuntime | None, request_id: str, topic_type: str) -> None:
        self._runtime = runtime
        self._request_id = request_id
        self.enabled = runtime is not None and bool(topic_type)
        self._topic = TopicId(topic_type, request_id) if self.enabled else None
        self._seq = 0
        self.finished = False

    @staticmethod
    def for_request(runtime: AgentRuntime, request: ChatRequest) -> EventEmitter:
        """The request's emitter; one shared, silent one when the request asked for no stream."""
        if not request.stream or not request.reply_topic_type:
            return _SILENT
        return EventEmitter(runtime, request.request_id, request.reply_topic_type)

    async def publish(self, kind: EventKind, data: EventData) -> None:
        """Publish one event (each kind's ``data`` type is in :mod:`agenthost.events`)."""
        if self._topic is None or self._runtime is None or self.finished:
            return
        event_ = StreamEvent(request_id=self._request_id, seq=self._seq, kind=kind, data=dict(data))
        self._seq += 1
        self.finished = event_.terminal
        await self._runtime.publish_message(event_, self._topic)

    async def status(self, data: StatusData) -> None:
        await self.publish("status", data)

    async def chunk(self, content: str, source: str | None = None) -> None:
        await self.publish(
            "chunk", ChunkData(content=content) if source is None else ChunkData(content=content, source=source)
        )

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


_SILENT = EventEmitter(None, "", "")

EventData = StatusData | ChunkData | MessageData | ToolCallData | ToolResultData | DoneData | ErrorData


def done_data(reply: ChatReply) -> DoneData:
    """The ``data`` of a ``done`` event for ``reply``."""
    usage = UsageData(prompt_tokens=reply.usage.prompt_tokens, completion_tokens=reply.usage.completion_tokens)
    return DoneData(
        message=reply.content, conversation_id=reply.conversation_id, finish_reason=reply.finish_reason, usage=usage
    )
