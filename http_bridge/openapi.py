"""The OpenAPI 3.1 document, generated from the route table and the pydantic models (JSON Schema 2020-12).

The SSE event payloads come from :mod:`agenthost.events`, the same ``TypedDict``\\ s agents emit. Each
event of a stream is described as the object ``{"event", "id", "data"}`` (OpenAPI's reading of an event
stream before 3.2), its ``data`` a JSON string whose ``contentSchema`` is the event's payload; the
OpenAI stream's frames are a ``chat.completion.chunk``, an ``{"error"}`` frame, or ``[DONE]``.

What the request models validate in code is stated here too, so that a request the document calls
valid is one the server accepts: the configured message length, no blank message, and on ``/v1`` the
order of system messages and the need for a user message with text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

import agenthost
from agenthost.events import EVENT_DATA
from agenthost.settings import Settings

from . import schemas as s
from .routes import ROUTES, Route

__all__ = ["openapi_document"]

REF = "#/components/schemas/{model}"
LEADING_SYSTEM_MESSAGES = 2
"""How many leading system messages the document spells out (JSON Schema cannot say "any number, first")."""


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


def _ref(name: str | type[Any]) -> dict[str, Any]:
    return {"$ref": REF.format(model=name if isinstance(name, str) else name.__name__)}


def _json_string(schema: dict[str, Any]) -> dict[str, Any]:
    """A string holding JSON that ``schema`` describes."""
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


def _native_event(kind: str, data_type: type) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {"event": {"const": kind}, "id": {"type": "string"}, "data": _json_string(_ref(data_type))},
    }


NATIVE_EVENT = {"anyOf": [_native_event(kind, data_type) for kind, data_type in EVENT_DATA.items()]}
OPENAI_FRAME = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "anyOf": [
                {"const": "[DONE]"},
                _json_string({"anyOf": [_ref(s.ChatCompletionChunk), _ref(s.OpenAIErrorBody)]}),
            ]
        }
    },
}


def _stream_frame(route: Route) -> dict[str, Any]:
    """One frame of the route's event stream: native events, OpenAI chunks, or named Responses events."""
    if route.response is None:
        return NATIVE_EVENT
    if route.stream_model is None:
        return OPENAI_FRAME
    data = _json_string({"anyOf": [_ref(route.stream_model), _ref(s.OpenAIErrorBody)]})
    return {"type": "object", "required": ["data"], "properties": {"event": {"type": "string"}, "data": data}}


def _responses(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if route.status == 204:
        responses["204"] = {"description": "Done; no content"}
    else:
        content: dict[str, Any] = {}
        if route.text is not None:
            content[route.text] = {"schema": {"type": "string"}}
        elif route.response is not None:
            content["application/json"] = {"schema": _ref(route.response)}
        if route.stream:
            content["text/event-stream"] = {"schema": _stream_frame(route)}
        responses[str(route.status)] = {"description": route.stream or "OK", "content": content}
    error = s.OpenAIErrorBody if route.path.startswith("/v1/") else s.ErrorBody
    for status in route.errors:
        responses[str(status)] = {"description": "error", "content": {"application/json": {"schema": _ref(error)}}}
    return responses


CREATES = {
    ("POST", "/api/chat"): ("conversation_id", "$response.body#/conversation_id"),
    ("POST", "/api/runs"): ("run_id", "$response.body#/run_id"),
    ("POST", "/v1/responses"): ("response_id", "$response.body#/id"),
}
"""Operations whose reply names something other operations take as a path parameter (OpenAPI links)."""


def _links(paths: dict[str, Any], routes: Sequence[Route]) -> None:
    for route in routes:
        if (route.method, route.path) not in CREATES:
            continue
        parameter, expression = CREATES[route.method, route.path]
        links = {
            _operation_id(other): {"operationId": _operation_id(other), "parameters": {parameter: expression}}
            for other in routes
            if "{" + parameter + "}" in other.path
        }
        paths[route.path][route.method.lower()]["responses"][str(route.status)]["links"] = links


def _operation_id(route: Route) -> str:
    name = route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "") or "index"
    return f"{route.method.lower()}_{name}"


