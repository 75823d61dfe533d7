"""The ``echo`` agent: word by word, no model; a word is its token."""

from __future__ import annotations

from agenthost import (
    AgentHost,
)
from agenthost.messages import GenerationOptions
from tests.turns import kinds, run_turn


async def test_echo_streams_the_first_word_at_once_and_the_rest_coalesced(host: AgentHost) -> None:
    events = await run_turn(host, "echo", "the quick  brown fox")
    assert kinds(events) == ["status", "chunk", "chunk", "message", "done"]
    assert [e.seq for e in events] == list(range(len(events)))
    assert [e.data["content"] for e in events if e.kind == "chunk"] == ["the ", "quick  brown fox"]
    assert events[-1].data["message"] == "the quick  brown fox"


async def test_echo_caps_its_words_at_max_tokens(host: AgentHost) -> None:
    reply = await host.chat("echo", "one two three four", options=GenerationOptions(max_tokens=2))
    assert (reply.content, reply.finish_reason) == ("one two ", "length")
    events = [e async for e in host.stream("echo", "one two", options=GenerationOptions(max_tokens=2))]
    assert events[-1].data["finish_reason"] == "stop"
