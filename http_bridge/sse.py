"""Server-Sent Events for both APIs: a writer that batches frames, and the streams open for shutdown.

A turn's events are read from its run's log (:class:`agenthost.runs.Run`): the
handler wakes when events arrive, formats everything that arrived since it last
looked, and writes it to the socket in one write. Nothing sits between the log
and the socket: no queue, no pump task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping

import orjson
from aiohttp import web

from agenthost.messages import ErrorInfo
from agenthost.runs import Run, RunView

__all__ = ["SHUTDOWN", "SSE_HEADERS", "SSEWriter", "StreamRegistry", "frame"]

SSE_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
}
SHUTDOWN = ErrorInfo(code="unavailable", message="the server is shutting down; retry on another replica")
KEEPALIVE = b": keep-alive\n\n"


def frame(data: object, *, event: str | None = None, id: int | None = None) -> bytes:
    """One SSE frame: ``id:``, ``event:`` and JSON ``data:`` (``data`` already bytes is sent as it is)."""
    head = (b"id: %d\n" % id if id is not None else b"") + (b"event: %s\n" % event.encode() if event else b"")
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return head + b"data: " + body + b"\n\n"


class SSEWriter:
    """Writes SSE frames straight to the socket, a batch per write."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response = web.StreamResponse(headers=SSE_HEADERS)

    async def prepare(self, headers: Mapping[str, str] | None = None) -> None:
        self.response.headers.update(headers or {})
        await self.response.prepare(self.request)

    async def write(self, frames: bytes) -> None:
        await self.response.write(frames)

    async def comment(self) -> None:
        await self.response.write(KEEPALIVE)

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.response.write_eof()


class StreamRegistry:
    """The runs this app is streaming, so that shutdown can let them finish or end them.

    A run started by another replica is only read here: on shutdown its readers are left
    to the server's own shutdown timeout (the run goes on, resumable elsewhere).
    """

    def __init__(self) -> None:
        self._runs: dict[RunView, int] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def open(self, run: RunView) -> Iterator[None]:
        self._runs[run] = self._runs.get(run, 0) + 1
        self._idle.clear()
        try:
            yield
        finally:
            left = self._runs.pop(run) - 1
            if left:
                self._runs[run] = left
            if not self._runs:
                self._idle.set()

    async def drain(self, grace: float) -> None:
        """Let open streams finish for half of ``grace`` seconds, then end the rest with an ``error`` event."""
        await self._wait(grace / 2)
        for run in list(self._runs):
            if isinstance(run, Run):
                run.fail(SHUTDOWN)  # readers see it at once; the host stops the run's work as it stops
        await self._wait(grace / 2)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), seconds)

    def __len__(self) -> int:
        return sum(self._runs.values())
