"""The OpenAPI 3.1 document and the offline Swagger UI and ReDoc pages."""

from __future__ import annotations

import asyncio
from typing import Any

import jsonschema_rs
import pytest

from .conftest import Client, MakeClient


async def test_openapi_document(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert {"/api/chat", "/api/chat/stream", "/v1/chat/completions", "/v1/models", "/health"} <= set(document["paths"])
    chat = document["paths"]["/api/chat"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ChatBody"
    schemas = document["components"]["schemas"]
    assert {"ChatBody", "ChatResponse", "ChatCompletionRequest", "ChatCompletion", "ChatCompletionChunk"} <= set(
        schemas
    )
    assert "message" in schemas["ChatBody"]["required"]
    stream = document["paths"]["/api/chat/stream"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream


async def test_swagger_ui_is_served_offline(client: Client) -> None:
    html = await (await client.get("/docs")).text()
    assert "://" not in html  # no CDN
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        assert asset in html
        response = await client.get(asset)
        assert response.status == 200, asset
        assert len(await response.read()) > 100_000
    moved = await client.get("/redoc", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (308, "/docs")


async def test_asset_names_cannot_leave_the_asset_folders(client: Client) -> None:
    """Sent raw: an HTTP client library would normalise the ``..`` away before sending it."""
    assert client.server.port is not None
    for target in ("/docs/static/../../etc/passwd", "/docs/static/..%2F..%2Fetc%2Fpasswd", "/docs/static/%2e%2e"):
        reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        status = int(response.split(b" ", 2)[1])
        assert status in (400, 404), (target, response[:200])
        assert b"root:" not in response


def _verdict(document: dict[str, Any], model: str, body: Any) -> bool:
    schema = {"$ref": f"#/components/schemas/{model}", "components": document["components"]}
    return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(body))


USER = {"role": "user", "content": "hi"}
SYSTEM = {"role": "system", "content": "be brief"}
# (path, schema, body): the document's verdict on each must be the server's
BODIES: list[tuple[str, str, Any]] = [
    ("/api/chat", "ChatBody", {"message": "hi", "agent": "echo"}),
    ("/api/chat", "ChatBody", {"message": " \t\n", "agent": "echo"}),
    ("/api/chat", "ChatBody", {"message": "", "agent": "echo"}),
    ("/api/chat", "ChatBody", {"message": "x" * 101, "agent": "echo"}),
    ("/api/chat", "ChatBody", {"message": "hi", "agent": "echo", "conversation_id": "a/b"}),
    ("/v1/chat/completions", "ChatCompletionRequest", {"model": "echo", "messages": [SYSTEM, USER]}),
    ("/v1/chat/completions", "ChatCompletionRequest", {"model": "echo", "messages": [USER, SYSTEM, USER]}),
    ("/v1/chat/completions", "ChatCompletionRequest", {"model": "echo", "messages": [SYSTEM]}),
    (
        "/v1/chat/completions",
        "ChatCompletionRequest",
        {"model": "echo", "messages": [{"role": "user", "content": " "}]},
    ),
    (
        "/v1/chat/completions",
        "ChatCompletionRequest",
        {"model": "echo", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    ),
    (
        "/v1/chat/completions",
        "ChatCompletionRequest",
        {"model": "echo", "messages": [{"role": "user", "content": [{"type": "image_url", "text": "hi"}]}]},
    ),
    ("/v1/chat/completions", "ChatCompletionRequest", {"model": "echo", "messages": [USER], "max_tokens": 5.0}),
    ("/v1/chat/completions", "ChatCompletionRequest", {"model": "echo", "messages": [USER], "max_tokens": True}),
    ("/v1/chat/completions", "ChatCompletionRequest", {"model": "echo", "messages": [USER], "temperature": "1"}),
    ("/v1/chat/completions", "ChatCompletionRequest", {"model": "echo", "messages": [USER], "stream": 1}),
]


@pytest.mark.parametrize("runtime", ["local"])  # validation happens in the bridge: one runtime says it all
async def test_the_document_says_what_the_server_accepts(make_client: MakeClient) -> None:
    client = await make_client(http={"max_message_chars": 100})
    document = await (await client.get("/openapi.json")).json()
    for path, model, body in BODIES:
        response = await client.post(path, json=body)
        assert response.status in (200, 400, 422), await response.text()
        assert _verdict(document, model, body) == (response.status == 200), (body, await response.text())


async def test_the_stream_events_are_described(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    native = document["paths"]["/api/chat/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    kinds = {branch["properties"]["event"]["const"] for branch in native["schema"]["anyOf"]}
    assert kinds == {"status", "chunk", "message", "tool_call", "tool_result", "done", "error"}
    openai = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    frames = openai["schema"]["properties"]["data"]["anyOf"]
    assert frames[0] == {"const": "[DONE]"}
    assert {"$ref": "#/components/schemas/OpenAIErrorBody"} in frames[1]["contentSchema"]["anyOf"]  # error frames
