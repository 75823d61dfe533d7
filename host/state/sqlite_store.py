"""``SqliteStateStore``: conversation state in one SQLite file (embedded, survives restarts), with a TTL.

Each row carries ``expires_at`` (Unix time, ``NULL``: never). Reads skip expired
rows; writes purge them, at most once per ``purge_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .codec import decode, encode

__all__ = ["SqliteStateStore"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)"
_PUT = (
    "INSERT INTO state (key, value, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


class SqliteStateStore:
    """State in one SQLite file; calls run in a worker thread so the loop never blocks.

    Example:
        >>> store = SqliteStateStore(Path("state.sqlite3"), ttl=7 * 24 * 3600)
    """

    def __init__(self, path: Path, ttl: float | None = None, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ttl = ttl
        self._clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(state)")}
        if "expires_at" not in columns:  # a file written before state had a TTL
            self._db.execute("ALTER TABLE state ADD COLUMN expires_at REAL")
        self._db.execute("CREATE INDEX IF NOT EXISTS state_expires_at ON state (expires_at)")
        self.purge_interval = 60.0 if ttl is None else min(60.0, ttl)
        self._purged_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, key: str) -> Mapping[str, Any] | None:
        row = await self._run(f"SELECT value FROM state WHERE key = ? AND {_LIVE}", (key, self._clock()))
        return None if row is None else decode(row[0])

    async def put(self, key: str, state: Mapping[str, Any]) -> None:
        now = self._clock()
        expires_at = None if self.ttl is None else now + self.ttl
        await self._run(_PUT, (key, encode(state), expires_at))
        if now - self._purged_at >= self.purge_interval:
            self._purged_at = now
            await self.purge()

    async def delete(self, key: str) -> bool:
        row = await self._run(f"DELETE FROM state WHERE key = ? RETURNING {_LIVE}", (key, self._clock()))
        return row is not None and bool(row[0])

    async def purge(self) -> int:
        """Delete every expired row now; returns how many went."""
        async with self._lock:
            cursor = await asyncio.to_thread(
                self._db.execute, "DELETE FROM state WHERE expires_at <= ?", (self._clock(),)
            )
            return cursor.rowcount

    async def close(self) -> None:
        async with self._lock:
            self._db.close()

    async def _run(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        async with self._lock:  # one connection: one statement at a time
            return await asyncio.to_thread(_one_row, self._db, sql, args)


def _one_row(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    cursor = db.execute(sql, args)
    row: tuple[Any, ...] | None = cursor.fetchone()
    cursor.fetchall()  # a RETURNING statement completes only once every row is read
    return row
