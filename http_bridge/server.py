"""``serve(settings)``: run the bridge with ``web.run_app`` until SIGTERM or SIGINT, then shut down gracefully.

Shutdown order (aiohttp's runner): stop accepting; in-flight streams finish or end with an
``error`` event within ``settings.http.shutdown_timeout``; other requests get the same time;
then the AgentHost stops the runtime. A client that disconnects cancels its handler, and so
the agent's work (``handler_cancellation``).
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from agenthost.roles.heap import settle_startup_heap
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
    app = create_app(settings)
    web.run_app(
        app,
        host=settings.http.host,
        port=settings.http.port,
        shutdown_timeout=settings.http.shutdown_timeout,
        access_log_format=ACCESS_LOG_FORMAT,
        handler_cancellation=True,
        print=lambda banner: _ready(app, banner),
    )
    return 0


def _ready(app: web.Application, banner: str) -> None:
    """Everything is started and listening: say where, and settle the startup heap."""
    settle_startup_heap()
    logger.info("%s", startup_line(app, re.findall(r"https?://\S+", banner)))


def startup_line(app: web.Application, urls: list[str]) -> str:
    """What is serving where: addresses, runtime, model backend, agents, auth."""
    agent_host, settings = app[HOST], app[SETTINGS]
    model = agent_host.models.describe() if settings.runtime.mode == "local" else "on the gRPC workers"
    agents = ", ".join(spec.name for spec in agent_host.agents()) or "none"
    auth = f"on ({len(app[API_KEYS])} keys)" if app[API_KEYS] else "off"
    return (
        f"agenthost listening on {', '.join(urls)} (docs at /docs); runtime: {settings.runtime.mode}; "
        f"model: {model}; agents: {agents}; API keys: {auth}"
    )
