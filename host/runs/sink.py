"""The caller side of a turn's events: this process's stream sink hands each one to its run.

The caller's process runs one :class:`StreamSink` agent subscribed to its stream
type (``TopicId(type=<stream type>, source=<request id>)`` is every turn's reply
topic); the :class:`StreamRouter` finds the live run of the event's request and
appends it to the run's log, which puts events back in ``seq`` order (publishes
may be delivered out of order, and over gRPC after the RPC's reply).
"""

from __future__ import annotations

from typing import Any

from autogen_core import MessageContext, RoutedAgent, event

from ..messages import StreamEvent
from .run import Run

__all__ = ["StreamRouter", "StreamSink"]


class StreamRouter:
    """This process's live runs, by request id."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}

    def open(self, run: Run) -> None:
        self._runs[run.request.request_id] = run

    def close(self, request_id: str) -> None:
        self._runs.pop(request_id, None)

    def deliver(self, event_: StreamEvent) -> None:
        run = self._runs.get(event_.request_id)
        if run is not None:  # late events of a finished or abandoned run are dropped
            run.deliver(event_)

    def __len__(self) -> int:
        return len(self._runs)


class StreamSink(RoutedAgent):
    """Receives every event published to this process's stream type."""

    def __init__(self, router: StreamRouter) -> None:
        super().__init__("Collects the events of this process's runs.")
        self._router = router

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        if type(message) is StreamEvent:  # every streamed token: straight to its run, without the routing
            self._router.deliver(message)
            return None
        return await super().on_message_impl(message, ctx)

    @event
    async def on_stream_event(self, message: StreamEvent, ctx: MessageContext) -> None:
        self._router.deliver(message)
