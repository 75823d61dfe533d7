"""CORS with an allowlist (``settings.http.cors_origins``; ``"*"`` allows any origin).

A small middleware rather than aiohttp-cors: it answers preflights for every route without
per-route registration, and adds the headers in ``on_response_prepare`` so that streamed
responses and error responses from other middlewares carry them too.
"""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError, Handler
from .keys import SETTINGS

__all__ = ["add_cors_headers", "cors_middleware"]

ALLOW_METHODS = "GET, HEAD, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, X-Request-ID"
EXPOSE_HEADERS = "X-Request-ID, X-Conversation-ID"
MAX_AGE = "600"


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    allowed = request.app[SETTINGS].http.cors_origins
    if origin is None or not allowed:
        return None
    return origin if "*" in allowed or origin in allowed else None


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers preflights (``OPTIONS`` with ``Access-Control-Request-Method``) before auth and routing."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return await handler(request)
    if not request.app[SETTINGS].http.cors_origins or "Origin" not in request.headers:
        return await handler(request)
    if _allowed_origin(request) is None:
        raise ApiError(403, "origin_not_allowed", "this origin is not allowed (AGENTHOST_HTTP__CORS_ORIGINS)")
    headers = {
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", ALLOW_HEADERS),
        "Access-Control-Max-Age": MAX_AGE,
    }
    return web.Response(status=204, headers=headers)


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: reaches every response, streamed ones included."""
    origin = _allowed_origin(request)
    if origin is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    response.headers.add("Vary", "Origin")
