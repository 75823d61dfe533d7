"""The ``writer-critic`` team."""

from __future__ import annotations

from collections.abc import Callable

from agenthost import (
    AgentHost,
    Settings,
)
from tests.fakes import FakeOpenAI, FakeReply
from tests.turns import run_turn


async def test_writer_critic_stops_on_approve(fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]) -> None:
    fake_openai.add(
        FakeReply(content="Roses are red."),
        FakeReply(content="Rhyme it."),
        FakeReply(content="Roses are red, violets are blue."),
        FakeReply(content="APPROVE"),
    )
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await run_turn(host, "writer-critic", "A two-line poem")
    messages = [(e.data["source"], e.data["content"]) for e in events if e.kind == "message"]
    assert messages == [
        ("writer", "Roses are red."),
        ("critic", "Rhyme it."),
        ("writer", "Roses are red, violets are blue."),
        ("critic", "APPROVE"),
    ]
    assert events[-1].kind == "done"
    assert len(fake_openai.requests) == 4


async def test_team_reply_names_each_member_and_reads_as_streamed(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(FakeReply(content="Roses are red."), FakeReply(content="APPROVE"))
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await run_turn(host, "writer-critic", "A poem")
        reply = await _whole_reply(host, fake_openai)
    chunks = [e.data for e in events if e.kind == "chunk"]
    assert {chunk["source"] for chunk in chunks} == {"writer", "critic"}
    text = "".join(chunk["content"] for chunk in chunks)
    assert text == "**writer:** Roses are red.\n\n**critic:** APPROVE"
    assert events[-1].data["message"] == text
    assert reply == text


async def _whole_reply(host: AgentHost, fake_openai: FakeOpenAI) -> str:
    fake_openai.add(FakeReply(content="Roses are red."), FakeReply(content="APPROVE"))
    return (await host.chat("writer-critic", "A poem")).content
