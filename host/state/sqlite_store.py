"""``SqliteStateStore``: conversation state in one SQLite file (embedded, survives restarts)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["SqliteStateStore"]


class SqliteStateStore:
    """State in one SQLite file; calls run in a worker thread so the loop never blocks."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._lock = asyncio.Lock()

    async def get(self, key: str) -> Mapping[str, Any] | None:
        row = await self._run("SELECT value FROM state WHERE key = ?", (key,))
        return None if row is None else dict(json.loads(row[0]))

    async def put(self, key: str, state: Mapping[str, Any]) -> None:
        sql = "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        await self._run(sql, (key, json.dumps(state)))

    async def delete(self, key: str) -> None:
        await self._run("DELETE FROM state WHERE key = ?", (key,))

    async def close(self) -> None:
        async with self._lock:
            self._db.close()

    async def _run(self, sql: str, args: tuple[str, ...]) -> tuple[str] | None:
        async with self._lock:  # one connection: one statement at a time
            return await asyncio.to_thread(lambda: self._db.execute(sql, args).fetchone())
