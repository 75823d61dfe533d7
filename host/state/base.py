"""The state store protocol: an async key -> state mapping, with retention.

Every store drops a conversation that has not been written for ``StateSettings.ttl``
seconds (the memory store also keeps at most ``max_entries`` conversations and
``max_bytes`` of state, dropping the least recently written first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["StateStore"]


class StateStore(Protocol):
    """Async key -> state mapping."""

    async def get(self, key: str) -> Mapping[str, Any] | None: ...

    async def put(self, key: str, state: Mapping[str, Any]) -> None: ...

    async def delete(self, key: str) -> bool:
        """Drop ``key``; True when it was there."""
        ...

    async def close(self) -> None: ...
