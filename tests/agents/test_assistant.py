"""The ``assistant`` agent on the fake OpenAI-compatible backend."""

from __future__ import annotations

from collections.abc import Callable

from agenthost import (
    AgentHost,
    Settings,
)
from tests.fakes import FakeOpenAI, FakeReply
from tests.turns import kinds, run_turn


async def test_assistant_streams_tokens(fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]) -> None:
    fake_openai.add(FakeReply(content="Hello, how can I help?", chunk_size=3, chunk_delay=0.01))  # a model paces tokens
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await run_turn(host, "assistant", "hi")
    chunks = [e.data["content"] for e in events if e.kind == "chunk"]
    assert len(chunks) >= 5
    assert "".join(chunks) == "Hello, how can I help?"
    assert kinds(events)[-2:] == ["message", "done"]
    assert events[-1].data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    assert fake_openai.requests[0]["stream"] is True
