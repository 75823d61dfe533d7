"""The caller side of a turn's event stream: collect the events published to this process's stream type.

The caller's process runs one :class:`StreamSink` agent subscribed to its stream
type; the sink hands events to the :class:`RequestStream` registered for
their ``request_id``, which puts them back in ``seq`` order (publishes may be
delivered out of order, and over gRPC after the RPC's reply).
"""

from __future__ import annotations

import asyncio

from autogen_core import MessageContext, RoutedAgent, event

from ..messages import ChatReply, ErrorInfo, StreamEvent
from .emitter import done_data

__all__ = ["RequestStream", "StreamRouter", "StreamSink"]


class RequestStream:
    """The events of one request, in ``seq`` order, ending on a terminal event."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._pending: dict[int, StreamEvent] = {}
        self._next_seq = 0
        self.closed = False
        self._closed = asyncio.Event()

    def deliver(self, event_: StreamEvent) -> None:
        if self.closed or event_.seq < self._next_seq:
            return
        self._pending[event_.seq] = event_
        while (ready := self._pending.pop(self._next_seq, None)) is not None:
            self._next_seq += 1
            self._queue.put_nowait(ready)
            if ready.terminal:
                self._close()
                return

    async def next(self) -> StreamEvent:
        return await self._queue.get()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def failure(self, error: ErrorInfo) -> StreamEvent:
        """End the stream here with an ``error`` event (returned, not queued)."""
        self._close()
        return StreamEvent(request_id=self.request_id, seq=self._next_seq, kind="error", data=error.model_dump())

    def fail(self, error: ErrorInfo) -> None:
        """End the stream with an ``error`` event, unless it has ended already."""
        if not self.closed:
            self._queue.put_nowait(self.failure(error))

    def finish_from(self, reply: ChatReply) -> None:
        """End the stream from the RPC's reply, if the agent's terminal event never came."""
        if self.closed:
            return
        if reply.error is not None:
            self.fail(reply.error)
            return
        done = StreamEvent(request_id=self.request_id, seq=self._next_seq, kind="done", data=done_data(reply))
        self._close()
        self._queue.put_nowait(done)

    def _close(self) -> None:
        self.closed = True
        self._pending.clear()
        self._closed.set()

    @property
    def delivered(self) -> int:
        return self._next_seq


class StreamRouter:
    """This process's open request streams, by request id."""

    def __init__(self) -> None:
        self._streams: dict[str, RequestStream] = {}

    def open(self, request_id: str) -> RequestStream:
        stream = RequestStream(request_id)
        self._streams[request_id] = stream
        return stream

    def close(self, request_id: str) -> None:
        self._streams.pop(request_id, None)

    def deliver(self, event_: StreamEvent) -> None:
        stream = self._streams.get(event_.request_id)
        if stream is not None:  # late events of a finished or abandoned request are dropped
            stream.deliver(event_)

    def __len__(self) -> int:
        return len(self._streams)


class StreamSink(RoutedAgent):
    """Receives every event published to this process's stream type."""

    def __init__(self, router: StreamRouter) -> None:
        super().__init__("Collects per-request stream events for the callers in this process.")
        self._router = router

    @event
    async def on_stream_event(self, message: StreamEvent, ctx: MessageContext) -> None:
        self._router.deliver(message)
