"""The offline model's own process: llama.cpp behind a small OpenAI-compatible API on 127.0.0.1.

The host never runs llama.cpp in its own process: a native crash there would take
every conversation down with it. :mod:`agenthost.models.local.process` starts this module as a
child process (``python host/models/local/server.py``, as a script), restarts it when it dies
and talks to it with AutoGen's ordinary ``OpenAIChatCompletionClient``.

One thread (``agenthost-llama``) loads the model and runs every generation:
llama.cpp generates several times slower on a thread other than the one that
created the ``Llama`` (measured here: 12-22 against 80-117 tokens/s). The event
loop on the main thread serves HTTP and hands jobs to that thread; tokens come
back through ``call_soon_threadsafe``. A client that disconnects stops its
generation within one token.

Protocol with the parent: the key clients must send as ``Authorization: Bearer``
comes in ``AGENTHOST_LOCAL_MODEL_KEY``; once the model is loaded and the socket
bound, the process prints ``READY <port>`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_types import ChatCompletionRequestMessage, CreateChatCompletionStreamResponse

__all__ = ["KEY_ENV", "MODEL_THREAD", "READY_PREFIX", "Job", "ModelThread", "create_app", "main"]

KEY_ENV = "AGENTHOST_LOCAL_MODEL_KEY"
READY_PREFIX = "READY "
MODEL_THREAD = "agenthost-llama"
_PASSED = ("temperature", "top_p", "seed", "stop", "presence_penalty", "frequency_penalty")


@dataclass
class Job:
    """One generation: the thread fills ``events``; the handler sets ``stop`` to end it early."""

    messages: list[ChatCompletionRequestMessage]
    params: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    stop: threading.Event = field(default_factory=threading.Event)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"

    def put(self, kind: str, value: Any = None) -> None:
        """Queue an event for the handler (from the model thread)."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody listens any more
            self.stop.set()


