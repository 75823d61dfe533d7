"""Patches to the gRPC host servicer: every RPC gets an answer, request ids that cannot collide."""

from __future__ import annotations

import asyncio
import itertools
import types
from typing import Any

from ._base import attr

__all__ = ["host_server", "host_servicer", "install_fail_fast_routing"]


def host_servicer(host: Any) -> Any:
    """The ``GrpcWorkerAgentRuntimeHostServicer`` inside a ``GrpcWorkerAgentRuntimeHost``."""
    return attr(host, "_servicer")


def host_server(host: Any) -> Any:
    """The ``grpc.aio.Server`` inside a ``GrpcWorkerAgentRuntimeHost`` (to add the health service)."""
    return attr(host, "_server")


def install_fail_fast_routing(servicer: Any) -> None:
    """Make the host answer every RPC: unknown targets and lost workers get an error reply, not silence.

    Also gives each forwarded request a host-unique id, so that callers' request
    counters cannot collide at a worker, and maps the reply back.
    """
    for name in ("_agent_type_to_client_id", "_data_connections", "_pending_responses", "_background_tasks"):
        attr(servicer, name)
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
