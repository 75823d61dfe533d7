"""Everything that touches autogen-core internals, in one place.

The pinned engine (autogen-core 0.7.5) caches the recipients of every topic it
has ever seen and rebuilds that cache on each subscription change; with one
topic per request that grows memory forever and slows every request. It also
has no API to evict an agent instance. This module fixes both on a runtime
object (``SingleThreadedAgentRuntime``, ``GrpcWorkerAgentRuntime`` or the gRPC
host servicer: all three hold a ``SubscriptionManager`` as
``_subscription_manager``). ``tests/host/test_engine.py`` fails loudly if the
pinned version moves these internals.

The gRPC engine (autogen-ext 0.7.5) hangs callers when left alone: the host
drops a request to an unregistered type, cancels (and never answers) requests
pending on a worker that disconnects, and routes replies by the caller's own
request counter (two callers' request ``"7"`` to one worker collide). A worker
never notices that its host connection broke. The ``*_grpc`` helpers below fix
or expose that; ``tests/grpc/test_engine_grpc.py`` pins them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
import types
from collections import OrderedDict
from collections.abc import Collection, Iterable
from typing import Any

import autogen_core
from autogen_core import EVENT_LOGGER_NAME, Agent, AgentId, SingleThreadedAgentRuntime, Subscription, TopicId
from autogen_core._runtime_impl_helpers import SubscriptionManager
from autogen_core.logging import MessageEvent as _MessageEvent

__all__ = [
    "ENGINE_VERSION",
    "BoundedSubscriptionManager",
    "dispatch_in_batches",
    "evict_instance",
    "fail_pending_requests",
    "get_instance",
    "host_connection_task",
    "host_server",
    "host_servicer",
    "inflight_tasks",
    "install_always_answer",
    "install_bounded_subscriptions",
    "install_fail_fast_routing",
    "instance_count",
    "known_agent_types",
    "missing_serializers",
    "prune_pending_requests",
    "serialize_only_when_logged",
    "stop_worker",
    "untraced",
]

logger = logging.getLogger(__name__)

ENGINE_VERSION = "0.7.5"
_EVENTS = logging.getLogger(EVENT_LOGGER_NAME)
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


def serialize_only_when_logged(runtime: Any) -> None:
    """Stop ``SingleThreadedAgentRuntime`` serializing payloads for event-log records nobody reads.

    The engine serializes every message up to three times per delivery for its
    ``autogen_core.events`` log and tracing attributes, whether or not anything
    listens. With this, it does so only while that logger is enabled for INFO.
    """
    serialize = _attr(runtime, "_try_serialize")
    events = logging.getLogger(EVENT_LOGGER_NAME)

    def try_serialize(message: Any) -> str:
        return serialize(message) if events.isEnabledFor(logging.INFO) else "(not logged)"

    runtime._try_serialize = try_serialize


class _NoTrace:
    """Stands in for a runtime's ``TraceHelper`` when nothing records spans."""

    _NULL = contextlib.nullcontext()

    def trace_block(self, *args: Any, **kwargs: Any) -> contextlib.nullcontext[None]:
        return self._NULL


async def _no_attributes(*args: Any, **kwargs: Any) -> dict[str, str]:
    return {}


def untraced(runtime: Any) -> None:
    """Skip the engine's per-message span bookkeeping when tracing is off.

    With no tracer provider configured the engine still builds four no-op spans
    and their attributes (a payload serialization and a JSON dump among them)
    for every RPC. Works on ``SingleThreadedAgentRuntime`` (``_tracer_helper``)
    and ``GrpcWorkerAgentRuntime`` (``_trace_helper``).
    """
    for name in ("_tracer_helper", "_trace_helper"):
        if hasattr(runtime, name):
            setattr(runtime, name, _NoTrace())
            break
    else:
        _attr(runtime, "_tracer_helper")
    if hasattr(runtime, "_create_otel_attributes"):
        runtime._create_otel_attributes = _no_attributes


