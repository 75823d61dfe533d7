"""The generic AgentChat adapter: chunks, messages, finish reasons and per-request options."""

from __future__ import annotations

from collections.abc import Callable

from autogen_agentchat.agents import AssistantAgent
from autogen_core.model_context import ChatCompletionContext

from agenthost import (
    AgentHost,
    AgentRegistry,
    Settings,
    get_default_model,
)
from agenthost.messages import GenerationOptions
from tests.fakes import FakeOpenAI, FakeReply, ToolCall
from tests.turns import run_turn


async def test_a_reply_cut_at_the_token_cap_says_length(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(FakeReply(content="Once upon", finish_reason="length"), FakeReply(content="fine"))
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await run_turn(host, "assistant", "A long story")
        assert events[-1].data["finish_reason"] == "length"
        assert (await host.chat("assistant", "A short one")).finish_reason == "stop"


async def test_request_options_reach_every_model_call_of_the_turn(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(FakeReply(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),)), FakeReply(content="Cold."))
    options = GenerationOptions(max_tokens=5, temperature=0.25)
    async with AgentHost(make_settings(fake_openai)) as host:
        await host.chat("weather", "Oslo?", options=options)
        await host.chat("weather", "again, no options")
    assert [(r.get("max_tokens"), r.get("temperature")) for r in fake_openai.requests[:2]] == [(5, 0.25)] * 2
    assert "max_tokens" not in fake_openai.requests[-1]


async def test_an_agent_that_does_not_stream_still_sends_its_text_as_chunks(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    registry = AgentRegistry()

    def create_agent(user_message: str, context: ChatCompletionContext) -> AssistantAgent:
        return AssistantAgent("quiet", model_client=get_default_model(), model_context=context)

    registry.add_agent("quiet", create_agent)
    async with AgentHost(make_settings(fake_openai), registry=registry) as host:
        events = await run_turn(host, "quiet", "hi")
    assert [(e.data["content"], e.data["source"]) for e in events if e.kind == "chunk"] == [("You said: hi", "quiet")]
    assert events[-1].data["message"] == "You said: hi"
