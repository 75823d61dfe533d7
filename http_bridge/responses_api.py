"""The OpenAI Responses API, as a second view of runs: ``/v1/responses``.

A response is a run (``resp_<id>`` is ``run_<id>``) on a conversation of its own,
so ``previous_response_id`` continues from that response's saved state, and two
responses may branch from the same one. Its stream is the run's log rendered as
Responses events in OpenAI's order (``response.created``, ``response.in_progress``,
``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta``..., ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done``, then
``response.completed`` with usage, ``response.incomplete`` at the token cap, or
``response.failed``); every replay numbers them the same (``sequence_number`` from
0), so ``?stream=true&starting_after=N`` and the SDK's resume helper (which reads
the whole log from ``response.created``) both work. Agent events with no OpenAI
equivalent (tool calls the agent ran itself, a team member's message) go out as
``agenthost.tool_call``, ``agenthost.tool_result``, ``agenthost.message`` and
``agenthost.status`` events, which the SDK skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from agenthost.events import chunk_of, done_of, error_of
from agenthost.messages import ChatTurn, GenerationOptions, Role, StreamEvent
from agenthost.runs import RemoteRun, Run, RunView

from .auth import owner_of
from .body import read_body
from .errors import ApiError
from .ids import request_id
from .keys import HOST, SETTINGS, STREAMS
from .schemas import ResponseCreate, ResponseInputItem
from .sse import SSEWriter, frame
from .streaming import pump

__all__ = ["cancel_response", "create_response", "delete_response", "response_object", "retrieve_response"]

_RECORD = "response"


# -- creating ---------------------------------------------------------------------------------------


async def create_response(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses``: a turn of ``model`` (an agent); whole, streamed, or in the background."""
    body = await read_body(request, ResponseCreate)
    agent_host = request.app[HOST]
    if body.model not in agent_host.registry:
        raise ApiError(
            404, "model_not_found", f"the model {body.model!r} does not exist; GET /v1/models lists them", "model"
        )
    fork = await _parent_conversation(request, body)
    turns = [*_instructions(body), *_input_turns(body)]
    options = GenerationOptions(max_tokens=body.max_output_tokens, temperature=body.temperature)
    owner = owner_of(request)
    turn = agent_host.request(
        body.model, turns, None, options=options, fork_from=fork, request_id=request_id(request), owner=owner
    )
    conversation = f"resp_{turn.request_id}"
    turn = turn.model_copy(update={"conversation_id": conversation})
    record = _record(body, turn.request_id)
    run = agent_host.start_run(turn, extra={_RECORD: json.dumps(record)})
    if body.stream:
        return await _stream(request, run, -1, cancel_on_leave=not body.background)
    if body.background:
        return web.json_response(response_object(run))
    await _until_ended(run, request.app[SETTINGS].timeouts.request + request.app[SETTINGS].timeouts.cancel)
    return web.json_response(response_object(run))


async def _parent_conversation(request: web.Request, body: ResponseCreate) -> str | None:
    if body.previous_response_id is None:
        return None
    parent = await _owned(request, body.previous_response_id, "previous_response_id")
    if parent.agent != body.model:
        message = f"previous_response_id: that response is of model {parent.agent!r}, not {body.model!r}"
        raise ApiError(400, "invalid_value", message, "previous_response_id")
    if not parent.ended or parent.status != "done":
        raise ApiError(
            400, "invalid_value", "previous_response_id: that response has not completed", "previous_response_id"
        )
    return parent.conversation_id


def _instructions(body: ResponseCreate) -> list[ChatTurn]:
    return [] if not body.instructions else [ChatTurn(role="system", content=body.instructions)]


def _input_turns(body: ResponseCreate) -> list[ChatTurn]:
    if isinstance(body.input, str):
        turns = [ChatTurn(role="user", content=body.input)]
    else:
        turns = [_turn(item, index) for index, item in enumerate(body.input)]
    if not any(turn.role == "user" and turn.content.strip() for turn in turns):
        raise ApiError(400, "invalid_value", "input: needs a non-empty user message", "input")
    return turns


_ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def _turn(item: ResponseInputItem, index: int) -> ChatTurn:
    roles = _ROLES
    if item.type != "message" or item.role not in roles:
        raise ApiError(
            400, "invalid_value", f"input[{index}]: only messages are supported (got {item.type!r})", "input"
        )
    if isinstance(item.content, str):
        return ChatTurn(role=roles[item.role], content=item.content)
    texts = [part.text or "" for part in item.content if part.type in ("input_text", "output_text", "text")]
    if len(texts) != len(item.content):
        raise ApiError(400, "unsupported_content", f"input[{index}].content: only text parts are supported", "input")
    return ChatTurn(role=roles[item.role], content="".join(texts))


