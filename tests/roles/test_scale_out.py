"""Scale-out with real processes: many workers per agent type, conversation affinity, failover, join, drain,
stateless spread, and bridges that leave or say what is served. Workers report the spread in ``/health``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import pytest

from agenthost import AgentHost, RuntimeUnavailable
from agenthost.runtime import routing
from tests.cluster import Cluster, Proc, eventually, free_port, model_env
from tests.fakes import FakeOpenAI, FakeReply
from tests.http_bridge.sse_client import frames

pytestmark = [pytest.mark.grpc, pytest.mark.redis, pytest.mark.slow]

Client = Callable[..., AgentHost]
ASSISTANT = "assistant"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def _env(fake: FakeOpenAI, redis_url: str) -> dict[str, str]:
    return {**model_env(fake), "AGENTHOST_STATE__STORE": "redis", "AGENTHOST_STATE__REDIS_URL": redis_url}


async def _bridge(cluster: Cluster, replica: str) -> str:
    port = free_port()
    proc = await cluster.start_bridge(port, replica, env={"AGENTHOST_AGENTS": "assistant,echo"})
    await proc.wait_for_log("agenthost listening")
    return f"http://127.0.0.1:{port}"


async def _chat(http: aiohttp.ClientSession, url: str, text: str, conversation: str, agent: str = ASSISTANT) -> str:
    body = {"agent": agent, "message": text, "conversation_id": conversation}
    async with http.post(f"{url}/api/chat", json=body) as response:
        answer = await response.json()
        assert response.status == 200, answer
    message: str = answer["message"]
    return message


async def _reports(workers: list[Proc]) -> list[dict[str, Any]]:
    return [(await worker.health())[1] for worker in workers]


def _of(report: Mapping[str, Any], field: str, agent: str = ASSISTANT) -> int:
    value: int = report[field].get(agent, 0)
    return value


def _history(fake: FakeOpenAI, last: str) -> list[str]:
    """The user messages the model saw in the call whose last user message is ``last``."""
    for body in fake.requests:
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        if users and users[-1] == last:
            return users
    raise AssertionError(f"the model never saw {last!r}")


async def _ready(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, bool]]:
    async with http.get(f"{url}/ready") as response:
        return response.status, (await response.json())["served"]


async def test_many_workers_affinity_failover_join_and_stateless_spread(
    cluster: Cluster, fake_openai: FakeOpenAI, redis_url: str, http: aiohttp.ClientSession
) -> None:
    cluster.env.update(_env(fake_openai, redis_url))
    await cluster.start_host()
    bridges = await asyncio.gather(_bridge(cluster, "a"), _bridge(cluster, "b"))
    assert await _ready(http, bridges[0]) == (503, {ASSISTANT: False, "echo": False})  # no worker yet
    workers = list(
        await asyncio.gather(*(cluster.start_worker("assistant,echo", replica=f"w{i}", health=True) for i in range(3)))
    )
    for url in bridges:
        assert await _ready(http, url) == (200, {ASSISTANT: True, "echo": True})

    # 60 conversations, 3 turns each, over both bridges: spread over all workers, every turn on one worker.
    lanes = asyncio.Semaphore(6)

    async def conversation(i: int, turns: range) -> None:
        async with lanes:
            for turn in turns:
                text = f"c{i} turn {turn}"
                assert await _chat(http, bridges[(i + turn) % 2], text, f"c{i}") == f"You said: {text}"

    await asyncio.gather(*(conversation(i, range(3)) for i in range(60)))
    before = await _reports(workers)
    live = [_of(report, "conversations_by_agent") for report in before]
    assert min(live) >= 10, live
    assert sum(live) == 60  # an instance on two workers would count twice
    assert [_of(report, "turns_by_agent") for report in before] == [3 * n for n in live]

    # kill -9 of the worker running a turn: that turn ends with a clear error, and is not run again.
    fake_openai.add(FakeReply(content="word " * 400, chunk_size=5, chunk_delay=0.05))
    body = {"agent": ASSISTANT, "message": "c0 long", "conversation_id": "c0"}
    events: list[tuple[str, Any]] = []
    victim: Proc | None = None
    async with http.post(f"{bridges[0]}/api/chat/stream", json=body) as response:
        async for frame in frames(response):
            if frame.comment is None:
                events.append((frame.event or "", frame.json()))
            if frame.event == "chunk" and victim is None:
                busy = [
                    w for w, report in zip(workers, await _reports(workers), strict=True) if report["inflight_turns"]
                ]
                (victim,) = busy
                await victim.kill()
    assert victim is not None
    assert events[-1][0] == "error"
    assert events[-1][1]["code"] == "unavailable"
    assert "disconnected" in events[-1][1]["message"]
    survivors = [worker for worker in workers if worker is not victim]
    before = [report for worker, report in zip(workers, before, strict=True) if worker is not victim]

    # Every conversation continues with its history; the dead worker's move, the others stay where they are.
    await asyncio.gather(*(conversation(i, range(3, 4)) for i in range(60)))
    assert all(_history(fake_openai, f"c{i} turn 3") == [f"c{i} turn {t}" for t in range(4)] for i in range(1, 60))
    assert _history(fake_openai, "c0 turn 3") == ["c0 turn 0", "c0 turn 1", "c0 turn 2", "c0 turn 3"]  # not saved
    assert sum(1 for request in fake_openai.requests if request["messages"][-1]["content"] == "c0 long") == 1
    after = await _reports(survivors)
    live_after = [_of(report, "conversations_by_agent") for report in after]
    assert sum(live_after) == 60
    served = [_of(now, "turns_by_agent") - _of(then, "turns_by_agent") for now, then in zip(after, before, strict=True)]
    assert served == live_after  # each live conversation got its one 4th turn where it lives
    assert all(now >= then for now, then in zip(live_after, live, strict=False))

    # A new worker joins: it takes a share of new conversations, and no old one moves to it.
    newcomer = await cluster.start_worker("assistant,echo", replica="w3", health=True)
    await asyncio.gather(*(conversation(i, range(4, 5)) for i in range(60)))
    assert _of((await newcomer.health())[1], "conversations_by_agent") == 0
    await asyncio.gather(*(conversation(i, range(1)) for i in range(60, 90)))
    assert _of((await newcomer.health())[1], "conversations_by_agent") >= 10

    # Stateless requests (/v1, no conversation) use every worker of the type.
    everyone = [*survivors, newcomer]
    echo_before = [_of(report, "turns_by_agent", "echo") for report in await _reports(everyone)]

    async def stateless(i: int) -> None:
        request = {"model": "echo", "messages": [{"role": "user", "content": f"stateless {i}"}]}
        async with lanes, http.post(f"{bridges[i % 2]}/v1/chat/completions", json=request) as response:
            assert (await response.json())["choices"][0]["message"]["content"] == f"stateless {i}"

    await asyncio.gather(*(stateless(i) for i in range(40)))
    echo_after = [_of(report, "turns_by_agent", "echo") for report in await _reports(everyone)]
    spread = [now - then for now, then in zip(echo_after, echo_before, strict=True)]
    assert sum(spread) == 40
    assert min(spread) >= 4, spread


async def test_sigterm_drains_a_worker_and_its_conversations_move(
    cluster: Cluster, client: Client, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    cluster.env.update(_env(fake_openai, redis_url))
    await cluster.start_host()
    workers = [await cluster.start_worker(ASSISTANT, replica=f"w{i}", health=True) for i in range(2)]
    async with client() as caller:
        for i in range(10):
            await caller.chat(ASSISTANT, f"d{i} one", conversation_id=f"d{i}")
        fake_openai.add(FakeReply(content="slow " * 20, chunk_size=5, chunk_delay=0.1))
        fake_openai.started_event.clear()
        slow = asyncio.create_task(caller.chat(ASSISTANT, "d0 slow", conversation_id="d0"))
        async with asyncio.timeout(5):
            await fake_openai.started_event.wait()
        busy = [w for w, report in zip(workers, await _reports(workers), strict=True) if report["inflight_turns"]]
        (draining,) = busy
        (other,) = [worker for worker in workers if worker is not draining]
        draining.signal(signal.SIGTERM)

        async def unready() -> bool:
            return (await draining.health("/ready"))[0] == 503

        await eventually(unready, 5, "the draining worker says it is not ready")
        # not ready means the host has taken the drain: nothing new is placed there from now on
        client_id = (await draining.health())[1]["client_id"]
        placement = (await routing.snapshot(caller.runtime, 5))["types"][ASSISTANT]
        assert [entry["draining"] for entry in placement if entry["client"] == client_id] == [True]
        queued = asyncio.create_task(caller.chat(ASSISTANT, "d0 queued", conversation_id="d0"))
        for i in range(1, 10):  # the idle conversations moved at once
            assert (await caller.chat(ASSISTANT, f"d{i} two", conversation_id=f"d{i}")).content == f"You said: d{i} two"
        assert (await asyncio.wait_for(slow, 10)).content == "slow " * 20  # the turn in flight finished
        assert (await asyncio.wait_for(queued, 10)).content == "You said: d0 queued"  # and the one behind it
        assert await draining.wait(15) == 0
        assert "drains: released" in (cluster.procs[0].text())
        assert (await caller.chat(ASSISTANT, "d0 three", conversation_id="d0")).content == "You said: d0 three"
    assert _history(fake_openai, "d0 three") == ["d0 one", "d0 slow", "d0 queued", "d0 three"]
    assert _of((await other.health())[1], "conversations_by_agent") == 10


async def test_a_bridge_killed_mid_stream_cancels_its_turn_on_the_worker(
    cluster: Cluster, client: Client, fake_openai: FakeOpenAI, redis_url: str, http: aiohttp.ClientSession
) -> None:
    cluster.env.update(_env(fake_openai, redis_url))
    await cluster.start_host()
    await cluster.start_worker(ASSISTANT)
    port = free_port()
    bridge = await cluster.start_bridge(port, "doomed")
    await bridge.wait_for_log("agenthost listening")
    url = f"http://127.0.0.1:{port}"
    assert await _chat(http, url, "first", "k1") == "You said: first"

    fake_openai.add(FakeReply(content="word " * 400, chunk_size=5, chunk_delay=0.05))
    body = {"agent": ASSISTANT, "message": "second", "conversation_id": "k1"}
    with contextlib.suppress(aiohttp.ClientError):  # the stream breaks off
        async with http.post(f"{url}/api/chat/stream", json=body) as response:
            async for frame in frames(response):
                if frame.event == "chunk":
                    await bridge.kill()  # kill -9: the bridge cannot cancel anything itself
    async with asyncio.timeout(10):
        await fake_openai.cancelled_event.wait()  # the host told the worker, which stopped the model call
    assert fake_openai.cancelled == 1
    async with client() as caller:
        assert (await caller.chat(ASSISTANT, "third", conversation_id="k1")).content == "You said: third"
    assert _history(fake_openai, "third") == ["first", "third"]  # the cancelled turn was not saved
    assert "told their workers to cancel them" in cluster.procs[0].text()


async def test_a_frozen_worker_is_dropped_by_keepalive(
    cluster: Cluster, client: Client, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    """A worker that stops answering without closing its connection (a vanished node; here SIGSTOP) is dropped
    by the host's keepalive in about 15 s: its turn fails, its conversations move. Not the 60 s request timeout."""
    cluster.env.update({**_env(fake_openai, redis_url), "AGENTHOST_TIMEOUTS__REQUEST": "60"})
    await cluster.start_host()
    workers = [await cluster.start_worker(ASSISTANT, replica=f"w{i}", health=True) for i in range(2)]
    timeouts = {"request": 60, "cancel": 2, "startup": 10, "shutdown": 3}
    async with client(timeouts=timeouts) as caller:
        await caller.chat(ASSISTANT, "one", conversation_id="f1")
        fake_openai.add(FakeReply(content="word " * 2000, chunk_size=5, chunk_delay=0.05))
        fake_openai.started_event.clear()
        turn = asyncio.create_task(caller.chat(ASSISTANT, "two", conversation_id="f1"))
        async with asyncio.timeout(5):
            await fake_openai.started_event.wait()
        busy = [w for w, report in zip(workers, await _reports(workers), strict=True) if report["inflight_turns"]]
        (frozen,) = busy
        frozen.signal(signal.SIGSTOP)
        started = asyncio.get_running_loop().time()
        with pytest.raises(RuntimeUnavailable, match="disconnected before it answered"):
            await asyncio.wait_for(turn, 40)
        assert asyncio.get_running_loop().time() - started < 40
        assert (await caller.chat(ASSISTANT, "three", conversation_id="f1")).content == "You said: three"
    await frozen.kill()  # now, not at teardown: the fake backend still writes to it
    assert _history(fake_openai, "three") == ["one", "three"]
