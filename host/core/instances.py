"""Evicts idle conversation instances so memory stays bounded.

Each conversation is an agent instance ``AgentId(type, instance_key(conversation_id, owner))``.
Its state is saved after every turn, so an instance that sits idle can be
dropped at no loss: the next message to it creates a new one, which loads the
state back. The engine has no eviction API; ``host._engine`` does the forgetting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from typing import Any

from autogen_core import AgentId

from .. import _engine
from ..messages import STATELESS_KEY

__all__ = ["STATELESS_KEY", "InstanceTracker", "instance_key", "state_key"]

logger = logging.getLogger(__name__)


def instance_key(conversation_id: str | None, owner: str | None = None) -> str:
    """The agent key of a conversation: ``<owner>/<conversation id>``, or the id alone without an owner."""
    if conversation_id is None:
        return STATELESS_KEY
    return conversation_id if owner is None else f"{owner}/{conversation_id}"


def state_key(agent_id: AgentId) -> str:
    """Where the state of the instance ``agent_id`` is stored: ``<agent type>/<instance key>``."""
    return f"{agent_id.type}/{agent_id.key}"


class InstanceTracker:
    """LRU of live conversation instances; evicts the idle and the ones over ``max_instances``."""

    def __init__(self, idle_seconds: float, max_instances: int, skip_key: str = STATELESS_KEY) -> None:
        self.idle_seconds = idle_seconds
        self.max_instances = max_instances
        self._skip_key = skip_key
        self._last_used: OrderedDict[AgentId, float] = OrderedDict()
        self._runtime: Any = None
        self._task: asyncio.Task[None] | None = None
        self.evicted = 0

    def touch(self, agent_id: AgentId) -> None:
        if agent_id.key == self._skip_key:
            return
        self._last_used[agent_id] = time.monotonic()
        self._last_used.move_to_end(agent_id)
        if len(self._last_used) > self.max_instances and self._runtime is not None:
            self._evict_oldest()

    def __len__(self) -> int:
        return len(self._last_used)

    def by_type(self) -> Counter[str]:
        """Live conversation instances per agent type."""
        return Counter(agent_id.type for agent_id in self._last_used)

    def start(self, runtime: Any) -> None:
        self._runtime = runtime
        self._task = asyncio.create_task(self._reap_forever(), name="agenthost-instance-reaper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def sweep(self, now: float | None = None) -> int:
        """Evict every idle instance; returns how many went."""
        deadline = (time.monotonic() if now is None else now) - self.idle_seconds
        idle = [agent_id for agent_id, used in self._last_used.items() if used <= deadline]
        before = self.evicted
        for agent_id in idle:
            self._evict(agent_id)
        return self.evicted - before

    def _evict_oldest(self) -> None:
        """Evict from the least recently used end; a busy instance is moved to the other end instead."""
        for _ in range(len(self._last_used) - self.max_instances):
            oldest = next(iter(self._last_used))
            if not self._evict(oldest):
                self._last_used.move_to_end(oldest)

    def _evict(self, agent_id: AgentId) -> bool:
        """Forget ``agent_id`` unless it is busy; False when it is busy and stays."""
        agent = _engine.get_instance(self._runtime, agent_id)
        if agent is not None and getattr(agent, "busy", False):
            return False
        self._last_used.pop(agent_id, None)
        if agent is not None:
            _engine.evict_instance(self._runtime, agent_id)
            self.evicted += 1
        return True

    async def _reap_forever(self) -> None:
        period = max(0.05, min(self.idle_seconds / 4, 30.0))
        while True:
            await asyncio.sleep(period)
            try:
                self.sweep()
            except Exception:  # never let one bad sweep stop eviction for good
                logger.exception("instance sweep failed")
