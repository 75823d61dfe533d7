"""The OpenAI client's streamed path sends what the SDK would and fails as the SDK would, on either route.

Streamed creates take one of three routes (:mod:`agenthost._engine.openai`): the wire
(straight on the SDK's aiohttp session), the SDK's ``_post`` without its parameter
transform, or ``create`` itself. Each test runs the same call on the fast route and on
the SDK's, and compares what the backend received and what the caller got.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from autogen_core import FunctionCall
from autogen_core.models import (
    AssistantMessage,
    CreateResult,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import FunctionTool

from agenthost import _engine
from agenthost._engine.openai_wire import Wire
from agenthost.models.openai_client import UsageStreamingOpenAIClient
from tests.fakes import FakeOpenAI, FakeReply

MODEL_INFO = {
    "vision": True,
    "function_calling": True,
    "json_output": True,
    "family": "unknown",
    "structured_output": True,
}

# Headers that differ between any two requests, whichever route sent them.
VOLATILE = {"content-length"}


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


MESSAGES: list[LLMMessage] = [
    SystemMessage(content="You are terse."),
    UserMessage(content="What is the weather in Paris?", source="user"),
    AssistantMessage(
        content=[FunctionCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')], source="a"
    ),
    FunctionExecutionResultMessage(
        content=[FunctionExecutionResult(call_id="call_1", content="sunny", name="get_weather", is_error=False)]
    ),
    UserMessage(content="And now, in one word?", source="user"),
]


class Routes:
    """Counts the requests each fast route sent; ``sdk()`` turns both off, as for a client they cannot vouch for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wire = self.post = 0
        self._monkeypatch = monkeypatch
        post, open_ = _engine.openai._post, Wire.open

        def counted_post(*args: Any) -> Any:
            self.post += 1
            return post(*args)

        async def counted_open(wire: Wire, *args: Any) -> Any:
            self.wire += 1
            return await open_(wire, *args)

        monkeypatch.setattr(_engine.openai, "_post", counted_post)
        monkeypatch.setattr(Wire, "open", counted_open)

    def sdk(self) -> None:
        self._monkeypatch.setattr(Wire, "of", classmethod(lambda cls, sdk: None))
        self._monkeypatch.setattr(_engine.openai, "_body_keys", lambda: None)  # as if a key were aliased


def _client(fake_url: str, **kwargs: Any) -> UsageStreamingOpenAIClient:
    args: dict[str, Any] = {"model": "fake-model", "base_url": fake_url, "api_key": "k", "model_info": MODEL_INFO}
    return UsageStreamingOpenAIClient(**(args | kwargs))


async def _stream(fake: FakeOpenAI, client_args: dict[str, Any] | None = None, **create: Any) -> CreateResult:
    client = _client(fake.base_url, **(client_args or {}))
    try:
        items = [item async for item in client.create_stream(MESSAGES, **create)]
    finally:
        await client.close()
    result = items[-1]
    assert isinstance(result, CreateResult)
    return result


def _headers(fake: FakeOpenAI, index: int = -1) -> dict[str, str]:
    return {k.lower(): v for k, v in fake.headers[index].items() if k.lower() not in VOLATILE}


