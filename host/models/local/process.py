"""The offline model's process: started, watched and restarted by :class:`LocalModelProcess`.

llama.cpp is native code: a crash in it (a bad build, a CPU it was not built for,
a bug) must not take the server down. So the model never runs in the host's
process: :mod:`.server` runs as a child, and this supervisor restarts it when it
dies (with a crash-loop guard) and stops it with the host.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass

import aiohttp

from ...errors import ModelFailed
from ...settings import ModelSettings
from . import server
from .files import model_file

__all__ = ["CRASH_WINDOW", "MAX_CRASHES", "Endpoint", "LocalModelProcess"]

logger = logging.getLogger(__name__)

CRASH_WINDOW = 60.0
"""Seconds over which crashes are counted; :data:`MAX_CRASHES` in it and restarts stop until it passes."""
MAX_CRASHES = 3
_STOP_GRACE = 5.0
_STATS_TIMEOUT = aiohttp.ClientTimeout(total=5.0)


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
