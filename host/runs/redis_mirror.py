"""Runs shared through Redis, so that any bridge replica can resume, poll or cancel any run.

The bridge that starts a run owns it: the run's events reach that bridge's
stream sink, and :class:`RedisRuns` mirrors its log to a Redis Stream (one
entry per event, with the explicit id ``0-<seq + 1>``, trimmed to
``max_events``) and its status to a hash, written in batches by one task per
run. Another replica finds the run there (:meth:`RedisRuns.find`) and reads it
as a :class:`RemoteRun`: replay with ``XRANGE``, then live with ``XREAD BLOCK``.
Both keys expire ``keep_seconds`` after the run ends (and, for a run whose
owner died, ``ttl`` after it started).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from ..messages import ErrorInfo, StreamEvent, Usage
from .run import TERMINAL_STATUS, Run, RunStatus, Slice

__all__ = ["RedisRuns", "RemoteRun"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RedisRuns:
    """The Redis side of this process's runs: mirror the ones started here, find any other."""

    def __init__(
        self,
        url: str,
        prefix: str = "agenthost:",
        *,
        keep_seconds: float = 600.0,
        ttl: float = 3600.0,
        max_events: int = 10_000,
        timeout: float = 5.0,
    ) -> None:
        # Typed Any: redis-py's response types are unions of every reply shape; these calls' shapes are fixed.
        self._client: Any = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._prefix = prefix
        self._keep = int(keep_seconds)
        self._ttl = int(ttl)
        self._max_events = max_events
        self._timeout = timeout
        self._writers: set[asyncio.Task[None]] = set()

    def _info_key(self, run_id: str) -> str:
        return f"{self._prefix}run:{run_id}"

    def _events_key(self, run_id: str) -> str:
        return f"{self._prefix}run:{run_id}:events"

    def mirror(self, run: Run, agent_key: str) -> None:
        """Copy ``run``'s status and events to Redis until it ends (in the background; failures are logged)."""
        writer = asyncio.create_task(self._write(run, agent_key), name=f"agenthost-mirror-{run.run_id}")
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)

    async def _write(self, run: Run, agent_key: str) -> None:
        info, events = self._info_key(run.run_id), self._events_key(run.run_id)
        after = -1
        try:
            await self._bounded(self._client.hset(info, mapping=_info_fields(run, agent_key)))
            await self._bounded(self._client.expire(info, self._ttl))
            while True:
                batch = run.read(after).events
                if batch:
                    after = batch[-1].seq
                    await self._bounded(self._append(run, info, events, batch))
                if run.ended and after + 1 >= run.next_seq:
                    break
                await run.wait(after, self._ttl)
            pipe = self._client.pipeline(transaction=False)
            pipe.hset(info, mapping=_info_fields(run, agent_key))
            pipe.expire(info, self._keep)
            pipe.expire(events, self._keep)
            await self._bounded(pipe.execute())
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("run %s: mirroring to Redis failed (%s); other replicas cannot resume it", run.run_id, exc)

    def _append(self, run: Run, info: str, events: str, batch: list[StreamEvent]) -> Awaitable[Any]:
        pipe = self._client.pipeline(transaction=False)
        for event in batch:
            fields = {"k": event.kind, "d": orjson.dumps(event.data)}
            pipe.xadd(events, fields, id=f"0-{event.seq + 1}", maxlen=self._max_events, approximate=True)
        pipe.hset(info, "status", run.status)
        pipe.expire(events, self._ttl)
        result: Awaitable[Any] = pipe.execute()
        return result

    async def find(self, run_id: str) -> RemoteRun | None:
        """The run as Redis has it (None when unknown or expired)."""
        fields = await self._bounded(self._client.hgetall(self._info_key(run_id)))
        if not fields:
            return None
        return RemoteRun(self, run_id, {k.decode(): v.decode() for k, v in fields.items()})

    async def update_extra(self, run_id: str, extra: Mapping[str, str]) -> None:
        """Replace what an API layer keeps with the run (the run must be known to Redis)."""
        await self._bounded(self._client.hset(self._info_key(run_id), "extra", json.dumps(dict(extra))))

    async def close(self) -> None:
        """Let running mirrors finish their last write (bounded), then close the connection pool."""
        if self._writers:
            await asyncio.wait(self._writers, timeout=self._timeout)
        for writer in self._writers:
            writer.cancel()
        await self._client.aclose()

    async def _bounded(self, call: Awaitable[T]) -> T:
        async with asyncio.timeout(self._timeout):
            return await call


