"""``agenthost worker``: agent types on a gRPC worker runtime, with a health endpoint.

A worker is an :class:`~agenthost.agent_host.AgentHost` in gRPC mode: the same
plugin loading and registration, its agent instances living in this process.
Any number of workers may serve one agent type: the host places each
conversation on one of them (:mod:`agenthost.roles.placement`).

Health is a tiny HTTP server (``runtime.health_port``, on ``http.host``):
``GET /health`` answers 200 while the host connection is up and the event loop
runs, 503 otherwise, with a JSON body naming the agent types served, the turns
served and the live conversations (per type), the turns in flight and whether it
drains; ``GET /ready`` is 503 while draining. An ``httpGet`` probe needs no
shell and no writable file (the pods run with a read-only root filesystem), and
it proves the event loop itself is alive, which a heartbeat file written by a
thread would not. ``GET /metrics`` serves the worker's metrics (its agents'
turns, live instances, state store, event loop lag) for Prometheus.

On SIGTERM/SIGINT it drains: ``/ready`` turns 503, the host is asked to place
nothing new here (its idle conversations move to other workers at once, a busy
one after its turn), and the worker waits until the host has no request in
flight to it (within ``timeouts.request`` + ``timeouts.cancel``: a turn ends by
then), then stops.

Exit codes: 0 after SIGTERM/SIGINT; 2 when it cannot start (host unreachable,
agent type refused); 3 when the host connection is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from .. import _engine
from ..agent_host import AgentHost
from ..core import event_loop
from ..runtime import routing
from ..runtime.grpc_worker_runtime import EXIT_STARTUP_FAILED
from ..settings import Settings
from ..telemetry import CONTENT_TYPE
from .heap import settle_startup_heap
from .signals import stop_event

__all__ = ["health_app", "health_report", "run_worker"]

logger = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    """Serve the selected agent types until SIGTERM/SIGINT (returns 0) or a startup failure (returns 2)."""
    if settings.runtime.mode != "grpc":
        settings = settings.model_copy(update={"runtime": settings.runtime.model_copy(update={"mode": "grpc"})})
    return event_loop.run(_serve(settings), settings.loop)


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
        async with _health_server(settings, host, draining):
            names = ", ".join(spec.name for spec in host.agents())
            settle_startup_heap()
            logger.info(
                "worker serving agents [%s] via the gRPC host at %s; event loop: %s",
                names, settings.runtime.host_address, event_loop.loop_name(),
            )  # fmt: skip
            await stop.wait()
            await _drain(host, draining)
            await host.stop()
    finally:
        await host.stop()
    return 0


async def _drain(host: AgentHost, draining: asyncio.Event) -> None:
    """Ask the host to move this worker's conversations away, and wait until it sends nothing more here
    (a turn in flight ends within the request timeout: it finishes, or is cancelled).

    ``/ready`` says 503 (``draining``) once the host has taken the drain: from then on nothing new comes here.
    """
    within = host.settings.timeouts.request + host.settings.timeouts.cancel
    logger.info("stopping: draining this worker's conversations (up to %g s)", within)
    try:
        left = await routing.drain(host.runtime, within, on_accepted=draining.set)
    except Exception as exc:  # an older host without the service, or the host is gone: stop anyway
        draining.set()
        logger.warning("the gRPC host did not drain this worker (%s); stopping with what is in flight", exc)
        return
    if left:
        logger.warning("%d requests still in flight after %g s; stopping anyway", left, within)


def _startup_problem(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    text = details() if callable(details) else str(exc)
    if "already registered" in text:
        return f"the gRPC host refused an agent type: {text}"
    return f"{type(exc).__name__}: {text}"


def health_report(host: AgentHost, draining: bool) -> dict[str, Any]:
    """What ``/health`` says: the agent types served, turns served and live conversations (total and per type)."""
    counts = _engine.request_counts(host.runtime)
    live = host.instances.by_type()
    return {
        "status": "draining" if draining else "ok",
        "replica_id": host.settings.runtime.replica_id,
        "client_id": _engine.host_client_id(host.runtime),
        "agent_types": sorted(spec.name for spec in host.agents()),
        "turns_served": sum(counts.served.values()),
        "turns_by_agent": dict(sorted(counts.served.items())),
        "inflight_turns": counts.inflight,
        "live_conversations": sum(live.values()),
        "conversations_by_agent": dict(sorted(live.items())),
        "draining": draining,
    }


def health_app(host: AgentHost, draining: asyncio.Event) -> web.Application:
    """``/health`` (liveness: host connection up, with the report), ``/ready`` (also not draining), ``/metrics``."""

    def connected() -> bool:
        return not _engine.host_connection_task(host.runtime).done()

    async def health(request: web.Request) -> web.Response:
        if not connected():
            return web.json_response({"status": "host connection lost"}, status=503)
        return web.json_response(health_report(host, draining.is_set()))

    async def ready(request: web.Request) -> web.Response:
        ok = connected() and not draining.is_set()
        status = "ready" if ok else ("draining" if draining.is_set() else "host connection lost")
        return web.json_response({"status": status}, status=200 if ok else 503)

    async def prometheus(request: web.Request) -> web.Response:
        metrics = host.metrics
        if not metrics.enabled:
            raise web.HTTPNotFound(text="metrics are off (AGENTHOST_TELEMETRY__METRICS=false)")
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", prometheus)
    return app


@contextlib.asynccontextmanager
async def _health_server(settings: Settings, host: AgentHost, draining: asyncio.Event) -> AsyncIterator[None]:
    port = settings.runtime.health_port
    if port is None:
        yield
        return
    runner = web.AppRunner(health_app(host, draining), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http.host, port)
        await site.start()
        logger.info("worker health on http://%s:%d/health", settings.http.host, port)
        yield
    finally:
        await runner.cleanup()
