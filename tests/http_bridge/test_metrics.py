"""``GET /metrics`` after real traffic, read with the Prometheus text parser, on both runtimes."""

from __future__ import annotations

import asyncio

import pytest

from agenthost.http_bridge.keys import HOST
from agenthost.telemetry import NO_METRICS
from tests.fakes import FakeOpenAI, FakeReply
from tests.http_bridge.conftest import Client, MakeClient
from tests.http_bridge.sse_client import events as read_events
from tests.telemetry.scrape import Samples, label_values, parse, value


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(await response.text())


async def test_counters_move_with_traffic(make_client: MakeClient, fake_openai: FakeOpenAI, runtime: str) -> None:
    client = await make_client(fake_openai, telemetry={"loop_lag_interval": 0.02})
    stream = await client.post("/api/chat/stream", json={"message": "hi", "agent": "assistant"})
    events = await read_events(stream)
    assert events[-1].event == "done"
    run_path = stream.headers["Location"].removesuffix("/stream")
    assert (await client.post("/api/chat", json={"message": "a b", "agent": "echo"})).status == 200
    assert (await client.get(run_path)).status == 200
    assert (await client.get("/api/runs/run_missing")).status == 404
    assert (await client.post("/v1/chat/completions", json={"model": "nope", "messages": []})).status in (400, 404)
    assert (await client.get("/no/such/path")).status == 404

    samples = await scrape(client)
    assert value(samples, "agenthost_runs_started_total", agent="assistant") == 1
    assert value(samples, "agenthost_runs_ended_total", agent="assistant", outcome="done") == 1
    assert value(samples, "agenthost_runs_ended_total", agent="echo", outcome="done") == 1
    assert value(samples, "agenthost_tokens_total", agent="assistant", type="input") == 11  # the fake's usage
    assert value(samples, "agenthost_tokens_total", agent="assistant", type="output") == 7
    assert value(samples, "agenthost_time_to_first_token_seconds_count", agent="assistant") == 1
    assert value(samples, "agenthost_run_duration_seconds_count", agent="echo") == 1
    http = "agenthost_http_requests_total"
    assert value(samples, http, method="POST", route="/api/chat/stream", status="200") == 1
    assert value(samples, http, method="GET", route="/api/runs/{run_id}", status="200") == 1
    assert value(samples, http, method="GET", route="/api/runs/{run_id}", status="404") == 1
    assert value(samples, http, method="GET", route="unmatched", status="404") == 1
    assert not any("/runs/run_" in route for route in label_values(samples, http, "route"))  # never raw paths
    assert value(samples, "process_resident_memory_bytes") > 0
    if runtime == "local":  # the agents run in this process: their side is counted here too
        assert value(samples, "agenthost_agent_turns_total", agent="echo", outcome="done") == 1
        assert value(samples, "agenthost_state_store_operation_seconds_count", operation="put") >= 1
        assert value(samples, "agenthost_live_instances") >= 1
    async with asyncio.timeout(10):
        while value(samples, "agenthost_event_loop_lag_seconds_count") < 1:
            await asyncio.sleep(0.05)
            samples = await scrape(client)


async def test_outcome_of_a_cancelled_run(make_client: MakeClient, fake_openai: FakeOpenAI) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(FakeReply(content="word " * 200, chunk_size=5, chunk_delay=0.05))
    started = await (await client.post("/api/runs", json={"message": "go", "agent": "assistant"})).json()
    async with asyncio.timeout(10):
        await fake_openai.started_event.wait()
    cancelled = await client.post(f"/api/runs/{started['run_id']}/cancel")
    assert (await cancelled.json())["status"] == "cancelled"
    samples = await scrape(client)
    assert value(samples, "agenthost_runs_ended_total", agent="assistant", outcome="cancelled") == 1


async def test_outcome_is_the_error_code(client: Client) -> None:
    assert (await client.post("/api/chat", json={"message": "hi", "agent": "assistant"})).status == 503  # no model
    samples = await scrape(client)
    assert value(samples, "agenthost_runs_ended_total", agent="assistant", outcome="model_not_configured") == 1


async def test_active_streams_gauge(make_client: MakeClient, fake_openai: FakeOpenAI) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(FakeReply(content="word " * 40, chunk_size=5, chunk_delay=0.05))
    stream = await client.post("/api/chat/stream", json={"message": "go", "agent": "assistant"})
    await stream.content.readuntil(b"\n\n")  # the stream is open
    assert value(await scrape(client), "agenthost_active_streams") == 1
    await stream.read()
    assert value(await scrape(client), "agenthost_active_streams") == 0


@pytest.mark.parametrize("runtime", ["local"], indirect=True)
async def test_metrics_off(make_client: MakeClient) -> None:
    client = await make_client(telemetry={"metrics": False})
    assert client.app is not None
    assert (await client.post("/api/chat", json={"message": "hi", "agent": "echo"})).status == 200
    assert (await client.get("/metrics")).status == 404
    assert client.app[HOST].metrics is NO_METRICS
