from __future__ import annotations

from collections.abc import Callable

from host import AgentHost, Settings
from tests.fakes import FakeOpenAI


async def test_echo_chat(host: AgentHost) -> None:
    reply = await host.chat("echo", "hello there")
    assert reply.content == "hello there"


async def test_assistant_on_fake_backend(fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]) -> None:
    async with AgentHost(make_settings(fake_openai)) as host:
        events = [e async for e in host.stream("assistant", "hi")]
    kinds = [e.kind for e in events]
    assert kinds[0] == "status"
    assert kinds[-1] == "done"
    assert "".join(e.data["content"] for e in events if e.kind == "chunk") == "You said: hi"
