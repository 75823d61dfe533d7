"""Helpers on the gRPC worker runtime: the host connection, pending requests, an answer for every RPC."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ._base import attr

__all__ = [
    "fail_pending_requests",
    "host_connection_task",
    "inflight_tasks",
    "install_always_answer",
    "prune_pending_requests",
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
