"""A client that leaves mid-stream cancels the agent's work: the fake model backend sees the cancellation."""

from __future__ import annotations

import asyncio

from tests.fakes import FakeOpenAI, FakeReply

from .conftest import MakeClient, openai_for
from .sse_client import frames

SLOW = FakeReply(content="x" * 400, chunk_size=1, chunk_delay=0.02)


async def test_leaving_the_native_stream_cancels_the_model_call(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(SLOW)
    response = await client.post("/api/chat/stream", json={"message": "go", "agent": "assistant"})
    seen = 0
    async for frame in frames(response):
        seen += frame.event == "chunk"
        if seen == 2:
            break
    response.close()
    await asyncio.wait_for(fake_openai.cancelled_event.wait(), 5)
    assert fake_openai.completed == 0


async def test_leaving_the_openai_stream_cancels_the_model_call(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(SLOW)
    async with openai_for(client) as sdk:
        stream = await sdk.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "go"}], stream=True
        )
        seen = 0
        async for chunk in stream:
            seen += bool(chunk.choices and chunk.choices[0].delta.content)
            if seen == 2:
                break
        await stream.close()
    await asyncio.wait_for(fake_openai.cancelled_event.wait(), 5)
    assert fake_openai.completed == 0


async def test_leaving_a_plain_chat_cancels_the_model_call(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(SLOW)
    request = asyncio.create_task(client.post("/api/chat", json={"message": "go", "agent": "assistant"}))
    await asyncio.wait_for(fake_openai.started_event.wait(), 5)
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    await asyncio.wait_for(fake_openai.cancelled_event.wait(), 5)
