"""Deadlines checked on a coarse clock: O(1) to arm and disarm, one timer for all of them.

Every turn is bounded twice (by its caller and by the agent running it). A
``loop.call_later`` per bound costs more than the rest of the host's per-turn
work on the hot path; one ticking task that fires whatever is overdue costs a
dict insert and a pop. Deadlines fire up to ``resolution`` seconds late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable

__all__ = ["Deadlines"]

logger = logging.getLogger(__name__)


class Deadlines:
    """Runs ``on_expiry`` for every entry still armed when its time comes."""

    def __init__(self, resolution: float = 0.1) -> None:
        self.resolution = resolution
        self._entries: dict[Hashable, tuple[float, Callable[[], object]]] = {}
        self._task: asyncio.Task[None] | None = None

    def arm(self, key: Hashable, seconds: float, on_expiry: Callable[[], object]) -> None:
        self._entries[key] = (time.monotonic() + seconds, on_expiry)

    def disarm(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._tick_forever(), name="agenthost-deadlines")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def fire_overdue(self, now: float | None = None) -> int:
        """Fire every overdue entry now; returns how many fired."""
        now = time.monotonic() if now is None else now
        overdue = [key for key, (when, _) in self._entries.items() if when <= now]
        for key in overdue:
            _, on_expiry = self._entries.pop(key)
            try:
                on_expiry()
            except Exception:  # one bad callback must not stop the clock for the others
                logger.exception("deadline callback for %r failed", key)
        return len(overdue)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resolution)
            self.fire_overdue()
