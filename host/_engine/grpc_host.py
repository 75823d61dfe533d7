"""The gRPC host servicer, subclassed: many workers per agent type, and an answer for every RPC.

The engine's ``GrpcWorkerAgentRuntimeHostServicer`` (autogen-ext 0.7.5) refuses a second
worker for an agent type, rejects a second worker's equal subscription, drops a request to an
unregistered type (its caller waits forever), cancels without an answer the requests pending on
a worker that disconnects, and forwards callers' request ids as they are (two callers' ``"7"``
collide at a worker). :class:`RoutingHostServicer` keeps its connection handling and replaces
the rest:

- ``RegisterAgent`` adds the client to the type's workers (:class:`~agenthost.roles.placement.Placement`
  decides which one serves each ``(type, key)``); an exclusive type (a bridge's sink) keeps one.
- Subscriptions are shared: equal ones from several clients are one engine subscription,
  removed when its last holder removes it or leaves.
- Each request goes to the placed worker under a host-unique id; its reply (or an error naming
  the cause when no worker serves the type or the worker leaves first) goes back to its caller.
- A caller that leaves has its turns still running on workers cancelled (a ``CancelRequest`` each).
- Events go to the one client that owns each recipient.

The gRPC methods are bound when a servicer is added to a server, so patching an instance has no
effect on them: :func:`add_to_server` binds this subclass to a server the host role builds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass
from typing import Any

import grpc  # type: ignore[import-untyped]
from autogen_core import Subscription, TopicId
from autogen_ext.runtimes.grpc._utils import subscription_from_proto
from autogen_ext.runtimes.grpc._worker_runtime_host_servicer import (
    GrpcWorkerAgentRuntimeHostServicer,
    get_client_id_or_abort,
)
from autogen_ext.runtimes.grpc.protos import agent_worker_pb2, agent_worker_pb2_grpc, cloudevent_pb2

from ..messages import STATELESS_KEY, STATELESS_PREFIX, CancelReply, CancelRequest, ChatRequest
from ..roles.placement import Placement
from .subscriptions import install_bounded_subscriptions

__all__ = ["RoutingHostServicer", "add_to_server", "client_id"]

logger = logging.getLogger(__name__)

_JSON = "application/json"
_CANCEL = CancelRequest.__name__
_TURN = ChatRequest.__name__


@dataclass(frozen=True, slots=True)
class _Forwarded:
    """A request on its way: who asked, which worker has it, and the request as that worker got it."""

    caller: str
    worker: str
    agent_type: str
    key: str
    request: agent_worker_pb2.RpcRequest


class RoutingHostServicer(GrpcWorkerAgentRuntimeHostServicer):
    """The engine's host servicer with placement over many workers per type (see the module docstring)."""

    def __init__(self, placement_ttl: float) -> None:
        super().__init__()
        install_bounded_subscriptions(self)
        self.placement = Placement(
            ttl=placement_ttl, live=self._data_connections.__contains__, exclusive_prefixes=("agenthost.sink.",)
        )
        self._shared = _SharedSubscriptions(self)
        self._ids = itertools.count()
        self._forwarded: dict[str, _Forwarded] = {}
        self.orphans_cancelled = 0

    # -- membership ------------------------------------------------------------------------------

    async def RegisterAgent(
        self, request: agent_worker_pb2.RegisterAgentTypeRequest, context: Any
    ) -> agent_worker_pb2.RegisterAgentTypeResponse:
        client = await get_client_id_or_abort(context)
        holder = self.placement.join(request.type, client)
        if holder is not None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"agent type {request.type} already registered with client {holder}: it has one owner "
                "(give each bridge replica its own AGENTHOST_RUNTIME__REPLICA_ID)",
            )
        self._agent_type_to_client_id.setdefault(request.type, client)  # the engine's control-channel path
        logger.info("client %s serves %s (%d clients)", client, request.type, len(self.placement.clients(request.type)))
        return agent_worker_pb2.RegisterAgentTypeResponse()

    async def AddSubscription(
        self, request: agent_worker_pb2.AddSubscriptionRequest, context: Any
    ) -> agent_worker_pb2.AddSubscriptionResponse:
        client = await get_client_id_or_abort(context)
        if not await self._shared.add(client, subscription_from_proto(request.subscription)):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Subscription already exists")
        return agent_worker_pb2.AddSubscriptionResponse()

    async def RemoveSubscription(
        self, request: agent_worker_pb2.RemoveSubscriptionRequest, context: Any
    ) -> agent_worker_pb2.RemoveSubscriptionResponse:
        client = await get_client_id_or_abort(context)
        if not await self._shared.remove(client, request.id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"no subscription {request.id} of this client")
        return agent_worker_pb2.RemoveSubscriptionResponse()

    async def _on_client_disconnect(self, client_id: str) -> None:
        # OpenChannel's cleanup: the connection is gone and the requests pending on it are cancelled already.
        for agent_type in self.placement.leave(client_id):
            remaining = self.placement.clients(agent_type)
            if remaining:
                self._agent_type_to_client_id[agent_type] = remaining[0]
            else:
                self._agent_type_to_client_id.pop(agent_type, None)
        await self._cancel_turns_of(client_id)
        await self._shared.release(client_id)
        logger.info("client %s disconnected", client_id)

    def drain(self, client: str) -> dict[str, int]:
        """Stop placing new work on ``client``; returns what it released and what it still runs."""
        released = self.placement.drain(client)
        return {"released": released, "inflight": self.placement.inflight(client)}

    def snapshot(self) -> dict[str, Any]:
        """The placement's view, plus the requests on their way and the orphaned turns cancelled so far."""
        counts = {"forwarded": len(self._forwarded), "orphans_cancelled": self.orphans_cancelled}
        return {**self.placement.snapshot(), **counts}

    # -- requests --------------------------------------------------------------------------------

    async def _process_request(self, request: agent_worker_pb2.RpcRequest, client_id: str) -> None:
        agent_type, key = request.target.type, request.target.key
        cancel = request.payload.data_type == _CANCEL
        worker = self._cancel_target(agent_type, key) if cancel else self.placement.place(agent_type, key)
        connection = None if worker is None else self._data_connections.get(worker)
        if worker is None or connection is None:
            await self._answer(client_id, self._unrouted(request, cancel))
            return
        forwarded = agent_worker_pb2.RpcRequest()
        forwarded.CopyFrom(request)
        forwarded.request_id = f"h{next(self._ids)}"
        if key.startswith(STATELESS_PREFIX):
            forwarded.target.key = STATELESS_KEY  # the worker's one instance for requests without a conversation
        # No await between the liveness check and registering the future: a disconnect cannot miss it.
        future: asyncio.Future[agent_worker_pb2.RpcResponse] = self._loop().create_future()
        self._pending_responses.setdefault(worker, {})[forwarded.request_id] = future
        if not cancel:
            self.placement.begin(agent_type, key, worker)
            self._forwarded[forwarded.request_id] = _Forwarded(client_id, worker, agent_type, key, forwarded)
        await connection.send(agent_worker_pb2.Message(request=forwarded))
        task = asyncio.create_task(self._relay(future, client_id, request, forwarded.request_id, worker))
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)

    def _cancel_target(self, agent_type: str, key: str) -> str | None:
        """Where a cancellation goes: the instance's worker, or the type's only worker; never a new placement."""
        owner = self.placement.owner(agent_type, key)
        if owner is not None:
            return owner
        clients = self.placement.clients(agent_type)
        return clients[0] if len(clients) == 1 else None

    def _unrouted(self, request: agent_worker_pb2.RpcRequest, cancel: bool) -> agent_worker_pb2.RpcResponse:
        agent_type = request.target.type
        if cancel and self.placement.clients(agent_type):  # workers, but none runs that instance: nothing to stop
            reply = CancelReply(request_id=_turn_id(request) or "", cancelled=False)
            payload = agent_worker_pb2.Payload(
                data_type=CancelReply.__name__, data_content_type=_JSON, data=reply.model_dump_json().encode()
            )
            return agent_worker_pb2.RpcResponse(request_id=request.request_id, payload=payload)
        reason = f"no worker serves agent type {agent_type!r} (nothing registered it with the gRPC host)"
        return agent_worker_pb2.RpcResponse(request_id=request.request_id, error=reason)

    async def _relay(
        self,
        future: asyncio.Future[agent_worker_pb2.RpcResponse],
        caller: str,
        request: agent_worker_pb2.RpcRequest,
        forwarded_id: str,
        worker: str,
    ) -> None:
        try:
            response = await future
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not future.cancelled() or (task is not None and task.cancelling()):
                raise
            reason = f"the worker serving agent type {request.target.type!r} disconnected before it answered"
            response = agent_worker_pb2.RpcResponse(error=reason)
        finally:
            if self._forwarded.pop(forwarded_id, None) is not None:
                self.placement.end(request.target.type, request.target.key, worker)
        reply = agent_worker_pb2.RpcResponse()
        reply.CopyFrom(response)
        reply.request_id = request.request_id
        await self._answer(caller, reply)

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def _answer(self, client_id: str, response: agent_worker_pb2.RpcResponse) -> None:
        connection = self._data_connections.get(client_id)
        if connection is not None:  # the caller may be gone too
            await connection.send(agent_worker_pb2.Message(response=response))

    async def _cancel_turns_of(self, caller: str) -> None:
        """``caller`` left: stop the turns it started (it can read no answer), as a caller that leaves would."""
        cancelled = 0
        for item in list(self._forwarded.values()):
            turn_id = _turn_id(item.request) if item.caller == caller else None
            connection = self._data_connections.get(item.worker)
            if turn_id is None or connection is None:
                continue
            body = CancelRequest(request_id=turn_id).model_dump_json().encode()
            cancel = agent_worker_pb2.RpcRequest(
                request_id=f"h{next(self._ids)}",
                target=item.request.target,
                payload=agent_worker_pb2.Payload(data_type=_CANCEL, data_content_type=_JSON, data=body),
            )
            # Its answer is read by nobody, but the engine needs a future to take it.
            self._pending_responses.setdefault(item.worker, {})[cancel.request_id] = self._loop().create_future()
            await connection.send(agent_worker_pb2.Message(request=cancel))
            cancelled += 1
        if cancelled:
            self.orphans_cancelled += cancelled
            logger.info("client %s left with %d turns in flight: told their workers to cancel them", caller, cancelled)

    # -- events ----------------------------------------------------------------------------------

    async def _process_event(self, event: cloudevent_pb2.CloudEvent) -> None:
        recipients = await self._subscription_manager.get_subscribed_recipients(TopicId(event.type, event.source))
        place = self.placement.place
        clients = {client for r in recipients if (client := place(r.type, r.key)) is not None}
        message = agent_worker_pb2.Message(cloudEvent=event)
        for client in clients:
            connection = self._data_connections.get(client)
            if connection is not None:
                await connection.send(message)


