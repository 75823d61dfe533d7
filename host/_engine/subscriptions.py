"""A bounded topic cache for the engine's ``SubscriptionManager`` (local runtime, gRPC worker and host)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from autogen_core import AgentId, Subscription, TopicId
from autogen_core._runtime_impl_helpers import SubscriptionManager

from ._base import attr

__all__ = ["BoundedSubscriptionManager", "install_bounded_subscriptions"]


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
    current = attr(target, "_subscription_manager")
    if isinstance(current, BoundedSubscriptionManager):
        return current
    bounded = BoundedSubscriptionManager(max_topics)
    bounded._subscriptions = list(current.subscriptions)
    target._subscription_manager = bounded
    return bounded
