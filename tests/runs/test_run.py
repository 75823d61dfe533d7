"""A run's log puts events back in order, always ends, keeps a bounded tail, and says when events are gone."""

from __future__ import annotations

import asyncio

from agenthost.messages import ChatReply, ChatRequest, ChatTurn, ErrorInfo, EventKind, StreamEvent
from agenthost.runs import Run, RunRegistry, StreamRouter


def _request() -> ChatRequest:
    return ChatRequest(request_id="r", agent="echo", messages=(ChatTurn(role="user", content="hi"),))


def _event(seq: int, kind: EventKind = "chunk") -> StreamEvent:
    return StreamEvent(request_id="r", seq=seq, kind=kind, data={"content": str(seq)})


def test_out_of_order_events_come_out_in_order() -> None:
    run = Run("run_r", _request())
    for seq in (2, 0, 3, 1):
        run.deliver(_event(seq))
    run.deliver(_event(4, "done"))
    run.deliver(_event(5))  # after the terminal event: dropped
    assert [event.seq for event in run.read().events] == [0, 1, 2, 3, 4]
    assert run.ended
    assert run.status == "done"


def test_failure_ends_the_log_after_what_was_delivered() -> None:
    run = Run("run_r", _request())
    run.deliver(_event(0))
    run.deliver(_event(2))  # seq 1 never comes
    run.fail(ErrorInfo(code="unavailable", message="worker died"))
    events = run.read().events
    assert [(event.seq, event.kind) for event in events] == [(0, "chunk"), (1, "error")]
    run.fail(ErrorInfo(code="timeout", message="ignored: already ended"))
    assert len(run.read().events) == 2
    assert (run.status, run.error) == ("error", ErrorInfo(code="unavailable", message="worker died"))


def test_finish_from_reply_when_the_done_event_never_came() -> None:
    run = Run("run_r", _request())
    run.finish(ChatReply(request_id="r", content="hi"))
    (event,) = run.read().events
    assert (event.kind, event.data["message"], run.message, run.status) == ("done", "hi", "hi", "done")


def test_a_cancelled_run_says_cancelled() -> None:
    run = Run("run_r", _request())
    run.deliver(_event(0, "status"))
    running = run.status
    run.fail(ErrorInfo(code="cancelled", message="the run was cancelled"))
    assert (running, run.status) == ("running", "cancelled")


def test_reading_from_a_position_and_events_no_longer_kept() -> None:
    run = Run("run_r", _request(), max_events=8)
    for seq in range(20):
        run.deliver(_event(seq))
    kept = run.read().events
    assert 8 <= len(kept) <= 10  # trimmed in batches
    assert kept[-1].seq == 19
    assert run.read(17).events == kept[-2:]
    assert run.read(-1).lost
    assert not run.read(kept[0].seq - 1).lost
    assert run.read(19).events == []


async def test_waiters_wake_on_new_events_and_time_out_otherwise() -> None:
    run = Run("run_r", _request())
    assert not await run.wait(-1, 0.01)
    waiter = asyncio.create_task(run.wait(-1, 10))
    await asyncio.sleep(0)
    run.deliver(_event(0))
    assert await asyncio.wait_for(waiter, 5)
    assert await run.wait(-1, 0.01)  # already there


def test_router_drops_events_of_unknown_requests() -> None:
    router = StreamRouter()
    run = Run("run_r", _request())
    router.open(run)
    router.deliver(_event(0))
    router.deliver(StreamEvent(request_id="gone", seq=0, kind="chunk"))
    router.close("r")
    assert len(router) == 0
    assert run.next_seq == 1


def test_the_registry_keeps_ended_runs_for_a_while_and_a_bounded_number() -> None:
    registry = RunRegistry(keep_seconds=60, max_kept=2)
    runs = [Run(f"run_{i}", _request()) for i in range(3)]
    for run in runs:
        registry.add(run)
        run.fail(ErrorInfo(code="cancelled", message="x"))
        registry.ended(run)
    assert registry.get("run_0") is None  # over the bound: the oldest went
    assert registry.get("run_2") is runs[2]
    assert runs[1].ended_at is not None
    registry.purge(now=runs[1].ended_at + 61)
    assert registry.get("run_1") is None
    assert len(registry) == 0


def test_the_registry_bounds_the_events_it_keeps() -> None:
    registry = RunRegistry(keep_seconds=60, max_kept=100, max_kept_events=25)
    for i in range(4):
        run = Run(f"run_{i}", _request())
        registry.add(run)
        for seq in range(9):
            run.deliver(_event(seq))
        run.deliver(_event(9, "done"))
        registry.ended(run)
    assert [registry.get(f"run_{i}") is not None for i in range(4)] == [False, False, True, True]  # 2 x 10 <= 25
