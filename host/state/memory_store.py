"""``MemoryStateStore``: conversation state in this process's memory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MemoryStateStore"]


class MemoryStateStore:
    """State in this process's memory (stored as JSON, so it behaves like the others)."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    async def get(self, key: str) -> Mapping[str, Any] | None:
        raw = self._data.get(key)
        return None if raw is None else dict(json.loads(raw))

    async def put(self, key: str, state: Mapping[str, Any]) -> None:
        self._data[key] = json.dumps(state)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def close(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