def _turn_id(request: agent_worker_pb2.RpcRequest) -> str | None:
    """The agenthost request id inside a ``ChatRequest`` or ``CancelRequest`` payload (None for others)."""
    if request.payload.data_type not in (_TURN, _CANCEL) or request.payload.data_content_type != _JSON:
        return None
    try:
        value = json.loads(request.payload.data).get("request_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


class _SharedSubscriptions:
    """One engine subscription per distinct subscription, held by every client that added an equal one.

    The engine refuses an equal subscription (``TypePrefixSubscription("assistant:")`` from a
    second worker of ``assistant``) and drops a subscription when any client removes it by id.
    """

    def __init__(self, servicer: GrpcWorkerAgentRuntimeHostServicer) -> None:
        self._servicer = servicer
        self._holders: dict[str, set[str]] = {}  # engine subscription id -> clients
        self._held: dict[str, dict[str, str]] = {}  # client -> its own subscription id -> engine subscription id

    async def add(self, client: str, subscription: Subscription) -> bool:
        """Hold ``subscription`` for ``client``; False if it holds an equal one already."""
        manager = self._servicer._subscription_manager
        existing = next((held for held in manager.subscriptions if held == subscription), None)
        if existing is None:
            await manager.add_subscription(subscription)
            existing = subscription
        holders = self._holders.setdefault(existing.id, set())
        if client in holders:
            return False
        holders.add(client)
        self._held.setdefault(client, {})[subscription.id] = existing.id
        return True

    async def remove(self, client: str, subscription_id: str) -> bool:
        """Drop ``client``'s hold; the engine subscription goes with its last holder. False if not held."""
        shared = self._held.get(client, {}).pop(subscription_id, None)
        if shared is None:
            return False
        holders = self._holders.get(shared, set())
        holders.discard(client)
        if not holders:
            self._holders.pop(shared, None)
            await self._servicer._subscription_manager.remove_subscription(shared)
        return True

    async def release(self, client: str) -> None:
        for subscription_id in list(self._held.get(client, {})):
            await self.remove(client, subscription_id)
        self._held.pop(client, None)


def add_to_server(servicer: RoutingHostServicer, server: Any) -> None:
    """Serve ``servicer`` as ``agents.AgentRpc`` on a ``grpc.aio.Server`` (binding its methods now)."""
    agent_worker_pb2_grpc.add_AgentRpcServicer_to_server(servicer, server)


def client_id(context: Any) -> str | None:
    """The ``client-id`` a worker runtime sends as metadata with every call (None if absent)."""
    metadata = dict(context.invocation_metadata() or ())
    value = metadata.get("client-id")
    return value if isinstance(value, str) else None
