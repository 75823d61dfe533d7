"""The runs this process knows: live ones, and ended ones kept for a while so clients can resume or poll them.

Ended runs are kept ``keep_seconds`` after they end, at most ``max_kept`` of
them holding at most ``max_kept_events`` events together (the oldest go first),
so memory stays bounded however many turns pass.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from .run import Run

__all__ = ["RunRegistry"]


class RunRegistry:
    """Runs by id; ended runs expire."""

    def __init__(self, keep_seconds: float = 600.0, max_kept: int = 10_000, max_kept_events: int = 250_000) -> None:
        self.keep_seconds = keep_seconds
        self.max_kept = max_kept
        self.max_kept_events = max_kept_events
        self._live: dict[str, Run] = {}
        self._ended: OrderedDict[str, Run] = OrderedDict()  # by end time, oldest first
        self._kept_events = 0

    def add(self, run: Run) -> None:
        self._live[run.run_id] = run

    def get(self, run_id: str) -> Run | None:
        run = self._live.get(run_id) or self._ended.get(run_id)
        if run is not None and run.ended and self._expired(run, time.time()):
            self.purge()
            return None
        return run

    def ended(self, run: Run) -> None:
        """Move ``run`` to the kept ended runs (call once it has ended)."""
        if self._live.pop(run.run_id, None) is not None:
            self._ended[run.run_id] = run
            self._kept_events += run.kept_events
        self.purge()

    def purge(self, now: float | None = None) -> int:
        """Forget ended runs past their time or over the bound; returns how many went."""
        now = time.time() if now is None else now
        gone = 0
        while self._ended:
            oldest = next(iter(self._ended.values()))
            over = len(self._ended) > self.max_kept or self._kept_events > self.max_kept_events
            if not over and not self._expired(oldest, now):
                break
            self._ended.popitem(last=False)
            self._kept_events -= oldest.kept_events
            gone += 1
        return gone

    def live(self) -> list[Run]:
        return list(self._live.values())

    def _expired(self, run: Run, now: float) -> bool:
        return run.ended_at is not None and now - run.ended_at > self.keep_seconds

    def __len__(self) -> int:
        return len(self._live) + len(self._ended)
