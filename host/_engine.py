"""Everything that touches autogen-core internals, in one place.

The pinned engine (autogen-core 0.7.5) caches the recipients of every topic it
has ever seen and rebuilds that cache on each subscription change; with one
topic per request that grows memory forever and slows every request. It also
has no API to evict an agent instance. This module fixes both on a runtime
object (``SingleThreadedAgentRuntime``, ``GrpcWorkerAgentRuntime`` or the gRPC
host servicer: all three hold a ``SubscriptionManager`` as
``_subscription_manager``). ``tests/host/test_engine.py`` fails loudly if the
pinned version moves these internals.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable
from typing import Any

import autogen_core
from autogen_core import Agent, AgentId, Subscription, TopicId
from autogen_core._runtime_impl_helpers import SubscriptionManager

__all__ = [
    "ENGINE_VERSION",
    "BoundedSubscriptionManager",
    "evict_instance",
    "get_instance",
    "install_bounded_subscriptions",
    "instance_count",
    "known_agent_types",
    "missing_serializers",
]

ENGINE_VERSION = "0.7.5"
_JSON = "application/json"


class BoundedSubscriptionManager(SubscriptionManager):
    """A ``SubscriptionManager`` whose topic cache is a bounded LRU.

    Recipients are a pure function of (subscriptions, topic), so a cache miss
    only costs a recomputation. ``collapse_types`` names agent types whose
    recipients are mapped to the single key ``"sink"``: a per-request topic
    mapped through a ``TypeSubscription`` would otherwise create one agent
    instance per request that is never freed.
    """

    def __init__(self, max_topics: int = 1024, collapse_types: Collection[str] = ()) -> None:
        super().__init__()
        self._max_topics = max_topics
        self._collapse = frozenset(collapse_types)
        self._cache: OrderedDict[TopicId, list[AgentId]] = OrderedDict()

    def collapse(self, agent_type: str) -> None:
        self._collapse = self._collapse | {agent_type}
        self._cache.clear()

    @property
    def cached_topics(self) -> int:
        return len(self._cache)

    async def add_subscription(self, subscription: Subscription) -> None:
        if any(sub == subscription for sub in self._subscriptions):
            raise ValueError("Subscription already exists")
        self._subscriptions.append(subscription)
        self._cache.clear()

    async def remove_subscription(self, id: str) -> None:
        if not any(sub.id == id for sub in self._subscriptions):
            raise ValueError("Subscription does not exist")
        self._subscriptions = [sub for sub in self._subscriptions if sub.id != id]
        self._cache.clear()

    async def get_subscribed_recipients(self, topic: TopicId) -> list[AgentId]:
        recipients = self._cache.get(topic)
        if recipients is not None:
            self._cache.move_to_end(topic)
            return recipients
        recipients = self._recipients(topic)
        self._cache[topic] = recipients
        if len(self._cache) > self._max_topics:
            self._cache.popitem(last=False)
        return recipients

    def _recipients(self, topic: TopicId) -> list[AgentId]:
        recipients: list[AgentId] = []
        for subscription in self._subscriptions:
            if subscription.is_match(topic):
                agent_id = subscription.map_to_agent(topic)
                if agent_id.type in self._collapse:
                    agent_id = AgentId(agent_id.type, "sink")
                if agent_id not in recipients:
                    recipients.append(agent_id)
        return recipients


def install_bounded_subscriptions(target: Any, max_topics: int = 1024) -> BoundedSubscriptionManager:
    """Swap ``target``'s subscription manager for a bounded one, keeping its subscriptions."""
    current = _attr(target, "_subscription_manager")
    if isinstance(current, BoundedSubscriptionManager):
        return current
    bounded = BoundedSubscriptionManager(max_topics)
    bounded._subscriptions = list(current.subscriptions)
    target._subscription_manager = bounded
    return bounded


def evict_instance(runtime: Any, agent_id: AgentId) -> Agent | None:
    """Forget an agent instance; the next message to its id creates a new one."""
    instances: dict[AgentId, Agent] = _attr(runtime, "_instantiated_agents")
    return instances.pop(agent_id, None)


def get_instance(runtime: Any, agent_id: AgentId) -> Agent | None:
    """The live instance for ``agent_id`` in this process, if one exists."""
    instances: dict[AgentId, Agent] = _attr(runtime, "_instantiated_agents")
    return instances.get(agent_id)


def instance_count(runtime: Any) -> int:
    return len(_attr(runtime, "_instantiated_agents"))


def known_agent_types(runtime: Any) -> frozenset[str]:
    """Agent types registered on this runtime (this process only)."""
    return frozenset(_attr(runtime, "_agent_factories"))


def missing_serializers(runtime: Any, types: Iterable[type]) -> list[str]:
    """Names of ``types`` with no JSON serializer on ``runtime``."""
    registry = _attr(runtime, "_serialization_registry")
    return [t.__name__ for t in types if not registry.is_registered(t.__name__, _JSON)]


def _attr(target: Any, name: str) -> Any:
    try:
        return getattr(target, name)
    except AttributeError as exc:  # the pinned engine moved: fail loudly, not subtly
        raise RuntimeError(
            f"{type(target).__name__} has no {name!r}; agenthost expects autogen-core {ENGINE_VERSION}, "
            f"found {autogen_core.__version__}"
        ) from exc
