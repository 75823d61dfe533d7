"""Fixtures for the bridge's integration tests: real sockets, parametrized by runtime.

``runtime`` is ``"local"`` for now; a ``"grpc"`` param starts real host and worker processes
and builds the bridge with ``Settings(runtime={"mode": "grpc", ...})``: add it to
``RUNTIMES`` and to :func:`make_app` and every test here runs against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openai import AsyncOpenAI

from host import Settings
from http_bridge import create_app
from tests.fakes import FakeOpenAI

RUNTIMES = ("local",)

Client = TestClient[web.Request, web.Application]


class MakeClient(Protocol):
    def __call__(self, fake: FakeOpenAI | None = None, **overrides: Any) -> Awaitable[Client]: ...


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_app(runtime: str) -> Callable[[Settings], web.Application]:
    """The bridge app for ``settings`` on the runtime under test."""

    def make(settings: Settings) -> web.Application:
        if runtime != "local":
            pytest.skip(f"runtime {runtime!r} is not wired into the bridge tests yet")
        return create_app(settings)

    return make


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[Client]],
    make_settings: Callable[..., Settings],
    make_app: Callable[[Settings], web.Application],
) -> MakeClient:
    """A client of a bridge served on 127.0.0.1 (ephemeral port), with the model at ``fake`` if given."""

    async def make(fake: FakeOpenAI | None = None, **overrides: Any) -> Client:
        app = make_app(make_settings(fake, **overrides))
        return await aiohttp_client(app, server_kwargs={"handler_cancellation": True})

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    """A bridge with the shipped agents and no model backend."""
    return await make_client()


@pytest.fixture
async def fake_client(make_client: MakeClient, fake_openai: FakeOpenAI) -> Client:
    """A bridge whose LLM agents use the fake OpenAI server."""
    return await make_client(fake_openai)


def openai_for(client: Client, api_key: str = "unused", max_retries: int = 0) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key=api_key, max_retries=max_retries, timeout=10)


@pytest.fixture
async def sdk(client: Client) -> AsyncIterator[AsyncOpenAI]:
    """The ``openai`` SDK pointed at the bridge."""
    async with openai_for(client) as oai:
        yield oai
