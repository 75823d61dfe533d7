"""``RedisStateStore``: conversation state shared by every worker, in Redis.

Each state is one JSON string at ``<prefix><key>``, expiring ``ttl`` seconds after
it was last written (Redis ``PX``). Every call is bounded by
``timeout`` seconds, so an unreachable Redis fails the turn with a clear
error instead of hanging it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..errors import RuntimeUnavailable
from .codec import decode, encode

__all__ = ["RedisStateStore"]

T = TypeVar("T")


class RedisStateStore:
    """State in Redis (``redis://``, ``rediss://`` or ``unix://`` URL).

    Example:
        >>> store = RedisStateStore("redis://127.0.0.1:6379/0", "agenthost:")
        >>> await store.put("echo/c1", {"turns": 2})
    """

    def __init__(self, url: str, prefix: str = "agenthost:", timeout: float = 5.0, ttl: float | None = None) -> None:
        self._prefix = prefix
        self._ttl_ms = None if ttl is None else max(1, round(ttl * 1000))
        self._timeout = timeout
        self._url_for_errors = url.split("@")[-1]  # never log a password
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )

    async def get(self, key: str) -> Mapping[str, Any] | None:
        raw = await self._bounded(self._client.get(self._prefix + key))
        return None if raw is None else decode(raw)

    async def put(self, key: str, state: Mapping[str, Any]) -> None:
        await self._bounded(self._client.set(self._prefix + key, encode(state), px=self._ttl_ms))

    async def delete(self, key: str) -> bool:
        return bool(await self._bounded(self._client.delete(self._prefix + key)))

    async def ping(self) -> bool:
        return bool(await self._bounded(self._client.ping()))

    async def close(self) -> None:
        await self._client.aclose()

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except (RedisError, OSError, TimeoutError) as exc:
            raise RuntimeUnavailable(
                f"the Redis state store at {self._url_for_errors} failed: {type(exc).__name__}: {exc} "
                "(AGENTHOST_STATE__REDIS_URL)"
            ) from exc
