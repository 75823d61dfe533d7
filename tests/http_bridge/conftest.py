"""Fixtures for the bridge's integration tests: real sockets, parametrized by runtime.

Every test that builds a bridge runs twice: on the embedded runtime (``local``) and on
AutoGen's gRPC runtime (``grpc``), where a real host process and a real worker process
(hosting every shipped agent, its model pointed at the same fake backend) run on
127.0.0.1 and the bridge under test is a gRPC worker of its own.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openai import AsyncOpenAI

from agenthost import Settings
from agenthost.http_bridge import create_app
from tests.cluster import Cluster
from tests.fakes import FakeOpenAI

RUNTIMES = ("local", pytest.param("grpc", marks=pytest.mark.grpc))
ALL_AGENTS = "assistant,echo,password-game,weather,writer-critic"

Client = TestClient[web.Request, web.Application]


class MakeClient(Protocol):
    def __call__(self, fake: FakeOpenAI | None = None, **overrides: Any) -> Awaitable[Client]: ...


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def grpc_cluster(runtime: str, request: pytest.FixtureRequest) -> Iterator[Cluster | None]:
    """Host and worker processes for the ``grpc`` runtime (``None`` on the local one).

    Torn down after the bridge (``make_client`` asks for the app first), so the bridge's gRPC runtime
    stops while its host still runs; its channels are then collected at once, with nothing in flight.
    A channel collected later, with a call left pending, hangs grpc's aio shutdown (it waits for its
    completion queue to drain) at whatever moment the garbage collector picks.
    """
    if runtime != "grpc":
        yield None
        return
    cluster: Cluster = request.getfixturevalue("cluster")
    yield cluster
    gc.collect()


@pytest.fixture
def make_app(runtime: str, grpc_cluster: Cluster | None) -> Callable[[Settings], Awaitable[web.Application]]:
    """The bridge app for ``settings`` on the runtime under test."""

    async def make(settings: Settings) -> web.Application:
        if grpc_cluster is None:
            return create_app(settings)
        if not grpc_cluster.procs:  # a test's second bridge shares the first one's host and worker
            await grpc_cluster.start_host()
            await grpc_cluster.start_worker(ALL_AGENTS, env=_worker_env(settings))
        remote = settings.runtime.model_copy(
            update={"mode": "grpc", "host_address": grpc_cluster.host_address, "exit_on_host_loss": False}
        )
        return create_app(settings.model_copy(update={"runtime": remote}))

    return make


def _worker_env(settings: Settings) -> dict[str, str]:
    """The worker process's model, timeouts and state store, as the bridge under test has them."""
    model = settings.model
    env = {
        "AGENTHOST_MODEL__PROVIDER": model.provider,
        "AGENTHOST_MODEL__NAME": model.name,
        "AGENTHOST_MODEL__MAX_RETRIES": str(model.max_retries),
        "AGENTHOST_TIMEOUTS__REQUEST": str(settings.timeouts.request),
    }
    if model.base_url:
        env["AGENTHOST_MODEL__BASE_URL"] = model.base_url
    state = settings.state
    if state.store != "memory":
        env["AGENTHOST_STATE__STORE"] = state.store
        env["AGENTHOST_STATE__REDIS_URL"] = state.redis_url.get_secret_value()
        env["AGENTHOST_STATE__SQLITE_PATH"] = str(state.sqlite_path)
    return env


@pytest.fixture
def make_client(
    make_app: Callable[[Settings], Awaitable[web.Application]],
    make_settings: Callable[..., Settings],
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> MakeClient:
    """A client of a bridge served on 127.0.0.1 (ephemeral port), with the model at ``fake`` if given."""

    async def make(fake: FakeOpenAI | None = None, **overrides: Any) -> Client:
        app = await make_app(make_settings(fake, **overrides))
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