class ModelThread:
    """The one thread that loads the model and runs every generation, one after another."""

    def __init__(self, path: Path, threads: int, context: int) -> None:
        self._path, self._threads, self._context = path, threads, context
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._loaded = threading.Event()
        self._load_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=MODEL_THREAD, daemon=True)
        self.stats = {"generations": 0, "stopped_early": 0, "tokens": 0, "running": 0, "most_at_once": 0}

    def start(self, timeout: float) -> None:
        """Start the thread and wait until the model is loaded (raises what loading raised)."""
        self._thread.start()
        if not self._loaded.wait(timeout):
            raise TimeoutError(f"loading {self._path} took over {timeout:g} s")
        if self._load_error is not None:
            raise self._load_error

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        try:
            from llama_cpp import Llama

            llm = Llama(model_path=str(self._path), n_threads=self._threads, n_ctx=self._context, verbose=False)
        except BaseException as exc:
            self._load_error = exc
            self._loaded.set()
            return
        self._loaded.set()
        while (job := self._jobs.get()) is not None:
            self._generate(llm, job)

    def _generate(self, llm: Llama, job: Job) -> None:
        if job.stop.is_set():  # the client left while the job waited its turn
            job.put("end")
            return
        self.stats["generations"] += 1
        self.stats["running"] += 1
        self.stats["most_at_once"] = max(self.stats["most_at_once"], self.stats["running"])
        try:
            for content in self._contents(llm, job):
                job.put("delta", content)
        except Exception as exc:  # a bad request (prompt too long, ...): the handler answers with it
            job.put("error", f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.stats["running"] -= 1
            self.stats["tokens"] += job.completion_tokens
            self.stats["stopped_early"] += job.stop.is_set()
        job.put("end")

    def _contents(self, llm: Llama, job: Job) -> Iterator[str]:
        stream = cast(
            "Iterator[CreateChatCompletionStreamResponse]",
            llm.create_chat_completion(messages=job.messages, stream=True, **job.params),
        )
        try:
            for chunk in stream:
                if job.stop.is_set():
                    return
                if not job.prompt_tokens:  # right after the prompt is evaluated the context holds just the prompt
                    job.prompt_tokens = llm.n_tokens
                choice = chunk["choices"][0]
                content = cast("str | None", choice["delta"].get("content"))
                if content is not None:
                    job.completion_tokens += 1
                    if content:
                        yield content
                if choice["finish_reason"] is not None:
                    job.finish_reason = "length" if choice["finish_reason"] == "length" else "stop"
        finally:
            getattr(stream, "close", lambda: None)()  # ends llama's sampling loop now, on this thread


MODEL = web.AppKey("model", ModelThread)
KEY = web.AppKey("key", str)
NAME = web.AppKey("name", str)


def create_app(model: ModelThread, key: str, name: str) -> web.Application:
    """The OpenAI-compatible API over ``model``: ``/v1/chat/completions``, ``/v1/models``, ``/health``."""
    app = web.Application(middlewares=[_auth])
    app[MODEL], app[KEY], app[NAME] = model, key, name
    app.router.add_post("/v1/chat/completions", _completions)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/health", _health)
    app.router.add_get("/stats", _stats)
    return app


@web.middleware
async def _auth(request: web.Request, handler: Any) -> web.StreamResponse:
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
    if request.path != "/health" and not hmac.compare_digest(given, request.app[KEY].encode()):
        return _error(401, "invalid_api_key", "wrong key for the local model process")
    response: web.StreamResponse = await handler(request)
    return response


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return web.json_response(body, status=status)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _stats(request: web.Request) -> web.Response:
    """Generations run, stopped early (the client left) and tokens generated, since start."""
    return web.json_response(request.app[MODEL].stats)


async def _models(request: web.Request) -> web.Response:
    card = {"id": request.app[NAME], "object": "model", "created": 0, "owned_by": "agenthost"}
    return web.json_response({"object": "list", "data": [card]})


def _job(body: dict[str, Any], loop: asyncio.AbstractEventLoop) -> Job:
    messages = [_plain(message) for message in body.get("messages", [])]
    params = {name: body[name] for name in _PASSED if body.get(name) is not None}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        params["max_tokens"] = int(limit)
    return Job(cast("list[ChatCompletionRequestMessage]", messages), params, loop)


def _plain(message: dict[str, Any]) -> dict[str, str]:
    """One OpenAI chat message as the plain text a small model's chat template knows.

    Tool calls and tool results become short sentences; ``developer`` is ``system``.
    """
    role, text = message.get("role", "user"), _text(message.get("content"))
    if role == "tool":
        return {"role": "user", "content": f"Tool result: {text}"}
    if role == "assistant" and message.get("tool_calls"):
        calls = ", ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in message["tool_calls"])
        return {"role": "assistant", "content": f"{text}\nI called {calls}.".strip()}
    return {"role": "system" if role == "developer" else role, "content": text}


def _text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


async def _completions(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
        job = _job(body, asyncio.get_running_loop())
    except (ValueError, TypeError, AttributeError) as exc:
        return _error(400, "invalid_request", f"bad request body: {exc}")
    request.app[MODEL].submit(job)
    try:
        if body.get("stream"):
            return await _stream(request, body, job)
        return await _whole(request, body, job)
    finally:
        job.stop.set()  # the client left (the handler is cancelled) or we are done: either way, stop


async def _whole(request: web.Request, body: dict[str, Any], job: Job) -> web.Response:
    parts: list[str] = []
    while (event := await job.events.get())[0] == "delta":
        parts.append(event[1])
    if event[0] == "error":
        return _error(400, "generation_failed", event[1])
    head = _head(request, body)
    message = {"role": "assistant", "content": "".join(parts)}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": job.finish_reason}
    return web.json_response({**head, "object": "chat.completion", "choices": [choice], "usage": _usage(job)})


async def _stream(request: web.Request, body: dict[str, Any], job: Job) -> web.StreamResponse:
    first = await job.events.get()  # an error before the first token still gets a proper status
    if first[0] == "error":
        return _error(400, "generation_failed", first[1])
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    head = {**_head(request, body), "object": "chat.completion.chunk"}
    await _send(response, head, {"role": "assistant", "content": ""}, None)
    event = first
    while event[0] == "delta":
        await _send(response, head, {"content": event[1]}, None)
        event = await job.events.get()
    await _send(response, head, {}, job.finish_reason)
    if (body.get("stream_options") or {}).get("include_usage"):
        await response.write(_frame({**head, "choices": [], "usage": _usage(job)}))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _head(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": request.app[NAME]}


async def _send(response: web.StreamResponse, head: dict[str, Any], delta: dict[str, Any], finish: str | None) -> None:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    await response.write(_frame({**head, "choices": [choice]}))


def _frame(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def _usage(job: Job) -> dict[str, int]:
    total = job.prompt_tokens + job.completion_tokens
    return {"prompt_tokens": job.prompt_tokens, "completion_tokens": job.completion_tokens, "total_tokens": total}


async def _serve(args: argparse.Namespace, key: str) -> None:
    model = ModelThread(Path(args.model), args.threads, args.context)
    await asyncio.to_thread(model.start, args.load_timeout)
    runner = web.AppRunner(create_app(model, key, args.name), handle_signals=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = runner.addresses[0][1]
    print(f"{READY_PREFIX}{port}", flush=True)
    try:
        await asyncio.Event().wait()  # until SIGTERM/SIGINT (aiohttp's handle_signals) or the parent kills us
    finally:
        model.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="agenthost's offline model process (started by the host)")
    parser.add_argument("--model", required=True, help="the GGUF file")
    parser.add_argument("--name", default="local", help="the model name reported back")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--load-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_ENV, "")
    if not key:
        print(f"{KEY_ENV} must hold the key clients send", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args, key))
    except (KeyboardInterrupt, web.GracefulExit):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
