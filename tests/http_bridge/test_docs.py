"""The OpenAPI 3.1 document and the offline Swagger UI and ReDoc pages."""

from __future__ import annotations

import asyncio

from .conftest import Client


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
