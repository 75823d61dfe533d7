"""``EventEmitter``: every event once and in order; chunks coalesced at their leading edge, never held back alone."""

from __future__ import annotations

import asyncio
from typing import Any

from autogen_core import TopicId

from agenthost import ChatReply, EventEmitter
from agenthost.messages import StreamEvent


class Recorder:
    """The one runtime call an emitter makes: ``publish_message``; records each event as it is published."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []
        self.topics: set[TopicId] = set()

    async def publish_message(self, message: StreamEvent, topic_id: TopicId, **kwargs: Any) -> None:
        self.events.append(message)
        self.topics.add(topic_id)

    def chunks(self) -> list[str]:
        return [event.data["content"] for event in self.events if event.kind == "chunk"]


def emitter(window: float = 0.0) -> tuple[EventEmitter, Recorder]:
    recorder = Recorder()
    return EventEmitter(recorder, "r1", "stream", window=window), recorder  # type: ignore[arg-type]


async def test_the_first_chunk_goes_out_before_chunk_returns() -> None:
    emit, recorder = emitter()
    await emit.chunk("Hello")
    assert recorder.chunks() == ["Hello"]
    assert recorder.topics == {TopicId("stream", "r1")}


async def test_chunks_of_one_loop_pass_go_out_as_one_event_after_the_first() -> None:
    emit, recorder = emitter()
    for word in ("a", "b", "c", "d"):
        await emit.chunk(word)  # nothing in between yields: one pass
    assert recorder.chunks() == ["a"]
    await asyncio.sleep(0)  # the pass ends: what waited goes out, in order
    await asyncio.sleep(0)
    assert recorder.chunks() == ["a", "bcd"]
    assert [event.seq for event in recorder.events] == [0, 1]


async def test_a_token_at_a_time_is_an_event_per_token_at_once() -> None:
    """A model streaming token by token (an await between tokens) is never held back, and costs no task."""
    emit, recorder = emitter()
    tasks = len(asyncio.all_tasks())
    for index in range(20):
        await emit.chunk(f"t{index} ")
        assert len(recorder.events) == index + 1  # published before chunk() returned
        assert len(asyncio.all_tasks()) == tasks
        await asyncio.sleep(0)  # the next token arrives in a later pass
    assert recorder.chunks() == [f"t{index} " for index in range(20)]


async def test_another_kind_of_event_never_overtakes_waiting_chunks() -> None:
    emit, recorder = emitter()
    await emit.chunk("a")
    await emit.chunk("b")
    await emit.tool_call({"id": "1", "name": "f", "arguments": "{}"})
    await emit.chunk("c")  # the hold of "a" is still on: waits
    await emit.done(ChatReply(request_id="r1", content="abc"))
    assert [(event.kind, event.data.get("content")) for event in recorder.events] == [
        ("chunk", "a"),
        ("chunk", "b"),
        ("tool_call", None),
        ("chunk", "c"),
        ("done", None),
    ]
    assert [event.seq for event in recorder.events] == list(range(5))
    await asyncio.sleep(0.01)
    assert len(recorder.events) == 5  # nothing after the terminal event


async def test_a_new_source_flushes_the_last_ones_chunks() -> None:
    emit, recorder = emitter()
    await emit.chunk("a", source="writer")
    await emit.chunk("b", source="writer")
    await emit.chunk("c", source="critic")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [(event.data["content"], event.data.get("source")) for event in recorder.events] == [
        ("a", "writer"),
        ("b", "writer"),
        ("c", "critic"),
    ]


async def test_with_a_window_chunks_wait_at_most_the_window_and_a_quiet_spell_resets_it() -> None:
    """gRPC workers: one event per window while tokens flow; the first after a pause goes out at once."""
    emit, recorder = emitter(window=0.05)
    await emit.chunk("a")
    await asyncio.sleep(0.01)
    await emit.chunk("b")
    await asyncio.sleep(0.01)
    await emit.chunk("c")
    assert recorder.chunks() == ["a"]
    await asyncio.sleep(0.06)  # the window ends: b and c together
    assert recorder.chunks() == ["a", "bc"]
    await asyncio.sleep(0.1)  # quiet for longer than a window
    await emit.chunk("d")
    assert recorder.chunks() == ["a", "bc", "d"]


async def test_an_agent_that_never_awaits_still_lets_the_loop_run() -> None:
    emit, recorder = emitter()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        for _ in range(1000):
            await emit.chunk("x")  # the recorder never suspends: only the emitter can yield
        assert ticks > 1
    finally:
        task.cancel()
    await emit.done(ChatReply(request_id="r1", content="x" * 1000))
    assert "".join(recorder.chunks()) == "x" * 1000
