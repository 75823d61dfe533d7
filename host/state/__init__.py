"""Conversation state stores: where an agent instance's state lives between turns.

A store maps a key (``"<agent type>/<instance key>"``; the instance key is
``"<owner>/<conversation id>"`` when the request has an owner) to a JSON-able
mapping, and drops what has not been written for ``Settings.state.ttl`` seconds.
Pick one with ``Settings.state.store``: ``memory`` (one process),
``sqlite`` (embedded, survives restarts) or ``redis`` (shared by many
machines).
"""

from __future__ import annotations

from ..settings import StateSettings
from .base import StateStore
from .memory_store import MemoryStateStore
from .sqlite_store import SqliteStateStore

__all__ = ["MemoryStateStore", "SqliteStateStore", "StateStore", "open_state_store"]


def open_state_store(settings: StateSettings) -> StateStore:
    """Build the store that ``settings`` names."""
    if settings.store == "sqlite":
        return SqliteStateStore(settings.sqlite_path, ttl=settings.ttl)
    if settings.store == "redis":
        from .redis_store import RedisStateStore  # imported on demand: redis is only needed when used

        return RedisStateStore(settings.redis_url.get_secret_value(), settings.key_prefix, ttl=settings.ttl)
    return MemoryStateStore(ttl=settings.ttl, max_entries=settings.max_entries, max_bytes=settings.max_bytes)
