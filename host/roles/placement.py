"""Which worker serves an agent instance: the gRPC host's placement of ``(agent type, key)`` on clients.

Pure bookkeeping, no I/O: the host's servicer (:mod:`agenthost._engine.routing_host`) asks
:meth:`Placement.place` where each request or event goes and reports each forwarded request's
start and end. The rules:

- A **conversation** ``(type, key)`` stays on the client that took it while that client lives
  and the conversation was used within ``ttl`` seconds (always while a request to it is in
  flight), so its turns run one at a time on one worker and a join moves nothing.
- A **new conversation** goes by bounded-load rendezvous hashing: the live clients are ranked by
  a hash of ``(client, type, key)`` and the first one under the cap
  ``ceil(load_factor * (conversations + 1) / clients)`` takes it. A client that leaves moves
  only its own conversations, and no client gets much more than its share.
- A **stateless** request (key starting with :data:`~agenthost.messages.STATELESS_PREFIX`) goes
  to the client with the fewest requests in flight (ties in turn), and is remembered only while
  in flight, so that its cancellation finds it.
- A **draining** client takes nothing new while another client of the type is open; its idle
  conversations are released at once, a busy one after its last request in flight.
- An **exclusive** type (a bridge's stream sink) has exactly one client: a second is refused.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..messages import STATELESS_PREFIX

__all__ = ["Placement"]

Key = tuple[str, str]
"""``(agent type, agent key)``"""


@dataclass(slots=True)
class _Entry:
    client: str
    used: float
    inflight: int = 0


def _score(client: str, agent_type: str, key: str) -> bytes:
    return hashlib.blake2b(f"{client}\0{agent_type}\0{key}".encode(), digest_size=8).digest()


class Placement:
    """The host's directory of agent instances and the clients (workers) that serve each type.

    Args:
        ttl: seconds after its last use that a conversation may move (keep it above the workers'
            ``timeouts.instance_idle``, so that a worker has evicted an instance before it moves).
        live: whether a client's connection is up (the servicer's open channels).
        max_entries: conversations remembered at most; the least recently used idle ones go first.
        load_factor: the bounded-load cap over the mean (1.1: no client above 110 % of its share).
        exclusive_prefixes: agent types starting with these have one client.
        clock: seconds, monotonic.
    """

    def __init__(
        self,
        *,
        ttl: float,
        live: Callable[[str], bool] = lambda client: True,
        max_entries: int = 200_000,
        load_factor: float = 1.1,
        exclusive_prefixes: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._live = live
        self._max_entries = max_entries
        self._load_factor = load_factor
        self._exclusive = exclusive_prefixes
        self._clock = clock
        self._types: dict[str, list[str]] = {}
        self._draining: set[str] = set()
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()  # conversations, least recently used first
        self._passing: dict[Key, _Entry] = {}  # stateless requests in flight
        self._owned: dict[str, set[Key]] = {}
        self._load: Counter[Key] = Counter()  # (client, type) -> conversations
        self._inflight: Counter[str] = Counter()
        self._rotation: Counter[str] = Counter()

    # -- membership ------------------------------------------------------------------------------

    def join(self, agent_type: str, client: str) -> str | None:
        """``client`` serves ``agent_type``; returns the live client that holds an exclusive type instead."""
        clients = self._types.setdefault(agent_type, [])
        if self.exclusive(agent_type):
            holder = next((other for other in clients if other != client and self._live(other)), None)
            if holder is not None:
                return holder
            clients[:] = [other for other in clients if other == client]
        if client not in clients:
            clients.append(client)
        return None

    def leave(self, client: str) -> list[str]:
        """Forget ``client`` and its conversations (they move on their next request); returns its types."""
        served = [agent_type for agent_type, clients in self._types.items() if client in clients]
        for agent_type in served:
            self._types[agent_type].remove(client)
            if not self._types[agent_type]:
                del self._types[agent_type]
        for key in list(self._owned.get(client, ())):
            self._release(key)
        self._owned.pop(client, None)
        self._passing = {key: entry for key, entry in self._passing.items() if entry.client != client}
        self._draining.discard(client)
        self._inflight.pop(client, None)
        return served

    def drain(self, client: str) -> int:
        """Place nothing new on ``client``; release its idle conversations now. Returns how many."""
        self._draining.add(client)
        idle = [key for key in self._owned.get(client, ()) if self._entries[key].inflight == 0]
        for key in idle:
            self._release(key)
        return len(idle)

    def draining(self, client: str) -> bool:
        return client in self._draining

    def clients(self, agent_type: str) -> list[str]:
        """The live clients serving ``agent_type``, in the order they joined."""
        return [client for client in self._types.get(agent_type, ()) if self._live(client)]

    def exclusive(self, agent_type: str) -> bool:
        return agent_type.startswith(self._exclusive)

    def inflight(self, client: str) -> int:
        return self._inflight[client]

    # -- routing ---------------------------------------------------------------------------------

    def owner(self, agent_type: str, key: str) -> str | None:
        """The live client holding ``(agent_type, key)`` now, placing nothing (for cancellations)."""
        entry = (self._passing if key.startswith(STATELESS_PREFIX) else self._entries).get((agent_type, key))
        if entry is None or not self._live(entry.client):
            return None
        return entry.client

    def place(self, agent_type: str, key: str) -> str | None:
        """The client a request or event to ``(agent_type, key)`` goes to; None when no client serves the type."""
        clients = self.clients(agent_type)
        if not clients:
            return None
        if self.exclusive(agent_type):
            return clients[0]
        if key.startswith(STATELESS_PREFIX):
            return self.owner(agent_type, key) or self._least_busy(agent_type, clients)
        return self._conversation(agent_type, key, clients)

    def begin(self, agent_type: str, key: str, client: str) -> None:
        """A request to ``(agent_type, key)`` was forwarded to ``client``: pin it there until :meth:`end`."""
        self._inflight[client] += 1
        entry = self._tracked(agent_type, key, client, create=True)
        if entry is not None:
            entry.inflight += 1

    def end(self, agent_type: str, key: str, client: str) -> None:
        """The request ended (answered, failed or its client gone)."""
        if self._inflight[client] > 0:
            self._inflight[client] -= 1
        entry = self._tracked(agent_type, key, client, create=False)
        if entry is None:
            return
        entry.inflight = max(0, entry.inflight - 1)
        if entry.inflight:
            return
        if key.startswith(STATELESS_PREFIX):
            del self._passing[(agent_type, key)]
        elif client in self._draining:
            self._release((agent_type, key))
        else:
            self._touch((agent_type, key), entry)

    def snapshot(self) -> dict[str, Any]:
        """Per type, its clients with their conversations and requests in flight (JSON-ready)."""
        types = {
            agent_type: [
                {
                    "client": client,
                    "conversations": self._load[(client, agent_type)],
                    "inflight": self._inflight[client],
                    "draining": client in self._draining,
                }
                for client in clients
                if self._live(client)
            ]
            for agent_type, clients in sorted(self._types.items())
        }
        return {"types": types, "conversations": len(self._entries), "stateless_inflight": len(self._passing)}

    # -- internals -------------------------------------------------------------------------------

    def _conversation(self, agent_type: str, key: str, clients: list[str]) -> str:
        now = self._clock()
        entry = self._entries.get((agent_type, key))
        if entry is not None:
            if entry.client in clients and (entry.inflight or now - entry.used < self._ttl):
                self._touch((agent_type, key), entry, now)
                return entry.client
            self._release((agent_type, key))
        client = self._rendezvous(agent_type, key, self._open(clients))
        self._entries[(agent_type, key)] = _Entry(client, now)
        self._owned.setdefault(client, set()).add((agent_type, key))
        self._load[(client, agent_type)] += 1
        self._expire(now)
        return client

    def _rendezvous(self, agent_type: str, key: str, clients: list[str]) -> str:
        placed = sum(self._load[(client, agent_type)] for client in clients)
        cap = math.ceil(self._load_factor * (placed + 1) / len(clients))
        ranked = sorted(clients, key=lambda client: _score(client, agent_type, key), reverse=True)
        return next((client for client in ranked if self._load[(client, agent_type)] < cap), ranked[0])

    def _least_busy(self, agent_type: str, clients: list[str]) -> str:
        candidates = self._open(clients)
        start = self._rotation[agent_type] % len(candidates)
        self._rotation[agent_type] += 1
        rotated = candidates[start:] + candidates[:start]
        return min(rotated, key=lambda client: self._inflight[client])  # min keeps the first of equals

    def _open(self, clients: list[str]) -> list[str]:
        """The clients that take new work: the ones not draining, else (all draining) every one."""
        return [client for client in clients if client not in self._draining] or clients

    def _tracked(self, agent_type: str, key: str, client: str, *, create: bool) -> _Entry | None:
        if key.startswith(STATELESS_PREFIX):
            entry = self._passing.get((agent_type, key))
            if entry is None and create:
                entry = self._passing[(agent_type, key)] = _Entry(client, self._clock())
        else:
            entry = self._entries.get((agent_type, key))
        return entry if entry is not None and entry.client == client else None

    def _touch(self, key: Key, entry: _Entry, now: float | None = None) -> None:
        entry.used = self._clock() if now is None else now
        self._entries.move_to_end(key)

    def _release(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._owned.get(entry.client, set()).discard(key)
        self._load[(entry.client, key[0])] -= 1
        if self._load[(entry.client, key[0])] <= 0:
            del self._load[(entry.client, key[0])]

    def _expire(self, now: float) -> None:
        """Drop conversations idle past ``ttl`` and the least recently used beyond ``max_entries``."""
        for _ in range(len(self._entries)):
            key, entry = next(iter(self._entries.items()))
            over = len(self._entries) > self._max_entries
            if not over and now - entry.used < self._ttl:
                return
            if entry.inflight:
                self._touch(key, entry, now)  # busy: never moved, only aged
            else:
                self._release(key)
