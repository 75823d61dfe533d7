"""``create_app(settings)``: the aiohttp application both the CLI and the tests build.

Example:
    >>> app = create_app(Settings())
    >>> http_bridge.server.serve(settings)  # or web.run_app(app), without the connection cap
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from aiohttp import web

from agenthost.agent_host import AgentHost
from agenthost.settings import Settings

from .auth import auth_middleware, load_api_keys
from .cors import add_cors_headers, cors_middleware
from .errors import error_middleware
from .ids import echo_request_id
from .keys import API_KEYS, HOST, OPENAPI, SETTINGS, STARTED_AT, STREAMS
from .observe import observe_middleware
from .openapi import openapi_document
from .routes import setup_routes
from .sse import StreamRegistry

__all__ = ["create_app", "open_host"]


def create_app(settings: Settings | None = None, *, host: AgentHost | None = None) -> web.Application:
    """The bridge: native API, OpenAI facade, docs; the host starts and stops with the app.

    Args:
        settings: the configuration; by default the host's, else ``Settings()`` (the environment).
        host: an AgentHost to serve; by default one is built from ``settings`` (agents registered only on the
            local runtime). A host that is already started is left to its owner to stop.

    The app and the host share one ``Settings`` object: the bridge reads its settings nowhere else.
    """
    if host is not None and settings is not None and settings is not host.settings:
        raise ValueError("create_app: pass the host or settings, not both (the bridge uses the host's settings)")
    settings = host.settings if host is not None else settings or Settings()
    host = host or AgentHost(settings, register_agents=settings.runtime.mode == "local")
    api_keys = load_api_keys(settings)
    cors = bool(settings.http.cors_origins)
    # Only what is configured sits on the hot path: each middleware is a layer every request crosses.
    observe = observe_middleware(host.metrics, host.telemetry.tracing)
    middlewares = [
        observe, error_middleware, *([cors_middleware] if cors else []), *([auth_middleware] if api_keys else [])
    ]  # fmt: skip
    app = web.Application(client_max_size=settings.http.max_body_bytes, middlewares=middlewares)
    app[SETTINGS] = settings
    app[HOST] = host
    app[STREAMS] = streams = StreamRegistry()
    host.metrics.gauge("active_streams", lambda: len(streams))
    app[API_KEYS] = api_keys
    app[STARTED_AT] = int(time.time())
    app[OPENAPI] = openapi_document(settings=settings, auth=bool(api_keys))
    app.cleanup_ctx.append(open_host)
    app.on_response_prepare.append(echo_request_id)
    if cors:
        app.on_response_prepare.append(add_cors_headers)
    app.on_shutdown.append(_end_streams)
    setup_routes(app)
    return app


async def open_host(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: start the AgentHost (runtime and agents) with the app, stop it after."""
    agent_host = app[HOST]
    if agent_host.started:  # started by its owner, who stops it
        yield
        return
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(agent_host)
        yield


async def _end_streams(app: web.Application) -> None:
    """``on_shutdown``: in-flight streams finish, or end with an ``error`` event, within the shutdown timeout."""
    await app[STREAMS].drain(app[SETTINGS].http.shutdown_timeout)
