"""Helpers on the gRPC worker runtime: the host connection, pending requests, an answer for every RPC."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from ._base import attr

__all__ = [
    "RequestCounts",
    "call_host",
    "count_requests",
    "fail_pending_requests",
    "host_client_id",
    "host_connection_task",
    "inflight_tasks",
    "install_always_answer",
    "prune_pending_requests",
    "request_counts",
    "stop_worker",
]

logger = logging.getLogger(__name__)


def host_connection_task(runtime: Any) -> asyncio.Task[None]:
    """The task reading the worker's host stream; it ends (EOF or error) when the connection is lost."""
    connection = attr(runtime, "_host_connection")
    if connection is None:
        raise RuntimeError("the gRPC worker runtime is not started")
    task: asyncio.Task[None] | None = attr(connection, "_connection_task")
    if task is None:
        raise RuntimeError("the gRPC worker runtime has no host stream")
    return task


def host_client_id(runtime: Any) -> str:
    """The id this runtime's host knows it by (sent as ``client-id`` metadata with every call)."""
    client: str = attr(_connection(runtime), "_client_id")
    return client


async def call_host(runtime: Any, method: str, body: bytes, within: float) -> bytes:
    """A unary call (raw bytes both ways) to another service of the host, on this runtime's channel, as this client.

    Raises:
        grpc.aio.AioRpcError: the call failed (``UNIMPLEMENTED`` from a host without that service).
    """
    connection = _connection(runtime)
    call = attr(connection, "_channel").unary_unary(method)
    answer: bytes = await call(body, metadata=connection.metadata, timeout=within)  # a gRPC deadline
    return answer


def _connection(runtime: Any) -> Any:
    connection = attr(runtime, "_host_connection")
    if connection is None:
        raise RuntimeError("the gRPC worker runtime is not started")
    return connection


def fail_pending_requests(runtime: Any, error: Exception) -> int:
    """Fail every ``send_message`` still waiting for a reply; returns how many."""
    pending: dict[str, asyncio.Future[Any]] = attr(runtime, "_pending_requests")
    failed = 0
    for future in list(pending.values()):
        if not future.done():
            future.set_exception(error)
            failed += 1
    pending.clear()
    return failed


def prune_pending_requests(runtime: Any) -> int:
    """Forget replies nobody waits for any more (callers that timed out); returns how many."""
    pending: dict[str, asyncio.Future[Any]] = attr(runtime, "_pending_requests")
    stale = [request_id for request_id, future in pending.items() if future.done()]
    for request_id in stale:
        pending.pop(request_id, None)
    return len(stale)


def inflight_tasks(runtime: Any) -> set[asyncio.Task[Any]]:
    """The worker's running message tasks (requests being handled, replies and events being sent)."""
    return set(attr(runtime, "_background_tasks"))


def install_always_answer(runtime: Any) -> None:
    """Make the worker answer every RPC it takes: if building the agent or serializing its reply fails,
    the engine sends nothing and the caller hangs; this sends the error as the reply instead."""
    original = attr(runtime, "_process_request")

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


class RequestCounts:
    """The requests of one kind a worker took: answered, per agent type, and in flight."""

    def __init__(self) -> None:
        self.served: Counter[str] = Counter()
        self.inflight = 0


def count_requests(runtime: Any, data_type: str) -> RequestCounts:
    """Count the requests whose payload is ``data_type`` (a wire class name) that the worker handles."""
    original = attr(runtime, "_process_request")
    counts = RequestCounts()

    async def process_request(request: Any) -> None:
        if request.payload.data_type != data_type:
            await original(request)
            return
        counts.inflight += 1
        try:
            await original(request)
        finally:
            counts.inflight -= 1
            counts.served[request.target.type] += 1

    runtime._process_request = process_request
    runtime._agenthost_request_counts = counts
    return counts


def request_counts(runtime: Any) -> RequestCounts:
    """What :func:`count_requests` installed on ``runtime`` (empty counts if nothing was)."""
    counts = getattr(runtime, "_agenthost_request_counts", None)
    return counts if isinstance(counts, RequestCounts) else RequestCounts()


async def stop_worker(runtime: Any, seconds: float) -> None:
    """``runtime.stop()``, bounded, and tolerant of a host connection that already broke."""
    try:
        async with asyncio.timeout(seconds):
            await runtime.stop()
    except (Exception, TimeoutError):
        read_task: asyncio.Task[None] | None = attr(runtime, "_read_task")
        runtime._running = False
        if read_task is not None:
            read_task.cancel()
