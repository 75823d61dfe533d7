"""The state store protocol: an async key -> state mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["StateStore"]


class StateStore(Protocol):
    """Async key -> state mapping."""

    async def get(self, key: str) -> Mapping[str, Any] | None: ...

    async def put(self, key: str, state: Mapping[str, Any]) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...