def _record(body: ResponseCreate, request_id: str) -> dict[str, Any]:
    return {
        "id": f"resp_{request_id}",
        "instructions": body.instructions,
        "metadata": body.metadata or {},
        "previous_response_id": body.previous_response_id,
        "background": body.background,
        "store": body.store,
        "max_output_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
    }


# -- reading and controlling ------------------------------------------------------------------------


async def retrieve_response(request: web.Request) -> web.StreamResponse:
    """``GET /v1/responses/{response_id}`` (``?stream=true&starting_after=N`` streams its events)."""
    run = await _owned(request, request.match_info["response_id"], "response_id")
    if request.query.get("stream", "").lower() not in ("true", "1"):
        return web.json_response(response_object(run))
    after = _starting_after(request)
    return await _stream(request, run, after, cancel_on_leave=False)


async def cancel_response(request: web.Request) -> web.Response:
    """``POST /v1/responses/{response_id}/cancel``: stop it; idempotent."""
    run = await _owned(request, request.match_info["response_id"], "response_id")
    await request.app[HOST].cancel(run)
    await _until_ended(run, request.app[SETTINGS].timeouts.cancel)
    return web.json_response(response_object(run))


async def delete_response(request: web.Request) -> web.Response:
    """``DELETE /v1/responses/{response_id}``: forget it (it can no longer be retrieved or continued)."""
    response_id = request.match_info["response_id"]
    run = await _owned(request, response_id, "response_id")
    if not run.ended:
        await request.app[HOST].cancel(run)
    record = _record_of(run)
    record["deleted"] = True
    await request.app[HOST].update_run_extra(run, {_RECORD: json.dumps(record)})
    return web.json_response({"id": response_id, "object": "response.deleted", "deleted": True})


async def _owned(request: web.Request, response_id: str, field: str) -> Run | RemoteRun:
    """The response, if the caller created it and it is stored; 404 otherwise (no hint it exists)."""
    run = None
    if response_id.startswith("resp_"):
        run = await request.app[HOST].find_run("run_" + response_id.removeprefix("resp_"))
    record = _record_of(run) if run is not None else {}
    if run is None or run.owner != owner_of(request) or not record or record.get("deleted") or not record["store"]:
        raise ApiError(404, "not_found", f"no response {response_id!r} (unknown, expired, deleted or not yours)", field)
    return run


def _record_of(run: RunView) -> dict[str, Any]:
    raw = run.extra.get(_RECORD)
    record: dict[str, Any] = json.loads(raw) if raw else {}
    return record


def _starting_after(request: web.Request) -> int:
    raw = request.query.get("starting_after")
    if raw is None:
        return -1
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400, "invalid_value", f"starting_after: must be an integer, not {raw!r}", "starting_after"
        ) from None


