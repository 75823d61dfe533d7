"""A failed or cancelled turn leaves no trace: not in the live instance, not in the store.

The store failing is one way a turn fails: Redis is killed mid-conversation and started again
(with its data), and the conversation goes on from the last turn the client saw succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from agenthost import AgentHost, RuntimeUnavailable, Settings
from agenthost.messages import StreamEvent
from agenthost.state import MemoryStateStore
from tests.cluster import redis_server
from tests.fakes import FakeOpenAI, FakeReply


def _turn(events: list[StreamEvent]) -> int:
    return int(next(e for e in events if e.kind == "message").data["turn"])


async def _echo_turn(host: AgentHost, conversation_id: str) -> int:
    return _turn([e async for e in host.stream("echo", "hi", conversation_id=conversation_id)])


class FlakyStore(MemoryStateStore):
    """A memory store whose next ``fail`` writes (of keys ending in ``only``) raise, as an unreachable Redis does."""

    def __init__(self, only: str = "") -> None:
        super().__init__()
        self.fail = 0
        self.only = only

    async def put(self, key: str, state: Mapping[str, Any]) -> None:
        if self.fail and key.endswith(self.only):
            self.fail -= 1
            raise RuntimeUnavailable("the state store is down")
        await super().put(key, state)


def _use(host: AgentHost, store: MemoryStateStore) -> None:
    host.store = store
    assert host._deps is not None
    object.__setattr__(host._deps, "store", store)


async def test_a_turn_whose_save_fails_is_rolled_back(make_settings: Callable[..., Settings]) -> None:
    async with AgentHost(make_settings(agents=["echo"])) as host:
        store = FlakyStore()
        _use(host, store)
        store.fail = 1
        with pytest.raises(RuntimeUnavailable):
            await host.chat("echo", "first", conversation_id="c1")  # the very first turn fails to save
        assert await _echo_turn(host, "c1") == 1  # back to the state of a new conversation
        store.fail = 1
        with pytest.raises(RuntimeUnavailable):
            await host.chat("echo", "again", conversation_id="c1")
        assert await _echo_turn(host, "c1") == 2
        assert await store.get("echo/c1") == {"turns": 2}


@pytest.mark.redis
async def test_redis_restarted_mid_conversation(
    tmp_path: Path, fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    async with redis_server(tmp_path, persistent=True) as redis:
        settings = make_settings(fake_openai, state={"store": "redis", "redis_url": redis.url})
        async with AgentHost(settings) as host:
            assert await _echo_turn(host, "c1") == 1
            await host.chat("assistant", "My name is Ada.", conversation_id="c2")
            await redis.stop()
            with pytest.raises(RuntimeUnavailable):
                await host.chat("echo", "lost", conversation_id="c1")
            with pytest.raises(RuntimeUnavailable):
                await host.chat("assistant", "I like tea.", conversation_id="c2")
            await redis.start()  # the same port, the same data
            assert await _echo_turn(host, "c1") == 2  # not 3: the failed turn is gone
            await host.chat("assistant", "What do I like?", conversation_id="c2")
            assert host.store is not None
            assert await host.store.get("echo/c1") == {"turns": 2}
    history = [m["content"] for m in fake_openai.requests[-1]["messages"]]
    assert "My name is Ada." in history
    assert "I like tea." not in history  # the model never sees the failed turn again
    assert history[-1] == "What do I like?"


async def test_a_cancelled_turn_is_rolled_back(fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]) -> None:
    fake_openai.add(
        FakeReply(content="Hello Ada."),
        FakeReply(content="x" * 400, chunk_size=1, chunk_delay=0.02),
    )
    async with AgentHost(make_settings(fake_openai)) as host:
        await host.chat("assistant", "My name is Ada.", conversation_id="c3")
        async for event in host.stream("assistant", "Forget my name.", conversation_id="c3"):
            if event.kind == "chunk":
                break  # the client leaves mid-answer: the turn is cancelled
        async with asyncio.timeout(10):
            await fake_openai.cancelled_event.wait()
        await host.chat("assistant", "Who am I?", conversation_id="c3")
    history = [m["content"] for m in fake_openai.requests[-1]["messages"]]
    assert "Forget my name." not in history
    assert history[-3:] == ["My name is Ada.", "Hello Ada.", "Who am I?"]


async def test_the_state_is_saved_before_done_is_sent(make_settings: Callable[..., Settings]) -> None:
    """The order the docs promise: a client that saw ``done`` can count on the turn being kept."""
    async with AgentHost(make_settings(agents=["echo"])) as host:
        assert host.store is not None
        for expected in (1, 2, 3):
            async for event in host.stream("echo", "hi", conversation_id="c4"):
                if event.kind == "done":
                    assert await host.store.get("echo/c4") == {"turns": expected}


@pytest.mark.parametrize("failing", ["#transcript", "c5"])
async def test_a_full_history_turn_whose_save_fails_is_rolled_back(
    failing: str, fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    """An OpenAI client's conversation (the whole history each time): either write failing loses the turn."""
    fake_openai.add(FakeReply(content="Hello Ada."), FakeReply(content="Noted."), FakeReply(content="Tea."))
    u1 = {"role": "user", "content": "My name is Ada."}
    a1 = {"role": "assistant", "content": "Hello Ada."}

    async def turn(host: AgentHost, *messages: dict[str, str]) -> str:
        request = host.request("assistant", list(messages), "c5", stream=False, full_history=True)
        return (await host.chat_request(request)).content

    async with AgentHost(make_settings(fake_openai)) as host:
        store = FlakyStore(only=failing)
        _use(host, store)
        assert await turn(host, u1) == "Hello Ada."
        store.fail = 1
        with pytest.raises(RuntimeUnavailable):
            await turn(host, u1, a1, {"role": "user", "content": "I like coffee."})
        assert await turn(host, u1, a1, {"role": "user", "content": "I like tea."}) == "Tea."
    history = [m["content"] for m in fake_openai.requests[-1]["messages"]]
    assert "I like coffee." not in history
    assert "Noted." not in history
    assert history[-3:] == ["My name is Ada.", "Hello Ada.", "I like tea."]
    assert history.count("My name is Ada.") == 1