class _AsyncioDispatchingInBatches(types.ModuleType):
    """``asyncio`` as the embedded runtime's module sees it, except that ``sleep(0)`` does not yield."""

    def __init__(self) -> None:
        super().__init__("asyncio")

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    def sleep(delay: float, result: Any = None) -> Any:
        return asyncio.sleep(delay, result) if delay else _ready(result)


async def _ready(result: Any) -> Any:
    return result


def _message_event_when_logged(**fields: Any) -> Any:
    """The engine's ``MessageEvent(...)``, built only when its logger would record it."""
    return _MessageEvent(**fields) if _EVENTS.isEnabledFor(logging.INFO) else None


def dispatch_in_batches() -> None:
    """Make ``SingleThreadedAgentRuntime``'s dispatch loop cheap under load.

    After dispatching each message (creating the task that handles it) the
    engine awaits ``asyncio.sleep(0)``, so its dispatch loop moves one message
    per event-loop iteration. In a busy server every iteration also carries all
    the socket work, which made each RPC cost about three times its in-process
    CPU time at 16 concurrent HTTP requests. Without that yield the loop drains
    what is queued (same order, same tasks) and suspends on the empty queue.
    It also builds its four ``MessageEvent`` log records per RPC only when the
    ``autogen_core.events`` logger is on. Process-wide: it swaps two names the
    engine's module sees, once.
    """
    module = sys.modules[SingleThreadedAgentRuntime.__module__]
    if not isinstance(_attr(module, "asyncio"), _AsyncioDispatchingInBatches):
        module.asyncio = _AsyncioDispatchingInBatches()  # type: ignore[attr-defined]
    if _attr(module, "MessageEvent") is _MessageEvent:
        module.MessageEvent = _message_event_when_logged  # type: ignore[attr-defined]


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


# -- gRPC worker runtime ------------------------------------------------------------------------


def host_connection_task(runtime: Any) -> asyncio.Task[None]:
    """The task reading the worker's host stream; it ends (EOF or error) when the connection is lost."""
    connection = _attr(runtime, "_host_connection")
    if connection is None:
        raise RuntimeError("the gRPC worker runtime is not started")
    task: asyncio.Task[None] | None = _attr(connection, "_connection_task")
    if task is None:
        raise RuntimeError("the gRPC worker runtime has no host stream")
    return task


def fail_pending_requests(runtime: Any, error: Exception) -> int:
    """Fail every ``send_message`` still waiting for a reply; returns how many."""
    pending: dict[str, asyncio.Future[Any]] = _attr(runtime, "_pending_requests")
    failed = 0
    for future in list(pending.values()):
        if not future.done():
            future.set_exception(error)
            failed += 1
    pending.clear()
    return failed


def prune_pending_requests(runtime: Any) -> int:
    """Forget replies nobody waits for any more (callers that timed out); returns how many."""
    pending: dict[str, asyncio.Future[Any]] = _attr(runtime, "_pending_requests")
    stale = [request_id for request_id, future in pending.items() if future.done()]
    for request_id in stale:
        pending.pop(request_id, None)
    return len(stale)


def inflight_tasks(runtime: Any) -> set[asyncio.Task[Any]]:
    """The worker's running message tasks (requests being handled, replies and events being sent)."""
    return set(_attr(runtime, "_background_tasks"))


def install_always_answer(runtime: Any) -> None:
    """Make the worker answer every RPC it takes: if building the agent or serializing its reply fails,
    the engine sends nothing and the caller hangs; this sends the error as the reply instead."""
    original = _attr(runtime, "_process_request")

    async def process_request(request: Any) -> None:
        try:
            await original(request)
        except Exception as exc:
            from autogen_ext.runtimes.grpc.protos import agent_worker_pb2

            logger.exception("worker failed to handle a request to %s", request.target.type)
            reason = f"agent type {request.target.type!r} failed before answering: {type(exc).__name__}: {exc}"
            response = agent_worker_pb2.RpcResponse(request_id=request.request_id, error=reason)
            await runtime._host_connection.send(agent_worker_pb2.Message(response=response))

    runtime._process_request = process_request


