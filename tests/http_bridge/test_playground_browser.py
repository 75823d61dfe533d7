"""The playground in a real browser: Debian's chromium, headless, driven by Playwright, against a real bridge.

The bridge serves on 127.0.0.1 (an ephemeral port) in the test's event loop; LLM agents talk to the fake
OpenAI backend. Assertions read the DOM after streamed replies; one test keeps a screenshot
(``AGENTHOST_ARTIFACTS=<dir>`` copies it there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from agenthost import Settings
from agenthost.http_bridge import create_app
from agenthost.http_bridge import playground as static_page
from tests.fakes import FakeOpenAI, FakeReply, ToolCall

CHROMIUM = Path("/usr/bin/chromium")
# Without these, Chromium reaches for Google's hosts at start and in the background (the network is closed here).
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium: scripts/install adds Debian's chromium (as root, with apt)"
    ),
]
expect.set_options(timeout=15_000)

MakeServer = Callable[..., Awaitable[TestServer]]


@pytest.fixture(scope="session")
def artifacts() -> Path | None:
    """Where to copy screenshots: read before each test clears the ``AGENTHOST_*`` environment."""
    value = os.environ.get("AGENTHOST_ARTIFACTS")
    return Path(value) if value else None


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # Playwright gives Chromium a new, empty --user-data-dir of its own.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=60_000)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def bridge(aiohttp_server: Callable[..., Awaitable[TestServer]], make_settings: Callable[..., Settings]) -> MakeServer:
    """A real bridge on 127.0.0.1 (the embedded runtime), its models at ``fake`` if given."""

    async def make(fake: FakeOpenAI | None = None, **overrides: Any) -> TestServer:
        return await aiohttp_server(create_app(make_settings(fake, **overrides)))

    return make


@dataclass
class Playground:
    """The page, and what the test watches of it: uncaught script errors and the requests it made."""

    page: Page
    errors: list[str] = field(default_factory=list)
    posts: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)

    async def send(self, text: str) -> None:
        await self.page.locator("#message").fill(text)
        await self.page.locator("#message").press("Enter")

    def reply(self, index: int) -> Locator:
        return self.page.locator(".reply").nth(index)

    async def events(self) -> list[tuple[str, str, Any]]:
        """The timeline: (id, event, data) of every event shown, in order."""
        rows = self.page.locator("#timeline li.event")
        ids = await rows.locator(".id").all_text_contents()
        names = await rows.locator(".name").all_text_contents()
        data = await rows.locator(".data").all_text_contents()
        return [(i, n, json.loads(d)) for i, n, d in zip(ids, names, data, strict=True)]


async def open_playground(browser: Browser, server: TestServer) -> Playground:
    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    play = Playground(page)
    page.on("pageerror", lambda error: play.errors.append(str(error)))
    page.on("request", lambda r: play.posts.append((r.url, r.headers, r.post_data)) if r.method == "POST" else None)
    response = await page.goto(str(server.make_url("/")))
    assert response is not None
    assert response.headers["content-type"].startswith("text/html")
    return play


async def test_a_streamed_reply_lands_in_the_page_and_the_conversation_goes_on(
    browser: Browser, bridge: MakeServer
) -> None:
    play = await open_playground(browser, await bridge())
    page = play.page
    await expect(page.locator("#agent")).to_have_value("assistant")  # the server's default agent
    await page.locator("#agent").select_option("echo")
    await page.locator("#message").fill("hello <b>brave</b>")
    await page.locator("#message").press("Shift+Enter")  # a new line, not a send
    await page.locator("#message").press_sequentially("new world")
    assert await page.locator("#message").input_value() == "hello <b>brave</b>\nnew world"
    assert play.posts == []
    async with page.expect_response("**/api/chat/stream") as first_response:
        await page.locator("#message").press("Enter")
    conversation = await (await first_response.value).header_value("X-Conversation-ID")
    assert conversation

    first = play.reply(0)
    await expect(first).to_have_attribute("data-state", "done")
    assert await first.locator(".segment .text").all_text_contents() == ["hello <b>brave</b>\nnew world"]
    await expect(first.locator("b")).to_have_count(0)  # shown as text, never as markup
    await expect(first.locator(".segment .speaker")).to_have_text(["echo"])
    await expect(page.locator("#conversation")).to_have_attribute("data-id", conversation)
    events = await play.events()
    assert [int(seq) for seq, _, _ in events] == list(range(len(events)))
    names = [name for _, name, _ in events]
    assert names[0] == "status"
    assert names[-2:] == ["message", "done"]
    assert names[1:-2] == ["chunk"] * 2  # the first word at once, the rest coalesced
    assert "".join(data["content"] for _, name, data in events if name == "chunk") == events[-1][2]["message"]

    await play.send("again")
    await expect(play.reply(1)).to_have_attribute("data-state", "done")
    await expect(play.reply(1).locator(".segment .text")).to_have_text(["again"])
    url, _, body = play.posts[-1]
    assert url.endswith("/api/chat/stream")
    assert json.loads(body or "") == {"message": "again", "agent": "echo", "conversation_id": conversation}
    second_turn = [data for _, name, data in await play.events() if name == "message"][-1]
    assert second_turn["turn"] == 2  # the server's echo counted the same conversation's turns

    await page.get_by_role("button", name="New conversation").click()
    await expect(page.locator(".reply")).to_have_count(0)
    await expect(page.locator("#conversation")).to_have_attribute("data-id", "")
    await play.send("fresh")
    await expect(play.reply(0)).to_have_attribute("data-state", "done")
    assert "conversation_id" not in json.loads(play.posts[-1][2] or "")
    assert play.errors == []


async def test_tool_calls_and_team_members_show_as_they_stream(
    browser: Browser,
    bridge: MakeServer,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
    artifacts: Path | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_openai.add(
        FakeReply(tool_calls=(ToolCall("get_weather", {"city": "Paris"}),)),
        FakeReply(content="It is sunny in Paris."),
        FakeReply(content="Roses are red."),
        FakeReply(content="Rhyme it."),
        FakeReply(content="Roses are red, violets are blue."),
        FakeReply(content="APPROVE"),
    )
    play = await open_playground(browser, await bridge(fake_openai))
    page = play.page
    await page.locator("#agent").select_option("weather")
    await play.send("Weather in Paris?")
    weather = play.reply(0)
    await expect(weather).to_have_attribute("data-state", "done")
    tool = weather.locator(".tool")
    await expect(tool.locator("summary")).to_contain_text("get_weather")
    assert json.loads(await tool.locator(".arguments").inner_text()) == {"city": "Paris"}
    await expect(tool.locator(".result pre")).to_have_text(_starts_with("Paris: "))
    await expect(weather.locator(".segment .text")).to_have_text(["It is sunny in Paris."])
    names = [name for _, name, _ in await play.events()]
    assert names.index("tool_call") < names.index("tool_result") < names.index("done")

    await page.locator("#agent").select_option("writer-critic")  # another agent: a new conversation
    await play.send("A two-line poem")
    team = play.reply(1)
    await expect(team).to_have_attribute("data-state", "done")
    segments = team.locator(".segment")
    speakers = ["writer", "critic", "writer", "critic"]
    assert [await segments.nth(i).get_attribute("data-source") for i in range(await segments.count())] == speakers
    await expect(segments.locator(".speaker")).to_have_text(speakers)
    await expect(segments.locator(".text")).to_have_text(
        ["Roses are red.", "Rhyme it.", "Roses are red, violets are blue.", "APPROVE"]
    )
    team_request = json.loads(play.posts[-1][2] or "")
    assert team_request == {"message": "A two-line poem", "agent": "writer-critic"}
    assert play.errors == []
    kept = _keep(await page.screenshot(), tmp_path / "playground.png", artifacts)
    with capsys.disabled():  # shown in every run, not only when the test fails
        print(f"\nplayground screenshot: {kept}")


async def test_cancel_stops_a_long_turn(browser: Browser, bridge: MakeServer, fake_openai: FakeOpenAI) -> None:
    fake_openai.add(FakeReply(content="word " * 200, chunk_size=5, chunk_delay=0.05))  # 10 s if left to run
    play = await open_playground(browser, await bridge(fake_openai))
    await play.send("Talk for a while")
    reply = play.reply(0)
    await expect(reply.locator(".segment .text")).to_contain_text("word word")  # tokens arrive one by one...
    await expect(reply).to_have_attribute("data-state", "running")  # ...while the turn still runs
    await play.page.get_by_role("button", name="Cancel").click()
    await asyncio.wait_for(fake_openai.cancelled_event.wait(), 10)
    assert (fake_openai.cancelled, fake_openai.completed) == (1, 0)
    await expect(reply).to_have_attribute("data-state", "cancelled")
    assert len(await reply.locator(".segment .text").inner_text()) < len("word " * 200) - 5
    await expect(play.page.locator("#send")).to_be_enabled()
    await expect(play.page.locator("#cancel")).to_be_disabled()
    assert any(re.search(r"/api/runs/run_[0-9a-f]{32}/cancel$", url) for url, _, _ in play.posts)  # by run id too

    await play.send("Still there?")  # the page recovers: the next turn runs
    await expect(play.reply(1).locator(".segment .text")).to_have_text(["You said: Still there?"])
    assert play.errors == []


async def test_a_401_asks_for_the_key_then_the_key_is_used(browser: Browser, bridge: MakeServer) -> None:
    play = await open_playground(browser, await bridge(http={"api_keys": ["sekret-key"]}))
    page = play.page
    await expect(page.locator("#notice")).to_contain_text("401 invalid_api_key")
    await expect(page.locator("#api-key")).to_be_focused()
    await expect(page.locator("#agent option")).to_have_count(0)

    await page.locator("#api-key").fill("wrong")
    await page.locator("#api-key").press("Enter")
    await expect(page.locator("#notice")).to_contain_text("401 invalid_api_key")
    await page.locator("#api-key").fill("sekret-key")
    await page.locator("#api-key").press("Enter")
    await expect(page.locator("#agent")).to_have_value("assistant")
    await expect(page.locator("#notice")).to_be_hidden()
    await page.locator("#agent").select_option("echo")
    await play.send("with a key")
    await expect(play.reply(0).locator(".segment .text")).to_have_text(["with a key"])
    _, headers, _ = play.posts[-1]
    assert headers["authorization"] == "Bearer sekret-key"
    assert await page.evaluate("() => localStorage.getItem('agenthost.apiKey')") == "sekret-key"

    await page.reload()  # the key is kept
    await expect(page.locator("#agent")).to_have_value("assistant")
    await expect(page.locator("#notice")).to_be_hidden()
    assert play.errors == []


async def test_errors_show_their_code_and_message(browser: Browser, bridge: MakeServer) -> None:
    play = await open_playground(browser, await bridge(http={"max_message_chars": 40}))
    await play.send("Hello?")  # the assistant with no model configured: an error event
    failed = play.reply(0)
    await expect(failed).to_have_attribute("data-state", "error")
    await expect(failed.locator(".end.error .code")).to_have_text("model_not_configured")

    await play.page.locator("#agent").select_option("echo")
    long = "x" * 41
    await play.send(long)  # refused before streaming: the HTTP error's JSON
    refused = play.reply(1)
    await expect(refused.locator(".end.error")).to_have_text(
        "422 message_too_long: message: over 40 characters (AGENTHOST_HTTP__MAX_MESSAGE_CHARS)"
    )
    await expect(play.page.locator("#message")).to_have_value(long)  # kept, to fix and send again
    assert play.errors == []


async def test_sse_frames_split_anywhere_parse_whole(browser: Browser, bridge: MakeServer) -> None:
    play = await open_playground(browser, await bridge())
    stream = 'id: 1\r\nevent: chunk\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: keep-alive\n\nid: 2\revent: done\rdata: {}\r\r'
    parse = """([stream, size]) => {
        const events = [], comments = [];
        const parser = new window.agenthostPlayground.SSEParser((e) => events.push(e), (c) => comments.push(c));
        for (let i = 0; i < stream.length; i += size) parser.push(stream.slice(i, i + size));
        parser.end();
        return {events, comments};
    }"""
    whole = {
        "events": [{"id": "1", "event": "chunk", "data": '{"a":\n1}'}, {"id": "2", "event": "done", "data": "{}"}],
        "comments": ["keep-alive"],
    }
    for size in (1, 2, 3, 7, len(stream)):
        assert await play.page.evaluate(parse, [stream, size]) == whole, size


async def test_cancel_also_cancels_the_run_a_stream_names(
    browser: Browser, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    """Durable runs: a stream that names its run (``Location``, ``run_id``) is cancelled through the runs API too.

    A stand-in server plays that future API; its stream also arrives in pieces cut mid-frame.
    """
    runs = _StandInRuns()
    play = await open_playground(browser, await aiohttp_server(runs.app()))
    await play.send("hello")
    reply = play.reply(0)
    await expect(reply.locator(".segment .text")).to_have_text(["Hel"])
    await play.page.keyboard.press("Escape")  # Esc cancels, like the button
    await expect(reply).to_have_attribute("data-state", "cancelled")
    await asyncio.wait_for(runs.left.wait(), 10)
    assert runs.cancelled == ["run-7"]
    names = [name for _, name, _ in await play.events()]
    assert names == ["status", "chunk", "chunk"]  # the keep-alive comment is not an event
    assert play.errors == []


async def test_a_cancel_the_server_reports_first_still_reads_cancelled(
    browser: Browser, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    """The run's own ``error`` event (code ``cancelled``) can beat the page leaving the stream: still "cancelled"."""
    runs = _StandInRuns(ends_cancelled=True)
    play = await open_playground(browser, await aiohttp_server(runs.app()))
    await play.send("hello")
    reply = play.reply(0)
    await expect(reply.locator(".segment .text")).to_have_text(["Hel"])
    await play.page.get_by_role("button", name="Cancel").click()
    await expect(reply).to_have_attribute("data-state", "cancelled")
    assert [name for _, name, _ in await play.events()][-1] == "error"  # it came, and was read as the cancel
    await expect(reply.locator(".end")).to_have_count(1)
    assert play.errors == []


