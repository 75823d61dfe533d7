"""Fault tests with real processes: workers and hosts die, clients get bounded errors, state survives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from agenthost import AgentHost, RuntimeUnavailable
from agenthost.messages import StreamEvent
from agenthost.runtime.grpc_worker_runtime import EXIT_HOST_LOST
from tests.cluster import Cluster, model_env
from tests.fakes import FakeOpenAI, FakeReply

pytestmark = [pytest.mark.grpc, pytest.mark.redis, pytest.mark.slow]

Client = Callable[..., AgentHost]


def _redis_env(url: str) -> dict[str, str]:
    return {"AGENTHOST_STATE__STORE": "redis", "AGENTHOST_STATE__REDIS_URL": url}


async def _echo_turn(caller: AgentHost, conversation: str) -> int:
    events = [event async for event in caller.stream("echo", "count me", conversation_id=conversation)]
    assert events[-1].kind == "done", events[-1]
    message = next(event for event in events if event.kind == "message")
    return int(message.data["turn"])


async def test_worker_killed_mid_stream(
    cluster: Cluster, client: Client, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    fake_openai.add(FakeReply(content="word " * 400, chunk_size=5, chunk_delay=0.05))
    env = {**model_env(fake_openai), **_redis_env(redis_url)}
    await cluster.start_host()
    worker = await cluster.start_worker("echo,assistant", env=env)
    async with client() as caller:
        assert [await _echo_turn(caller, "c1") for _ in range(2)] == [1, 2]

        events: list[StreamEvent] = []
        killed = False
        async with asyncio.timeout(15):
            async for event in caller.stream("assistant", "a long answer, please"):
                events.append(event)
                if event.kind == "chunk" and not killed:
                    killed = True
                    await worker.kill()  # kill -9, mid-stream
        assert events[-1].kind == "error"
        assert events[-1].data["code"] == "unavailable"  # the worker's loss, not the 10 s request timeout
        assert "disconnected" in events[-1].data["message"]

        await cluster.start_worker("echo,assistant", env=env)
        assert await _echo_turn(caller, "c1") == 3  # the new worker loaded the state from Redis
        assert (await caller.chat("assistant", "hello again")).content == "You said: hello again"


async def test_host_killed_then_everything_restarts(
    cluster: Cluster, client: Client, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    fake_openai.add(FakeReply(content="word " * 400, chunk_size=5, chunk_delay=0.05))
    env = {**model_env(fake_openai), **_redis_env(redis_url)}
    host = await cluster.start_host()
    echo = await cluster.start_worker("echo", env=_redis_env(redis_url))
    assistant = await cluster.start_worker("assistant", env=env)
    async with client() as caller:
        assert await _echo_turn(caller, "c2") == 1
        pending = asyncio.create_task(caller.chat("assistant", "a long answer, please"))
        async with asyncio.timeout(5):
            await fake_openai.started_event.wait()
        await host.kill()
        with pytest.raises(RuntimeUnavailable, match="lost the connection to the gRPC host"):
            await asyncio.wait_for(pending, 5)
    assert await echo.wait(10) == EXIT_HOST_LOST
    assert await assistant.wait(10) == EXIT_HOST_LOST
    assert "lost the connection to the gRPC host" in echo.text()

    await cluster.start_host()
    await cluster.start_worker("echo", env=_redis_env(redis_url))
    await cluster.start_worker("assistant", env=env)
    async with client() as caller:
        assert await _echo_turn(caller, "c2") == 2
        assert (await caller.chat("assistant", "back?")).content == "You said: back?"
