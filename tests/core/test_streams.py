"""Request streams put events back in order and always end."""

from __future__ import annotations

from agenthost.core.streams import RequestStream, StreamRouter
from agenthost.messages import ChatReply, ErrorInfo, StreamEvent


def _event(seq: int, kind: str = "chunk") -> StreamEvent:
    return StreamEvent(request_id="r", seq=seq, kind=kind, data={"n": seq})


async def test_out_of_order_events_come_out_in_order() -> None:
    stream = RequestStream("r")
    for seq in (2, 0, 3, 1):
        stream.deliver(_event(seq))
    stream.deliver(_event(4, "done"))
    stream.deliver(_event(5))  # after the terminal event: dropped
    assert [(await stream.next()).seq for _ in range(5)] == [0, 1, 2, 3, 4]
    assert stream.closed


async def test_failure_ends_the_stream_after_what_was_delivered() -> None:
    stream = RequestStream("r")
    stream.deliver(_event(0))
    stream.deliver(_event(2))  # seq 1 never comes
    stream.fail(ErrorInfo(code="unavailable", message="worker died"))
    first, last = await stream.next(), await stream.next()
    assert (first.seq, last.kind, last.seq) == (0, "error", 1)
    stream.fail(ErrorInfo(code="timeout", message="ignored: already closed"))
    assert stream._queue.empty()


async def test_finish_from_reply_when_the_done_event_never_came() -> None:
    stream = RequestStream("r")
    stream.finish_from(ChatReply(request_id="r", content="hi"))
    event = await stream.next()
    assert (event.kind, event.data["message"]) == ("done", "hi")


def test_router_drops_events_of_unknown_requests() -> None:
    router = StreamRouter()
    stream = router.open("r")
    router.deliver(_event(0))
    router.deliver(StreamEvent(request_id="gone", seq=0, kind="chunk"))
    router.close("r")
    assert len(router) == 0
    assert stream.delivered == 1
