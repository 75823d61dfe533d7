"""``agenthost worker``: agent types on a gRPC worker runtime, with a liveness endpoint.

A worker is an :class:`~host.agent_host.AgentHost` in gRPC mode: the same
plugin loading and registration, its agent instances living in this process.

Liveness is a tiny HTTP server (``runtime.health_port``, on ``http.host``):
``GET /health`` answers 200 while the host connection is up and the event loop
runs, 503 otherwise; ``GET /ready`` is 503 while draining. An ``httpGet``
probe needs no shell and no writable file (the pods run with a read-only root
filesystem), and it proves the event loop itself is alive, which a heartbeat
file written by a thread would not. ``GET /metrics`` serves the worker's metrics
(its agents' turns, live instances, state store, event loop lag) for Prometheus.

Exit codes: 0 after SIGTERM/SIGINT (in-flight turns drained, within
``timeouts.shutdown``); 2 when it cannot start (host unreachable, agent type
already served by another worker); 3 when the host connection is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from autogen_core import AgentRuntime

from .. import _engine
from ..agent_host import AgentHost
from ..runtime.grpc_worker_runtime import EXIT_STARTUP_FAILED
from ..settings import Settings
from ..telemetry import CONTENT_TYPE, NO_METRICS, NoMetrics
from .signals import stop_event

__all__ = ["health_app", "run_worker"]

logger = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    """Serve the selected agent types until SIGTERM/SIGINT (returns 0) or a startup failure (returns 2)."""
    if settings.runtime.mode != "grpc":
        settings = settings.model_copy(update={"runtime": settings.runtime.model_copy(update={"mode": "grpc"})})
    return asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    stop = stop_event()
    host = AgentHost(settings)
    try:
        await host.start()
    except Exception as exc:
        logger.error("the worker could not start: %s", _startup_problem(exc))
        return EXIT_STARTUP_FAILED
    draining = asyncio.Event()
    try:
        async with _health_server(settings, host.runtime, draining, host.metrics):
            names = ", ".join(spec.name for spec in host.agents())
            logger.info("worker serving agents [%s] via the gRPC host at %s", names, settings.runtime.host_address)
            await stop.wait()
            draining.set()
            logger.info("stopping: draining in-flight turns (up to %g s)", settings.timeouts.shutdown)
            await host.stop()
    finally:
        await host.stop()
    return 0


def _startup_problem(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    text = details() if callable(details) else str(exc)
    if "already registered" in text:
        return (
            f"the gRPC host refused an agent type: {text}. The host allows one worker per agent type: "
            "stop the other worker, or give this one other --agents (AGENTHOST_AGENTS)"
        )
    return f"{type(exc).__name__}: {text}"


def health_app(runtime: AgentRuntime, draining: asyncio.Event, metrics: NoMetrics = NO_METRICS) -> web.Application:
    """``/health`` (liveness: host connection up), ``/ready`` (also not draining), ``/metrics`` (Prometheus)."""

    def connected() -> bool:
        return not _engine.host_connection_task(runtime).done()

    async def health(request: web.Request) -> web.Response:
        ok = connected()
        return web.json_response({"status": "ok" if ok else "host connection lost"}, status=200 if ok else 503)

    async def ready(request: web.Request) -> web.Response:
        ok = connected() and not draining.is_set()
        status = "ready" if ok else ("draining" if draining.is_set() else "host connection lost")
        return web.json_response({"status": status}, status=200 if ok else 503)

    async def prometheus(request: web.Request) -> web.Response:
        if not metrics.enabled:
            raise web.HTTPNotFound(text="metrics are off (AGENTHOST_TELEMETRY__METRICS=false)")
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", prometheus)
    return app


@contextlib.asynccontextmanager
async def _health_server(
    settings: Settings, runtime: AgentRuntime, draining: asyncio.Event, metrics: NoMetrics
) -> AsyncIterator[None]:
    port = settings.runtime.health_port
    if port is None:
        yield
        return
    runner = web.AppRunner(health_app(runtime, draining, metrics), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http.host, port)
        await site.start()
        logger.info("worker health on http://%s:%d/health", settings.http.host, port)
        yield
    finally:
        await runner.cleanup()
