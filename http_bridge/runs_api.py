"""The native run API: every turn is a run with an id and an event log that clients can resume, poll and cancel.

``POST /api/chat/stream`` answers with ``Location: /api/runs/{run_id}/stream`` and
its first event carries ``run_id``. ``GET /api/runs/{run_id}/stream`` replays the
events after ``Last-Event-ID`` (or ``?after=N``), then continues live; when events
asked for are no longer kept it says so first, with an ``error`` event of code
``events_lost`` (never a silent gap). ``POST /api/runs`` starts a run in the
background; ``GET /api/runs/{run_id}`` polls it; ``POST /api/runs/{run_id}/cancel``
stops it. A run is reachable only by the API key that started it: any other
gets 404, as for a run that never existed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from aiohttp import web
from pydantic import BaseModel

from agenthost.agent_host import AgentHost
from agenthost.events import ErrorData
from agenthost.messages import StreamEvent
from agenthost.runs import RemoteRun, Run, RunView

from .auth import owner_of
from .body import read_body
from .errors import ApiError
from .ids import new_id, request_id
from .keys import HOST, SETTINGS, STREAMS
from .schemas import ChatBody, RunAccepted, RunError, RunInfo
from .sse import SSEWriter, frame
from .streaming import Render, pump

__all__ = ["cancel_run", "get_run", "resume_run", "run_info", "start_run", "stream_run", "turn_of"]


def _json(model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json", headers=headers)


def run_info(run: RunView, conversation_id: str | None) -> RunInfo:
    return RunInfo(
        run_id=run.run_id,
        agent=run.agent,
        conversation_id=conversation_id,
        status=run.status,
        message=run.message if run.status == "done" else None,
        usage=run.usage.model_dump() | {"total_tokens": run.usage.total_tokens} if run.status == "done" else None,
        error=RunError(code=run.error.code, message=run.error.message) if run.error is not None else None,
        created_at=run.created_at,
        ended_at=run.ended_at,
    )


async def _owned(request: web.Request) -> Run | RemoteRun:
    """The run named in the path, if the caller started it; 404 otherwise (no hint it exists)."""
    run_id = request.match_info["run_id"]
    run = await request.app[HOST].find_run(run_id)
    if run is None or run.owner != owner_of(request):
        raise ApiError(404, "run_not_found", f"no run {run_id!r} (unknown, expired, or not yours)", "run_id")
    return run


async def stream_run(
    request: web.Request, run: RunView, conversation_id: str | None, *, after: int = -1, cancel_on_leave: bool = True
) -> web.StreamResponse:
    """The run's events from ``after`` on, as SSE; a client that leaves cancels the run if ``cancel_on_leave``."""
    sse = SSEWriter(request)
    lost = (await run.fetch(after)).lost
    render = _native_render(run, conversation_id)
    headers = {"Location": f"/api/runs/{run.run_id}/stream"}
    if conversation_id is not None:
        headers["X-Conversation-ID"] = conversation_id
    with request.app[STREAMS].open(run):
        try:
            await sse.prepare(headers)
            if lost:
                message = f"events after {after} are no longer kept; the stream continues with the oldest kept event"
                await sse.write(frame(ErrorData(code="events_lost", message=message), event="error"))
            await pump(sse, run, after, render, request.app[SETTINGS].http.keepalive_interval)
            await sse.close()
        except ConnectionError:
            pass  # the client left
        finally:
            if cancel_on_leave and isinstance(run, Run) and not run.ended and run.task is not None:
                run.task.cancel()  # the run stops its model call and ends its log by itself
    return sse.response


def _native_render(run: RunView, conversation_id: str | None) -> Render:
    def render(events: list[StreamEvent]) -> bytes:
        out = []
        for event in events:
            data = event.data
            if event.seq == 0:
                data = {**data, "run_id": run.run_id}
            if event.kind != "chunk" and conversation_id is not None and not data.get("conversation_id"):
                data = {**data, "conversation_id": conversation_id}
            out.append(frame(data, event=event.kind, id=event.seq))
        return b"".join(out)

    return render


def turn_of(request: web.Request, body: ChatBody) -> tuple[AgentHost, str, str]:
    """The host, the agent and the conversation id of a native chat request (checks the message)."""
    settings = request.app[SETTINGS]
    limit = settings.http.max_message_chars
    if len(body.message) > limit:
        message = f"message: over {limit} characters (AGENTHOST_HTTP__MAX_MESSAGE_CHARS)"
        raise ApiError(422, "message_too_long", message, "message")
    if not body.message.strip():
        raise ApiError(422, "invalid_value", "message: must not be blank", "message")
    return request.app[HOST], body.agent or settings.default_agent, body.conversation_id or new_id()


async def start_run(request: web.Request) -> web.Response:
    """``POST /api/runs``: start a turn in the background; 202 with its id at once."""
    body = await read_body(request, ChatBody)
    agent_host, agent, conversation_id = turn_of(request, body)
    turn = agent_host.request(
        agent, body.message, conversation_id, request_id=request_id(request), owner=owner_of(request)
    )
    run = agent_host.start_run(turn)
    accepted = RunAccepted(run_id=run.run_id, status=run.status, conversation_id=conversation_id)
    return _json(accepted, 202, {"Location": f"/api/runs/{run.run_id}"})


async def get_run(request: web.Request) -> web.Response:
    """``GET /api/runs/{run_id}``: the run's status and, once it ended, its result."""
    run = await _owned(request)
    return _json(run_info(run, run.conversation_id))


async def resume_run(request: web.Request) -> web.StreamResponse:
    """``GET /api/runs/{run_id}/stream``: replay after ``Last-Event-ID`` (or ``?after=N``), then live."""
    run = await _owned(request)
    after = _after(request)
    return await stream_run(request, run, run.conversation_id, after=after, cancel_on_leave=False)


async def cancel_run(request: web.Request) -> web.Response:
    """``POST /api/runs/{run_id}/cancel``: stop the run (its stream ends with ``cancelled``); idempotent."""
    run = await _owned(request)
    await request.app[HOST].cancel(run)
    cancel_timeout = request.app[SETTINGS].timeouts.cancel
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(cancel_timeout):
            after = -1
            while not run.ended:  # the run's own log says when it has stopped
                events = (await run.fetch(after)).events
                after = events[-1].seq if events else after
                if not events:
                    await run.wait(after, cancel_timeout)
    return _json(run_info(run, run.conversation_id))


def _after(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after")
    if raw is None:
        return -1
    try:
        after = int(raw)
    except ValueError:
        message = f"Last-Event-ID / after: must be an event id (an integer), not {raw!r}"
        raise ApiError(400, "invalid_value", message, "after") from None
    if after < -1:
        raise ApiError(400, "invalid_value", "after: must be -1 or more", "after")
    return after
