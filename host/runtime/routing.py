"""The host's ``agenthost.Routing`` service, client side: a worker drains, a bridge asks who serves what.

The service lives next to AutoGen's ``agents.AgentRpc`` on the host (:mod:`agenthost.roles.grpc_host`);
its two unary methods take and return JSON as raw bytes, and identify the caller by the
``client-id`` metadata its runtime sends with every call:

- ``Drain``: place no new work on the caller; its idle conversations move at once, a busy one
  after its turn. Answers ``{"released": n, "inflight": m}``; call it again to watch ``inflight``.
- ``Snapshot``: per agent type, the workers serving it with their conversations and requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from .. import _engine

__all__ = ["DRAIN", "SERVICE", "SNAPSHOT", "drain", "served_types", "snapshot"]

SERVICE = "agenthost.Routing"
DRAIN = "Drain"
SNAPSHOT = "Snapshot"


async def _call(runtime: Any, method: str, within: float) -> dict[str, Any]:
    answer = json.loads(await _engine.call_host(runtime, f"/{SERVICE}/{method}", b"{}", within))
    if not isinstance(answer, dict):
        raise ValueError(f"{SERVICE}/{method} answered {answer!r}, not a JSON object")
    return answer


async def snapshot(runtime: Any, within: float) -> dict[str, Any]:
    """The host's placement: ``{"types": {type: [{"client", "conversations", "inflight", "draining"}]}, ...}``."""
    return await _call(runtime, SNAPSHOT, within)


async def served_types(runtime: Any, within: float) -> set[str]:
    """The agent types at least one live worker serves now."""
    types = (await snapshot(runtime, within)).get("types", {})
    return {agent_type for agent_type, clients in types.items() if clients}


async def drain(runtime: Any, within: float, poll: float = 0.1, on_accepted: Callable[[], None] | None = None) -> int:
    """Ask the host to move this worker's conversations away, then wait (up to ``within`` seconds)
    until the host has no request in flight to it. Returns the requests still in flight (0: drained).

    ``on_accepted`` is called once the host has answered the first time: from then on it places nothing new here.
    """
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        inflight = int((await _call(runtime, DRAIN, max(0.1, min(left, 5.0)))).get("inflight", 0))
        if on_accepted is not None:
            on_accepted()
            on_accepted = None
        if inflight == 0 or left <= poll:
            return inflight
        await asyncio.sleep(poll)