async def stop_worker(runtime: Any, seconds: float) -> None:
    """``runtime.stop()``, bounded, and tolerant of a host connection that already broke."""
    try:
        async with asyncio.timeout(seconds):
            await runtime.stop()
    except (Exception, TimeoutError):
        read_task: asyncio.Task[None] | None = _attr(runtime, "_read_task")
        runtime._running = False
        if read_task is not None:
            read_task.cancel()


# -- gRPC host servicer -------------------------------------------------------------------------


def host_servicer(host: Any) -> Any:
    """The ``GrpcWorkerAgentRuntimeHostServicer`` inside a ``GrpcWorkerAgentRuntimeHost``."""
    return _attr(host, "_servicer")


def host_server(host: Any) -> Any:
    """The ``grpc.aio.Server`` inside a ``GrpcWorkerAgentRuntimeHost`` (to add the health service)."""
    return _attr(host, "_server")


def install_fail_fast_routing(servicer: Any) -> None:
    """Make the host answer every RPC: unknown targets and lost workers get an error reply, not silence.

    Also gives each forwarded request a host-unique id, so that callers' request
    counters cannot collide at a worker, and maps the reply back.
    """
    for name in ("_agent_type_to_client_id", "_data_connections", "_pending_responses", "_background_tasks"):
        _attr(servicer, name)
    servicer._agenthost_ids = itertools.count()
    servicer._process_request = types.MethodType(_route_request, servicer)


async def _route_request(self: Any, request: Any, client_id: str) -> None:
    from autogen_ext.runtimes.grpc.protos import agent_worker_pb2

    async with self._agent_type_to_client_id_lock:
        target_id = self._agent_type_to_client_id.get(request.target.type)
    target = None if target_id is None else self._data_connections.get(target_id)
    if target is None:
        reason = f"no worker serves agent type {request.target.type!r} (nothing registered it with the gRPC host)"
        await _answer(self, client_id, agent_worker_pb2.RpcResponse(request_id=request.request_id, error=reason))
        return
    forwarded = agent_worker_pb2.RpcRequest()
    forwarded.CopyFrom(request)
    forwarded.request_id = f"h{next(self._agenthost_ids)}"
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    self._pending_responses.setdefault(target_id, {})[forwarded.request_id] = future
    await target.send(agent_worker_pb2.Message(request=forwarded))
    task = asyncio.create_task(_relay_response(self, future, client_id, request))
    self._background_tasks.add(task)
    task.add_done_callback(self._background_tasks.discard)


async def _relay_response(self: Any, future: asyncio.Future[Any], client_id: str, request: Any) -> None:
    from autogen_ext.runtimes.grpc.protos import agent_worker_pb2

    try:
        response = await future
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if not future.cancelled() or (task is not None and task.cancelling()):
            raise
        reason = f"the worker serving agent type {request.target.type!r} disconnected before it answered"
        response = agent_worker_pb2.RpcResponse(error=reason)
    reply = agent_worker_pb2.RpcResponse()
    reply.CopyFrom(response)
    reply.request_id = request.request_id
    await _answer(self, client_id, reply)


async def _answer(self: Any, client_id: str, response: Any) -> None:
    from autogen_ext.runtimes.grpc.protos import agent_worker_pb2

    connection = self._data_connections.get(client_id)
    if connection is not None:  # the caller may be gone too
        await connection.send(agent_worker_pb2.Message(response=response))


def _attr(target: Any, name: str) -> Any:
    try:
        return getattr(target, name)
    except AttributeError as exc:  # the pinned engine moved: fail loudly, not subtly
        raise RuntimeError(
            f"{type(target).__name__} has no {name!r}; agenthost expects autogen-core {ENGINE_VERSION}, "
            f"found {autogen_core.__version__}"
        ) from exc
