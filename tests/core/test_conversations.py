"""Stateful conversations: one turn at a time, state saved after each turn, restored after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from agenthost import AgentHost, Settings
from tests.fakes import FakeOpenAI, FakeReply


def _sqlite(make_settings: Callable[..., Settings], tmp_path: Path, fake: FakeOpenAI | None = None) -> Settings:
    return make_settings(fake, state={"store": "sqlite", "sqlite_path": str(tmp_path / "conversations.sqlite3")})


async def test_assistant_context_survives_restart_with_file_store(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = _sqlite(make_settings, tmp_path, fake_openai)
    async with AgentHost(settings) as host:
        await host.chat("assistant", "My name is Ada.", conversation_id="c-1")
    async with AgentHost(settings) as host:  # a new process would see the same file
        await host.chat("assistant", "What is my name?", conversation_id="c-1")
    contents = [m["content"] for m in fake_openai.requests[-1]["messages"]]
    assert "My name is Ada." in contents
    assert "You said: My name is Ada." in contents  # the assistant's earlier answer too
    assert contents[-1] == "What is my name?"


async def test_echo_turn_count_survives_restart(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = _sqlite(make_settings, tmp_path)
    async with AgentHost(settings) as host:
        for _ in range(2):
            await host.chat("echo", "hi", conversation_id="c-2")
    async with AgentHost(settings) as host:
        events = [e async for e in host.stream("echo", "again", conversation_id="c-2")]
    assert next(e for e in events if e.kind == "message").data["turn"] == 3


async def test_stateless_requests_carry_their_history(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I like tea."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "What do I like?"},
    ]
    async with AgentHost(make_settings(fake_openai)) as host:
        reply = await host.chat("assistant", history)
    sent = fake_openai.requests[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"] == ["I like tea.", "Noted.", "What do I like?"]
    assert reply.content == "You said: What do I like?"
    assert reply.conversation_id is None


async def test_turns_of_one_conversation_run_one_at_a_time(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(FakeReply(content="first answer", chunk_delay=0.02), FakeReply(content="second answer"))
    async with AgentHost(make_settings(fake_openai)) as host:
        first, second = await asyncio.gather(
            host.chat("assistant", "one", conversation_id="c-3"),
            host.chat("assistant", "two", conversation_id="c-3"),
        )
    assert (first.content, second.content) == ("first answer", "second answer")
    second_request = [m["content"] for m in fake_openai.requests[1]["messages"]]
    assert "first answer" in second_request  # the second turn saw the whole first one


async def test_idle_instances_are_evicted_and_reload_their_state(make_settings: Callable[..., Settings]) -> None:
    async with AgentHost(make_settings(timeouts={"instance_idle": 0.2})) as host:
        await host.chat("echo", "hi", conversation_id="c-4")
        assert len(host.instances) == 1
        for _ in range(40):
            if host.instances.evicted:
                break
            await asyncio.sleep(0.05)
        assert host.instances.evicted == 1
        events = [e async for e in host.stream("echo", "back", conversation_id="c-4")]
    assert next(e for e in events if e.kind == "message").data["turn"] == 2


async def test_instances_over_the_limit_are_evicted(make_settings: Callable[..., Settings]) -> None:
    async with AgentHost(make_settings(runtime={"max_instances": 5})) as host:
        for i in range(20):
            await host.chat("echo", "hi", conversation_id=f"c-{i}")
        assert len(host.instances) <= 5
        assert host.instances.evicted >= 15