def _operation(route: Route, auth: bool | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"summary": route.summary, "tags": [route.tag], "responses": _responses(route)}
    entry["operationId"] = _operation_id(route)
    if route.body is not None:
        entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(route.body)}}}
    entry["parameters"] = [_parameter(name) for name in re.findall(r"{(\w+)}", route.path)]
    if not route.guarded or auth is False:
        entry["security"] = []
    else:
        entry["security"] = [{"bearer": []}] if auth else [{"bearer": []}, {}]
    return entry


def _parameter(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if name == "conversation_id":
        schema["pattern"] = s.CONVERSATION_PATTERN
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _user_message_with_text(*, role_required: bool) -> dict[str, Any]:
    """A user message whose content has text: a non-blank string, or parts of which one has non-blank text."""
    text_part = {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "pattern": s.NOT_BLANK}},
    }
    content = {"anyOf": [{"type": "string", "pattern": s.NOT_BLANK}, {"type": "array", "contains": text_part}]}
    return {
        "type": "object",
        "required": ["role", "content"] if role_required else ["content"],  # Responses items default to "user"
        "properties": {"role": {"const": "user"}, "content": content},
    }


def _history_rules(schemas: dict[str, Any]) -> None:
    """``/v1`` messages: system (or developer) messages before all others, and a user message with text."""
    message = _ref(s.InputMessage)
    schemas["SystemMessage"] = {"allOf": [message, {"properties": {"role": {"enum": ["system", "developer"]}}}]}
    schemas["OtherMessage"] = {"allOf": [message, {"properties": {"role": {"enum": ["user", "assistant", "tool"]}}}]}
    system, other = _ref("SystemMessage"), _ref("OtherMessage")
    orders = [{"items": other}] + [
        {"prefixItems": [system] * count, "items": other} for count in range(1, LEADING_SYSTEM_MESSAGES + 1)
    ]
    messages = schemas["ChatCompletionRequest"]["properties"]["messages"]
    messages.update(contains=_user_message_with_text(role_required=True), anyOf=orders)


def _response_input_rules(schemas: dict[str, Any]) -> None:
    """``/v1/responses`` input: message items of known roles, text parts only, and a user message with text."""
    item, part = schemas["ResponseInputItem"]["properties"], schemas["ResponseInputPart"]["properties"]
    item["type"] = {"const": "message", "default": "message"}
    item["role"] = {"enum": ["user", "assistant", "system", "developer"], "default": "user"}
    part["type"] = {"enum": ["input_text", "output_text", "text"]}
    for branch in schemas["ResponseCreate"]["properties"]["input"]["anyOf"]:
        if branch.get("type") == "string":
            branch["pattern"] = s.NOT_BLANK
        else:
            branch["contains"] = _user_message_with_text(role_required=False)


def _message_limits(schemas: dict[str, Any], settings: Settings) -> None:
    limit = settings.http.max_message_chars
    schemas["ChatBody"]["properties"]["message"]["maxLength"] = limit
    for branch in schemas["InputMessage"]["properties"]["content"]["anyOf"]:
        if branch.get("type") == "string":
            branch["maxLength"] = limit


def openapi_document(
    routes: Sequence[Route] = ROUTES, *, settings: Settings | None = None, auth: bool | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the documented ``routes``.

    Args:
        routes: the route table.
        settings: the served settings: the message length limits are stated when given.
        auth: whether API keys are required (None: not known, the document says "optional").
    """
    documented = [route for route in routes if route.documented]
    paths: dict[str, Any] = {}
    for route in documented:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, auth)
    _links(paths, documented)
    schemas = _schemas(documented)
    _history_rules(schemas)
    _response_input_rules(schemas)
    if settings is not None:
        _message_limits(schemas, settings)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agenthost",
            "version": agenthost.__version__,
            "description": "Native chat API and an OpenAI-compatible facade over AutoGen agents.",
        },
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
