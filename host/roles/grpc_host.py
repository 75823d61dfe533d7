"""``agenthost grpc-host``: AutoGen's gRPC host service, placing work over many workers per agent type.

One ``grpc.aio`` server carries three services:

- ``agents.AgentRpc``, AutoGen's, served by :class:`agenthost._engine.RoutingHostServicer`:
  N workers per agent type, each conversation on one worker while it lives, stateless requests
  spread by load, an answer for every RPC (unknown or lost targets get an error at once);
- ``agenthost.Routing`` (:mod:`agenthost.runtime.routing`): ``Drain`` and ``Snapshot``;
- the standard ``grpc.health.v1``, SERVING while it runs.

Keepalive pings find a worker whose node vanished (no FIN, no RST) within about 15 s.
Exits 0 after SIGTERM/SIGINT, 2 when it cannot start.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc  # type: ignore[import-untyped]
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .. import _engine
from ..core import event_loop
from ..runtime import routing
from ..runtime.grpc_worker_runtime import EXIT_STARTUP_FAILED, server_options
from ..runtime.logs import quiet_engine_logs
from ..settings import Settings
from .heap import settle_startup_heap
from .signals import stop_event

__all__ = ["open_host_server", "placement_ttl", "run_grpc_host"]

logger = logging.getLogger(__name__)

_HEALTH_SERVICES = ("", "agents.AgentRpc", routing.SERVICE)


def run_grpc_host(settings: Settings, address: str) -> int:
    """``agenthost grpc-host``: serve until SIGTERM/SIGINT, then exit 0."""
    try:
        return event_loop.run(_serve_host(settings, address), settings.loop)
    except RuntimeError as exc:
        logger.error("the gRPC host could not start on %s: %s", address, exc)
        return EXIT_STARTUP_FAILED


async def _serve_host(settings: Settings, address: str) -> int:
    quiet_engine_logs(settings)
    stop = stop_event()
    async with open_host_server(settings, address):
        settle_startup_heap()
        logger.info(
            "gRPC host serving on %s (health and %s services included); event loop: %s",
            address, routing.SERVICE, event_loop.loop_name(),
        )  # fmt: skip
        await stop.wait()
    return 0


def placement_ttl(settings: Settings) -> float:
    """How long the host keeps an idle conversation on its worker: twice the workers' instance idle time,
    so that a worker has evicted the instance (its reaper runs every quarter of that) before it can move."""
    return 2 * settings.timeouts.instance_idle


@contextlib.asynccontextmanager
async def open_host_server(settings: Settings, address: str) -> AsyncIterator[_engine.RoutingHostServicer]:
    """A started host server on ``address``; yields its servicer. Stops it (with the shutdown grace) on exit.

    Raises:
        RuntimeError: the address cannot be bound.
    """
    server = grpc.aio.server(options=server_options(settings))
    servicer = _engine.RoutingHostServicer(placement_ttl(settings))
    _engine.add_to_server(servicer, server)
    _add_routing_service(server, servicer)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(address)
    await server.start()
    try:
        for service in _HEALTH_SERVICES:
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        yield servicer
    finally:
        for service in _HEALTH_SERVICES:
            await health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        await server.stop(grace=max(1.0, settings.timeouts.shutdown))


def _add_routing_service(server: Any, servicer: _engine.RoutingHostServicer) -> None:
    async def drain(body: bytes, context: Any) -> bytes:
        client = _engine.client_id(context) or ""
        if not client:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Drain: no client-id metadata (call it as a worker)")
        first = not servicer.placement.draining(client)
        status = servicer.drain(client)
        if first:
            released, inflight = status["released"], status["inflight"]
            logger.info(
                "client %s drains: released %d idle conversations, %d requests in flight", client, released, inflight
            )
        return json.dumps(status).encode()

    async def snapshot(body: bytes, context: Any) -> bytes:
        return json.dumps(servicer.snapshot()).encode()

    methods: dict[str, Callable[[bytes, Any], Awaitable[bytes]]] = {routing.DRAIN: drain, routing.SNAPSHOT: snapshot}
    handlers = {name: grpc.unary_unary_rpc_method_handler(method) for name, method in methods.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(routing.SERVICE, handlers),))
