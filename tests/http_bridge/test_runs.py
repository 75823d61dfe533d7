"""Durable runs over real sockets, on both runtimes: resume, background runs, polling, cancel by id, ownership."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fakes import FakeOpenAI, FakeReply

from .conftest import Client, MakeClient
from .sse_client import Frame, events, frames

SLOW = FakeReply(content="x" * 300, chunk_size=3, chunk_delay=0.02)  # 100 pieces, about 2 s


async def _drop_after(client: Client, body: dict[str, Any], chunks: int) -> tuple[list[Frame], str]:
    """Stream, leave after ``chunks`` chunk events; the frames seen and the Location to resume at."""
    response = await client.post("/api/chat/stream", json=body)
    location = response.headers["Location"]
    seen: list[Frame] = []
    async for frame in frames(response):
        if frame.comment is None:
            seen.append(frame)
        if sum(f.event == "chunk" for f in seen) == chunks:
            break
    response.close()
    return seen, location


async def _wait_status(client: Client, run_id: str, *statuses: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            info: dict[str, Any] = await (await client.get(f"/api/runs/{run_id}")).json()
            if info["status"] in statuses:
                return info
            await asyncio.sleep(0.05)


async def test_a_stream_names_its_run_and_where_to_resume(client: Client) -> None:
    response = await client.post("/api/chat/stream", json={"message": "one two three", "agent": "echo"})
    frames_ = await events(response)
    run_id = frames_[0].json()["run_id"]
    assert response.headers["Location"] == f"/api/runs/{run_id}/stream"
    assert [frame.id for frame in frames_] == [str(i) for i in range(len(frames_))]
    info = await (await client.get(f"/api/runs/{run_id}")).json()
    assert (info["status"], info["message"], info["agent"]) == ("done", "one two three", "echo")
    assert info["conversation_id"] == response.headers["X-Conversation-ID"]


async def test_a_dropped_client_resumes_and_gets_every_remaining_event_once_in_order(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(SLOW)
    body = {"message": "go", "agent": "assistant", "on_disconnect": "continue"}
    seen, location = await _drop_after(client, body, chunks=3)
    last = seen[-1].id
    assert last is not None
    resumed = await events(await client.get(location, headers={"Last-Event-ID": last}))
    everything = seen + resumed
    assert [int(f.id or -1) for f in everything] == list(range(len(everything)))  # each event exactly once
    assert everything[-1].event == "done"
    assert "".join(f.json()["content"] for f in everything if f.event == "chunk") == "x" * 300
    assert fake_openai.cancelled == 0


async def test_resume_from_the_start_and_after_the_end(client: Client) -> None:
    response = await client.post("/api/chat/stream", json={"message": "a b c", "agent": "echo"})
    original = await events(response)
    location = response.headers["Location"]
    again = await events(await client.get(location))
    assert [(f.id, f.event, f.data) for f in again] == [(f.id, f.event, f.data) for f in original]
    assert await events(await client.get(f"{location}?after={original[-1].id}")) == []
    tail = await events(await client.get(f"{location}?after=1"))
    assert [f.id for f in tail] == [f.id for f in original[2:]]


async def test_events_no_longer_kept_are_reported_not_skipped(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    client = await make_client(fake_openai, runs={"max_events": 4})
    fake_openai.add(FakeReply(content="x" * 12, chunk_size=1, chunk_delay=0.06))  # paced: a chunk event each
    response = await client.post("/api/chat/stream", json={"message": "go", "agent": "assistant"})
    original = await events(response)
    assert len(original) > 8
    resumed = await events(await client.get(response.headers["Location"] + "?after=0"))
    assert resumed[0].event == "error"
    assert resumed[0].json()["code"] == "events_lost"
    assert resumed[0].id is None  # the notice is no event of the run: Last-Event-ID stays where it was
    kept = resumed[1:]
    assert [f.id for f in kept] == [f.id for f in original[-len(kept) :]]


async def test_a_background_run_is_polled_then_streamed(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(FakeReply(content="later", chunk_delay=0.01))
    accepted = await client.post("/api/runs", json={"message": "do it", "agent": "assistant"})
    assert accepted.status == 202
    started = await accepted.json()
    assert set(started) == {"run_id", "status", "conversation_id"}
    assert accepted.headers["Location"] == f"/api/runs/{started['run_id']}"
    info = await _wait_status(client, started["run_id"], "done")
    assert (info["message"], info["usage"]["total_tokens"]) == ("later", 18)
    assert info["ended_at"] >= info["created_at"]
    replay = await events(await client.get(f"/api/runs/{started['run_id']}/stream"))
    assert replay[-1].event == "done"
    assert replay[-1].json()["message"] == "later"


async def test_cancel_by_id_stops_the_model_and_ends_the_stream(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(SLOW)
    accepted = await (await client.post("/api/runs", json={"message": "go", "agent": "assistant"})).json()
    run_id = accepted["run_id"]
    await asyncio.wait_for(fake_openai.started_event.wait(), 10)
    stream = asyncio.create_task(events(await client.get(f"/api/runs/{run_id}/stream")))
    cancelled = await client.post(f"/api/runs/{run_id}/cancel")
    assert cancelled.status == 200
    assert (await cancelled.json())["status"] == "cancelled"
    last = (await asyncio.wait_for(stream, 10))[-1]
    assert (last.event, last.json()["code"]) == ("error", "cancelled")
    await asyncio.wait_for(fake_openai.cancelled_event.wait(), 10)
    assert fake_openai.completed == 0
    again = await (await client.post(f"/api/runs/{run_id}/cancel")).json()  # idempotent
    assert again["status"] == "cancelled"


async def test_unknown_runs_are_404_json(client: Client) -> None:
    for method, path in (("GET", "/api/runs/run_nope"), ("GET", "/api/runs/run_nope/stream")):
        response = await client.request(method, path)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "run_not_found"
    assert (await client.post("/api/runs/run_nope/cancel")).status == 404
    bad = await client.get("/api/runs/run_nope/stream?after=x")
    assert bad.status in (400, 404)


async def test_a_run_is_reachable_only_by_the_key_that_started_it(make_client: MakeClient) -> None:
    client = await make_client(http={"api_keys": ["key-a", "key-b"]})
    a, b = {"Authorization": "Bearer key-a"}, {"Authorization": "Bearer key-b"}
    response = await client.post("/api/chat/stream", json={"message": "mine", "agent": "echo"}, headers=a)
    run_id = (await events(response))[0].json()["run_id"]
    assert (await client.get(f"/api/runs/{run_id}", headers=a)).status == 200
    for method, path in (("GET", ""), ("GET", "/stream"), ("POST", "/cancel")):
        other = await client.request(method, f"/api/runs/{run_id}{path}", headers=b)
        assert other.status == 404, (method, path)
