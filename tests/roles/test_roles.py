"""The three roles as real processes: chat, streams, errors within bounds, cancellation, signals, health."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import grpc  # type: ignore[import-untyped]
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agenthost import AgentHost, RuntimeUnavailable
from tests.cluster import Cluster, free_port, model_env
from tests.fakes import FakeOpenAI, FakeReply
from tests.telemetry.scrape import scrape_url, value

pytestmark = [pytest.mark.grpc, pytest.mark.slow]

Client = Callable[..., AgentHost]


async def test_chat_and_stream_through_host(cluster: Cluster, client: Client) -> None:
    await cluster.start_host()
    await cluster.start_worker("echo")
    async with client() as caller:
        reply = await caller.chat("echo", "hello there")
        events = [event async for event in caller.stream("echo", "a b c", conversation_id="c1")]
    assert reply.content == "hello there"
    assert [e.kind for e in events] == ["status", "chunk", "chunk", "message", "done"]  # the first word at once
    assert [e.seq for e in events] == list(range(5))
    assert events[-1].data["message"] == "a b c"


async def test_unregistered_agent_type_fails_fast(cluster: Cluster, client: Client) -> None:
    await cluster.start_host()
    async with client(timeouts={"request": 120}) as caller, asyncio.timeout(30):  # a hang would take 120 s
        with pytest.raises(RuntimeUnavailable, match="no worker serves agent type 'echo'"):
            await caller.chat("echo", "anyone?")
        events = [event async for event in caller.stream("echo", "anyone?")]
    assert events[-1].kind == "error"
    assert events[-1].data["code"] == "unavailable"


async def test_callers_request_ids_do_not_collide_at_a_worker(cluster: Cluster, client: Client) -> None:
    """Two callers' request counters overlap; the host must still route every reply to its caller."""
    await cluster.start_host()
    await cluster.start_worker("echo")
    async with client() as first, client() as second:
        replies = await asyncio.gather(
            *(first.chat("echo", f"first {i}") for i in range(60)),
            *(second.chat("echo", f"second {i}") for i in range(60)),
        )
    expected = [f"first {i}" for i in range(60)] + [f"second {i}" for i in range(60)]
    assert [reply.content for reply in replies] == expected


async def test_worker_waits_for_a_late_host(cluster: Cluster, client: Client) -> None:
    worker = await cluster.start_worker("echo", ready=False)
    await asyncio.sleep(1.5)
    await cluster.start_host()
    await worker.wait_for_log("worker serving agents")
    assert "not up yet" in worker.text()
    async with client() as caller:
        assert (await caller.chat("echo", "late")).content == "late"


async def test_worker_gives_up_without_a_host(cluster: Cluster) -> None:
    worker = await cluster.start_worker("echo", ready=False, env={"AGENTHOST_TIMEOUTS__STARTUP": "1.5"})
    assert await worker.wait(15) == 2
    assert "could not reach the gRPC host" in worker.text()


async def test_a_second_bridge_with_the_same_replica_id_is_refused_clearly(cluster: Cluster) -> None:
    """A bridge's stream type has one owner: two bridges sharing one would each get half of the streams."""
    await cluster.start_host()
    first = await cluster.start_bridge(free_port(), "same")
    await first.wait_for_log("agenthost listening")
    second = await cluster.start_bridge(free_port(), "same")
    assert await second.wait(15) != 0
    assert "give each bridge replica its own AGENTHOST_RUNTIME__REPLICA_ID" in second.text()


async def test_host_health_service_and_sigterm(cluster: Cluster) -> None:
    host = await cluster.start_host()
    async with grpc.aio.insecure_channel(cluster.host_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "agents.AgentRpc"):
            answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    host.signal(signal.SIGTERM)
    assert await host.wait(15) == 0


async def test_worker_health_endpoints(cluster: Cluster, client: Client) -> None:
    await cluster.start_host()
    worker = await cluster.start_worker("echo", replica="w1", health=True)
    async with client() as caller:
        await caller.chat("echo", "one", conversation_id="c1")
        await caller.chat("echo", "two", conversation_id="c1")
        await caller.chat("echo", "stateless")
    assert await worker.health("/ready") == (200, {"status": "ready"})
    status, report = await worker.health()
    assert status == 200
    assert report == {
        "status": "ok",
        "replica_id": "w1",
        "client_id": report["client_id"],
        "agent_types": ["echo"],
        "turns_served": 3,
        "turns_by_agent": {"echo": 3},
        "inflight_turns": 0,
        "live_conversations": 1,
        "conversations_by_agent": {"echo": 1},
        "draining": False,
    }


async def test_worker_metrics(cluster: Cluster, client: Client) -> None:
    await cluster.start_host()
    port = free_port()
    await cluster.start_worker("echo", env={"AGENTHOST_RUNTIME__HEALTH_PORT": str(port)})
    async with client() as caller:
        await caller.chat("echo", "hello", conversation_id="c1")
        await caller.chat("echo", "again", conversation_id="c1")
    samples = await scrape_url(f"http://127.0.0.1:{port}/metrics")
    assert value(samples, "agenthost_agent_turns_total", agent="echo", outcome="done") == 2
    assert value(samples, "agenthost_agent_turn_duration_seconds_count", agent="echo") == 2
    assert value(samples, "agenthost_live_instances") == 1  # the conversation's instance lives on the worker
    assert value(samples, "agenthost_state_store_operation_seconds_count", operation="put") == 2
    assert value(samples, "agenthost_runs_started_total", agent="echo") == 0  # runs are the caller's side


async def test_client_leaving_stops_the_remote_model_call(
    cluster: Cluster, client: Client, fake_openai: FakeOpenAI
) -> None:
    fake_openai.add(FakeReply(content="word " * 200, chunk_size=5, chunk_delay=0.05))
    await cluster.start_host()
    await cluster.start_worker("assistant", env=model_env(fake_openai))
    async with client() as caller:
        async for event in caller.stream("assistant", "talk for a while"):
            if event.kind == "chunk":
                break  # the client leaves mid-stream
        async with asyncio.timeout(5):
            await fake_openai.cancelled_event.wait()
    assert fake_openai.cancelled == 1
    assert fake_openai.completed == 0


async def test_sigterm_drains_the_turn_in_flight(cluster: Cluster, client: Client, fake_openai: FakeOpenAI) -> None:
    fake_openai.add(FakeReply(content="slow " * 20, chunk_size=5, chunk_delay=0.05))
    await cluster.start_host()
    worker = await cluster.start_worker("assistant", env=model_env(fake_openai))
    async with client() as caller:
        turn = asyncio.create_task(caller.chat("assistant", "take your time"))
        async with asyncio.timeout(5):
            await fake_openai.started_event.wait()
        worker.signal(signal.SIGTERM)
        reply = await asyncio.wait_for(turn, 10)
    assert reply.content == "slow " * 20
    assert await worker.wait(15) == 0
