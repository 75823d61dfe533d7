"""A turn as a **run**: a server-made id, its status, and the append-only log of its events.

Every event of a turn passes through its run's log: the process's stream sink
delivers what the agent published (in any order, :meth:`Run.deliver` puts it
back in ``seq`` order), and every reader (an SSE response, an embedding loop,
a resume after a dropped connection) reads the log from a position of its own
with :meth:`Run.read` and :meth:`Run.wait`. No queue per reader, no pump task:
a reader that wakes takes everything that arrived since it last looked.

The log keeps the last ``max_events`` events; a reader asking for older ones is
told (``lost``), never handed a silent gap.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from ..core.emitter import done_data
from ..events import ErrorData
from ..messages import ChatReply, ChatRequest, ErrorInfo, StreamEvent, Usage

__all__ = ["TERMINAL_STATUS", "Run", "RunStatus", "RunView", "Slice"]

RunStatus = Literal["queued", "running", "done", "error", "cancelled"]
TERMINAL_STATUS: frozenset[str] = frozenset({"done", "error", "cancelled"})


@dataclass(frozen=True)
class Slice:
    """What a reader gets: the events after its position, and whether some it asked for are gone."""

    events: list[StreamEvent]
    lost: bool = False


class RunView(Protocol):
    """What a reader needs of a run, local (:class:`Run`) or started by another replica (``RemoteRun``)."""

    run_id: str

    @property
    def agent(self) -> str: ...

    @property
    def conversation_id(self) -> str | None: ...

    @property
    def owner(self) -> str | None: ...

    @property
    def status(self) -> RunStatus: ...

    @property
    def ended(self) -> bool: ...

    @property
    def created_at(self) -> float: ...

    @property
    def ended_at(self) -> float | None: ...

    @property
    def message(self) -> str: ...

    @property
    def finish_reason(self) -> str: ...

    @property
    def usage(self) -> Usage: ...

    @property
    def error(self) -> ErrorInfo | None: ...

    @property
    def extra(self) -> dict[str, str]: ...

    async def fetch(self, after: int = -1) -> Slice: ...

    async def wait(self, after: int, within: float) -> bool: ...


class Run:
    """One turn: its request, owner, status, result, and event log."""

    def __init__(
        self,
        run_id: str,
        request: ChatRequest,
        owner: str | None = None,
        max_events: int = 10_000,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.run_id = run_id
        self.request = request
        self.owner = owner
        self.extra = extra or {}  # what an API layer keeps with the run (a Responses API record)
        self.status: RunStatus = "queued"
        self.created_at = time.time()
        self.ended_at: float | None = None
        self.message = ""
        self.finish_reason = "stop"
        self.usage = Usage()
        self.error: ErrorInfo | None = None
        self.task: asyncio.Task[None] | None = None
        self.first_chunk_at: float | None = None  # time.monotonic() of the first chunk: time to first token
        self.max_events = max_events
        self._log: list[StreamEvent] = []
        self._first_seq = 0  # the seq of _log[0]
        self._next_seq = 0  # the seq the log waits for
        self._early: dict[int, StreamEvent] = {}  # delivered ahead of a gap
        self._waiters: list[asyncio.Future[bool]] = []  # readers in wait(), woken by the next event

    # -- writing ---------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_STATUS

    @property
    def agent(self) -> str:
        return self.request.agent

    @property
    def conversation_id(self) -> str | None:
        return self.request.conversation_id

    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def kept_events(self) -> int:
        return len(self._log)

    def deliver(self, event: StreamEvent) -> None:
        """Add an event the agent published; late, duplicate and post-terminal events are dropped."""
        if self.ended or event.seq < self._next_seq:
            return
        if event.seq != self._next_seq:
            self._early[event.seq] = event
            return
        self._append(event)
        while not self.ended and (ready := self._early.pop(self._next_seq, None)) is not None:
            self._append(ready)

    def finish(self, reply: ChatReply) -> None:
        """End the run from the RPC's reply, if the agent's terminal event never came (it may not over gRPC)."""
        if self.ended:
            return
        if reply.error is not None:
            self.fail(reply.error)
            return
        self._append(self._event("done", dict(done_data(reply))))

    def fail(self, error: ErrorInfo) -> None:
        """End the run with an ``error`` event, unless it has ended already."""
        if not self.ended:
            self._append(self._event("error", dict(ErrorData(code=error.code, message=error.message))))

    def _event(self, kind: Literal["done", "error"], data: dict[str, object]) -> StreamEvent:
        return StreamEvent(request_id=self.request.request_id, seq=self._next_seq, kind=kind, data=data)

    def _append(self, event: StreamEvent) -> None:
        self._log.append(event)
        self._next_seq = event.seq + 1
        if self.first_chunk_at is None and event.kind == "chunk":
            self.first_chunk_at = time.monotonic()
        if event.kind == "status" and self.status == "queued":
            self.status = "running"
        elif event.terminal:
            self._end(event)
        if len(self._log) > self.max_events * 5 // 4:  # trim in batches: amortised O(1) per event
            cut = len(self._log) - self.max_events
            del self._log[:cut]
            self._first_seq += cut
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                _resolve(waiter, True)

    def _end(self, event: StreamEvent) -> None:
        self.ended_at = time.time()
        self._early.clear()
        if event.kind == "done":
            self.status = "done"
            self.message = str(event.data.get("message", ""))
            self.finish_reason = str(event.data.get("finish_reason", "stop"))
            usage = event.data.get("usage") or {}
            prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
            self.usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
            return
        code = str(event.data.get("code", "agent_error"))
        self.error = ErrorInfo.model_validate({"code": code, "message": str(event.data.get("message", ""))})
        self.status = "cancelled" if code == "cancelled" else "error"

    # -- reading ---------------------------------------------------------------------------------

    async def fetch(self, after: int = -1) -> Slice:
        """:meth:`read`, with the signature readers of remote runs use too."""
        return self.read(after)

    def read(self, after: int = -1) -> Slice:
        """The kept events with ``seq > after`` (``after=-1``: from the start)."""
        start = after + 1 - self._first_seq
        if start < 0:
            return Slice(list(self._log), lost=True)
        return Slice(self._log[start:] if start < len(self._log) else [])

    async def wait(self, after: int, within: float) -> bool:
        """Wait until an event with ``seq > after`` exists (True) or ``within`` seconds pass (False)."""
        if self._next_seq > after + 1 or self.ended:
            return True
        loop = asyncio.get_running_loop()  # a future and a timer per wait (a streamed token): no task, no shield
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(within, _resolve, waiter, False)
        try:
            return await waiter
        finally:
            timer.cancel()
            if self._waiters and waiter in self._waiters:  # timed out or cancelled: not woken, still listed
                self._waiters.remove(waiter)


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)
