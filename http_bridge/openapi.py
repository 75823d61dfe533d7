"""The OpenAPI 3.1 document, generated from the pydantic models, and offline Swagger UI and ReDoc.

Assets come from PyPI packages, never a CDN: Swagger UI 5 from ``swagger-ui-bundle-v2`` (module
``swagger_ui_bundle``), ReDoc's ``redoc.standalone.js`` from ``mkdocs-redoc-tag``.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import agenthost

from . import schemas as s

__all__ = ["OPERATIONS", "asset", "docs", "openapi_document", "openapi_json", "redoc"]

REF = "#/components/schemas/{model}"
SSE_NOTE = (
    "Server-Sent Events: `id:` (seq), `event:` (status, chunk, message, tool_call, tool_result, done, error),"
    " JSON `data:`."
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    response: type[BaseModel]
    body: type[BaseModel] | None = None
    stream: str | None = None
    guarded: bool = True
    errors: tuple[int, ...] = ()


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/", "Service info", "service", s.ServiceInfo, guarded=False),
    Operation("get", "/health", "Liveness", "service", s.Health, guarded=False),
    Operation(
        "get",
        "/ready",
        "Readiness: runtime started, agents registered",
        "service",
        s.Readiness,
        guarded=False,
        errors=(503,),
    ),
    Operation("get", "/api/agents", "The agents and their descriptions", "chat", s.AgentList, errors=(401,)),
    Operation(
        "post",
        "/api/chat",
        "One turn; without conversation_id a conversation starts",
        "chat",
        s.ChatResponse,
        s.ChatBody,
        errors=(400, 401, 404, 413, 415, 422, 502, 503, 504),
    ),
    Operation(
        "post",
        "/api/chat/stream",
        "One turn as Server-Sent Events",
        "chat",
        s.StreamEventData,
        s.ChatBody,
        stream=SSE_NOTE,
        errors=(400, 401, 404, 413, 415, 422),
    ),
    Operation("get", "/v1/models", "Agents as models", "openai", s.ModelList, errors=(401,)),
    Operation("get", "/v1/models/{model_id}", "One agent as a model", "openai", s.ModelCard, errors=(401, 404)),
    Operation(
        "post",
        "/v1/chat/completions",
        "Chat completion (stateless; stream=true for SSE chunks)",
        "openai",
        s.ChatCompletion,
        s.ChatCompletionRequest,
        stream="`chat.completion.chunk` frames, then `data: [DONE]`.",
        errors=(400, 401, 404, 413, 415, 502, 503, 504),
    ),
)


def _schemas() -> dict[str, Any]:
    models = (
        {op.response for op in OPERATIONS}
        | {op.body for op in OPERATIONS if op.body}
        | {s.ErrorBody, s.OpenAIErrorBody, s.ChatCompletionChunk}
    )
    pairs = [(model, "serialization") for model in sorted(models, key=lambda m: m.__name__)]
    _, definitions = models_json_schema(pairs, ref_template=REF)  # type: ignore[arg-type]
    return dict(definitions.get("$defs", {}))


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _responses(op: Operation) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _ref(op.response)}}
    if op.stream and op.body is s.ChatBody:
        content = {"text/event-stream": {"schema": _ref(op.response)}}
    elif op.stream:
        content["text/event-stream"] = {"schema": _ref(s.ChatCompletionChunk)}
    responses: dict[str, Any] = {"200": {"description": op.stream or "OK", "content": content}}
    error = s.OpenAIErrorBody if op.path.startswith("/v1/") else s.ErrorBody
    for status in op.errors:
        responses[str(status)] = {"description": "error", "content": {"application/json": {"schema": _ref(error)}}}
    return responses


def _operation(op: Operation) -> dict[str, Any]:
    entry: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "responses": _responses(op)}
    entry["operationId"] = (
        f"{op.method}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '') or 'index'}"
    )
    if op.body is not None:
        entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    if "{model_id}" in op.path:
        entry["parameters"] = [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    entry["security"] = [{"bearer": []}, {}] if op.guarded else []
    return entry


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of both APIs (JSON Schema 2020-12 from the pydantic models)."""
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agenthost",
            "version": agenthost.__version__,
            "description": "Native chat API and an OpenAI-compatible facade over AutoGen agents.",
        },
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


_SWAGGER = """<!doctype html><html><head><meta charset="utf-8"><title>agenthost: Swagger UI</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script></body></html>"""
_REDOC = """<!doctype html><html><head><meta charset="utf-8"><title>agenthost: ReDoc</title></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="/docs/static/redoc.standalone.js"></script></body></html>"""


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=_SWAGGER, content_type="text/html")


async def redoc(request: web.Request) -> web.Response:
    return web.Response(text=_REDOC, content_type="text/html")


@functools.cache
def _assets() -> dict[str, Path]:
    swagger = Path(importlib.import_module("swagger_ui_bundle").swagger_ui_path)
    redoc_js = Path(str(resources.files("mkdocs_redoc_tag") / "redoc" / "javascripts" / "redoc.standalone.js"))
    names = ("swagger-ui-bundle.js", "swagger-ui.css")
    return {**{name: swagger / name for name in names}, "redoc.standalone.js": redoc_js}


async def asset(request: web.Request) -> web.FileResponse:
    path = _assets().get(request.match_info["name"])
    if path is None or not path.is_file():
        raise web.HTTPNotFound(text=f"no asset named {request.match_info['name']!r}")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
