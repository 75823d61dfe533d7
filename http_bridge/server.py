"""``serve(settings)``: run the bridge until SIGTERM or SIGINT, then shut down gracefully.

Shutdown order (aiohttp's runner): stop accepting; in-flight streams finish or end with an
``error`` event within ``settings.http.shutdown_timeout``; other requests get the same time;
then the AgentHost stops the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from agenthost.settings import Settings

from .app import ACCESS_LOG_FORMAT, create_app
from .keys import API_KEYS, HOST, SETTINGS

__all__ = ["make_runner", "serve"]

logger = logging.getLogger(__name__)


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The runner ``serve`` uses; a client that disconnects cancels its handler (and so the agent's work)."""
    return web.AppRunner(
        app,
        handle_signals=False,
        handler_cancellation=True,
        shutdown_timeout=settings.http.shutdown_timeout,
        access_log_format=ACCESS_LOG_FORMAT,
    )


def serve(settings: Settings) -> int:
    """Serve on ``settings.http.host``:``settings.http.port`` until SIGTERM/SIGINT; returns 0."""
    asyncio.run(_serve(settings))
    return 0


async def _serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = make_runner(app, settings)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http.host, settings.http.port)
        await site.start()
        logger.info("%s", startup_line(app, runner))
        await _until_signal()
        logger.info("shutting down (up to %g s)", settings.http.shutdown_timeout)
    finally:
        await runner.cleanup()


def startup_line(app: web.Application, runner: web.AppRunner) -> str:
    """What is serving where: addresses, runtime, model backend, agents, auth."""
    agent_host, settings = app[HOST], app[SETTINGS]
    urls = ", ".join(f"http://{addr[0]}:{addr[1]}" for addr in runner.addresses if isinstance(addr, tuple))
    model = agent_host.models.describe() if settings.runtime.mode == "local" else "on the gRPC workers"
    agents = ", ".join(spec.name for spec in agent_host.agents()) or "none"
    auth = f"on ({len(app[API_KEYS])} keys)" if app[API_KEYS] else "off"
    return (
        f"agenthost listening on {urls} (docs at /docs); runtime: {settings.runtime.mode}; "
        f"model: {model}; agents: {agents}; API keys: {auth}"
    )


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
