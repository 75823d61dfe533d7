"""``GET /``: the playground page for browsers, the JSON service info for everyone else; the page's files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agenthost import Settings
from agenthost.http_bridge import create_app
from agenthost.http_bridge.playground import STATIC, wants_html

from .conftest import Client

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/json;q=0.5, text/*", True),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/html", False),  # a tie goes to JSON: API clients keep what they had
        ("text/html;q=0.4, application/json;q=0.6", False),
        ("text/html;q=0, */*", False),
        ("text/html;q=oops, */*", False),
    ],
)
def test_wants_html_follows_the_accept_header(accept: str, html: bool) -> None:
    assert wants_html(accept) is html


MakeBridge = Callable[..., Awaitable[Client]]


@pytest.fixture
def make_bridge(aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings]) -> MakeBridge:
    """A bridge on the embedded runtime: what ``/`` answers does not depend on the runtime."""

    async def make(**overrides: Any) -> Client:
        return await aiohttp_client(create_app(make_settings(**overrides)))

    return make


@pytest.fixture
async def client(make_bridge: MakeBridge) -> Client:
    return await make_bridge()


async def test_a_browser_gets_the_page_and_its_files(client: Client) -> None:
    response = await client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.headers["Vary"] == "Accept"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = await response.text()
    for asset, content_type in (("playground.js", "text/javascript"), ("playground.css", "text/css")):
        assert f"/playground/static/{asset}" in page
        served = await client.get(f"/playground/static/{asset}")
        assert served.status == 200
        assert served.content_type == content_type
        assert await served.text() == (STATIC / asset).read_text(encoding="utf-8")


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
async def test_api_clients_keep_the_json_service_info(client: Client, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    response = await client.get("/", headers=headers, skip_auto_headers=["Accept"])
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers["Vary"] == "Accept"
    info = await response.json()
    assert set(info) == {"name", "version", "agents", "docs", "openapi"}
    assert "echo" in info["agents"]


async def test_the_page_and_its_files_are_open_when_api_keys_guard_the_api(make_bridge: MakeBridge) -> None:
    guarded = await make_bridge(http={"api_keys": ["sekret-key"]})
    assert (await guarded.get("/", headers={"Accept": BROWSER_ACCEPT})).status == 200
    assert (await guarded.get("/playground/static/playground.js")).status == 200
    assert (await guarded.get("/api/agents")).status == 401  # the page asks for the key, the API still wants it


async def test_only_the_page_files_are_served(client: Client) -> None:
    for name in ("playground.html", "..%2Fnative.py", "nope.js"):
        response = await client.get(f"/playground/static/{name}")
        assert response.status == 404, name


async def test_the_openapi_document_keeps_the_json_index(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    index = document["paths"]["/"]["get"]
    assert "playground" in index["summary"]
    assert index["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ServiceInfo")
    assert not any(path.startswith("/playground") for path in document["paths"])


def test_the_page_is_small_and_loads_nothing_from_elsewhere() -> None:
    files = sorted(STATIC.iterdir())
    assert [path.name for path in files] == ["playground.css", "playground.html", "playground.js"]
    assert sum(path.stat().st_size for path in files) < 40_000
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "://" not in text, path.name  # no CDN: every byte comes from this server
        assert "innerHTML" not in text, path.name  # data goes in as text, never as markup
