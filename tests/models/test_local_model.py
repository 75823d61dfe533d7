"""The offline model, on the real SmolLM2-135M model in its own process (no mocks).

Generation is capped at a few dozen tokens; the model streams 40-60 tokens/s here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ModelClientStreamingChunkEvent, TextMessage
from autogen_core import CancellationToken
from autogen_core.models import CreateResult, LLMMessage, UserMessage

from agenthost.errors import ModelFailed, ModelNotConfigured
from agenthost.models.local import LocalModelClient, LocalModelProcess, default_model_path, local_model_available
from agenthost.settings import ModelSettings

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(not local_model_available(ModelSettings()), reason="the local extra is not installed"),
]

HELLO: list[LLMMessage] = [UserMessage(content="Say hello", source="user")]
STORY: list[LLMMessage] = [UserMessage(content="Write a very long story about a dragon and a knight.", source="user")]
LONG = {"max_tokens": 400}


@pytest.fixture
async def client() -> AsyncIterator[LocalModelClient]:
    # One llama.cpp thread: on a busy 2-core machine, two spinning threads are several times slower.
    model = LocalModelClient.from_settings(ModelSettings(max_tokens=32, temperature=0.0, local_threads=1))
    yield model
    await model.close()


async def wait_idle(process: LocalModelProcess, generations: int) -> dict[str, int]:
    """The process's stats once ``generations`` generations have ended (each ends within a token of its stop)."""
    for _ in range(100):
        stats = await process.stats()
        if stats["generations"] >= generations and stats.get("running", 0) == 0:
            return stats
        await asyncio.sleep(0.05)
    raise AssertionError(f"generation did not stop: {stats}")


async def test_create_returns_text_and_usage(client: LocalModelClient) -> None:
    result = await client.create(HELLO)
    assert isinstance(result.content, str)
    assert result.content.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.usage.prompt_tokens > 0
    assert 0 < result.usage.completion_tokens <= 32
    assert result.cached is False
    assert client.total_usage() == result.usage == client.actual_usage()


async def test_create_stream_yields_chunks_then_result(client: LocalModelClient) -> None:
    items = [item async for item in client.create_stream(STORY)]
    *chunks, result = items
    assert len(chunks) >= 3
    assert all(isinstance(chunk, str) and chunk for chunk in chunks)
    assert isinstance(result, CreateResult)
    assert result.content == "".join(str(chunk) for chunk in chunks)
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 32
    assert result.usage.prompt_tokens > 0


async def test_cancellation_token_stops_generation(client: LocalModelClient) -> None:
    token = CancellationToken()
    chunks: list[str] = []

    async def consume() -> None:
        async for item in client.create_stream(STORY, extra_create_args=LONG, cancellation_token=token):
            assert isinstance(item, str)
            chunks.append(item)
            if len(chunks) == 3:
                token.cancel()

    with pytest.raises(asyncio.CancelledError):
        await consume()
    stats = await wait_idle(client.process, 1)
    assert stats["stopped_early"] == 1
    assert stats["tokens"] < 50 < LONG["max_tokens"]


async def test_cancelling_the_consumer_stops_generation(client: LocalModelClient) -> None:
    three_chunks = asyncio.Event()

    async def consume() -> None:
        count = 0
        async for _ in client.create_stream(STORY, extra_create_args=LONG):
            count += 1
            if count == 3:
                three_chunks.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three_chunks.wait(), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    stats = await wait_idle(client.process, 1)
    assert stats["stopped_early"] == 1
    assert stats["tokens"] < 50


async def test_closing_the_stream_stops_generation(client: LocalModelClient) -> None:
    stream = client.create_stream(STORY, extra_create_args=LONG)
    first = await anext(stream)
    assert isinstance(first, str)
    await asyncio.wait_for(stream.aclose(), timeout=2)
    stats = await wait_idle(client.process, 1)
    assert stats["tokens"] < 50
    again = await client.create(HELLO)  # the model is free again
    assert again.content


