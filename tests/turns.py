"""Helpers for tests that run turns on an ``AgentHost``."""

from __future__ import annotations

from agenthost import AgentHost, StreamEvent


async def run_turn(host: AgentHost, agent: str, text: str, conversation: str | None = None) -> list[StreamEvent]:
    """Every event of one streamed turn."""
    return [event async for event in host.stream(agent, text, conversation_id=conversation)]


def kinds(events: list[StreamEvent]) -> list[str]:
    return [event.kind for event in events]