@pytest.mark.parametrize(
    ("create", "route"),
    [
        ({}, "wire"),
        ({"tools": [FunctionTool(get_weather, description="The weather in a city.")], "tool_choice": "auto"}, "wire"),
        (
            {
                "json_output": True,
                "extra_create_args": {"temperature": 0.2, "max_tokens": 40, "seed": 7, "stop": ["x"]},
            },
            "wire",
        ),
        ({"extra_create_args": {"timeout": 9.0, "extra_body": {"x": 1}}}, "wire"),
        ({"http_client": True}, "post"),  # the SDK's httpx transport: only the SDK knows how it sends
        ({"extra_create_args": {"stop": ("a", "b"), "user": "u1"}}, "sdk"),  # a tuple is not plain JSON
    ],
    ids=["plain", "tools", "json-and-options", "timeout-and-extra-body", "httpx-client", "tuple"],
)
async def test_every_route_sends_the_sdks_request(
    create: dict[str, Any], route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = Routes(monkeypatch)
    client_args = {"http_client": openai.DefaultAsyncHttpxClient()} if create.pop("http_client", False) else {}
    async with FakeOpenAI() as fake:
        fake.add(FakeReply(content="Sunny."))
        ours = await _stream(fake, client_args, **create)
        assert (routes.wire, routes.post) == {"wire": (1, 0), "post": (0, 1), "sdk": (0, 0)}[route]
        ours_body, ours_headers = fake.requests[-1], _headers(fake)
        routes.sdk()
        fake.add(FakeReply(content="Sunny."))
        if client_args:
            client_args = {"http_client": openai.DefaultAsyncHttpxClient()}
        sdk = await _stream(fake, client_args, **create)
        assert (routes.wire, routes.post) == {"wire": (1, 0), "post": (0, 1), "sdk": (0, 0)}[route]
    assert ours_body == fake.requests[-1]
    assert ours_headers == _headers(fake)
    assert (ours.content, ours.usage, ours.finish_reason) == (sdk.content, sdk.usage, sdk.finish_reason)
    assert (ours.content, ours.finish_reason, ours.usage.completion_tokens) == ("Sunny.", "stop", 7)
    assert ours_body["stream_options"] == {"include_usage": True}
    if "extra_create_args" in create and "timeout" in create["extra_create_args"]:
        assert ours_body["x"] == 1
        assert "timeout" not in ours_body
        assert ours_headers["x-stainless-read-timeout"] == "9.0"


@pytest.mark.parametrize("status", [400, 401, 404, 422, 429, 500])
async def test_a_failed_request_raises_the_sdks_error(status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    routes = Routes(monkeypatch)
    caught: list[openai.APIStatusError] = []
    async with FakeOpenAI() as fake:
        for _ in range(2):
            fake.add(FakeReply(status=status))
            with pytest.raises(openai.APIStatusError) as raised:
                await _stream(fake, client_args={"max_retries": 0})
            caught.append(raised.value)
            routes.sdk()
    ours, sdk = caught
    assert routes.wire == 1
    assert type(ours) is type(sdk)
    assert type(ours) is not openai.APIStatusError  # a subclass: RateLimitError, BadRequestError...
    assert (ours.status_code, ours.message, ours.body) == (sdk.status_code, sdk.message, sdk.body)
    assert ours.body == {"message": "scripted failure", "type": "server_error", "param": None, "code": None}


async def test_retries_follow_the_sdks_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """503 and 429 are retried with the SDK's back-off, counted in x-stainless-retry-count; 400 is not."""
    monkeypatch.setattr(openai.AsyncOpenAI, "_calculate_retry_timeout", lambda self, *args: 0.01)
    routes = Routes(monkeypatch)
    counts = []
    async with FakeOpenAI() as fake:
        for _ in range(2):
            fake.add(FakeReply(status=503), FakeReply(status=429), FakeReply(content="Sunny."))
            assert (await _stream(fake, client_args={"max_retries": 2})).content == "Sunny."
            fake.add(FakeReply(status=503), FakeReply(status=400), FakeReply(content="never sent"))
            with pytest.raises(openai.BadRequestError):
                await _stream(fake, client_args={"max_retries": 2})
            fake.script.clear()
            counts.append([{k.lower(): v for k, v in h.items()}["x-stainless-retry-count"] for h in fake.headers])
            fake.headers.clear()
            routes.sdk()
    assert routes.wire == 2
    assert counts[0] == counts[1] == ["0", "1", "2", "0", "1"]


@contextlib.contextmanager
def _closed_port() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"  # bound, not listening: connections are refused


async def test_an_unreachable_backend_raises_the_sdks_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the SDK does on aiohttp, a refused connection raises APITimeoutError (its transport maps it so)."""
    routes = Routes(monkeypatch)
    errors = []
    with _closed_port() as url:
        for _ in range(2):
            client = _client(url, max_retries=0)
            with pytest.raises(openai.APIConnectionError) as raised:
                async for _ in client.create_stream(MESSAGES):
                    pass
            await client.close()
            errors.append(raised.value)
            routes.sdk()
    assert routes.wire == 1
    assert [type(e) for e in errors] == [openai.APITimeoutError, openai.APITimeoutError]
    assert str(errors[0].request.url) == str(errors[1].request.url)


async def test_a_stalled_stream_times_out_as_on_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read that waits longer than the client's timeout mid-stream raises httpx's ReadTimeout on both routes."""
    routes = Routes(monkeypatch)
    raised: list[type[BaseException]] = []
    async with FakeOpenAI() as fake:
        for _ in range(2):
            fake.add(FakeReply(content="slow reply", chunk_delay=2.0))
            with pytest.raises(httpx2.TimeoutException) as error:
                await _stream(fake, client_args={"max_retries": 0, "timeout": 0.3})
            raised.append(type(error.value))
            routes.sdk()
    assert routes.wire == 1
    assert raised == [httpx2.ReadTimeout, httpx2.ReadTimeout]


async def test_a_consumer_that_stops_early_drops_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend sees the client leave (and stops generating) when the stream is closed half-read."""
    routes = Routes(monkeypatch)
    async with FakeOpenAI() as fake:
        fake.add(FakeReply(content="a long reply " * 20, chunk_size=2, chunk_delay=0.01))
        client = _client(fake.base_url)
        stream = client.create_stream(MESSAGES)
        assert isinstance(await anext(stream), str)
        await stream.aclose()
        await client.close()
        async with asyncio.timeout(5):
            await fake.cancelled_event.wait()
    assert (routes.wire, fake.cancelled, fake.completed) == (1, 1, 0)


def test_the_default_client_takes_the_wire_and_others_do_not() -> None:
    ours = _client("http://127.0.0.1:9/v1")
    assert Wire.of(ours._client) is not None
    theirs = _client("http://127.0.0.1:9/v1", http_client=openai.DefaultAsyncHttpxClient())
    assert Wire.of(theirs._client) is None  # httpx's own transport: only the SDK knows how it sends
    keyless = openai.AsyncOpenAI(
        api_key="k", base_url="http://127.0.0.1:9/v1", http_client=openai.DefaultAioHttpClient()
    )
    keyless.api_key = ""
    assert Wire.of(keyless) is None  # the SDK refuses a request without credentials: so must we, by not sending it


def test_the_streamed_create_params_have_no_aliased_or_formatted_key() -> None:
    """If an SDK release aliases a key, every request takes the SDK's transform (correct, slower): this says so."""
    keys = _engine.openai._body_keys()
    assert keys is not None
    assert {"messages", "model", "stream", "tools", "stream_options"} <= keys


async def _odd_backend(request: web.Request) -> web.StreamResponse:
    """Legal SSE that the happy path never sends: CRLF endings, ``data:`` with no space, comments, split packets."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "fake-model"}
    frames: list[dict[str, Any]] = [
        {"index": 0, "delta": {"content": p}, "finish_reason": None} for p in ("Sun", "ny", ".")
    ]
    frames.append({"index": 0, "delta": {}, "finish_reason": "stop"})
    body = b": keep-alive\r\n\r\n"
    for i, choice in enumerate(frames):
        data = json.dumps({**base, "choices": [choice]}).encode()
        body += (b"data:" if i % 2 else b"data: ") + data + (b"\r\n\r\n" if i % 2 else b"\n\n")
    body += b"data: [DONE]\r\n\r\n"
    for start in range(0, len(body), 37):  # packets that cut lines anywhere
        await response.write(body[start : start + 37])
        await asyncio.sleep(0.002)
    await response.write_eof()
    return response


async def test_odd_but_legal_sse_framing_reads_the_same_on_every_route(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = Routes(monkeypatch)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _odd_backend)
    results = []
    async with TestServer(app, host="127.0.0.1") as server:
        for _ in range(2):
            client = _client(str(server.make_url("/v1")), max_retries=0)
            items = [item async for item in client.create_stream(MESSAGES)]
            await client.close()
            results.append(items)
            routes.sdk()
    assert routes.wire == 1
    ours, sdk = results
    assert ours[:-1] == sdk[:-1] == ["Sun", "ny", "."]
    assert isinstance(ours[-1], CreateResult)
    assert isinstance(sdk[-1], CreateResult)
    assert (ours[-1].content, ours[-1].finish_reason) == (sdk[-1].content, sdk[-1].finish_reason) == ("Sunny.", "stop")
