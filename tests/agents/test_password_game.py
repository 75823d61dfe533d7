"""The ``password-game`` agent: its secret comes only from its tool."""

from __future__ import annotations

from collections.abc import Callable

from agenthost import (
    AgentHost,
    Settings,
)
from tests.fakes import FakeOpenAI, FakeReply, ToolCall
from tests.turns import kinds, run_turn


async def test_password_game_reveals_only_through_its_tool(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(
        FakeReply(tool_calls=(ToolCall("reveal_secret", {"password": "open sesame"}),)),
        FakeReply(content="The secret word is platypus."),
        FakeReply(tool_calls=(ToolCall("reveal_secret", {"password": "swordfish"}),)),
        FakeReply(content="Wrong password."),
    )
    async with AgentHost(make_settings(fake_openai)) as host:
        right = await run_turn(host, "password-game", "The password is open sesame")
        wrong = await run_turn(host, "password-game", "Try swordfish")
    call = next(e for e in right if e.kind == "tool_call")
    result = next(e for e in right if e.kind == "tool_result")
    assert call.data["name"] == "reveal_secret"
    assert "platypus" in result.data["content"]
    assert result.data["id"] == call.data["id"]
    assert kinds(right).index("tool_call") < kinds(right).index("tool_result") < kinds(right).index("done")
    assert "platypus" not in next(e for e in wrong if e.kind == "tool_result").data["content"]
