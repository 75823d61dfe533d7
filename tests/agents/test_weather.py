"""The ``weather`` agent: a tool call, then a reflection on its result."""

from __future__ import annotations

from collections.abc import Callable

from agenthost import (
    AgentHost,
    Settings,
)
from tests.fakes import FakeOpenAI, FakeReply, ToolCall
from tests.turns import run_turn


async def test_weather_calls_tool_then_reflects(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(
        FakeReply(tool_calls=(ToolCall("get_weather", {"city": "Paris"}),)),
        FakeReply(content="It is sunny in Paris."),
    )
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await run_turn(host, "weather", "Weather in Paris?")
    result = next(e for e in events if e.kind == "tool_result")
    assert result.data["content"].startswith("Paris: ")
    assert events[-1].kind == "done"
    assert events[-1].data["message"] == "It is sunny in Paris."
    assert len(fake_openai.requests) == 2  # the tool call, then the reflection
    assert any(m["role"] == "tool" for m in fake_openai.requests[1]["messages"])
