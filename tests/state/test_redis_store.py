"""``RedisStateStore`` against a real redis-server, and its selection by settings."""

from __future__ import annotations

import asyncio

import pytest

from agenthost import RuntimeUnavailable
from agenthost.settings import StateSettings
from agenthost.state import open_state_store
from agenthost.state.redis_store import RedisStateStore
from tests.cluster import free_port

pytestmark = pytest.mark.redis


async def test_round_trip_with_prefix(redis_url: str) -> None:
    first, second = RedisStateStore(redis_url, "a:"), RedisStateStore(redis_url, "b:")
    try:
        assert await first.get("echo/c1") is None
        await first.put("echo/c1", {"turns": 2, "nested": {"x": [1, 2]}})
        assert await first.get("echo/c1") == {"turns": 2, "nested": {"x": [1, 2]}}
        assert await second.get("echo/c1") is None  # prefixes keep deployments apart
        await first.delete("echo/c1")
        assert await first.get("echo/c1") is None
        assert await first.ping()
    finally:
        await first.close()
        await second.close()


async def test_selected_by_settings(redis_url: str) -> None:
    store = open_state_store(StateSettings(store="redis", redis_url=redis_url, key_prefix="t:"))
    try:
        assert isinstance(store, RedisStateStore)
        await store.put("k", {"v": 1})
        assert await store.get("k") == {"v": 1}
    finally:
        await store.close()


async def test_unreachable_redis_fails_within_the_timeout() -> None:
    store = RedisStateStore(f"redis://:secret@127.0.0.1:{free_port()}/0", timeout=1.0)
    try:
        async with asyncio.timeout(15):  # bounded by the store's own 1 s timeout (a retry or two at most)
            with pytest.raises(RuntimeUnavailable, match="Redis state store") as caught:
                await store.get("k")
    finally:
        await store.close()
    assert "secret" not in str(caught.value)
