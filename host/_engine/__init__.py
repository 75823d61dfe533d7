"""Everything that touches autogen internals, in one package.

The pinned engine (autogen-core 0.7.5) caches the recipients of every topic it
has ever seen and rebuilds that cache on each subscription change; with one
topic per request that grows memory forever and slows every request. It also
has no API to evict an agent instance. This module fixes both on a runtime
object (``SingleThreadedAgentRuntime``, ``GrpcWorkerAgentRuntime`` or the gRPC
host servicer: all three hold a ``SubscriptionManager`` as
``_subscription_manager``).

The gRPC engine (autogen-ext 0.7.5) hangs callers when left alone: the host
drops a request to an unregistered type, cancels (and never answers) requests
pending on a worker that disconnects, and routes replies by the caller's own
request counter (two callers' request ``"7"`` to one worker collide). Its host
also allows one worker per agent type. A worker never notices that its host
connection broke. :mod:`.grpc_worker` and :mod:`.grpc_host` (a subclass of the
host servicer that places work over many workers) fix or expose that. :mod:`.openai` closes AutoGen's OpenAI
streams that end early.

Every upstream function or class these modules fork, wrap or rely on is pinned
by a hash of its source (:mod:`.pins`); ``tests/runtime/test_engine.py`` fails
when one changes, and attribute access goes through :func:`._base.attr`, which
fails loudly naming the expected engine version.
"""

from __future__ import annotations

from . import openai, pins
from ._base import ENGINE_VERSION
from .grpc_host import RoutingHostServicer, add_to_server, client_id
from .grpc_worker import (
    RequestCounts,
    call_host,
    count_requests,
    fail_pending_requests,
    host_client_id,
    host_connection_task,
    inflight_tasks,
    install_always_answer,
    prune_pending_requests,
    request_counts,
    stop_worker,
)
from .local import (
    dispatch_in_batches,
    evict_instance,
    get_instance,
    instance_count,
    known_agent_types,
    lean_delivery,
    missing_serializers,
    serialize_only_when_logged,
    untraced,
)
from .spans import spans_only_when_traced
from .subscriptions import BoundedSubscriptionManager, install_bounded_subscriptions

__all__ = [
    "ENGINE_VERSION",
    "BoundedSubscriptionManager",
    "RequestCounts",
    "RoutingHostServicer",
    "add_to_server",
    "call_host",
    "client_id",
    "count_requests",
    "dispatch_in_batches",
    "evict_instance",
    "fail_pending_requests",
    "get_instance",
    "host_client_id",
    "host_connection_task",
    "inflight_tasks",
    "install_always_answer",
    "install_bounded_subscriptions",
    "instance_count",
    "known_agent_types",
    "lean_delivery",
    "missing_serializers",
    "openai",
    "pins",
    "prune_pending_requests",
    "request_counts",
    "serialize_only_when_logged",
    "spans_only_when_traced",
    "stop_worker",
    "untraced",
]
