"""The offline model client, on the real SmolLM2-135M model (no mocks).

Generation is capped at a few dozen tokens; the model streams 60-100 tokens/s here.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ModelClientStreamingChunkEvent, TextMessage
from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    AssistantMessage,
    CreateResult,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)

from host.errors import ModelNotConfigured
from host.local_model import (
    THREAD_NAME,
    LocalChatCompletionClient,
    default_model_path,
    local_model_available,
    to_llama_messages,
)
from host.settings import ModelSettings

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.local_model

HELLO: list[LLMMessage] = [UserMessage(content="Say hello", source="user")]
STORY: list[LLMMessage] = [UserMessage(content="Write a very long story about a dragon and a knight.", source="user")]
LONG = {"max_tokens": 400}


@pytest.fixture
async def client() -> AsyncIterator[LocalChatCompletionClient]:
    # One llama.cpp thread: on a busy 2-core machine, two spinning threads are several times slower.
    model = LocalChatCompletionClient.from_settings(ModelSettings(max_tokens=32, temperature=0.0, local_threads=1))
    yield model
    await model.close()


def generation_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD_NAME]


def assert_threads_stop() -> None:
    for thread in generation_threads():
        thread.join(timeout=2.0)
        assert not thread.is_alive(), "the generation thread kept running"


async def test_create_returns_text_and_usage(client: LocalChatCompletionClient) -> None:
    result = await client.create(HELLO)
    assert isinstance(result.content, str)
    assert result.content.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.usage.prompt_tokens > 0
    assert 0 < result.usage.completion_tokens <= 32
    assert result.cached is False
    assert client.total_usage() == result.usage == client.actual_usage()


async def test_create_stream_yields_chunks_then_result(client: LocalChatCompletionClient) -> None:
    items = [item async for item in client.create_stream(STORY)]
    *chunks, result = items
    assert len(chunks) >= 3
    assert all(isinstance(chunk, str) and chunk for chunk in chunks)
    assert isinstance(result, CreateResult)
    assert result.content == "".join(str(chunk) for chunk in chunks)
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 32
    assert result.usage.prompt_tokens > 0


async def test_cancellation_token_stops_generation(client: LocalChatCompletionClient) -> None:
    token = CancellationToken()
    chunks: list[str] = []
    cancelled_at = 0.0

    async def consume() -> None:
        nonlocal cancelled_at
        async for item in client.create_stream(STORY, extra_create_args=LONG, cancellation_token=token):
            assert isinstance(item, str)
            chunks.append(item)
            if len(chunks) == 3:
                cancelled_at = time.monotonic()
                token.cancel()

    with pytest.raises(asyncio.CancelledError):
        await consume()
    assert time.monotonic() - cancelled_at < 2.0  # One token's time, normally a few milliseconds.
    assert_threads_stop()
    generated = client.total_usage().completion_tokens
    assert len(chunks) < 50
    assert generated <= len(chunks) + 3 < LONG["max_tokens"]


async def test_cancelling_the_consumer_stops_generation(client: LocalChatCompletionClient) -> None:
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
    assert_threads_stop()
    assert client.total_usage().completion_tokens < 50


async def test_closing_the_stream_stops_generation(client: LocalChatCompletionClient) -> None:
    stream = client.create_stream(STORY, extra_create_args=LONG)
    first = await anext(stream)
    assert isinstance(first, str)
    await asyncio.wait_for(stream.aclose(), timeout=2)
    assert_threads_stop()
    assert client.total_usage().completion_tokens < 50
    again = await client.create(HELLO)  # The lock was released: the client is usable again.
    assert again.content


async def test_errors_reach_the_consumer() -> None:
    small = LocalChatCompletionClient.from_settings(ModelSettings(local_context=256, local_threads=1))
    too_long: list[LLMMessage] = [UserMessage(content="hello " * 400, source="user")]
    with pytest.raises(ValueError, match="context window"):
        await small.create(too_long)
    assert (await small.create(HELLO, extra_create_args={"max_tokens": 8})).content  # Still usable.
    await small.close()


async def test_already_cancelled_token(client: LocalChatCompletionClient) -> None:
    token = CancellationToken()
    token.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.create(HELLO, cancellation_token=token)
    assert client.total_usage().completion_tokens == 0


async def test_one_generation_at_a_time(client: LocalChatCompletionClient) -> None:
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, len(generation_threads()))
            await asyncio.sleep(0.002)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(client.create(HELLO), client.create(STORY))
    watcher.cancel()
    assert all(result.content for result in results)
    assert most == 1


@pytest.mark.parametrize("with_tools", [False, True])
async def test_assistant_agent_streams(client: LocalChatCompletionClient, with_tools: bool) -> None:
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


async def test_json_output_is_refused(client: LocalChatCompletionClient) -> None:
    with pytest.raises(ValueError, match="JSON"):
        await client.create(HELLO, json_output=True)


async def test_tokens_and_model_info(client: LocalChatCompletionClient) -> None:
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


def test_local_model_available(tmp_path: Path) -> None:
    assert default_model_path() is not None
    assert local_model_available(ModelSettings())
    missing = ModelSettings(local_model_path=tmp_path / "missing.gguf")
    assert not local_model_available(missing)
    with pytest.raises(ModelNotConfigured):
        LocalChatCompletionClient.from_settings(missing)


def test_message_conversion() -> None:
    call = FunctionCall(id="1", name="get_time", arguments="{}")
    messages: list[LLMMessage] = [
        SystemMessage(content="Be brief."),
        UserMessage(content=["look:", "here"], source="user"),
        AssistantMessage(content=[call], source="assistant"),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(content="noon", call_id="1", name="get_time")]),
        AssistantMessage(content="It is noon.", source="assistant"),
    ]
    assert to_llama_messages(messages) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "look:\nhere"},
        {"role": "assistant", "content": "I called get_time({})."},
        {"role": "user", "content": "Tool results:\nget_time: noon"},
        {"role": "assistant", "content": "It is noon."},
    ]
