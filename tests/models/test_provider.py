"""The model provider: no backend, response cache, history window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agenthost import (
    AgentHost,
    Settings,
)
from tests.fakes import FakeOpenAI
from tests.turns import run_turn


async def test_llm_agent_without_backend_names_the_setting(host: AgentHost) -> None:
    events = await run_turn(host, "assistant", "hello")
    assert events[-1].kind == "error"
    assert events[-1].data["code"] == "model_not_configured"
    assert "AGENTHOST_MODEL__BASE_URL" in events[-1].data["message"]
    assert (await host.chat("echo", "still works")).content == "still works"


async def test_response_cache_answers_repeats_from_disk(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(fake_openai, model={"cache_dir": str(tmp_path / "cache")})
    for _ in range(2):  # a second host reads the same disk cache
        async with AgentHost(settings) as host:
            events = await run_turn(host, "assistant", "same question")
            assert events[-1].data["message"] == "You said: same question"
    assert len(fake_openai.requests) == 1


async def test_history_window_keeps_the_last_messages(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(9)]
    async with AgentHost(make_settings(fake_openai, model={"history_window": 3})) as host:
        await host.chat("assistant", history)
    sent = [m["content"] for m in fake_openai.requests[-1]["messages"] if m["role"] != "system"]
    assert sent == ["m6", "m7", "m8"]
