"""The OpenAI-compatible facade: agents as models, stateless chat completions, streamed or whole.

Wire format as OpenAI's: every chunk of one completion shares ``id``, ``created`` and ``model``;
the first delta carries ``role``; a last chunk carries ``finish_reason``; with
``stream_options.include_usage`` one more chunk has ``choices: []`` and the usage; then
``data: [DONE]``. An error after the stream has started goes out as ``data: {"error": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from agenthost.errors import BadRequest, TurnTimeout
from agenthost.events import DoneData, ErrorData, chunk_of, done_of, error_of
from agenthost.messages import ChatTurn, ErrorInfo, GenerationOptions, StreamEvent

from .body import read_body
from .errors import ApiError, openai_error
from .ids import new_id
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
from .sse import SSEWriter

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
    if body.stream:
        return await _stream(request, body, turns)
    timeouts = request.app[SETTINGS].timeouts
    try:
        async with asyncio.timeout(timeouts.request + timeouts.cancel):
            reply = await agent_host.chat(body.model, turns, options=_options(body))
    except TimeoutError:
        raise TurnTimeout(f"no answer within {timeouts.request:g} s (AGENTHOST_TIMEOUTS__REQUEST)") from None
    usage = _usage(reply.usage.prompt_tokens, reply.usage.completion_tokens)
    finish = "length" if reply.finish_reason == "length" else "stop"
    choice = CompletionChoice(message=CompletionMessage(content=reply.content), finish_reason=finish)
    return _json(
        ChatCompletion(id=_completion_id(), created=int(time.time()), model=body.model, choices=[choice], usage=usage)
    )


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
    """Serializes the frames of one streamed completion (one id, created and model for all)."""

    def __init__(self, model: str) -> None:
        self._head = {
            "id": _completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return json.dumps({**self._head, "choices": [choice]})

    def usage(self, data: DoneData) -> str:
        info = _usage(data["usage"]["prompt_tokens"], data["usage"]["completion_tokens"])
        return json.dumps({**self._head, "choices": [], "usage": info.model_dump()})


async def _stream(request: web.Request, body: ChatCompletionRequest, turns: list[ChatTurn]) -> web.StreamResponse:
    agent_host = request.app[HOST]
    try:
        turn = agent_host.request(body.model, turns, None, stream=True, options=_options(body))
    except BadRequest as exc:
        raise ApiError(400, "invalid_value", exc.message, "messages") from None
    sse, chunks = SSEWriter(request), _Chunks(body.model)
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    keepalive = request.app[SETTINGS].http.keepalive_interval
    async with request.app[STREAMS].open(
        agent_host.stream_request(turn), request.app[SETTINGS].timeouts.cancel
    ) as channel:
        try:
            await sse.prepare()
            await sse.send(chunks.delta({"role": "assistant", "content": ""}))
            async for item in channel.items(keepalive):
                await _forward(sse, chunks, item, include_usage)
            await sse.close()
        except ConnectionError:  # the client left; leaving the block cancels the turn
            pass
    return sse.response


async def _forward(sse: SSEWriter, chunks: _Chunks, item: StreamEvent | ErrorInfo | None, include_usage: bool) -> None:
    """One channel item as frames: content deltas, the finish and usage frames, or an error frame."""
    if item is None:
        await sse.comment()
    elif isinstance(item, ErrorInfo) or item.kind == "error":
        data = ErrorData(code=item.code, message=item.message) if isinstance(item, ErrorInfo) else error_of(item)
        error = openai_error(ApiError.from_event(data))
        await sse.send(json.dumps({"error": error.model_dump()}))
    elif item.kind == "chunk" and (content := chunk_of(item)["content"]):
        await sse.send(chunks.delta({"content": content}))
    elif item.kind == "done":
        done = done_of(item)
        await sse.send(chunks.delta({}, "length" if done["finish_reason"] == "length" else "stop"))
        if include_usage:
            await sse.send(chunks.usage(done))
        await sse.send("[DONE]")
