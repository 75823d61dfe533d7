"""The native chat API over a real socket: info, health, agents, chat and its SSE stream."""

from __future__ import annotations

import re

from tests.fakes import FakeOpenAI, FakeReply

from .conftest import Client, MakeClient
from .sse_client import events, frames


async def test_index_health_ready(client: Client) -> None:
    info = await (await client.get("/")).json()
    assert info["name"] == "agenthost"
    assert "echo" in info["agents"]
    assert info["docs"] == "/docs"
    assert await (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status == 200
    body = await ready.json()
    assert body["status"] == "ready"
    assert body["served"]["echo"] is True
    assert all(body["served"].values())


async def test_agents_have_descriptions(client: Client) -> None:
    body = await (await client.get("/api/agents")).json()
    by_name = {agent["name"]: agent["description"] for agent in body["agents"]}
    assert "echo" in by_name
    assert by_name["echo"]
    assert body["default"] == "assistant"


async def test_chat_starts_a_conversation_and_continues_it(client: Client) -> None:
    response = await client.post("/api/chat", json={"message": "hello there", "agent": "echo"})
    assert response.status == 200
    body = await response.json()
    assert body["message"] == "hello there"
    assert body["status"] == "success"
    conversation_id = body["conversation_id"]
    assert conversation_id
    again = {"message": "second", "agent": "echo", "conversation_id": conversation_id}
    stream = await client.post("/api/chat/stream", json=again)
    message = next(frame for frame in await events(stream) if frame.event == "message")
    assert message.json()["turn"] == 2  # the echo agent's state survived between the turns
    assert message.json()["conversation_id"] == conversation_id


async def test_chat_uses_the_default_agent(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    client = await make_client(fake_openai)
    body = await (await client.post("/api/chat", json={"message": "hi"})).json()
    assert body["message"] == "You said: hi"


async def test_stream_event_names_order_and_ids(client: Client) -> None:
    response = await client.post("/api/chat/stream", json={"message": "one two three", "agent": "echo"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    conversation_id = response.headers["X-Conversation-ID"]
    frames_ = await events(response)
    assert [frame.event for frame in frames_] == ["status", "chunk", "chunk", "message", "done"]
    assert [frame.id for frame in frames_] == [str(i) for i in range(len(frames_))]
    assert [frame.json()["content"] for frame in frames_[1:3]] == ["one ", "two three"]  # first word at once
    done = frames_[-1].json()
    assert done["message"] == "one two three"
    assert done["conversation_id"] == conversation_id


async def test_stream_from_a_model_agent(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(FakeReply(content="abcdefgh", chunk_size=2))
    response = await client.post("/api/chat/stream", json={"message": "hi", "agent": "assistant"})
    frames_ = await events(response)
    chunks = [frame.json()["content"] for frame in frames_ if frame.event == "chunk"]
    assert "".join(chunks) == "abcdefgh"
    assert frames_[-1].event == "done"
    assert frames_[-1].json()["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}


async def test_agent_error_is_an_error_event_and_a_json_error(client: Client) -> None:
    response = await client.post("/api/chat/stream", json={"message": "hi", "agent": "assistant"})
    last = (await events(response))[-1]
    assert last.event == "error"
    assert last.json()["code"] == "model_not_configured"
    plain = await client.post("/api/chat", json={"message": "hi", "agent": "assistant"})
    assert plain.status == 503
    assert (await plain.json())["error"]["code"] == "model_not_configured"


async def test_keepalive_comments_while_the_agent_is_silent(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    client = await make_client(fake_openai, http={"keepalive_interval": 0.05})
    fake_openai.add(FakeReply(content="ab", chunk_size=1, chunk_delay=0.3))
    response = await client.post("/api/chat/stream", json={"message": "hi", "agent": "assistant"})
    all_frames = [frame async for frame in frames(response)]
    assert any(frame.comment == "keep-alive" for frame in all_frames)
    assert [f.event for f in all_frames if f.comment is None][-1] == "done"


async def test_timeout_is_504_or_an_error_event(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    client = await make_client(fake_openai, timeouts={"request": 0.3, "cancel": 0.5})
    fake_openai.add(FakeReply(content="x" * 50, chunk_size=1, chunk_delay=0.05))
    response = await client.post("/api/chat", json={"message": "hi", "agent": "assistant"})
    assert response.status == 504
    assert response.headers["x-should-retry"] == "false"
    assert (await response.json())["error"]["code"] == "timeout"
    fake_openai.add(FakeReply(content="x" * 50, chunk_size=1, chunk_delay=0.05))
    stream = await client.post("/api/chat/stream", json={"message": "hi", "agent": "assistant"})
    last = (await events(stream))[-1]
    assert last.event == "error"
    assert last.json()["code"] == "timeout"


async def test_a_client_request_id_starts_ours_and_never_collides(client: Client) -> None:
    first = await client.get("/health", headers={"X-Request-ID": "12345"})
    second = await client.get("/health", headers={"X-Request-ID": "12345"})
    ids = first.headers["X-Request-ID"], second.headers["X-Request-ID"]
    assert all(re.fullmatch(r"12345\.[0-9a-f]{16}", given) for given in ids), ids
    assert ids[0] != ids[1]  # the same client id twice: two requests, two ids
    made = await client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    forged = await client.get("/health", headers={"X-Request-ID": 'x" injected=1'})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])  # not of the accepted form: ours alone
    stream = await client.post(
        "/api/chat/stream", json={"message": "x", "agent": "echo"}, headers={"X-Request-ID": "s-1"}
    )
    assert stream.headers["X-Request-ID"].startswith("s-1.")
    await stream.read()
