"""Server-Sent Events for both APIs: the writer, the per-turn event channel, and shutdown draining.

A turn's events come from :meth:`host.AgentHost.stream_request`, an async generator. A
pump task drains it into a queue so the handler can wait with a keep-alive timeout (timing
out the generator itself would cancel the turn). Closing the channel cancels the pump,
which closes the generator, which cancels the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

from aiohttp import web

from agenthost.errors import HostError
from agenthost.messages import ErrorInfo, StreamEvent

__all__ = ["SSE_HEADERS", "EventChannel", "SSEWriter", "StreamRegistry"]

logger = logging.getLogger(__name__)

SSE_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
}
Item = StreamEvent | ErrorInfo
SHUTDOWN = ErrorInfo(code="unavailable", message="the server is shutting down; retry on another replica")


class SSEWriter:
    """Writes SSE frames straight to the socket (no buffering between agent and client)."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response = web.StreamResponse(headers=SSE_HEADERS)

    async def prepare(self, headers: Mapping[str, str] | None = None) -> None:
        self.response.headers.update(headers or {})
        await self.response.prepare(self.request)

    async def send(self, data: str, *, event: str | None = None, id: int | None = None) -> None:
        head = (f"id: {id}\n" if id is not None else "") + (f"event: {event}\n" if event else "")
        await self.response.write(f"{head}data: {data}\n\n".encode())

    async def comment(self, text: str = "keep-alive") -> None:
        await self.response.write(f": {text}\n\n".encode())

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.response.write_eof()


class EventChannel:
    """One turn's events for one SSE handler, with keep-alive ticks and a shutdown interruption."""

    def __init__(self, events: AsyncIterator[StreamEvent], cancel_timeout: float) -> None:
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._cancel_timeout = cancel_timeout
        self._pump_task = asyncio.create_task(self._pump(events))
        self.closed = asyncio.Event()

    async def _pump(self, events: AsyncIterator[StreamEvent]) -> None:
        try:
            async for event in events:
                self._queue.put_nowait(event)
        except HostError as exc:
            self._queue.put_nowait(exc.info())
        except Exception as exc:
            logger.exception("the event stream failed")
            self._queue.put_nowait(ErrorInfo(code="agent_error", message=f"the event stream failed: {exc}"))
        finally:
            if isinstance(events, AsyncGenerator):
                await events.aclose()

    def interrupt(self, error: ErrorInfo) -> None:
        """End the stream with ``error`` as its terminal event (on shutdown)."""
        self._queue.put_nowait(error)

    async def items(self, keepalive: float) -> AsyncIterator[Item | None]:
        """Events up to the terminal one; ``None`` after ``keepalive`` seconds of silence."""
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    async with asyncio.timeout(keepalive):
                        item = await self._queue.get()
                except TimeoutError:
                    yield None
                    continue
            yield item
            if isinstance(item, ErrorInfo) or item.terminal:
                return

    async def aclose(self) -> None:
        """Stop the turn if it is still running (the model call stops) and wait, bounded, for it."""
        self.closed.set()
        if not self._pump_task.done():
            self._pump_task.cancel()
            await asyncio.wait({self._pump_task}, timeout=self._cancel_timeout)


class StreamRegistry:
    """The open channels of this app, so that shutdown can finish or end them."""

    def __init__(self) -> None:
        self._channels: set[EventChannel] = set()

    @contextlib.asynccontextmanager
    async def open(self, events: AsyncIterator[StreamEvent], cancel_timeout: float) -> AsyncIterator[EventChannel]:
        channel = EventChannel(events, cancel_timeout)
        self._channels.add(channel)
        try:
            yield channel
        finally:
            self._channels.discard(channel)
            await channel.aclose()

    async def drain(self, grace: float) -> None:
        """Let open streams finish for half of ``grace`` seconds, then end the rest with an ``error`` event."""
        await self._wait(grace / 2)
        for channel in list(self._channels):
            channel.interrupt(SHUTDOWN)
        await self._wait(grace / 2)

    async def _wait(self, seconds: float) -> None:
        waits = [asyncio.create_task(channel.closed.wait()) for channel in self._channels]
        if not waits:
            return
        _, pending = await asyncio.wait(waits, timeout=seconds)
        for task in pending:
            task.cancel()

    def __len__(self) -> int:
        return len(self._channels)