async def test_errors_reach_the_consumer() -> None:
    small = LocalModelClient.from_settings(ModelSettings(local_context=256, local_threads=1))
    too_long: list[LLMMessage] = [UserMessage(content="hello " * 400, source="user")]
    with pytest.raises(openai.BadRequestError, match="context window"):
        await small.create(too_long)
    assert (await small.create(HELLO, extra_create_args={"max_tokens": 8})).content  # still usable
    await small.close()


async def test_already_cancelled_token(client: LocalModelClient) -> None:
    token = CancellationToken()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.create(HELLO, cancellation_token=token)
    assert client.total_usage().completion_tokens == 0


async def test_concurrent_generations_take_turns(client: LocalModelClient) -> None:
    results = await asyncio.gather(client.create(HELLO), client.create(STORY))
    assert all(result.content for result in results)
    stats = await client.process.stats()
    assert stats["generations"] == 2
    assert stats["most_at_once"] == 1  # llama.cpp is not thread-safe: one generation at a time


async def test_request_options_cap_and_temperature(client: LocalModelClient) -> None:
    result = await client.create(STORY, extra_create_args={"max_tokens": 5, "temperature": 0.0})
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 5


@pytest.mark.parametrize("with_tools", [False, True])
async def test_assistant_agent_streams(client: LocalModelClient, with_tools: bool) -> None:
    def get_time() -> str:
        """The current time."""
        return "noon"

    agent = AssistantAgent(
        "assistant", model_client=client, model_client_stream=True, tools=[get_time] if with_tools else None
    )
    events = [event async for event in agent.run_stream(task="Say hello")]
    streamed = [event for event in events if isinstance(event, ModelClientStreamingChunkEvent)]
    replies = [event for event in events if isinstance(event, TextMessage) and event.source == "assistant"]
    assert streamed
    assert len(replies) == 1
    assert replies[0].content == "".join(event.content for event in streamed)


async def test_json_output_is_refused(client: LocalModelClient) -> None:
    with pytest.raises(ValueError, match="JSON"):
        await client.create(HELLO, json_output=True)


async def test_tokens_and_model_info(client: LocalModelClient) -> None:
    count = client.count_tokens(HELLO)
    assert 0 < count < 10
    assert client.remaining_tokens(HELLO) == 2048 - count
    info = client.model_info
    assert info["function_calling"] is True
    assert info["vision"] is False
    assert info["json_output"] is False
    assert info["structured_output"] is False
    assert info["family"] == "unknown"
    assert dict(client.capabilities) == dict(info)


async def test_llama_cpp_never_loads_in_the_host_process(client: LocalModelClient) -> None:
    await client.create(HELLO)
    assert "llama_cpp" not in sys.modules
    assert client.process.pid not in (None, os.getpid())


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL])
async def test_a_crash_mid_generation_fails_the_turn_with_its_cause_and_the_model_comes_back(
    client: LocalModelClient, sig: signal.Signals
) -> None:
    stream = client.create_stream(STORY, extra_create_args=LONG)
    assert isinstance(await anext(stream), str)
    pid = client.process.pid
    assert pid is not None
    os.kill(pid, sig)
    with pytest.raises(ModelFailed, match=f"died during generation.*{sig.name}"):
        async for _ in stream:
            pass
    again = await asyncio.wait_for(client.create(HELLO), timeout=60)  # restarted: a new process serves
    assert again.content
    assert client.process.pid not in (None, pid)


async def test_a_crash_loop_stops_restarting(client: LocalModelClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agenthost.models.local.process.MAX_CRASHES", 2)
    for _ in range(2):
        await client.create(HELLO, extra_create_args={"max_tokens": 2})
        pid = client.process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if client.process.pid != pid:
                break
            await asyncio.sleep(0.05)
    with pytest.raises(ModelFailed, match="crashed 2 times"):
        await client.create(HELLO)


def test_local_model_available(tmp_path: Path) -> None:
    assert default_model_path() is not None
    assert local_model_available(ModelSettings())
    missing = ModelSettings(local_model_path=tmp_path / "missing.gguf")
    assert not local_model_available(missing)
    with pytest.raises(ModelNotConfigured):
        LocalModelClient.from_settings(missing)
