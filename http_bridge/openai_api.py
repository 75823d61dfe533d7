"""The OpenAI-compatible facade: agents as models, stateless chat completions, streamed or whole.

Wire format as OpenAI's: every chunk of one completion shares ``id``, ``created`` and ``model``;
the first delta carries ``role``; a last chunk carries ``finish_reason``; with
``stream_options.include_usage`` one more chunk has ``choices: []`` and the usage; then
``data: [DONE]``. An error after the stream has started goes out as ``data: {"error": ...}``.

What chat front ends send (Open WebUI, pointed at ``/v1``):

- A header naming the chat (``openai.conversation_header``, by default Open WebUI's
  ``X-OpenWebUI-Chat-Id``) makes the chat one conversation: the agent keeps its state
  per chat. The request still carries the whole history; the agent continues its state
  with the new message when the history is what it has seen, and starts over from the
  history otherwise (an edited message, a regenerated reply): see
  :mod:`agenthost.core.transcripts`.
- Background prompts (``openai.task_prefix``, ``### Task:``: titles, tags, follow-up
  questions) are answered as ``openai.task_prompts`` says: by one model call with no
  agent (``model``, the default), by the agent (``agent``), or at once with nothing
  (``skip``). They never touch the chat's conversation.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web

from agenthost.errors import BadRequest, TurnTimeout
from agenthost.events import DoneData, UsageData, chunk_of, done_of, error_of
from agenthost.messages import ChatRequest, ChatTurn, GenerationOptions, StreamEvent
from agenthost.settings import OpenAISettings

from .auth import owner_of
from .body import read_body
from .errors import ApiError, openai_error
from .ids import new_id, request_id
from .keys import HOST, SETTINGS, STARTED_AT, STREAMS
from .schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    CompletionChoice,
    CompletionMessage,
    InputMessage,
    ModelCard,
    ModelList,
    UsageInfo,
)
from .sse import SSEWriter, frame
from .streaming import pump

__all__ = ["chat_completions", "get_model", "list_models"]

_ROLES = {"developer": "system"}


def _json(model: Any) -> web.Response:
    return web.Response(text=model.model_dump_json(), content_type="application/json")


def _cards(request: web.Request) -> list[ModelCard]:
    created = request.app[STARTED_AT]
    return [ModelCard(id=s.name, created=created, description=s.description) for s in request.app[HOST].agents()]


async def list_models(request: web.Request) -> web.Response:
    return _json(ModelList(data=_cards(request)))


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    card = next((card for card in _cards(request) if card.id == model_id), None)
    if card is None:
        raise _unknown_model(model_id)
    return _json(card)


def _unknown_model(name: str) -> ApiError:
    return ApiError(
        404, "model_not_found", f"the model {name!r} does not exist; GET /v1/models lists the agents", "model"
    )


def _turns(request: web.Request, messages: list[InputMessage]) -> list[ChatTurn]:
    """The history as wire turns: text parts joined, ``developer`` as ``system``, sizes and order checked."""
    limit = request.app[SETTINGS].http.max_message_chars
    turns: list[ChatTurn] = []
    for index, message in enumerate(messages):
        content = _text(message, index)
        if len(content) > limit:
            raise ApiError(
                400,
                "message_too_long",
                f"messages[{index}].content: over {limit} characters",
                f"messages.{index}.content",
            )
        turn = ChatTurn(role=_ROLES.get(message.role, message.role), content=content, name=message.name)
        if turn.role == "system" and turns and turns[-1].role != "system":
            raise ApiError(
                400,
                "invalid_value",
                f"messages[{index}]: a {message.role} message must come before every other message",
                f"messages.{index}.role",
            )
        turns.append(turn)
    if not any(turn.role == "user" and turn.content.strip() for turn in turns):
        raise ApiError(400, "invalid_value", "messages: needs at least one non-empty user message", "messages")
    return turns


def _text(message: InputMessage, index: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    parts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise ApiError(
                400,
                "unsupported_content",
                f"messages[{index}].content: only text parts are supported (got {part.type!r})",
                f"messages.{index}.content",
            )
        parts.append(part.text)
    return "".join(parts)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``: ``model`` names the agent; the history comes in ``messages``."""
    body = await read_body(request, ChatCompletionRequest)
    agent_host = request.app[HOST]
    if body.model not in {spec.name for spec in agent_host.agents()}:
        raise _unknown_model(body.model)
    turns = _turns(request, body.messages)
    settings = request.app[SETTINGS]
    task = _is_task(turns, settings.openai)
    if task and settings.openai.task_prompts == "skip":
        return await _nothing(request, body)
    conversation_id = None if task else _conversation(request, settings.openai)
    try:
        turn = agent_host.request(
            body.model, turns, conversation_id, stream=body.stream, options=_options(body),
            request_id=request_id(request), owner=owner_of(request), full_history=conversation_id is not None,
            direct=task and settings.openai.task_prompts == "model",
        )  # fmt: skip
    except BadRequest as exc:
        raise ApiError(400, "invalid_value", exc.message, "messages") from None
    if body.stream:
        return await _stream(request, body, turn)
    timeouts = settings.timeouts
    try:
        async with asyncio.timeout(timeouts.request + timeouts.cancel):
            reply = await agent_host.chat_request(turn)
    except TimeoutError:
        raise TurnTimeout(f"no answer within {timeouts.request:g} s (AGENTHOST_TIMEOUTS__REQUEST)") from None
    usage = _usage(reply.usage.prompt_tokens, reply.usage.completion_tokens)
    finish = "length" if reply.finish_reason == "length" else "stop"
    choice = CompletionChoice(message=CompletionMessage(content=reply.content), finish_reason=finish)
    return _json(
        ChatCompletion(id=_completion_id(), created=int(time.time()), model=body.model, choices=[choice], usage=usage)
    )


