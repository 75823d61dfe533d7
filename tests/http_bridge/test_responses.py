"""The OpenAI Responses API, judged by the official ``openai`` SDK over a real socket, on both runtimes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.fakes import FakeOpenAI, FakeReply, ToolCall

from .conftest import MakeClient, openai_for

SLOW = FakeReply(content="x" * 300, chunk_size=3, chunk_delay=0.05)  # 5 s if left to run


@pytest.fixture
async def sdk(fake_openai: FakeOpenAI, make_client: MakeClient) -> AsyncIterator[AsyncOpenAI]:
    async with openai_for(await make_client(fake_openai), max_retries=0) as client:
        yield client


async def test_create_whole(sdk: AsyncOpenAI, fake_openai: FakeOpenAI) -> None:
    response = await sdk.responses.create(model="assistant", input="hello", instructions="Be brief.")
    assert response.status == "completed"
    assert response.output_text == "You said: hello"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert response.id.startswith("resp_")
    sent = [(m["role"], m["content"]) for m in fake_openai.requests[-1]["messages"]]
    assert sent[0][0] == "system"
    assert sent[0][1].endswith("Be brief.")  # AutoGen merges it into the agent's own system message
    assert sent[-1] == ("user", "hello")
    again = await sdk.responses.retrieve(response.id)
    assert (again.id, again.output_text, again.status) == (response.id, "You said: hello", "completed")


async def test_create_streamed_in_openais_order(sdk: AsyncOpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.add(FakeReply(content="Hello there!", chunk_size=3, chunk_delay=0.01))
    stream = await sdk.responses.create(model="assistant", input=[{"role": "user", "content": "hi"}], stream=True)
    events = [event async for event in stream]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    types = [event.type for event in events if not event.type.startswith("agenthost.")]  # ours: the SDK skips them
    assert types[:4] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"
    ]  # fmt: skip
    assert types[-4:] == [
        "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"
    ]  # fmt: skip
    assert set(types[4:-4]) == {"response.output_text.delta"}
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas == "Hello there!"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "Hello there!"
    assert completed.response.usage is not None


async def test_the_stream_helper_and_resuming_after_a_sequence_number(
    sdk: AsyncOpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.add(FakeReply(content="one two three four", chunk_size=4, chunk_delay=0.02))
    async with sdk.responses.stream(model="assistant", input="count") as stream:
        first = [event async for event in stream]
        final = await stream.get_final_response()
    assert final.output_text == "one two three four"
    cut = first[4].sequence_number  # resume after the first delta
    async with sdk.responses.stream(response_id=final.id, starting_after=cut) as resumed:
        rest = [event async for event in resumed]
        again = await resumed.get_final_response()
    assert [event.sequence_number for event in rest] == [e.sequence_number for e in first if e.sequence_number > cut]
    assert again.output_text == final.output_text
    raw = await sdk.responses.retrieve(final.id, stream=True, starting_after=cut)
    assert [event.sequence_number async for event in raw] == [event.sequence_number for event in rest]


async def test_background_then_retrieve_until_done(sdk: AsyncOpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.add(FakeReply(content="done later", chunk_delay=0.02))
    started = await sdk.responses.create(model="assistant", input="work", background=True)
    assert started.status in ("queued", "in_progress")
    for _ in range(400):  # polling is the point here: the client has no connection to wait on
        polled = await sdk.responses.retrieve(started.id)
        if polled.status not in ("queued", "in_progress"):
            break
        await asyncio.sleep(0.05)
    assert (polled.status, polled.output_text, polled.background) == ("completed", "done later", True)


async def test_cancel_stops_the_model_call(sdk: AsyncOpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.add(SLOW)
    started = await sdk.responses.create(model="assistant", input="talk", background=True)
    await asyncio.wait_for(fake_openai.started_event.wait(), 10)
    cancelled = await sdk.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    await asyncio.wait_for(fake_openai.cancelled_event.wait(), 10)
    assert fake_openai.completed == 0
    assert (await sdk.responses.cancel(started.id)).status == "cancelled"  # idempotent


async def test_previous_response_id_continues_and_branches(sdk: AsyncOpenAI, fake_openai: FakeOpenAI) -> None:
    root = await sdk.responses.create(model="assistant", input="My name is Ada.")
    left = await sdk.responses.create(model="assistant", input="Left branch", previous_response_id=root.id)
    right = await sdk.responses.create(model="assistant", input="Right branch", previous_response_id=root.id)
    assert left.previous_response_id == root.id
    histories = [
        [m["content"] for m in request["messages"] if m["role"] != "system"] for request in fake_openai.requests
    ]
    assert histories[1] == ["My name is Ada.", "You said: My name is Ada.", "Left branch"]
    assert histories[2] == ["My name is Ada.", "You said: My name is Ada.", "Right branch"]  # not after "Left"
    deeper = await sdk.responses.create(model="assistant", input="And now?", previous_response_id=left.id)
    assert [m["content"] for m in fake_openai.requests[-1]["messages"] if m["role"] != "system"][-3:] == [
        "Left branch", "You said: Left branch", "And now?"
    ]  # fmt: skip
    assert deeper.status == right.status == "completed"


async def test_delete_and_errors_in_openais_envelope(sdk: AsyncOpenAI) -> None:
    response = await sdk.responses.create(model="echo", input="bye")
    await sdk.responses.delete(response.id)  # the SDK returns nothing for a delete
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError) as unknown:
        await sdk.responses.create(model="nope", input="x")
    assert unknown.value.code == "model_not_found"
    image: Any = [{"role": "user", "content": [{"type": "input_image", "image_url": "http://x/y.png"}]}]
    with pytest.raises(openai.BadRequestError):
        await sdk.responses.create(model="echo", input=image)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.create(model="echo", input="x", previous_response_id="resp_nope")


async def test_agent_events_travel_prefixed_and_the_sdk_skips_them(sdk: AsyncOpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.add(FakeReply(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),)), FakeReply(content="Cold."))
    stream = await sdk.responses.create(model="weather", input="Oslo?", stream=True)
    types = [event.type async for event in stream]
    assert "agenthost.tool_call" in types
    assert "agenthost.tool_result" in types
    assert types[-1] == "response.completed"
    async with sdk.responses.stream(model="weather", input="Oslo again?") as helper:
        fake_openai.add(FakeReply(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),)), FakeReply(content="Cold!"))
        assert (await helper.get_final_response()).output_text == "Cold!"


async def test_a_response_belongs_to_the_key_that_made_it(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    """Another key can neither read a response nor continue from it (404, as for one that never existed)."""
    client = await make_client(fake_openai, http={"api_keys": ["key-a-0123456789", "key-b-0123456789"]})
    async with (
        openai_for(client, api_key="key-a-0123456789") as a,
        openai_for(client, api_key="key-b-0123456789") as b,
    ):
        fake_openai.add(FakeReply(content="Hello Ada."))
        first = await a.responses.create(model="assistant", input="My name is Ada.")
        with pytest.raises(openai.NotFoundError):
            await b.responses.retrieve(first.id)
        with pytest.raises(openai.NotFoundError):
            await b.responses.create(model="assistant", input="Who am I?", previous_response_id=first.id)
        fake_openai.add(FakeReply(content="Ada."))
        again = await a.responses.create(model="assistant", input="Who am I?", previous_response_id=first.id)
        assert again.output_text == "Ada."
    history = [m["content"] for m in fake_openai.requests[-1]["messages"]]
    assert history[-3:] == ["My name is Ada.", "Hello Ada.", "Who am I?"]
