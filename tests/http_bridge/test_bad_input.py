"""Bad input never yields a stack trace, a hang or a 500: a table of requests and the JSON errors they get."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Client, MakeClient

MAX_BODY = 4096
MAX_CHARS = 100
JSON = "application/json"
USER = [{"role": "user", "content": "hi"}]


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# (method, path, content type, body, status, error code, field)
CASES: list[tuple[str, str, str, bytes, int, str, str | None]] = [
    ("POST", "/api/chat", JSON, b'{"message": "hi"', 400, "invalid_json", None),
    ("POST", "/api/chat", "text/plain", b"hi", 415, "unsupported_media_type", None),
    ("POST", "/api/chat", JSON, _dumps({"message": "x" * (MAX_BODY + 10)}), 413, "body_too_large", None),
    ("POST", "/api/chat", JSON, b"{}", 422, "missing_field", "message"),
    ("POST", "/api/chat", JSON, _dumps({"message": ""}), 422, "invalid_value", "message"),
    ("POST", "/api/chat", JSON, _dumps({"message": "   "}), 422, "invalid_value", "message"),
    ("POST", "/api/chat", JSON, _dumps({"message": 5}), 422, "invalid_value", "message"),
    ("POST", "/api/chat", JSON, _dumps({"message": "x" * (MAX_CHARS + 1)}), 422, "message_too_long", "message"),
    ("POST", "/api/chat", JSON, b"[]", 422, "invalid_body", None),
    ("POST", "/api/chat", JSON, _dumps({"message": "hi", "agent": "nope"}), 404, "not_found", None),
    ("POST", "/api/chat", JSON, _dumps({"message": "hi", "agent": "bad name!"}), 422, "invalid_value", "agent"),
    (
        "POST",
        "/api/chat",
        JSON,
        _dumps({"message": "hi", "conversation_id": "c" * 200}),
        422,
        "invalid_value",
        "conversation_id",
    ),
    ("POST", "/api/chat/stream", JSON, _dumps({"message": "hi", "agent": "nope"}), 404, "not_found", None),
    ("POST", "/api/chat/stream", JSON, b"not json", 400, "invalid_json", None),
    ("GET", "/api/chat", JSON, b"", 405, "method_not_allowed", None),
    ("GET", "/nowhere", JSON, b"", 404, "not_found", None),
    ("POST", "/v1/chat/completions", JSON, b"{", 400, "invalid_json", None),
    ("POST", "/v1/chat/completions", "text/plain", b"{}", 415, "unsupported_media_type", None),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "echo", "messages": USER, "x": "y" * MAX_BODY}),
        413,
        "body_too_large",
        None,
    ),
    ("POST", "/v1/chat/completions", JSON, _dumps({"messages": USER}), 400, "missing_field", "model"),
    ("POST", "/v1/chat/completions", JSON, _dumps({"model": "echo", "messages": []}), 400, "invalid_value", "messages"),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "echo", "messages": [{"role": "bot", "content": "x"}]}),
        400,
        "invalid_value",
        "messages.0.role",
    ),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "echo", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
        400,
        "unsupported_content",
        "messages.0.content",
    ),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "echo", "messages": [{"role": "user", "content": "x" * (MAX_CHARS + 1)}]}),
        400,
        "message_too_long",
        "messages.0.content",
    ),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "echo", "messages": [{"role": "system", "content": "x"}]}),
        400,
        "invalid_value",
        "messages",
    ),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "assistant", "messages": [*USER, {"role": "system", "content": "x"}, *USER]}),
        400,
        "invalid_value",
        "messages.1.role",
    ),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "echo", "messages": USER, "max_tokens": True}),
        400,
        "invalid_value",
        "max_tokens",
    ),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "nope", "messages": USER}),
        404,
        "model_not_found",
        "model",
    ),
    (
        "POST",
        "/v1/chat/completions",
        JSON,
        _dumps({"model": "nope", "messages": USER, "stream": True}),
        404,
        "model_not_found",
        "model",
    ),
    ("GET", "/v1/models/nope", JSON, b"", 404, "model_not_found", "model"),
]


@pytest.fixture
async def strict_client(make_client: MakeClient) -> Client:
    return await make_client(http={"max_body_bytes": MAX_BODY, "max_message_chars": MAX_CHARS})


@pytest.mark.parametrize(("method", "path", "content_type", "body", "status", "code", "field"), CASES)
async def test_bad_input_gets_a_json_error(
    strict_client: Client,
    method: str,
    path: str,
    content_type: str,
    body: bytes,
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = await strict_client.request(method, path, data=body, headers={"Content-Type": content_type})
    assert response.status == status
    assert response.content_type == "application/json"
    payload = await response.json()
    if path.startswith("/v1/"):
        error = payload["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert (error["code"], error["param"]) == (code, field)
        assert error["type"] == "invalid_request_error"
    else:
        assert payload["status"] == "error"
        assert (payload["error"]["code"], payload["error"]["field"]) == (code, field)
        assert payload["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in json.dumps(payload)
