"""Conversations over HTTP, on both runtimes: bound to the API key that made them, deletable, never shared with
the stateless path, and rolled back when a turn fails (Redis killed mid-conversation, then started again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster import redis_server
from tests.fakes import FakeOpenAI

from .conftest import Client, MakeClient
from .sse_client import Frame, events

KEY_A, KEY_B = "key-a-0123456789", "key-b-0123456789"


def _auth(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


async def _turn(client: Client, conversation_id: str, key: str | None = None, agent: str = "echo") -> list[Frame]:
    body: dict[str, Any] = {"message": "hello", "agent": agent, "conversation_id": conversation_id}
    response = await client.post("/api/chat/stream", json=body, headers=_auth(key))
    assert response.status == 200, await response.text()
    assert response.headers["X-Conversation-ID"] == conversation_id
    return await events(response)


async def _echo_count(client: Client, conversation_id: str, key: str | None = None) -> int:
    frames = await _turn(client, conversation_id, key)
    message = next(frame.json() for frame in frames if frame.event == "message")
    assert message["conversation_id"] == conversation_id  # the client's id, never the owner's prefix
    return int(message["turn"])


async def test_a_conversation_is_reachable_only_with_the_key_that_made_it(make_client: MakeClient) -> None:
    client = await make_client(http={"api_keys": [KEY_A, KEY_B]})
    assert [await _echo_count(client, "c1", KEY_A) for _ in range(2)] == [1, 2]
    missing = await client.delete("/api/conversations/c1", headers=_auth(KEY_B))
    assert missing.status == 404  # B cannot delete A's conversation, nor learn that it exists
    unknown = await client.delete("/api/conversations/never-made", headers=_auth(KEY_B))
    assert (await missing.json())["error"]["code"] == (await unknown.json())["error"]["code"] == "not_found"
    assert await _echo_count(client, "c1", KEY_B) == 1  # B naming A's id starts a conversation of its own
    assert await _echo_count(client, "c1", KEY_A) == 3  # A's is untouched
    assert (await client.delete("/api/conversations/c1", headers=_auth(KEY_A))).status == 204
    assert await _echo_count(client, "c1", KEY_A) == 1  # deleted: it starts afresh
    assert await _echo_count(client, "c1", KEY_B) == 2  # B's was not deleted with A's
    assert (await client.delete("/api/conversations/c1")).status == 401


async def test_another_key_never_sees_the_model_history(make_client: MakeClient, fake_openai: FakeOpenAI) -> None:
    client = await make_client(fake_openai, http={"api_keys": [KEY_A, KEY_B]})
    secret = {"message": "My password is swordfish.", "agent": "assistant", "conversation_id": "shared"}
    assert (await client.post("/api/chat", json=secret, headers=_auth(KEY_A))).status == 200
    question = {"message": "What is my password?", "agent": "assistant", "conversation_id": "shared"}
    reply = await client.post("/api/chat", json=question, headers=_auth(KEY_B))
    assert (await reply.json())["conversation_id"] == "shared"
    sent = [message["content"] for message in fake_openai.requests[-1]["messages"]]
    assert "My password is swordfish." not in sent


async def test_delete_ends_a_conversation_without_keys(make_client: MakeClient) -> None:
    client = await make_client()
    assert [await _echo_count(client, "c2") for _ in range(3)] == [1, 2, 3]
    assert (await client.delete("/api/conversations/c2")).status == 204
    assert (await client.delete("/api/conversations/c2")).status == 404
    assert await _echo_count(client, "c2") == 1
    bad = await client.delete("/api/conversations/no~such")
    assert bad.status == 404


async def test_the_stateless_path_shares_no_instance_with_a_named_conversation(client: Client) -> None:
    completion = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(3):
        assert (await client.post("/v1/chat/completions", json=completion)).status == 200
    assert await _echo_count(client, "default") == 1  # "default" was the stateless instance's key
    reserved = await client.post("/api/chat", json={"message": "hi", "agent": "echo", "conversation_id": "~stateless"})
    assert reserved.status == 422


@pytest.mark.redis
async def test_redis_killed_mid_conversation_rolls_the_turn_back(make_client: MakeClient, tmp_path: Path) -> None:
    async with redis_server(tmp_path, persistent=True) as redis:
        client = await make_client(state={"store": "redis", "redis_url": redis.url})
        assert await _echo_count(client, "c3") == 1
        await redis.stop()
        failed = await _turn(client, "c3")
        assert failed[-1].event == "error"
        assert failed[-1].json()["code"] == "unavailable"
        await redis.start()
        assert await _echo_count(client, "c3") == 2  # before the fix: 3 (the failed turn was kept and saved)