_CHAT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


def _conversation(request: web.Request, settings: OpenAISettings) -> str | None:
    """The conversation the chat-naming header names (None without one, or with the header setting empty)."""
    header = settings.conversation_header
    chat_id = request.headers.get(header) if header else None
    if chat_id is None:
        return None
    if not _CHAT_ID.match(chat_id):
        message = f"{header}: a chat id is 1 to 128 of A-Z a-z 0-9 _ . : - (got {chat_id[:40]!r})"
        raise ApiError(400, "invalid_value", message, header)
    return f"chat:{chat_id}"


def _is_task(turns: list[ChatTurn], settings: OpenAISettings) -> bool:
    """Whether the last user message is a front end's background prompt (``### Task:`` ...)."""
    last = next((turn for turn in reversed(turns) if turn.role == "user"), None)
    return last is not None and last.content.lstrip().startswith(settings.task_prefix)


async def _nothing(request: web.Request, body: ChatCompletionRequest) -> web.StreamResponse:
    """A background prompt skipped (``openai.task_prompts=skip``): an empty answer, at once, in the asked form."""
    if not body.stream:
        choice = CompletionChoice(message=CompletionMessage(content=""), finish_reason="stop")
        return _json(
            ChatCompletion(
                id=_completion_id(), created=int(time.time()), model=body.model, choices=[choice], usage=_usage(0, 0)
            )
        )
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    sse, chunks = SSEWriter(request), _Chunks(body.model, include_usage)
    await sse.prepare()
    usage = UsageData(prompt_tokens=0, completion_tokens=0)
    done = DoneData(message="", conversation_id=None, finish_reason="stop", usage=usage)
    await sse.write(chunks.delta({"role": "assistant", "content": ""}) + b"".join(chunks.end(done)))
    await sse.close()
    return sse.response


def _options(body: ChatCompletionRequest) -> GenerationOptions | None:
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is None and body.temperature is None:
        return None
    return GenerationOptions(max_tokens=max_tokens, temperature=body.temperature)


def _completion_id() -> str:
    return f"chatcmpl-{new_id()}"


def _usage(prompt: int, completion: int) -> UsageInfo:
    return UsageInfo(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class _Chunks:
    """Renders a run's events as the frames of one streamed completion (one id, created and model for all).

    Consecutive chunk events become one delta frame: what arrived together goes out together.
    """

    def __init__(self, model: str, include_usage: bool) -> None:
        self._head = {
            "id": _completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self._include_usage = include_usage

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return frame({**self._head, "choices": [choice]})

    def render(self, events: list[StreamEvent]) -> bytes:
        out: list[bytes] = []
        text: list[str] = []
        for event in events:
            if event.kind == "chunk":
                text.append(chunk_of(event)["content"])
                continue
            if text:
                out.append(self.delta({"content": "".join(text)}))
                text.clear()
            if event.kind == "done":
                out.extend(self.end(done_of(event)))
            elif event.kind == "error":
                out.append(frame({"error": openai_error(ApiError.from_event(error_of(event))).model_dump()}))
        if text:
            out.append(self.delta({"content": "".join(text)}))
        return b"".join(out)

    def end(self, done: DoneData) -> list[bytes]:
        frames = [self.delta({}, "length" if done["finish_reason"] == "length" else "stop")]
        if self._include_usage:
            info = _usage(done["usage"]["prompt_tokens"], done["usage"]["completion_tokens"])
            frames.append(frame({**self._head, "choices": [], "usage": info.model_dump()}))
        frames.append(DONE)
        return frames


DONE = b"data: [DONE]\n\n"


async def _stream(request: web.Request, body: ChatCompletionRequest, turn: ChatRequest) -> web.StreamResponse:
    agent_host = request.app[HOST]
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    sse, chunks = SSEWriter(request), _Chunks(body.model, include_usage)
    run = agent_host.start_run(turn)
    with request.app[STREAMS].open(run):
        try:
            await sse.prepare()
            await sse.write(chunks.delta({"role": "assistant", "content": ""}))
            await pump(sse, run, -1, chunks.render, request.app[SETTINGS].http.keepalive_interval)
            await sse.close()
        except ConnectionError:
            pass  # the client left
        finally:
            if not run.ended and run.task is not None:
                run.task.cancel()  # a client that leaves stops the turn and its model call
    return sse.response
