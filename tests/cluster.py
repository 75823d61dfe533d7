"""Real processes for the tests: gRPC host, workers, bridges and redis-server, all on 127.0.0.1.

Every process gets an ephemeral port, writes its log to ``tmp_path``, and is
killed in teardown; every wait is bounded. The fixtures built on these are in
``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import resource
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agenthost import Settings
from tests.fakes import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 20.0


def free_port() -> int:
    """A port nothing listens on now (for processes that must be told their port up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Proc:
    """One ``python -m agenthost.cli ...`` process with its log file (and a worker's health port, if it has one)."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        self.health_port: int | None = None

    async def health(self, path: str = "/health") -> tuple[int, dict[str, Any]]:
        """A worker's ``GET /health`` (or ``/ready``): status and JSON body."""
        assert self.health_port is not None, f"{self.name} has no health port"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(f"http://127.0.0.1:{self.health_port}{path}") as response,
        ):
            body: dict[str, Any] = await response.json()
            return response.status, body

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def wait_for_log(self, needle: str, within: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + within
        while needle not in self.text():
            if self.process.returncode is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.process.returncode}) before {needle!r}:\n{self.text()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {needle!r} within {within} s:\n{self.text()}")
            await asyncio.sleep(0.05)

    async def wait(self, within: float) -> int:
        try:
            async with asyncio.timeout(within):
                return await self.process.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name} still running after {within} s:\n{self.text()}") from None

    def signal(self, sig: signal.Signals) -> None:
        if self.process.returncode is None:
            self.process.send_signal(sig)

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self.process.wait()


class Cluster:
    """Starts the roles as real processes; all share one environment (``env``)."""

    def __init__(self, tmp_path: Path, env: Mapping[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = dict(env)
        self.host_port = free_port()
        self.procs: list[Proc] = []

    @property
    def host_address(self) -> str:
        return f"127.0.0.1:{self.host_port}"

    async def spawn(
        self, name: str, *args: str, env: Mapping[str, str] | None = None, max_fds: int | None = None
    ) -> Proc:
        """``python -m agenthost.cli *args``; ``max_fds`` lowers its open-file limit (``ulimit -n``)."""
        log = self.tmp_path / f"{name}-{len(self.procs)}.log"
        full_env = {**self.env, **(env or {})}
        limit = None if max_fds is None else functools.partial(_limit_fds, max_fds)
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agenthost.cli", *args, stdout=out, stderr=asyncio.subprocess.STDOUT,
                env=full_env, preexec_fn=limit,
            )  # fmt: skip
        proc = Proc(name, process, log)
        self.procs.append(proc)
        return proc

    async def start_host(self, *, ready: bool = True) -> Proc:
        proc = await self.spawn("host", "grpc-host", "--address", self.host_address)
        if ready:
            await proc.wait_for_log("gRPC host serving")
        return proc

    async def start_worker(
        self,
        agents: str = "echo",
        *,
        ready: bool = True,
        env: Mapping[str, str] | None = None,
        replica: str | None = None,
        health: bool = False,
    ) -> Proc:
        """A worker serving ``agents``; ``replica`` names it, ``health`` gives it a health port (``proc.health()``)."""
        extra = dict(env or {})
        port = free_port() if health else None
        if port is not None:
            extra["AGENTHOST_RUNTIME__HEALTH_PORT"] = str(port)
        if replica is not None:
            extra["AGENTHOST_RUNTIME__REPLICA_ID"] = replica
        args = ("worker", "--host-address", self.host_address, "--agents", agents)
        proc = await self.spawn(f"worker-{replica or agents.replace(',', '+')}", *args, env=extra)
        proc.health_port = port
        if ready:
            await proc.wait_for_log("worker serving agents")
        return proc

    async def start_bridge(self, port: int, replica: str, env: Mapping[str, str] | None = None) -> Proc:
        extra = {"AGENTHOST_RUNTIME__REPLICA_ID": replica, **(env or {})}
        args = ("serve", "--runtime", "grpc", "--host-address", self.host_address, "--port", str(port))
        return await self.spawn(f"bridge-{replica}", *args, env=extra)

    async def start_server(self, port: int, env: Mapping[str, str] | None = None, max_fds: int | None = None) -> Proc:
        """``agenthost serve`` on the embedded runtime, on 127.0.0.1:``port``."""
        proc = await self.spawn("serve", "serve", "--port", str(port), env=env, max_fds=max_fds)
        await proc.wait_for_log("agenthost listening on")
        return proc

    def client_settings(self, **overrides: Any) -> Settings:
        """Settings for an in-test caller (never exits the test process on host loss)."""
        values: dict[str, Any] = {
            "model": {"provider": "none"},
            "entry_points": False,
            "runtime": {"mode": "grpc", "host_address": self.host_address, "exit_on_host_loss": False},
            "timeouts": {"request": 10, "cancel": 2, "startup": 10, "shutdown": 3},
        }
        values.update(overrides)
        return Settings(**values)

    async def close(self) -> None:
        await asyncio.gather(*(proc.kill() for proc in self.procs))


def _limit_fds(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def open_fds(pid: int) -> int:
    """How many file descriptors process ``pid`` has open (Linux)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def model_env(fake: FakeOpenAI) -> dict[str, str]:
    """A process's settings for the fake OpenAI-compatible backend ``fake``."""
    return {
        "AGENTHOST_MODEL__PROVIDER": "openai",
        "AGENTHOST_MODEL__BASE_URL": fake.base_url,
        "AGENTHOST_MODEL__NAME": fake.model,
        "AGENTHOST_MODEL__MAX_RETRIES": "0",
        "AGENTHOST_MODEL__API_KEY": "sk-test",
    }


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTHOST_") and k != "OPENAI_API_KEY"}
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        AGENTHOST_MODEL__PROVIDER="none",
        AGENTHOST_ENTRY_POINTS="false",
        AGENTHOST_TIMEOUTS__REQUEST="10",
        AGENTHOST_TIMEOUTS__CANCEL="2",
        AGENTHOST_TIMEOUTS__SHUTDOWN="5",
        AGENTHOST_TIMEOUTS__STARTUP="20",
        AGENTHOST_STATE__SQLITE_PATH=str(tmp_path / "state.sqlite3"),
    )
    return env


class RedisServer:
    """A real ``redis-server`` on an ephemeral port that can be stopped and started again on that port.

    With ``persistent`` every write is appended to a file and fsynced before it is acknowledged
    (``appendfsync always``), so a restart keeps what was written, as a production Redis would.
    """

    def __init__(self, tmp_path: Path, *, persistent: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install -y redis-server; .ci/run installs it)")
        self.binary = binary
        self.port = free_port()
        self.dir = tmp_path / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.dir)]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.process = await asyncio.create_subprocess_exec(
            self.binary, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await wait_for_port(self.port, START_TIMEOUT)

    async def stop(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.kill()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await process.wait()


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float, what: str) -> None:
    """Wait until ``check()`` (sync or async) is true, polling; fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def redis_server(tmp_path: Path, *, persistent: bool = False) -> AsyncIterator[RedisServer]:
    """A real, throw-away ``redis-server`` (skips if not installed); stopped at the end."""
    server = RedisServer(tmp_path, persistent=persistent)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


async def wait_for_port(port: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {within} s") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
