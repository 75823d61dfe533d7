"""``serve(settings)``: run the bridge until SIGTERM or SIGINT, then shut down gracefully.

Shutdown order (aiohttp's runner): stop accepting; in-flight streams finish or end with an
``error`` event within ``settings.http.shutdown_timeout``; other requests get the same time;
then the AgentHost stops the runtime. A client that disconnects cancels its handler, and so
the agent's work (``handler_cancellation``).

Connections (:mod:`http_bridge.listener`): at most ``http.max_connections`` open (503 beyond),
closed after ``http.idle_timeout`` without a complete request head, bodies read within
``http.body_timeout``. The start is logged in one line saying where it listens and whether API
keys are required; listening beyond loopback without keys is logged as a warning.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
from typing import Any

from aiohttp import web

from agenthost.core import event_loop
from agenthost.roles.heap import settle_startup_heap
from agenthost.settings import Settings

from .access_log import AccessLog
from .app import create_app
from .keys import API_KEYS, HOST, SETTINGS
from .listener import GuardedSite, connection_cap, quiet_accept_errors

__all__ = ["handler_args", "make_runner", "serve", "start_site"]

logger = logging.getLogger(__name__)


def handler_args(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of every connection's :class:`aiohttp.web.RequestHandler`."""
    return {"keepalive_timeout": settings.http.idle_timeout, "access_log_class": AccessLog}


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The runner ``serve`` uses; a client that disconnects cancels its handler (and so the agent's work)."""
    return web.AppRunner(
        app, handle_signals=False, handler_cancellation=True, shutdown_timeout=settings.http.shutdown_timeout,
        **handler_args(settings),
    )  # fmt: skip


async def start_site(app: web.Application, settings: Settings) -> tuple[web.AppRunner, GuardedSite]:
    """Start ``app`` listening on ``settings.http.host``:``port``; ``await runner.cleanup()`` stops it."""
    runner = make_runner(app, settings)
    await runner.setup()
    try:
        cap, fd_limit = connection_cap(settings.http.max_connections)
        site = GuardedSite(
            runner, settings.http.host, settings.http.port, max_connections=cap, handler_args=handler_args(settings)
        )
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    logger.info("%s", startup_line(app, site, cap, fd_limit))
    if not app[API_KEYS] and not _loopback(settings.http.host):
        logger.warning(
            "listening on %s with API keys off: anyone who can reach this port can run the agents and read any "
            "conversation whose id they know (set AGENTHOST_HTTP__API_KEYS)",
            settings.http.host,
        )
    return runner, site


def serve(settings: Settings) -> int:
    """Serve on ``settings.http.host``:``settings.http.port`` until SIGTERM/SIGINT; returns 0."""
    event_loop.run(_serve(create_app(settings), settings), settings.loop)
    return 0


async def _serve(app: web.Application, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    quiet_accept_errors(loop)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner, _ = await start_site(app, settings)
    settle_startup_heap()  # everything is started: what exists now lives as long as the process
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return False


def startup_line(app: web.Application, site: GuardedSite, cap: int, fd_limit: int) -> str:
    """What is serving where: address, runtime, model backend, agents, auth, connection cap."""
    agent_host, settings = app[HOST], app[SETTINGS]
    model = agent_host.models.describe() if settings.runtime.mode == "local" else "on the gRPC workers"
    agents = ", ".join(spec.name for spec in agent_host.agents()) or "none"
    auth = f"on ({len(app[API_KEYS])} keys)" if app[API_KEYS] else "off"
    return (
        f"agenthost listening on {site.name} (docs at /docs); runtime: {settings.runtime.mode}; "
        f"model: {model}; agents: {agents}; API keys: {auth}; connections: at most {cap} (fd limit {fd_limit}), "
        f"idle timeout {settings.http.idle_timeout:g} s; event loop: {event_loop.loop_name()}"
    )
