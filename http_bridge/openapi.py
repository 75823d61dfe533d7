"""The OpenAPI 3.1 document, generated from the route table and the pydantic models (JSON Schema 2020-12).

The SSE event payloads come from :mod:`agenthost.events`, the same ``TypedDict``\\ s agents emit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

import agenthost
from agenthost.events import EVENT_DATA

from . import schemas as s
from .routes import ROUTES, Route

__all__ = ["openapi_document"]

REF = "#/components/schemas/{model}"


def _schemas(routes: Sequence[Route]) -> dict[str, Any]:
    models = (
        {route.response for route in routes if route.response}
        | {route.body for route in routes if route.body}
        | {route.stream_model for route in routes if route.stream_model}
        | {s.ErrorBody, s.OpenAIErrorBody, s.ChatCompletionChunk}
    )
    pairs = [(model, "serialization") for model in sorted(models, key=lambda m: m.__name__)]
    _, definitions = models_json_schema(pairs, ref_template=REF)  # type: ignore[arg-type]
    schemas = dict(definitions.get("$defs", {}))
    for data_type in EVENT_DATA.values():
        schema = TypeAdapter(data_type).json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[data_type.__name__] = schema
    return schemas


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _responses(route: Route) -> dict[str, Any]:
    if route.text is not None:
        content: dict[str, Any] = {route.text: {"schema": {"type": "string"}}}
    elif route.response is None:  # native SSE: each event's data is one of the event payloads
        events = [_ref(data_type) for data_type in EVENT_DATA.values()]
        content = {"text/event-stream": {"schema": {"oneOf": events}}}
    else:
        content = {"application/json": {"schema": _ref(route.response)}}
    if route.stream and route.response is not None:
        content["text/event-stream"] = {"schema": _ref(route.stream_model or s.ChatCompletionChunk)}
    responses: dict[str, Any] = {"200": {"description": route.stream or "OK", "content": content}}
    error = s.OpenAIErrorBody if route.path.startswith("/v1/") else s.ErrorBody
    for status in route.errors:
        responses[str(status)] = {"description": "error", "content": {"application/json": {"schema": _ref(error)}}}
    return responses


def _operation(route: Route) -> dict[str, Any]:
    entry: dict[str, Any] = {"summary": route.summary, "tags": [route.tag], "responses": _responses(route)}
    name = route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "") or "index"
    entry["operationId"] = f"{route.method.lower()}_{name}"
    if route.body is not None:
        entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(route.body)}}}
    entry["parameters"] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    entry["security"] = [{"bearer": []}, {}] if route.guarded else []
    return entry


def openapi_document(routes: Sequence[Route] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the documented ``routes``."""
    documented = [route for route in routes if route.documented]
    paths: dict[str, Any] = {}
    for route in documented:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agenthost",
            "version": agenthost.__version__,
            "description": "Native chat API and an OpenAI-compatible facade over AutoGen agents.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(documented),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
