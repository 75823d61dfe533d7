"""Cancellation and timeouts: leaving a stream or cancelling a task stops the model call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from autogen_core import CancellationToken

from agenthost import AgentHost, AgentRegistry, ChatReply, ChatRequest, EventEmitter, HostedAgent, Settings, TurnTimeout
from tests.fakes import FakeOpenAI, FakeReply

SLOW = FakeReply(content="x" * 400, chunk_size=1, chunk_delay=0.02)


async def test_leaving_the_stream_cancels_the_model_call(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(SLOW)
    async with AgentHost(make_settings(fake_openai)) as host:
        stream = host.stream("assistant", "tell me a long story")
        async for event in stream:
            if event.kind == "chunk":
                break
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.wait_for(fake_openai.cancelled_event.wait(), 5)
    assert fake_openai.completed == 0


async def test_cancelling_chat_task_cancels_the_model_call(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(SLOW)
    async with AgentHost(make_settings(fake_openai)) as host:
        task = asyncio.create_task(host.chat("assistant", "long story", conversation_id="c-1"))
        await asyncio.wait_for(fake_openai.started_event.wait(), 5)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(fake_openai.cancelled_event.wait(), 5)
        # the conversation is usable again at once
        assert (await host.chat("assistant", "short", conversation_id="c-1")).content == "You said: short"


class Sleeper(HostedAgent):
    """Ignores its token on purpose: only task cancellation can stop it."""

    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        await asyncio.sleep(60)
        return ChatReply(request_id=request.request_id)

    async def save_state(self) -> Mapping[str, Any]:
        return {}


async def test_a_turn_over_the_timeout_ends_with_a_timeout_error(make_settings: Callable[..., Settings]) -> None:
    registry = AgentRegistry()
    registry.add_hosted("sleeper", Sleeper, "sleeps")
    settings = make_settings(timeouts={"request": 0.3, "cancel": 0.5})
    async with AgentHost(settings, registry=registry) as host:
        with pytest.raises(TurnTimeout, match="AGENTHOST_TIMEOUTS__REQUEST"):
            await asyncio.wait_for(host.chat("sleeper", "hi"), 3)
        events = [e async for e in host.stream("sleeper", "hi")]
    assert events[-1].kind == "error"
    assert events[-1].data["code"] == "timeout"
