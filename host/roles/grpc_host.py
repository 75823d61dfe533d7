"""``agenthost grpc-host``: AutoGen's gRPC host service, answering every RPC, with the gRPC health service.

Unknown or lost targets get an error reply at once (``_engine.install_fail_fast_routing``);
the standard ``grpc.health.v1`` service says SERVING while it runs. Exits 0 after
SIGTERM/SIGINT, 2 when it cannot start.
"""

from __future__ import annotations

import asyncio
import logging

from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntimeHost
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .. import _engine
from ..runtime.grpc_worker_runtime import EXIT_STARTUP_FAILED, server_options
from ..runtime.logs import quiet_engine_logs
from ..settings import Settings
from .signals import stop_event

__all__ = ["run_grpc_host"]

logger = logging.getLogger(__name__)


def run_grpc_host(settings: Settings, address: str) -> int:
    """``agenthost grpc-host``: serve until SIGTERM/SIGINT, then exit 0."""
    try:
        return asyncio.run(_serve_host(settings, address))
    except RuntimeError as exc:
        logger.error("the gRPC host could not start on %s: %s", address, exc)
        return EXIT_STARTUP_FAILED


async def _serve_host(settings: Settings, address: str) -> int:
    quiet_engine_logs(settings)
    host = GrpcWorkerAgentRuntimeHost(address, extra_grpc_config=server_options(settings))
    servicer = _engine.host_servicer(host)
    _engine.install_bounded_subscriptions(servicer)
    _engine.install_fail_fast_routing(servicer)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, _engine.host_server(host))
    stop = stop_event()
    host.start()
    await asyncio.sleep(0)  # let the server bind before reporting SERVING
    for service in ("", "agents.AgentRpc"):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    logger.info("gRPC host serving on %s (health service included)", address)
    await stop.wait()
    for service in ("", "agents.AgentRpc"):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
    await host.stop(grace=max(1, int(settings.timeouts.shutdown)))
    return 0