class _StandInRuns:
    """``POST /api/chat/stream`` naming run ``run-7``, whose reply never ends; ``POST /api/runs/{id}/cancel``.

    With ``ends_cancelled`` the cancel ends the stream with the server's ``error`` event (code ``cancelled``),
    which reaches the page before the cancel's own response does.
    """

    def __init__(self, *, ends_cancelled: bool = False) -> None:
        self.cancelled: list[str] = []
        self.left = asyncio.Event()
        self.ends_cancelled = ends_cancelled
        self._cancel = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", _page)
        app.router.add_get("/playground/static/{name}", static_page.asset)
        app.router.add_get("/api/agents", self.agents)
        app.router.add_post("/api/chat/stream", self.stream)
        app.router.add_post("/api/runs/{run_id}/cancel", self.cancel)
        return app

    async def agents(self, request: web.Request) -> web.Response:
        return web.json_response({"agents": [{"name": "echo", "description": "stand-in"}], "default": "echo"})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Location": "/api/runs/run-7/stream"}
        )
        await response.prepare(request)
        pieces = [
            'id: 0\nevent: sta', 'tus\ndata: {"status": "started", "run_id": "run-7"}\n', "\n",
            ": keep-alive\n\n", 'id: 1\nevent: chunk\ndata: {"content": "H', 'e"}\n\nid: 2\nevent: chunk\n',
            'data: {"content": "l"}\n\n',
        ]  # fmt: skip
        try:
            for piece in pieces:
                await response.write(piece.encode())
                await asyncio.sleep(0.02)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cancel.wait(), 30)  # never ends by itself
            if self.ends_cancelled and self._cancel.is_set():
                error = '{"code": "cancelled", "message": "the run was cancelled"}'
                await response.write(f"id: 3\nevent: error\ndata: {error}\n\n".encode())
                await response.write_eof()
        finally:
            self.left.set()
        return response

    async def cancel(self, request: web.Request) -> web.Response:
        self.cancelled.append(request.match_info["run_id"])
        if self.ends_cancelled:
            self._cancel.set()
            await asyncio.sleep(0.5)  # the stream's error event reaches the page first
        return web.json_response({"status": "cancelling"}, status=202)


async def _page(request: web.Request) -> web.FileResponse:
    return static_page.page(request)


def _starts_with(prefix: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(prefix))


def _keep(png: bytes, path: Path, artifacts: Path | None) -> Path:
    """Saves the screenshot in the test's tmp dir and, with ``AGENTHOST_ARTIFACTS``, copies it there."""
    assert len(png) > 10_000  # a rendered page, not a blank one
    path.write_bytes(png)
    if artifacts is None:
        return path
    artifacts.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(path, artifacts / path.name))
