"""Every store forgets: a TTL on all three, a count and byte bound on the memory store, and ``delete``."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from agenthost.settings import StateSettings
from agenthost.state import MemoryStateStore, SqliteStateStore, open_state_store
from agenthost.state.redis_store import RedisStateStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_store_keeps_the_most_recent_within_its_count_and_bytes() -> None:
    store = MemoryStateStore(max_entries=3, max_bytes=10_000)
    for i in range(10):
        await store.put(f"k{i}", {"i": i})
    assert len(store) == 3
    assert [await store.get(f"k{i}") for i in (6, 7, 8, 9)] == [None, {"i": 7}, {"i": 8}, {"i": 9}]
    await store.put("k7", {"i": 70})  # written again: now the most recent
    await store.put("k10", {"i": 10})
    assert await store.get("k8") is None
    assert await store.get("k7") == {"i": 70}

    sized = MemoryStateStore(max_bytes=1000)
    for i in range(50):
        await sized.put(f"k{i}", {"text": "x" * 90})
    assert sized.bytes <= 1000
    assert len(sized) == 1000 // len('{"text": "' + "x" * 90 + '"}')
    await sized.put("big", {"text": "y" * 5000})  # alone over the bound: kept, everything older goes
    assert len(sized) == 1
    assert await sized.get("big") == {"text": "y" * 5000}


async def test_memory_store_ttl_and_delete() -> None:
    clock = Clock()
    store = MemoryStateStore(ttl=60, clock=clock)
    await store.put("old", {"v": 1})
    clock.now += 30
    await store.put("new", {"v": 2})
    clock.now += 31
    assert await store.get("old") is None
    assert await store.get("new") == {"v": 2}
    assert len(store) == 1
    assert await store.delete("new") is True
    assert await store.delete("new") is False
    assert store.bytes == 0


async def test_the_settings_bound_the_memory_store() -> None:
    store = open_state_store(StateSettings(ttl=5, max_entries=7, max_bytes=4096))
    assert isinstance(store, MemoryStateStore)
    assert (store.ttl, store.max_entries, store.max_bytes) == (5, 7, 4096)


async def test_sqlite_store_ttl_purge_and_delete(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteStateStore(tmp_path / "s.sqlite3", ttl=60, clock=clock)
    try:
        await store.put("a", {"v": 1})
        await store.put("b", {"v": 2})
        clock.now += 61
        assert await store.get("a") is None  # expired rows are not read, even before a purge
        assert await store.delete("b") is False  # nor counted as deleted
        assert await store.purge() == 1  # "a" (b was deleted)
        await store.put("c", {"v": 3})
        assert await store.get("c") == {"v": 3}
        assert await store.delete("c") is True
        assert await store.get("c") is None
    finally:
        await store.close()


async def test_sqlite_store_purges_on_writes(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "s.sqlite3"
    store = SqliteStateStore(path, ttl=10, clock=clock)
    try:
        for i in range(20):
            await store.put(f"k{i}", {"i": i})
        clock.now += 11
        await store.put("fresh", {"v": 1})  # purge_interval (10 s) passed since the first purge
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT key FROM state").fetchall() == [("fresh",)]


async def test_sqlite_store_opens_a_file_written_before_the_ttl(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO state VALUES ('echo/c1', '{\"turns\": 4}')")
    store = SqliteStateStore(path, ttl=60)
    try:
        assert await store.get("echo/c1") == {"turns": 4}  # kept: rows without expires_at never expire
        await store.put("echo/c1", {"turns": 5})
        assert await store.get("echo/c1") == {"turns": 5}
    finally:
        await store.close()


@pytest.mark.redis
async def test_redis_store_expires_and_deletes(redis_url: str) -> None:
    store = RedisStateStore(redis_url, "t:", ttl=0.3)
    forever = RedisStateStore(redis_url, "f:")
    try:
        await store.put("k", {"v": 1})
        await forever.put("k", {"v": 1})
        ttl_ms = await store._client.pttl("t:k")
        assert 0 < ttl_ms <= 300
        assert await forever._client.pttl("f:k") == -1  # no TTL set
        for _ in range(200):  # expired within moments of its 0.3 s
            if await store.get("k") is None:
                break
            await asyncio.sleep(0.05)
        assert await store.get("k") is None
        assert await forever.delete("k") is True
        assert await forever.delete("k") is False
    finally:
        await store.close()
        await forever.close()
