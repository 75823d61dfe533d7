"""A fast fake OpenAI-compatible backend for benchmarks, run as its own process.

Run: ``python -m bench.fake_backend --port 0 --tokens 20 --first-token-ms 0 --token-ms 0``;
it prints its port on stdout (one line) once it accepts connections.

It speaks the wire format of ``POST /v1/chat/completions``: whole ``chat.completion``
objects with ``usage``, or streamed ``chat.completion.chunk`` SSE frames (``data: {...}``
and a blank line): a first delta with ``role``, one content delta per token, a last
chunk with ``finish_reason``, a usage chunk (``choices: []``) when
``stream_options.include_usage`` is true, then ``data: [DONE]``. ``GET /v1/models``
lists one model. The reply is always the same: token ``i`` is ``"w<i>"``, with a
space before every token but the first (:func:`expected_content` gives the joined text).

Frames are built once per (model, reply shape) and reused, so the backend is never the
bottleneck when there is no delay: with no delay, a streamed reply is one write.

``GET /stats`` counts generations ``started``, ``finished`` and ``abandoned`` (the
client left before the end). ``POST /config`` (``{"tokens", "first_token_ms",
"token_ms"}``) changes the reply shape without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Shape", "expected_content", "tokens"]

_CREATED = 1_700_000_000
_PROMPT_TOKENS = 9
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def tokens(count: int) -> list[str]:
    """The reply's tokens: ``w0``, `` w1``, `` w2``, ..."""
    return [f"w{i}" if i == 0 else f" w{i}" for i in range(count)]


def expected_content(count: int) -> str:
    return "".join(tokens(count))


@dataclass(frozen=True)
class Shape:
    """How a reply looks and how fast it comes."""

    tokens: int = 20
    first_token_ms: float = 0.0
    token_ms: float = 0.0


@dataclass
class Frames:
    """The precomputed bytes of one reply for one model name."""

    whole: bytes
    role: bytes
    deltas: list[bytes]
    finish: bytes
    usage: bytes
    done: bytes = b"data: [DONE]\n\n"

    def all(self, include_usage: bool) -> bytes:
        tail = self.finish + (self.usage if include_usage else b"") + self.done
        return self.role + b"".join(self.deltas) + tail


def _usage(count: int) -> dict[str, int]:
    return {"prompt_tokens": _PROMPT_TOKENS, "completion_tokens": count, "total_tokens": _PROMPT_TOKENS + count}


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def build_frames(model: str, count: int) -> Frames:
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": _CREATED, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**head, "choices": [choice]})

    message = {"role": "assistant", "content": expected_content(count), "refusal": None}
    whole = {
        **head,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(count),
    }
    return Frames(
        whole=json.dumps(whole, separators=(",", ":")).encode(),
        role=chunk({"role": "assistant", "content": ""}),
        deltas=[chunk({"content": token}) for token in tokens(count)],
        finish=chunk({}, "stop"),
        usage=_sse({**head, "choices": [], "usage": _usage(count)}),
    )


@dataclass
class Backend:
    shape: Shape
    counts: dict[str, int] = field(default_factory=lambda: {"started": 0, "finished": 0, "abandoned": 0})
    _frames: dict[str, Frames] = field(default_factory=dict)

    def frames(self, model: str) -> Frames:
        frames = self._frames.get(model)
        if frames is None:
            frames = self._frames[model] = build_frames(model, self.shape.tokens)
        return frames

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        frames = self.frames(str(body.get("model", "fake")))
        self.counts["started"] += 1
        try:
            if body.get("stream"):
                response = await self._stream(
                    request, frames, bool((body.get("stream_options") or {}).get("include_usage"))
                )
            else:
                response = await self._whole(frames)
        except (asyncio.CancelledError, ConnectionError):
            self.counts["abandoned"] += 1
            raise
        self.counts["finished"] += 1
        return response

    async def _whole(self, frames: Frames) -> web.Response:
        shape = self.shape
        delay = shape.first_token_ms + max(0, shape.tokens - 1) * shape.token_ms
        if delay:
            await asyncio.sleep(delay / 1000)
        return web.Response(body=frames.whole, content_type="application/json")

    async def _stream(self, request: web.Request, frames: Frames, include_usage: bool) -> web.StreamResponse:
        shape = self.shape
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        if not shape.first_token_ms and not shape.token_ms:
            await response.write(frames.all(include_usage))
        else:
            await self._paced(response, frames, include_usage)
        await response.write_eof()
        return response

    async def _paced(self, response: web.StreamResponse, frames: Frames, include_usage: bool) -> None:
        shape = self.shape
        await asyncio.sleep(shape.first_token_ms / 1000)
        await response.write(frames.role)
        for index, delta in enumerate(frames.deltas):
            if index:
                await asyncio.sleep(shape.token_ms / 1000)
            await response.write(delta)
        await response.write(frames.finish + (frames.usage if include_usage else b"") + frames.done)

    async def models(self, request: web.Request) -> web.Response:
        data = [{"id": "fake", "object": "model", "created": _CREATED, "owned_by": "bench"}]
        return web.json_response({"object": "list", "data": data})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({**self.counts, **self.shape.__dict__})

    async def configure(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.shape = Shape(
            tokens=int(body.get("tokens", self.shape.tokens)),
            first_token_ms=float(body.get("first_token_ms", self.shape.first_token_ms)),
            token_ms=float(body.get("token_ms", self.shape.token_ms)),
        )
        self._frames.clear()
        return await self.stats(request)


def make_app(backend: Backend) -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", backend.completions)
    app.router.add_get("/v1/models", backend.models)
    app.router.add_get("/stats", backend.stats)
    app.router.add_post("/config", backend.configure)
    return app


async def serve(port: int, shape: Shape) -> None:
    # handler_cancellation: a client that leaves cancels its handler, so it counts as abandoned at once.
    runner = web.AppRunner(make_app(Backend(shape)), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    print(sockets[0].getsockname()[1], flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--token-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    shape = Shape(tokens=args.tokens, first_token_ms=args.first_token_ms, token_ms=args.token_ms)
    try:
        asyncio.run(serve(args.port, shape))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
