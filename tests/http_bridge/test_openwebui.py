"""Open WebUI pointed at ``/v1``: its requests, as it sends them, through the real bridge (both runtimes).

A chat (``X-OpenWebUI-Chat-Id``) is one conversation: the agent keeps its state per chat and
never gets the history twice, although every request carries all of it. Background prompts
(``### Task:``) cost one model call, not an agent turn, and leave the chat's conversation alone.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes import FakeOpenAI
from tests.http_bridge.conftest import Client, MakeClient
from tests.http_bridge.sse_client import events

RECORDED = json.loads((Path(__file__).parent / "recorded" / "openwebui.json").read_text())


def recorded(name: str, chat_id: str, reply: str = "") -> tuple[dict[str, str], dict[str, Any]]:
    """The recorded request ``name`` for this chat: (headers, body)."""
    headers = {key: value.replace("{chat_id}", chat_id) for key, value in RECORDED["headers"].items()}
    body = json.loads(json.dumps(RECORDED[name]).replace("{reply}", reply))
    return headers, body


async def send(client: Client, name: str, chat_id: str, reply: str = "") -> tuple[str, dict[str, Any] | None]:
    """Send a recorded request; the reply's text and (streamed with include_usage) its usage."""
    headers, body = recorded(name, chat_id, reply)
    response = await client.post("/v1/chat/completions", data=json.dumps(body), headers=headers)
    assert response.status == 200, await response.text()
    if not body.get("stream"):
        whole = await response.json()
        return whole["choices"][0]["message"]["content"], whole["usage"]
    frames = [frame.data for frame in await events(response) if frame.data]
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(data) for data in frames[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    usage = next((c["usage"] for c in chunks if not c["choices"]), None)
    return text, usage


def seen(fake: FakeOpenAI, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of the messages the model got in request ``index``."""
    return [
        (m["role"], m["content"] if isinstance(m["content"], str) else str(m["content"]))
        for m in fake.requests[index]["messages"]
    ]


def texts(fake: FakeOpenAI, index: int = -1) -> list[str]:
    return [content for _, content in seen(fake, index)]


async def test_a_chat_is_one_conversation_with_tasks_on_the_side(
    make_client: MakeClient, fake_openai: FakeOpenAI
) -> None:
    client = await make_client(fake_openai)
    chat = str(uuid.uuid4())
    reply, usage = await send(client, "first", chat)
    assert reply == "You said: My name is Ada."
    assert usage == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}  # include_usage
    assert texts(fake_openai)[0].endswith("\nBe brief.")  # the client's system prompt joins the agent's
    assert texts(fake_openai)[1:] == ["My name is Ada."]

    for task in ("title", "tags", "follow_ups"):
        answer, _ = await send(client, task, chat, reply)
        assert answer.startswith("You said: ### Task:")  # the model answered it ...
        asked = fake_openai.requests[-1]
        assert [m["role"] for m in asked["messages"]] == ["user"]  # ... alone: no agent, no system prompt
        assert "tools" not in asked
    assert fake_openai.requests[1].get("max_tokens") == 1000  # the title's max_completion_tokens applies

    await send(client, "second", chat, reply)
    history = texts(fake_openai)
    assert history[1:] == ["My name is Ada.", reply, "What is my name?"]  # each message once
    assert not any("### Task:" in text for text in history)  # the tasks left the conversation alone


async def test_regenerate_and_edit_start_over_from_the_history(
    make_client: MakeClient, fake_openai: FakeOpenAI
) -> None:
    client = await make_client(fake_openai)
    chat = str(uuid.uuid4())
    reply, _ = await send(client, "first", chat)
    await send(client, "second", chat, reply)
    await send(client, "second", chat, reply)  # "regenerate": the same history once more
    assert texts(fake_openai)[1:] == ["My name is Ada.", reply, "What is my name?"]  # not the old answer
    edited = "Actually, call me Grace."
    headers, body = recorded("second", chat, reply)
    body["messages"][1]["content"] = edited  # an earlier message edited
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    await response.read()
    assert texts(fake_openai)[1:] == [edited, reply, "What is my name?"]
    assert "My name is Ada." not in texts(fake_openai)


async def test_without_the_header_the_facade_stays_stateless(make_client: MakeClient, fake_openai: FakeOpenAI) -> None:
    client = await make_client(fake_openai)
    _, first = recorded("first", "x")
    for _ in range(2):
        response = await client.post("/v1/chat/completions", json=first)
        await response.read()
        assert texts(fake_openai)[1:] == ["My name is Ada."]


async def test_task_prompts_setting(make_client: MakeClient, fake_openai: FakeOpenAI) -> None:
    skipping = await make_client(fake_openai, openai={"task_prompts": "skip"})
    assert await send(skipping, "title", "c1") == ("", {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
    assert fake_openai.requests == []  # answered at once, nothing ran
    headers, body = recorded("title", "c1")
    body["stream"] = True
    response = await skipping.post("/v1/chat/completions", json=body, headers=headers)
    assert [frame.data for frame in await events(response)][-1] == "[DONE]"


async def test_task_prompts_to_the_agent(make_client: MakeClient, fake_openai: FakeOpenAI) -> None:
    client = await make_client(fake_openai, openai={"task_prompts": "agent"})
    await send(client, "title", "c2")
    assert texts(fake_openai)[0].startswith("You are a helpful assistant")  # a full agent turn


async def test_a_bad_chat_id_is_named(client: Client) -> None:
    headers = {"X-OpenWebUI-Chat-Id": "not a chat id!"}
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["param"] == "X-OpenWebUI-Chat-Id"
    assert "X-OpenWebUI-Chat-Id" in error["message"]


async def test_openwebui_chat_with_the_echo_agent_and_no_model(client: Client) -> None:
    """With no model configured, a task prompt goes to the agent (echo answers it): it still works."""
    headers, body = recorded("title", "c3")
    body["model"] = "echo"
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status == 200
    assert (await response.json())["choices"][0]["message"]["content"].startswith("### Task:")
    assert isinstance(aiohttp.__version__, str)
