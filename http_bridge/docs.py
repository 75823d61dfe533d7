"""The API docs pages, served offline: ``/openapi.json`` and Swagger UI at ``/docs`` (``/redoc`` redirects there).

Swagger UI 5 comes from the PyPI package ``swagger-ui-bundle-v2`` (module ``swagger_ui_bundle``), never a CDN.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from aiohttp import web

from .keys import OPENAPI

__all__ = ["asset", "docs", "openapi_json", "redoc"]


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


_SWAGGER = """<!doctype html><html><head><meta charset="utf-8"><title>agenthost: Swagger UI</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script></body></html>"""


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=_SWAGGER, content_type="text/html")


async def redoc(request: web.Request) -> web.Response:
    """ReDoc was served here up to 0.1; its only offline source was a MkDocs plugin. Swagger UI shows the same."""
    raise web.HTTPPermanentRedirect("/docs")


@functools.cache
def _assets() -> dict[str, Path]:
    swagger = Path(importlib.import_module("swagger_ui_bundle").swagger_ui_path)
    return {name: swagger / name for name in ("swagger-ui-bundle.js", "swagger-ui.css")}


async def asset(request: web.Request) -> web.FileResponse:
    path = _assets().get(request.match_info["name"])
    if path is None or not path.is_file():
        raise web.HTTPNotFound(text=f"no asset named {request.match_info['name']!r}")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