def _info_fields(run: Run, agent_key: str) -> dict[str, str]:
    return {
        "agent": run.request.agent,
        "agent_key": agent_key,
        "request_id": run.request.request_id,
        "conversation_id": run.request.conversation_id or "",
        "owner": run.owner or "",
        "status": run.status,
        "created_at": repr(run.created_at),
        "ended_at": repr(run.ended_at) if run.ended_at is not None else "",
        "message": run.message,
        "finish_reason": run.finish_reason,
        "usage": run.usage.model_dump_json(),
        "error": run.error.model_dump_json() if run.error is not None else "",
        "extra": json.dumps(run.extra),
    }


class RemoteRun:
    """A run started by another replica, read from Redis (the same reading API as :class:`Run`)."""

    def __init__(self, runs: RedisRuns, run_id: str, info: Mapping[str, str]) -> None:
        self._runs = runs
        self.run_id = run_id
        self._info = dict(info)
        self._buffer: list[StreamEvent] = []
        self.next_seq = 0

    @property
    def agent(self) -> str:
        return self._info["agent"]

    @property
    def agent_key(self) -> str:
        return self._info["agent_key"]

    @property
    def request_id(self) -> str:
        return self._info["request_id"]

    @property
    def conversation_id(self) -> str | None:
        return self._info["conversation_id"] or None

    @property
    def owner(self) -> str | None:
        return self._info["owner"] or None

    @property
    def status(self) -> RunStatus:
        return cast("RunStatus", self._info["status"])

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_STATUS

    @property
    def created_at(self) -> float:
        return float(self._info["created_at"])

    @property
    def ended_at(self) -> float | None:
        return float(self._info["ended_at"]) if self._info.get("ended_at") else None

    @property
    def message(self) -> str:
        return self._info.get("message", "")

    @property
    def finish_reason(self) -> str:
        return self._info.get("finish_reason", "stop")

    @property
    def usage(self) -> Usage:
        return Usage.model_validate_json(self._info["usage"]) if self._info.get("usage") else Usage()

    @property
    def error(self) -> ErrorInfo | None:
        return ErrorInfo.model_validate_json(self._info["error"]) if self._info.get("error") else None

    @property
    def extra(self) -> dict[str, str]:
        extra: dict[str, str] = json.loads(self._info.get("extra") or "{}")
        return extra

    async def refresh(self) -> None:
        """Read the run's status again."""
        found = await self._runs.find(self.run_id)
        if found is not None:
            self._info = found._info

    async def fetch(self, after: int = -1) -> Slice:
        """The kept events with ``seq > after``; ``lost`` when some of those are gone."""
        if self._buffer and self._buffer[0].seq <= after + 1:
            events = [event for event in self._buffer if event.seq > after]
            self._buffer = []
            return Slice(events)
        runs = self._runs
        raw = await runs._bounded(runs._client.xrange(runs._events_key(self.run_id), min=f"0-{after + 2}"))
        events = [_event(self.request_id, entry_id, fields) for entry_id, fields in raw]
        self._note(events)
        lost = bool(events) and events[0].seq > after + 1
        return Slice(events, lost=lost)

    async def wait(self, after: int, within: float) -> bool:
        """Wait until an event with ``seq > after`` exists (True) or ``within`` seconds pass (False)."""
        runs = self._runs
        block = max(1, int(within * 1000))
        key = runs._events_key(self.run_id)
        async with asyncio.timeout(within + runs._timeout):
            answer = await runs._client.xread({key: f"0-{after + 1}"}, block=block, count=1000)
        if answer:
            self._buffer = [_event(self.request_id, entry_id, fields) for entry_id, fields in answer[0][1]]
            self._note(self._buffer)
            return True
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self.refresh()
        return self.ended

    def _note(self, events: list[StreamEvent]) -> None:
        if events:
            self.next_seq = max(self.next_seq, events[-1].seq + 1)
            if events[-1].terminal:
                self._info["status"] = _status_of(events[-1])


def _event(request_id: str, entry_id: bytes, fields: Mapping[bytes, bytes]) -> StreamEvent:
    seq = int(entry_id.decode().split("-")[1]) - 1
    kind = fields[b"k"].decode()
    return StreamEvent.model_validate(
        {"request_id": request_id, "seq": seq, "kind": kind, "data": json.loads(fields[b"d"])}
    )


def _status_of(event: StreamEvent) -> RunStatus:
    if event.kind == "done":
        return "done"
    return "cancelled" if event.data.get("code") == "cancelled" else "error"
