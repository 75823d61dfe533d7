"""``MemoryStateStore``: conversation state in this process's memory, bounded in count, bytes and age."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .codec import decode, encode

__all__ = ["MemoryStateStore"]


class _Entry(NamedTuple):
    written: float
    raw: str


class MemoryStateStore:
    """State in this process's memory, stored as JSON (so it behaves like the others).

    Entries are kept in the order they were last written: the least recently
    written go first when ``max_entries`` or ``max_bytes`` is exceeded, and an
    entry older than ``ttl`` seconds is gone (the newest entry is always kept,
    even alone over ``max_bytes``).

    Example:
        >>> store = MemoryStateStore(ttl=3600, max_entries=1000, max_bytes=16 * 1024 * 1024)
    """

    def __init__(
        self,
        ttl: float | None = None,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self.bytes = 0
        self.dropped = 0

    async def get(self, key: str) -> Mapping[str, Any] | None:
        self._expire()
        entry = self._data.get(key)
        return None if entry is None else decode(entry.raw)

    async def put(self, key: str, state: Mapping[str, Any]) -> None:
        raw = encode(state)
        self._pop(key)
        self._data[key] = _Entry(self._clock(), raw)
        self.bytes += len(raw)
        self._expire()
        self._shrink()

    async def delete(self, key: str) -> bool:
        self._expire()
        return self._pop(key)

    async def close(self) -> None:
        self._data.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def _pop(self, key: str) -> bool:
        entry = self._data.pop(key, None)
        if entry is None:
            return False
        self.bytes -= len(entry.raw)
        return True

    def _expire(self) -> None:
        if self.ttl is None:
            return
        oldest_kept = self._clock() - self.ttl
        while self._data:
            key, entry = next(iter(self._data.items()))
            if entry.written > oldest_kept:
                return
            self._drop(key)

    def _shrink(self) -> None:
        while len(self._data) > 1 and (
            self._over(len(self._data), self.max_entries) or self._over(self.bytes, self.max_bytes)
        ):
            self._drop(next(iter(self._data)))

    @staticmethod
    def _over(value: int, limit: int | None) -> bool:
        return limit is not None and value > limit

    def _drop(self, key: str) -> None:
        self._pop(key)
        self.dropped += 1
