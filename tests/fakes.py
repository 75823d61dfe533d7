"""Shared fakes: a fake OpenAI-compatible server speaking the real wire format.

It serves ``POST /v1/chat/completions`` (streamed as SSE ``chat.completion.chunk``
frames ending with ``data: [DONE]``, or whole ``chat.completion`` objects) and
``GET /v1/models``. Replies come from a script (:class:`FakeReply`); by default
it answers ``"You said: <last user message>"``. It records every request body
and notices clients that leave mid-stream (``cancelled``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeOpenAI", "FakeReply", "ToolCall"]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class FakeReply:
    """One scripted model answer: text (streamed in ``chunk_size``-character pieces) or tool calls."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    chunk_size: int = 4
    chunk_delay: float = 0.0
    prompt_tokens: int = 11
    completion_tokens: int = 7
    status: int = 200
    finish_reason: str | None = None  # default: "tool_calls" with tool calls, else "stop"


@dataclass
class FakeOpenAI:
    """Start with ``async with FakeOpenAI() as fake:``; point clients at ``fake.base_url``."""

    script: deque[FakeReply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    cancelled: int = 0
    completed: int = 0
    model: str = "fake-model"
    _runner: web.AppRunner | None = None
    _port: int = 0
    cancelled_event: asyncio.Event = field(default_factory=asyncio.Event)
    started_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def add(self, *replies: FakeReply) -> None:
        self.script.extend(replies)

    async def __aenter__(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "fake"}]}
        )

    def _next_reply(self, body: dict[str, Any]) -> FakeReply:
        if self.script:
            return self.script.popleft()
        last = next((m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {"content": ""})
        content = last.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        return FakeReply(content=f"You said: {text}")

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.started_event.set()
        reply = self._next_reply(body)
        if reply.status != 200:
            error = {"message": "scripted failure", "type": "server_error", "param": None, "code": None}
            return web.json_response({"error": error}, status=reply.status)
        if body.get("stream"):
            return await self._stream(request, body, reply)
        return web.json_response(self._completion(body, reply))

    def _completion(self, body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if reply.tool_calls:
            message["tool_calls"] = _tool_calls(reply)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply), "logprobs": None}],
            "usage": _usage(reply),
        }

    async def _stream(self, request: web.Request, body: dict[str, Any], reply: FakeReply) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", self.model),
        }
        try:
            await _send(response, base, [{"index": 0, "delta": {"role": "assistant", "content": ""}}])
            for start in range(0, len(reply.content), reply.chunk_size):
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                piece = reply.content[start : start + reply.chunk_size]
                await _send(response, base, [{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
            for index, call in enumerate(_tool_calls(reply)):
                delta = {"tool_calls": [{"index": index, **call}]}
                await _send(response, base, [{"index": 0, "delta": delta, "finish_reason": None}])
            await _send(response, base, [{"index": 0, "delta": {}, "finish_reason": _finish(reply)}])
            if (body.get("stream_options") or {}).get("include_usage"):
                await _send(response, base, [], usage=_usage(reply))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            self.cancelled_event.set()
            raise
        self.completed += 1
        return response


async def _send(response: web.StreamResponse, base: dict[str, Any], choices: list[Any], **extra: Any) -> None:
    await response.write(f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode())


def _tool_calls(reply: FakeReply) -> list[dict[str, Any]]:
    return [
        {"id": f"call_{i}", "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
        for i, c in enumerate(reply.tool_calls)
    ]


def _finish(reply: FakeReply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def _usage(reply: FakeReply) -> dict[str, int]:
    total = reply.prompt_tokens + reply.completion_tokens
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens, "total_tokens": total}
