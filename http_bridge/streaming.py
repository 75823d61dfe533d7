"""Stream a run's log as SSE: everything that arrived since the last wake-up goes out in one write."""

from __future__ import annotations

from collections.abc import Callable

from agenthost.messages import StreamEvent
from agenthost.runs import RunView

from .sse import SSEWriter

__all__ = ["Render", "pump"]

Render = Callable[[list[StreamEvent]], bytes]
"""Turns a batch of a run's events into the bytes of their SSE frames."""


async def pump(sse: SSEWriter, run: RunView, after: int, render: Render, keepalive: float) -> None:
    """Write the run's events with ``seq > after`` until its terminal event; keep-alive comments while silent."""
    while True:
        events = (await run.fetch(after)).events
        if events:
            after = events[-1].seq
            await sse.write(render(events))
            if events[-1].terminal:
                return
            continue
        if run.ended:
            return
        if not await run.wait(after, keepalive):
            await sse.comment()