async def _until_ended(run: RunView, within: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            after = -1
            while not run.ended:
                events = (await run.fetch(after)).events
                if events:
                    after = events[-1].seq
                else:
                    await run.wait(after, within)


async def _stream(request: web.Request, run: RunView, after: int, *, cancel_on_leave: bool) -> web.StreamResponse:
    """The response's events with ``sequence_number > after``, then live; the whole log is rendered each time."""
    sse = SSEWriter(request)
    render = ResponseEvents(run, after)
    if (await run.fetch(-1)).lost:
        raise ApiError(410, "events_lost", "this response's early events are no longer kept; it cannot be replayed")
    with request.app[STREAMS].open(run):
        try:
            await sse.prepare()
            await sse.write(render.header())
            await pump(sse, run, -1, render.render, request.app[SETTINGS].http.keepalive_interval)
            await sse.close()
        except ConnectionError:
            pass  # the client left
        finally:
            if cancel_on_leave and isinstance(run, Run) and not run.ended and run.task is not None:
                run.task.cancel()
    return sse.response


# -- the objects ---------------------------------------------------------------------------------------


def response_object(run: RunView, text: str | None = None) -> dict[str, Any]:
    """The Responses API ``Response`` of ``run`` as it stands."""
    record = _record_of(run)
    status = _status(run)
    body: dict[str, Any] = {
        "id": record["id"],
        "object": "response",
        "created_at": int(run.created_at),
        "completed_at": int(run.ended_at) if run.ended_at is not None and status == "completed" else None,
        "status": status,
        "model": run.agent,
        "output": [],
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": record["instructions"],
        "metadata": record["metadata"],
        "previous_response_id": record["previous_response_id"],
        "background": record["background"],
        "store": record["store"],
        "max_output_tokens": record["max_output_tokens"],
        "temperature": record["temperature"],
        "top_p": record["top_p"],
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "usage": None,
    }
    final = text if text is not None else (run.message if run.status == "done" else None)
    if final is not None:
        body["output"] = [_message(record["id"], final, "completed" if run.ended else "in_progress")]
    if run.status == "done":
        body["usage"] = _usage(run)
    if run.error is not None:
        body["error"] = {"code": run.error.code, "message": run.error.message}
    return body


def _status(run: RunView) -> str:
    if run.status == "queued":
        return "queued"
    if run.status == "running":
        return "in_progress"
    if run.status == "cancelled":
        return "cancelled"
    if run.status == "error":
        return "failed"
    return "incomplete" if run.finish_reason == "length" else "completed"


def _usage(run: RunView) -> dict[str, Any]:
    usage = run.usage
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _message(response_id: str, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    item_id = "msg_" + response_id.removeprefix("resp_")
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": [part]}


class ResponseEvents:
    """Renders a run's log as Responses API stream events, numbered from 0 the same way on every replay."""

    def __init__(self, run: RunView, after: int) -> None:
        self._run = run
        self._after = after  # events with sequence_number <= after are counted, not sent
        self._seq = 0
        self._text: list[str] = []
        self._item_open = False
        record = _record_of(run)
        self._item_id = "msg_" + str(record["id"]).removeprefix("resp_")

    def header(self) -> bytes:
        created = response_object(self._run, text=None)
        created["status"] = "in_progress" if created["status"] not in ("queued",) else "queued"
        created["output"], created["usage"], created["error"] = [], None, None
        return b"".join(
            [self._event("response.created", response=created), self._event("response.in_progress", response=created)]
        )

    def render(self, events: list[StreamEvent]) -> bytes:
        out: list[bytes] = []
        for event in events:
            if event.kind == "chunk":
                out.extend(self._delta(chunk_of(event)["content"]))
            elif event.kind == "done":
                out.extend(self._done(done_of(event)["message"], done_of(event)["finish_reason"] == "length"))
            elif event.kind == "error":
                out.extend(self._failed(error_of(event)["code"], error_of(event)["message"]))
            elif event.kind != "status" or event.seq > 0:
                out.append(self._event(f"agenthost.{event.kind}", data=event.data))
        return b"".join(out)

    def _delta(self, text: str) -> list[bytes]:
        out = [] if self._item_open else self._open_item()
        self._text.append(text)
        out.append(
            self._event(
                "response.output_text.delta", item_id=self._item_id, output_index=0, content_index=0, delta=text,
                logprobs=[],
            )
        )  # fmt: skip
        return out

    def _open_item(self) -> list[bytes]:
        self._item_open = True
        item = {"id": self._item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            self._event("response.output_item.added", output_index=0, item=item),
            self._event(
                "response.content_part.added", item_id=self._item_id, output_index=0, content_index=0, part=part
            ),
        ]

    def _done(self, message: str, cut: bool) -> list[bytes]:
        text = "".join(self._text) or message
        out = [] if self._item_open else self._open_item()
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        ids = {"item_id": self._item_id, "output_index": 0, "content_index": 0}
        out.append(self._event("response.output_text.done", **ids, text=text, logprobs=[]))
        out.append(self._event("response.content_part.done", **ids, part=part))
        out.append(
            self._event(
                "response.output_item.done", output_index=0, item=_message(self._response_id, text, "completed")
            )
        )
        final = response_object(self._run, text=text)
        final["status"] = "incomplete" if cut else "completed"
        final["incomplete_details"] = {"reason": "max_output_tokens"} if cut else None
        out.append(self._event("response.incomplete" if cut else "response.completed", response=final))
        return out

    def _failed(self, code: str, message: str) -> list[bytes]:
        final = response_object(self._run, text="".join(self._text) or None)
        final["status"] = "cancelled" if code == "cancelled" else "failed"
        final["error"] = {"code": code, "message": message}
        return [self._event("response.failed", response=final)]

    @property
    def _response_id(self) -> str:
        return "resp_" + self._item_id.removeprefix("msg_")

    def _event(self, kind: str, **fields: Any) -> bytes:
        seq, self._seq = self._seq, self._seq + 1
        if seq <= self._after:
            return b""
        return frame({"type": kind, "sequence_number": seq, **fields}, event=kind)
