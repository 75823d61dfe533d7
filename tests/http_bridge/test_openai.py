"""The OpenAI-compatible facade, driven by the real ``openai`` SDK over a real socket."""

from __future__ import annotations

import json

import openai
import pytest
from openai import AsyncOpenAI

from tests.fakes import FakeOpenAI, FakeReply

from .conftest import Client, MakeClient, openai_for
from .sse_client import events


async def test_models_list_and_retrieve(sdk: AsyncOpenAI) -> None:
    models = [model async for model in sdk.models.list()]
    assert "echo" in {model.id for model in models}
    assert all(model.object == "model" and model.owned_by == "agenthost" for model in models)
    echo = await sdk.models.retrieve("echo")
    assert echo.id == "echo"


async def test_unknown_model_is_not_found(sdk: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.models.retrieve("nope")
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as again:
        await sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert again.value.code == "model_not_found"
    assert again.value.param == "model"


async def test_completion_is_a_full_chat_completion(sdk: AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(
        model="echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "world"}]},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "echo"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "hello world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


async def test_completion_from_a_model_agent_gets_the_history(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    async with openai_for(await make_client(fake_openai)) as sdk:
        fake_openai.add(FakeReply(content="the answer", prompt_tokens=5, completion_tokens=3))
        completion = await sdk.chat.completions.create(
            model="assistant",
            messages=[
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "q2"},
            ],
        )
    assert completion.choices[0].message.content == "the answer"
    assert completion.usage is not None
    sent = [message["content"] for message in fake_openai.requests[-1]["messages"]]
    assert sent[-3:] == ["q1", "a1", "q2"]  # stateless: the whole history reached the model


async def test_model_usage_reaches_the_completion(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    async with openai_for(await make_client(fake_openai)) as sdk:
        fake_openai.add(FakeReply(content="the answer", prompt_tokens=5, completion_tokens=3))
        completion = await sdk.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "q"}])
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 3)


async def test_streamed_completion_wire_format(sdk: AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({(chunk.id, chunk.created, chunk.model) for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "one two three"
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert all(chunk.choices[0].finish_reason is None for chunk in with_choices[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None


async def test_raw_stream_ends_with_done_and_no_usage_unless_asked(client: Client) -> None:
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    frames = await events(response)
    assert frames[-1].data == "[DONE]"
    payloads = [frame.json() for frame in frames[:-1]]
    assert all(payload["choices"] for payload in payloads)
    assert all("usage" not in payload for payload in payloads)


async def test_bad_request_and_error_classes(sdk: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="echo", messages=[])
    assert caught.value.param == "messages"
    with pytest.raises(openai.InternalServerError):  # 503: the assistant has no model backend here
        await sdk.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "hi"}])


async def test_error_after_the_stream_started_is_an_error_frame(sdk: AsyncOpenAI, client: Client) -> None:
    stream = await sdk.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="model"):
        async for _ in stream:
            pass
    body = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    frames = await events(await client.post("/v1/chat/completions", json=body))
    error = json.loads(frames[-1].data)["error"]
    assert error["code"] == "model_not_configured"
    assert set(error) == {"message", "type", "param", "code"}


async def test_no_retry_where_the_agent_would_run_twice(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    # long enough for a fresh gRPC worker to reach its first model call, short against the 4 s reply
    client = await make_client(fake_openai, timeouts={"request": 1.5, "cancel": 0.5})
    fake_openai.add(*[FakeReply(content="x" * 40, chunk_size=1, chunk_delay=0.1)] * 3)
    async with openai_for(client, max_retries=2) as sdk:
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 504
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(fake_openai.requests) == 1


async def test_a_reply_cut_at_the_cap_says_length_on_both_apis(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    client = await make_client(fake_openai)
    fake_openai.add(*[FakeReply(content="Once upon a", finish_reason="length") for _ in range(3)])
    async with openai_for(client) as sdk:
        whole = await sdk.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "go"}])
        stream = await sdk.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "go"}], stream=True
        )
        finishes = [chunk.choices[0].finish_reason async for chunk in stream if chunk.choices]
    assert whole.choices[0].finish_reason == "length"
    assert finishes[-1] == "length"
    native = await client.post("/api/chat/stream", json={"message": "go", "agent": "assistant"})
    done = [e for e in await events(native) if e.event == "done"]
    assert done[0].json()["finish_reason"] == "length"


async def test_max_tokens_and_temperature_are_honoured(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    async with openai_for(await make_client(fake_openai)) as sdk:
        await sdk.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "q"}], max_tokens=5, temperature=0.5
        )
        assert (fake_openai.requests[-1]["max_tokens"], fake_openai.requests[-1]["temperature"]) == (5, 0.5)
        await sdk.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "q"}], max_completion_tokens=7
        )
        assert fake_openai.requests[-1]["max_tokens"] == 7
        echo = await sdk.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "a b c d e f g"}], max_tokens=3
        )
        assert (echo.choices[0].message.content, echo.choices[0].finish_reason) == ("a b c ", "length")
        with pytest.raises(openai.BadRequestError) as bad:
            await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}], temperature=3)
        assert bad.value.param == "temperature"


async def test_a_team_reads_the_same_streamed_and_whole(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    replies = (FakeReply(content="Roses are red."), FakeReply(content="APPROVE"))
    async with openai_for(await make_client(fake_openai)) as sdk:
        fake_openai.add(*replies)
        whole = await sdk.chat.completions.create(model="writer-critic", messages=[{"role": "user", "content": "poem"}])
        fake_openai.add(*replies)
        stream = await sdk.chat.completions.create(
            model="writer-critic", messages=[{"role": "user", "content": "poem"}], stream=True
        )
        streamed = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert streamed == whole.choices[0].message.content == "**writer:** Roses are red.\n\n**critic:** APPROVE"
