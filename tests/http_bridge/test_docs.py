"""The OpenAPI 3.1 document and the offline Swagger UI and ReDoc pages."""

from __future__ import annotations

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


async def test_swagger_ui_and_redoc_are_served_offline(client: Client) -> None:
    for page, assets in (
        ("/docs", ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css")),
        ("/redoc", ("/docs/static/redoc.standalone.js",)),
    ):
        html = await (await client.get(page)).text()
        assert "://" not in html  # no CDN
        for asset in assets:
            assert asset in html
            response = await client.get(asset)
            assert response.status == 200, asset
            assert len(await response.read()) > 100_000
    assert (await client.get("/docs/static/../../etc/passwd")).status == 404
