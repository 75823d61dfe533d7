"""The HTTP API served by bridge processes on the gRPC runtime: two replicas side by side, faults included."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI

from agenthost.runtime.grpc_worker_runtime import EXIT_HOST_LOST
from tests.cluster import Cluster, Proc, free_port, model_env
from tests.fakes import FakeOpenAI, FakeReply
from tests.http_bridge.sse_client import frames

pytestmark = [pytest.mark.grpc, pytest.mark.redis, pytest.mark.slow]


@dataclass
class Bridge:
    proc: Proc
    url: str


@dataclass
class Deployment:
    cluster: Cluster
    host: Proc
    workers: dict[str, Proc]
    bridges: list[Bridge]
    env: dict[str, str]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


@pytest.fixture
async def deployment(cluster: Cluster, fake_openai: FakeOpenAI, redis_url: str) -> Deployment:
    """A host, an echo worker, an assistant worker and two bridge replicas, all sharing Redis state."""
    env = {
        **model_env(fake_openai),
        "AGENTHOST_STATE__STORE": "redis",
        "AGENTHOST_STATE__REDIS_URL": redis_url,
        "AGENTHOST_RUNS__STORE": "redis",
    }
    cluster.env.update(env)
    host = await cluster.start_host()
    workers = {name: await cluster.start_worker(name) for name in ("echo", "assistant")}
    bridges = []
    for replica in ("a", "b"):
        port = free_port()
        proc = await cluster.start_bridge(port, replica)
        bridges.append(Bridge(proc, f"http://127.0.0.1:{port}"))
    for bridge in bridges:
        await bridge.proc.wait_for_log("agenthost listening")
    return Deployment(cluster, host, workers, bridges, env)


async def _sse(response: aiohttp.ClientResponse) -> list[tuple[str, dict[str, Any]]]:
    return [(frame.event or "", frame.json()) async for frame in frames(response) if frame.comment is None]


async def test_both_replicas_serve_health_chat_and_streams(deployment: Deployment, http: aiohttp.ClientSession) -> None:
    for bridge in deployment.bridges:
        async with http.get(f"{bridge.url}/health") as response:
            assert response.status == 200
        async with http.get(f"{bridge.url}/ready") as response:
            served = (await response.json())["served"]
        assert response.status == 503  # weather, writer-critic and password-game have no worker here
        assert served == {name: name in {"echo", "assistant"} for name in served}
        assert len(served) == 5

    async def stream(bridge: Bridge, text: str) -> list[tuple[str, dict[str, Any]]]:
        async with http.post(f"{bridge.url}/api/chat/stream", json={"agent": "echo", "message": text}) as response:
            assert response.status == 200
            return await _sse(response)

    texts = [f"replica {i % 2} says {i}" for i in range(20)]
    results = await asyncio.gather(*(stream(deployment.bridges[i % 2], text) for i, text in enumerate(texts)))
    for text, events in zip(texts, results, strict=True):
        assert events[-1][0] == "done"
        assert events[-1][1]["message"] == text  # each replica got exactly its own events

    async with http.post(f"{deployment.bridges[1].url}/api/chat", json={"agent": "echo", "message": "hi"}) as resp:
        body = await resp.json()
    assert resp.status == 200
    assert body["message"] == "hi"


async def test_openai_facade_over_grpc(deployment: Deployment, fake_openai: FakeOpenAI) -> None:
    async with AsyncOpenAI(base_url=f"{deployment.bridges[0].url}/v1", api_key="unused", max_retries=0) as sdk:
        completion = await sdk.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "hello"}]
        )
        assert completion.choices[0].message.content == "You said: hello"
        fake_openai.add(FakeReply(content="streamed answer", chunk_size=3))
        stream = await sdk.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "stream it"}], stream=True
        )
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == "streamed answer"


async def test_agent_without_a_worker_is_a_503(deployment: Deployment, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{deployment.bridges[0].url}/api/chat", json={"agent": "weather", "message": "x"}) as resp:
        body = await resp.json()
    assert resp.status == 503  # at once: waiting out the request timeout would have been a 504
    assert "no worker serves agent type 'weather'" in json.dumps(body)


async def test_worker_killed_mid_http_stream(
    deployment: Deployment, http: aiohttp.ClientSession, fake_openai: FakeOpenAI
) -> None:
    bridge = deployment.bridges[0]
    async with http.post(f"{bridge.url}/api/chat", json={"agent": "echo", "message": "one"}) as response:
        conversation = (await response.json())["conversation_id"]
    fake_openai.add(FakeReply(content="word " * 400, chunk_size=5, chunk_delay=0.05))
    events: list[tuple[str, dict[str, Any]]] = []
    body = {"agent": "assistant", "message": "long answer"}
    async with http.post(f"{bridge.url}/api/chat/stream", json=body) as response:
        async for frame in frames(response):
            if frame.comment is not None:
                continue
            events.append((frame.event or "", frame.json()))
            if frame.event == "chunk" and len(events) == 2:
                await deployment.workers["assistant"].kill()
    assert events[-1][0] == "error"
    assert events[-1][1]["code"] == "unavailable"  # the worker's loss, not the request timeout

    deployment.workers["assistant"] = await deployment.cluster.start_worker("assistant")
    deployment.workers["echo"].signal(signal.SIGTERM)
    assert await deployment.workers["echo"].wait(15) == 0
    deployment.workers["echo"] = await deployment.cluster.start_worker("echo")
    again = {"agent": "echo", "message": "two", "conversation_id": conversation}
    async with http.post(f"{deployment.bridges[1].url}/api/chat/stream", json=again) as response:
        replay = await _sse(response)
    message = next(data for name, data in replay if name == "message")
    assert message["turn"] == 2  # state survived the worker restart, read by another bridge replica
    async with http.post(f"{bridge.url}/api/chat", json={"agent": "assistant", "message": "ok?"}) as response:
        assert (await response.json())["message"] == "You said: ok?"


async def test_bridges_exit_nonzero_when_the_host_dies_and_zero_on_sigterm(deployment: Deployment) -> None:
    first, second = deployment.bridges
    first.proc.signal(signal.SIGTERM)
    assert await first.proc.wait(30) == 0
    await deployment.host.kill()
    assert await second.proc.wait(15) == EXIT_HOST_LOST
    for worker in deployment.workers.values():
        assert await worker.wait(15) == EXIT_HOST_LOST


async def test_a_run_started_on_one_replica_is_resumed_and_cancelled_through_the_other(
    deployment: Deployment, http: aiohttp.ClientSession, fake_openai: FakeOpenAI
) -> None:
    a, b = deployment.bridges
    fake_openai.add(FakeReply(content="x" * 300, chunk_size=3, chunk_delay=0.05))  # 5 s if left to run
    body = {"agent": "assistant", "message": "go", "on_disconnect": "continue"}
    seen: list[tuple[str | None, str | None]] = []
    async with http.post(f"{a.url}/api/chat/stream", json=body) as response:
        location = response.headers["Location"]
        async for frame in frames(response):
            if frame.comment is None:
                seen.append((frame.id, frame.event))
            if sum(event == "chunk" for _, event in seen) == 3:
                break  # the client drops, the run goes on (on_disconnect: continue)
    run_id = location.split("/")[3]
    last = seen[-1][0]
    assert last is not None
    headers = {"Last-Event-ID": last}
    async with http.get(f"{b.url}{location}", headers=headers) as resumed:
        assert resumed.status == 200
        more: list[tuple[str | None, str | None]] = []
        async for frame in frames(resumed):
            if frame.comment is None:
                more.append((frame.id, frame.event))
            if len(more) == 3:
                break
    assert [int(event_id or -1) for event_id, _ in more] == [int(last) + 1, int(last) + 2, int(last) + 3]
    async with http.get(f"{b.url}/api/runs/{run_id}") as polled:
        assert (await polled.json())["status"] == "running"
    async with http.post(f"{b.url}/api/runs/{run_id}/cancel") as cancelled:
        assert cancelled.status == 200
        assert (await cancelled.json())["status"] == "cancelled"
    await asyncio.wait_for(fake_openai.cancelled_event.wait(), 10)  # the model call stopped
    assert fake_openai.completed == 0
    async with http.get(f"{b.url}{location}", headers=headers) as replay:
        tail = [(f.event, f.json()) async for f in frames(replay) if f.comment is None]
    assert tail[-1][0] == "error"
    assert tail[-1][1]["code"] == "cancelled"
    async with http.get(f"{a.url}/api/runs/{run_id}") as owner_view:
        assert (await owner_view.json())["status"] == "cancelled"
