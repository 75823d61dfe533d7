"""The real path: what agenthost costs between an OpenAI-style client and an OpenAI-compatible backend.

Run: ``python -m bench.bench_real_path [--seconds 4] [--quick] [--no-grpc] [--seed] [--profile]``

Everything runs as real processes on 127.0.0.1, side by side in one run:

* **backend**: ``bench/fake_backend.py``, a fake OpenAI-compatible server (real wire format,
  precomputed frames, counts generations started / finished / abandoned at ``GET /stats``).
* **direct**: the load client calls the backend itself: the baseline.
* **agenthost embedded**: ``agenthost serve`` on the embedded runtime; the ``assistant``
  agent (AgentChat ``AssistantAgent``, token streaming) behind ``POST /v1/chat/completions``.
* **agenthost gRPC** (``--grpc``, on by default): the same agent on AutoGen's gRPC runtime,
  with ``grpc-host``, one ``worker`` and the bridge (``serve --runtime grpc``) as processes.
* **seed server** (``--seed``): the OpenAI-compatible agent server agenthost grows from
  (its ``passthrough`` agent), unpacked from its git mirror into a cached venv in /tmp.

Cases (each: a warm-up, then ``--seconds`` of load; a table per case):

1. 20 tokens, no delay, 1 client, whole replies: req/s, p50 latency, added p50 over direct.
2. the same with 20 concurrent clients: req/s and its ratio to direct.
3. the same, streamed (``stream_options.include_usage``): req/s and ratio.
4. realistic: 200 ms to the first token, then 20 ms per token, 40 tokens, 50 clients,
   streamed: req/s, ratio, time to first token (p50, client side: to the first content
   delta) and the TTFT added over direct.
5. 1 client streamed, no delay: added p50 over direct (goal <= 3 ms).
6. case 4 with the 50 clients' first requests spread evenly over one reply's duration
   (0.98 s). In case 4 all 50 start together and, every reply taking the same time,
   stay in step: each wave of 50 turns starts within a millisecond, and the last one
   waits for the 49 before it (so does its first token, 200 ms later). Case 6 is the
   same load arriving as independent users would.
7. the configuration the issue measured CPU per streamed token in (0.9 ms embedded, 1.8 ms over
   gRPC): 40 tokens at 20 ms each (200 ms to the first), 20 clients streaming.

The load client is raw aiohttp (the openai SDK's per-chunk cost would dominate the client
side on 2 cores): one coroutine per client, looping until the case's time is up, reading
every body or SSE stream to the end and checking it (content equals the backend's tokens
joined; streams: ``finish_reason``, the usage chunk, ``data: [DONE]``). A wrong reply is an
error, not a data point. CPU per request and per streamed token are the agenthost
processes' utime+stime (``/proc/<pid>/stat``; gRPC: host + worker + bridge) over the
measured part of a case, divided by its requests or tokens; "tok/s" is the tokens delivered
per second of wall time; "backend fin/abd" is the backend's own count of generations
finished / abandoned during the measured part (one per request expected).

``--profile [CASE]`` samples the embedded server with py-spy for 10 s under a case's load (case 3 by default) and
writes the folded stacks and a self-time summary to /work/notes/profile-streaming.*.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .fake_backend import Shape, expected_content

# The agenthost entry point; the only place that names it.
SERVER_MODULE = "agenthost.cli"


def agenthost_command(*args: str) -> list[str]:
    """The command line of an agenthost role, e.g. ``agenthost_command("serve", "--port", "8000")``."""
    return [sys.executable, "-m", SERVER_MODULE, *args]


ROOT = Path(__file__).resolve().parents[1]
SEED_GIT = Path("/work/.mirror/wronkiew+autogen-agent-server/repo")
SEED_CACHE = Path(tempfile.gettempdir()) / "agenthost-bench-seed"
SEED_REQUIREMENTS = (
    "fastapi~=0.115.11",
    "uvicorn~=0.34.0",
    "pydantic-settings~=2.8.1",
    "autogen-agentchat==0.7.5",
    "autogen-ext[openai]==0.7.5",
)
NOTES = Path("/work/notes")
JSON_HEADERS = {"Content-Type": "application/json"}
CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Case:
    number: int
    title: str
    clients: int
    stream: bool
    shape: Shape
    spread: bool = False  # clients start evenly spread over one reply's duration, not all at once

    @property
    def reply_seconds(self) -> float:
        """How long the backend takes over one reply."""
        return (self.shape.first_token_ms + max(0, self.shape.tokens - 1) * self.shape.token_ms) / 1000


CASES = (
    Case(1, "20 tokens, no delay, 1 client, whole reply", 1, False, Shape(20)),
    Case(2, "20 tokens, no delay, 20 clients, whole reply", 20, False, Shape(20)),
    Case(3, "20 tokens, no delay, 20 clients, streamed", 20, True, Shape(20)),
    Case(4, "40 tokens, 200 ms to first + 20 ms/token, 50 clients, streamed", 50, True, Shape(40, 200, 20)),
    Case(5, "20 tokens, no delay, 1 client, streamed", 1, True, Shape(20)),
    Case(6, "case 4 with arrivals spread over one reply (not 50 at once)", 50, True, Shape(40, 200, 20), spread=True),
    Case(7, "40 tokens, 200 ms to first + 20 ms/token, 20 clients, streamed", 20, True, Shape(40, 200, 20)),
)
PACED = (4, 6, 7)
"""The cases with a realistic backend: CPU per streamed token is compared with the issue's figures."""
ISSUE_CPU_PER_TOKEN = {"embedded": 0.9, "gRPC": 1.8}
"""ms of CPU per streamed token the issue measured (40 tokens x 20 ms, 20 clients): the '4x' goal's base."""


@dataclass(frozen=True)
class Target:
    name: str
    url: str  # its POST /v1/chat/completions
    model: str
    pids: tuple[int, ...] = ()  # processes whose CPU time counts; none for direct
    strict: bool = True  # replies carry usage (OpenAI's full format)
    roles: tuple[str, ...] = ()  # a name per pid, when there are several (gRPC: host, worker, bridge)


# --- processes ---------------------------------------------------------------------------------------


class Processes:
    """Every process the bench starts; ``stop`` ends them all (terminate, then kill)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(
        self, name: str, cmd: Sequence[str], env: dict[str, str], cwd: Path, pipe: bool = False
    ) -> asyncio.subprocess.Process:
        with (self.logdir / f"{name}.log").open("wb") as log:
            stdout = asyncio.subprocess.PIPE if pipe else log
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=cwd, env=env, stdout=stdout, stderr=log)
        self.procs[name] = proc
        return proc

    def tail(self, name: str, chars: int = 1500) -> str:
        return (self.logdir / f"{name}.log").read_text(errors="replace")[-chars:]

    def check(self, *names: str) -> None:
        for name in names:
            code = self.procs[name].returncode
            if code is not None:
                raise RuntimeError(f"{name} exited with {code}:\n{self.tail(name)}")

    async def stop(self) -> None:
        live = [proc for proc in self.procs.values() if proc.returncode is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in live:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_ms(pids: Sequence[int]) -> float:
    """utime + stime of the processes, in ms."""
    return sum(cpu_each(pids))


def cpu_each(pids: Sequence[int]) -> list[float]:
    """utime + stime of each process, in ms."""
    times = []
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        times.append((int(fields[11]) + int(fields[12])) * CLOCK_TICK_MS)  # fields 14 and 15 of proc(5)
    return times


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AGENTHOST_", "OPENAI_"))}


EXTRA_ENV: dict[str, str] = {}
"""Settings every agenthost process gets on top of the bench's (``--set streaming.coalesce_ms=50``)."""


def agenthost_env(backend: str) -> dict[str, str]:
    return {
        **base_env(),
        "AGENTHOST_MODEL__PROVIDER": "openai",
        "AGENTHOST_MODEL__BASE_URL": f"{backend}/v1",
        "AGENTHOST_MODEL__NAME": "fake",
        "AGENTHOST_MODEL__API_KEY": "x",
        "AGENTHOST_AGENTS": "assistant,echo",
        "AGENTHOST_LOG_LEVEL": "WARNING",
        "AGENTHOST_ENTRY_POINTS": "false",
        **EXTRA_ENV,
    }


async def wait_ready(session: aiohttp.ClientSession, url: str, procs: Processes, *names: str) -> None:
    """Until ``url`` answers 200 (60 s at most); fails at once when one of ``names`` exits."""
    async with asyncio.timeout(60):
        while True:
            procs.check(*names)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)


async def wait_port(port: int, procs: Processes, name: str) -> None:
    async with asyncio.timeout(60):
        while True:
            procs.check(name)
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return


async def start_backend(procs: Processes, shape: Shape) -> str:
    cmd = [sys.executable, "-m", "bench.fake_backend", "--port", "0", "--tokens", str(shape.tokens)]
    cmd += ["--first-token-ms", str(shape.first_token_ms), "--token-ms", str(shape.token_ms)]
    proc = await procs.start("backend", cmd, base_env(), ROOT, pipe=True)
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = await proc.stdout.readline()
    if not line.strip().isdigit():
        raise RuntimeError(f"the fake backend did not start:\n{procs.tail('backend')}")
    return f"http://127.0.0.1:{int(line)}"


async def start_embedded(procs: Processes, session: aiohttp.ClientSession, backend: str) -> Target:
    port = free_port()
    proc = await procs.start("embedded", agenthost_command("serve", "--port", str(port)), agenthost_env(backend), ROOT)
    base = f"http://127.0.0.1:{port}"
    await wait_ready(session, f"{base}/ready", procs, "embedded")
    return Target("agenthost embedded", f"{base}/v1/chat/completions", "assistant", (proc.pid,))


async def start_grpc(procs: Processes, session: aiohttp.ClientSession, backend: str) -> Target:
    env, host_port, health, port = agenthost_env(backend), free_port(), free_port(), free_port()
    address = f"127.0.0.1:{host_port}"
    host = await procs.start("grpc-host", agenthost_command("grpc-host", "--address", address), env, ROOT)
    await wait_port(host_port, procs, "grpc-host")
    worker_cmd = agenthost_command("worker", "--host-address", address, "--agents", "assistant,echo")
    worker_env = {**env, "AGENTHOST_RUNTIME__HEALTH_PORT": str(health)}
    worker = await procs.start("grpc-worker", worker_cmd, worker_env, ROOT)
    bridge_cmd = agenthost_command("serve", "--runtime", "grpc", "--host-address", address, "--port", str(port))
    bridge = await procs.start("grpc-bridge", bridge_cmd, env, ROOT)
    names = ("grpc-host", "grpc-worker", "grpc-bridge")
    await wait_ready(session, f"http://127.0.0.1:{health}/ready", procs, *names)
    await wait_ready(session, f"http://127.0.0.1:{port}/ready", procs, *names)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    pids = (host.pid, worker.pid, bridge.pid)
    return Target("agenthost gRPC", url, "assistant", pids, roles=("host", "worker", "bridge"))


# --- the seed server ------------------------------------------------------------------------------------


class SeedUnavailable(Exception):
    pass


async def run_quiet(cmd: Sequence[str], seconds: float, cwd: Path | None = None) -> tuple[int, str]:
    """Run a command to its end (killed after ``seconds``); its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        return -1, f"timed out after {seconds:g} s"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(errors="replace")


async def seed_source() -> Path:
    """The seed's code, unpacked once into the cache; its agents minus web_surfer in ``agents/``."""
    src, agents = SEED_CACHE / "src", SEED_CACHE / "agents"
    if not (src / "agent_server.py").exists():
        archive = SEED_CACHE / "seed.tar"
        code, out = await run_quiet(["git", f"--git-dir={SEED_GIT}", "archive", "-o", str(archive), "HEAD"], 60)
        if code:
            raise SeedUnavailable(f"git archive failed: {out.strip()[-200:]}")
        with tarfile.open(archive) as tar:
            tar.extractall(src, filter="data")
    agents.mkdir(exist_ok=True)
    for plugin in (src / "server_agents").glob("*.py"):
        if "web_surfer" not in plugin.name:
            shutil.copy(plugin, agents / plugin.name)
    return src


async def seed_venv() -> Path:
    """A venv with the seed's requirements (autogen 0.7.5, no web surfer), built once and cached."""
    venv = SEED_CACHE / "venv"
    python, marker = venv / "bin" / "python", venv / ".bench-requirements"
    wanted = "\n".join(SEED_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return python
    print(f"seed: building its venv in {venv} (pip, first run only) ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    code, out = await run_quiet([sys.executable, "-m", "venv", str(venv)], 120)
    if not code:
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *SEED_REQUIREMENTS]
        code, out = await run_quiet(pip, 900)
    if code:
        raise SeedUnavailable(f"venv/pip failed: {out.strip()[-300:]}")
    marker.write_text(wanted)
    return python


async def start_seed(procs: Processes, session: aiohttp.ClientSession, backend: str) -> Target:
    if not (SEED_GIT / "HEAD").exists():
        raise SeedUnavailable(f"no git mirror at {SEED_GIT}")
    SEED_CACHE.mkdir(exist_ok=True)
    src, python = await seed_source(), await seed_venv()
    port = free_port()
    env = {
        **base_env(),
        "OPENAI_API_KEY": "x",
        "BACKEND_URL": f"{backend}/v1",
        # A model name AutoGen knows: with DEFAULT_LLM_FAMILY & co. the seed builds a model_info without
        # ``structured_output``, which autogen-ext 0.7.5 requires (HTTP 500 on every request). The
        # fake backend answers any model name the same.
        "DEFAULT_LLM": "gpt-4o-mini",
        "AGENT_DIR": str(SEED_CACHE / "agents"),
        "SERVER_HOST": "127.0.0.1",
        "SERVER_PORT": str(port),
    }
    proc = await procs.start("seed", [str(python), "agent_server.py"], env, src)
    base = f"http://127.0.0.1:{port}"
    await wait_ready(session, f"{base}/v1/models", procs, "seed")
    # It sends no usage and no role delta; the content, finish_reason and [DONE] are checked.
    return Target("seed server", f"{base}/v1/chat/completions", "passthrough", (proc.pid,), strict=False)


# --- the load client -------------------------------------------------------------------------------


class BadReply(Exception):
    pass


@dataclass(frozen=True)
class Call:
    """One kind of request to one target, and what a correct reply holds."""

    url: str
    body: bytes
    stream: bool
    expected: str
    strict: bool


def make_call(target: Target, case: Case) -> Call:
    body: dict[str, object] = {"model": target.model, "messages": [{"role": "user", "content": "Say the words."}]}
    if case.stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return Call(target.url, json.dumps(body).encode(), case.stream, expected_content(case.shape.tokens), target.strict)


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0


class SSEFrames:
    """Splits an SSE byte stream into events (blank-line separated) and yields each one's data."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        if b"\r" in self.buffer:
            self.buffer = self.buffer.replace(b"\r\n", b"\n")
        *frames, self.buffer = self.buffer.split(b"\n\n")
        payloads = []
        for frame in frames:
            lines = [line[5:].removeprefix(b" ") for line in frame.split(b"\n") if line.startswith(b"data:")]
            if lines:
                payloads.append(b"\n".join(lines))
        return payloads


@dataclass
class StreamState:
    """What a streamed completion delivered so far."""

    started: float
    content: list[str] = field(default_factory=list)
    first_content: float | None = None
    finish: str | None = None
    usage: bool = False
    done: bool = False

    def on_data(self, data: bytes) -> None:
        if data == b"[DONE]":
            self.done = True
            return
        obj = json.loads(data)
        if "error" in obj:
            raise BadReply(f"error frame: {str(obj['error'])[:120]}")
        choices = obj.get("choices") or []
        self.usage = self.usage or (not choices and bool(obj.get("usage")))
        for choice in choices:
            text = (choice.get("delta") or {}).get("content")
            if text:
                self.first_content = self.first_content or time.perf_counter()
                self.content.append(text)
            self.finish = choice.get("finish_reason") or self.finish

    def check(self, call: Call) -> float:
        """Raises BadReply unless the stream was complete and right; returns the time to first content."""
        content = "".join(self.content)
        if content != call.expected:
            raise BadReply(f"streamed content {content[:40]!r}... is not the expected {len(call.expected)} chars")
        if not self.done or not self.finish or (call.strict and not self.usage):
            raise BadReply(f"incomplete stream: [DONE] {self.done}, finish_reason {self.finish}, usage {self.usage}")
        assert self.first_content is not None
        return self.first_content - self.started


async def read_whole(response: aiohttp.ClientResponse, call: Call) -> None:
    obj = json.loads(await response.read())
    choice = (obj.get("choices") or [{}])[0]
    content = (choice.get("message") or {}).get("content")
    if content != call.expected:
        raise BadReply(f"content {str(content)[:40]!r}... is not the expected {len(call.expected)} chars")
    if not choice.get("finish_reason") or (call.strict and not obj.get("usage")):
        raise BadReply(f"incomplete reply: finish_reason {choice.get('finish_reason')}, usage {obj.get('usage')}")


async def read_stream(response: aiohttp.ClientResponse, call: Call, started: float) -> float:
    state, frames = StreamState(started), SSEFrames()
    async for data in response.content.iter_any():
        for payload in frames.feed(data):
            state.on_data(payload)
    return state.check(call)


async def request(session: aiohttp.ClientSession, call: Call, outcome: Outcome) -> None:
    started = time.perf_counter()
    async with session.post(call.url, data=call.body, headers=JSON_HEADERS) as response:
        if response.status != 200:
            raise BadReply(f"HTTP {response.status}: {(await response.text())[:120]}")
        if call.stream:
            outcome.ttfts.append(await read_stream(response, call, started))
        else:
            await read_whole(response, call)
    outcome.latencies.append(time.perf_counter() - started)


FAILURES = (BadReply, aiohttp.ClientError, TimeoutError, ValueError)


async def client_loop(
    session: aiohttp.ClientSession, call: Call, deadline: float, outcome: Outcome, delay: float = 0.0
) -> None:
    await asyncio.sleep(delay)
    while time.perf_counter() < deadline:
        try:
            await request(session, call, outcome)
        except FAILURES as exc:
            outcome.errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
            await asyncio.sleep(0.01)


async def drive(
    session: aiohttp.ClientSession, call: Call, clients: int, seconds: float, spread: float = 0.0
) -> Outcome:
    """``clients`` loops sending requests until ``seconds`` are up; the wall time includes the last replies.

    With ``spread`` the clients start ``spread / clients`` seconds apart (all at once otherwise).
    """
    outcome, started = Outcome(), time.perf_counter()
    loops = (client_loop(session, call, started + seconds, outcome, i * spread / clients) for i in range(clients))
    await asyncio.gather(*loops)
    outcome.wall = time.perf_counter() - started
    return outcome


async def wait_answering(session: aiohttp.ClientSession, target: Target) -> None:
    """Until the target gives one correct reply (60 s at most): the gRPC worker may still be registering."""
    call, last = make_call(target, CASES[0]), "no attempt"
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        try:
            await request(session, call, Outcome())
            return
        except FAILURES as exc:
            last = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{target.name} gave no correct reply within 60 s: {last}")


# --- measuring -------------------------------------------------------------------------------------


@dataclass
class Result:
    target: Target
    case: Case
    outcome: Outcome
    warmup_errors: Counter[str]
    cpu_ms: float | None
    backend: dict[str, int]
    cpu_split: tuple[float, ...] = ()  # per process of the target, when it has several

    @property
    def requests(self) -> int:
        return len(self.outcome.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.outcome.wall

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.outcome.latencies) * 1000 if self.outcome.latencies else float("nan")

    @property
    def ttft_ms(self) -> float | None:
        return statistics.median(self.outcome.ttfts) * 1000 if self.outcome.ttfts else None

    @property
    def tokens(self) -> int:
        return self.requests * self.case.shape.tokens

    def cpu_per(self, count: int) -> float | None:
        return None if self.cpu_ms is None or not count else self.cpu_ms / count


@dataclass
class Bench:
    session: aiohttp.ClientSession
    backend: str
    targets: list[Target]
    seconds: float
    warmup: float

    async def backend_stats(self) -> dict[str, int]:
        async with self.session.get(f"{self.backend}/stats") as response:
            data: dict[str, int] = await response.json()
            return data

    async def configure(self, shape: Shape) -> None:
        body = {"tokens": shape.tokens, "first_token_ms": shape.first_token_ms, "token_ms": shape.token_ms}
        async with self.session.post(f"{self.backend}/config", json=body) as response:
            response.raise_for_status()

    async def measure(self, target: Target, case: Case) -> Result:
        call = make_call(target, case)
        spread = case.reply_seconds if case.spread else 0.0
        warm = await drive(self.session, call, case.clients, self.warmup, spread)
        each0, stats0 = cpu_each(target.pids), await self.backend_stats()
        outcome = await drive(self.session, call, case.clients, self.seconds, spread)
        each1, stats1 = cpu_each(target.pids), await self.backend_stats()
        split = tuple(after - before for before, after in zip(each0, each1, strict=True))
        cpu = sum(split) if target.pids else None
        backend = {key: stats1[key] - stats0[key] for key in ("started", "finished", "abandoned")}
        return Result(target, case, outcome, warm.errors, cpu, backend, split if len(split) > 1 else ())

    async def run_case(self, case: Case) -> list[Result]:
        await self.configure(case.shape)
        timing = f"{self.warmup:g} s warm-up, {self.seconds:g} s measured, load {os.getloadavg()[0]:.1f}"
        print(f"\ncase {case.number}: {case.title}  ({timing})")
        print(HEADER, flush=True)
        results: list[Result] = []
        for target in self.targets:
            result = await self.measure(target, case)
            print(row(result, results[0] if results else result), flush=True)
            if result.cpu_split and result.requests:
                unit, count = ("token", result.tokens) if case.stream else ("request", result.requests)
                parts = ", ".join(
                    f"{role} {ms / count:.3f}" for role, ms in zip(target.roles, result.cpu_split, strict=True)
                )
                print(f"    CPU ms per {unit} by process: {parts}", flush=True)
            results.append(result)
        print_errors(results)
        return results


# --- reporting -------------------------------------------------------------------------------------

COLUMNS = (  # (title, width, format)
    ("req/s", 8, ".1f"),
    ("ratio", 7, ".2f"),
    ("p50 ms", 9, ".2f"),
    ("+p50", 9, ".2f"),
    ("TTFT", 8, ".1f"),
    ("+TTFT", 8, ".1f"),
    ("tok/s", 8, ".0f"),
    ("CPU/req", 9, ".2f"),
    ("CPU/tok", 9, ".3f"),
)
HEADER = f"  {'target':<19}" + "".join(f"{title:>{width}}" for title, width, _ in COLUMNS)
HEADER += f"{'backend fin/abd':>17}{'err':>5}"


def row(result: Result, direct: Result) -> str:
    """One table line: ``-`` where a figure does not apply (added figures of direct itself, TTFT of whole replies)."""
    is_direct = result is direct
    ttft, direct_ttft = result.ttft_ms, direct.ttft_ms
    values = (
        result.rate,
        result.rate / direct.rate,
        result.p50_ms,
        None if is_direct else result.p50_ms - direct.p50_ms,
        ttft,
        None if is_direct or ttft is None or direct_ttft is None else ttft - direct_ttft,
        result.tokens / result.outcome.wall if result.case.stream else None,
        result.cpu_per(result.requests),
        result.cpu_per(result.tokens),
    )
    cells = "".join(
        f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"
        for value, (_, width, fmt) in zip(values, COLUMNS, strict=True)
    )
    backend = f"{result.backend['finished']}/{result.backend['abandoned']}"
    return f"  {result.target.name:<19}{cells}{backend:>17}{sum(result.outcome.errors.values()):>5}"


def print_errors(results: list[Result]) -> None:
    for result in results:
        for label, errors in (("errors", result.outcome.errors), ("warm-up errors", result.warmup_errors)):
            for message, count in errors.most_common(3):
                print(f"    {result.target.name} {label}: {count} x {message}")


def print_summary(all_results: dict[int, list[Result]]) -> None:
    print("\nsummary (agenthost vs direct, same run)")
    first_case = next(iter(all_results.values()))
    for index, first in enumerate(first_case[1:], start=1):
        parts = []
        for number, results in sorted(all_results.items()):
            direct, mine = results[0], results[index]
            text = f"case {number}: x{mine.rate / direct.rate:.2f}"
            if number in (1, 5):
                text += f", +{mine.p50_ms - direct.p50_ms:.2f} ms p50"
            if number in PACED and mine.ttft_ms is not None and direct.ttft_ms is not None:
                text += f", +{mine.ttft_ms - direct.ttft_ms:.1f} ms TTFT"
            parts.append(text)
        print(f"  {first.target.name}: " + "; ".join(parts))
        base = next((ms for name, ms in ISSUE_CPU_PER_TOKEN.items() if first.target.name.endswith(name)), None)
        per_token = {
            number: cpu
            for number, results in sorted(all_results.items())
            if number in PACED and (cpu := results[index].cpu_per(results[index].tokens)) is not None
        }
        if base is not None and per_token:
            gains = ", ".join(f"case {number} {cpu:.3f} ms = {base / cpu:.1f}x" for number, cpu in per_token.items())
            print(f"    CPU per streamed token vs the issue's {base} ms (goal 4x): {gains}")
        if 5 in all_results:
            added = all_results[5][index].p50_ms - all_results[5][0].p50_ms
            print(f"    case 5 added p50 {added:.2f} ms (goal <= 3 ms: {'met' if added <= 3 else 'NOT met'})")


# --- profiling ----------------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def module_of(frame: str) -> tuple[str, str]:
    """(module, "function (file)") of a py-spy frame ``func (path/file.py:line)``."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip() or "?", frame.strip() or "?"
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3.11/", f"{ROOT}/"):
        path = path.rsplit(marker, 1)[-1]
    module = path.split("/")[0].removesuffix(".py")
    return module, f"{match['func']} ({path})"


def summarize_profile(folded: str, top: int = 25) -> list[str]:
    functions: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        module, function = module_of(stack.rsplit(";", 1)[-1])
        modules[module] += int(count)
        functions[f"{function}  [{module}]"] += int(count)
    total = sum(modules.values()) or 1
    lines = [f"{total} samples; self time (the innermost frame of each sample)", "", "by module:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in modules.most_common(15)]
    lines += ["", f"top {top} functions:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in functions.most_common(top)]
    return lines


def find_py_spy() -> str | None:
    return shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


async def profile_streaming(bench: Bench, target: Target, number: int = 3, seconds: int = 10) -> None:
    """py-spy on the embedded server for ``seconds`` under case ``number``'s load; writes NOTES/profile-streaming.*."""
    py_spy = find_py_spy()
    if py_spy is None:
        print("\nprofile: py-spy is not installed (pip install py-spy)")
        return
    case, folded = CASES[number - 1], NOTES / "profile-streaming.folded"
    await asyncio.to_thread(NOTES.mkdir, parents=True, exist_ok=True)
    await bench.configure(case.shape)
    load = asyncio.create_task(drive(bench.session, make_call(target, case), case.clients, seconds + 2))
    try:
        await asyncio.sleep(1)
        record = [py_spy, "record", "-p", str(target.pids[0]), "-d", str(seconds), "-r", "100"]
        code, out = await run_quiet([*record, "--format", "raw", "-o", str(folded)], seconds + 60)
    except BaseException:
        load.cancel()
        raise
    outcome = await load
    if code or not folded.exists():
        print(f"\nprofile: py-spy failed ({code}): {out.strip()[-300:]}")
        return
    head = f"py-spy, {target.name} (pid {target.pids[0]}), case {number} load, {seconds} s at 100 Hz"
    head += f" ({len(outcome.latencies) / outcome.wall:.0f} req/s while sampled)"
    lines = [head, *summarize_profile(folded.read_text())]
    (NOTES / "profile-streaming.txt").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines) + f"\n(folded stacks: {folded}; summary: {NOTES / 'profile-streaming.txt'})")


# --- main ------------------------------------------------------------------------------------------


async def start_targets(
    procs: Processes, session: aiohttp.ClientSession, backend: str, options: Options
) -> list[Target]:
    targets = [Target("direct", f"{backend}/v1/chat/completions", "fake")]
    targets.append(await start_embedded(procs, session, backend))
    if options.grpc:
        targets.append(await start_grpc(procs, session, backend))
    for target in targets:
        await wait_answering(session, target)
    if options.seed:
        try:
            seed = await start_seed(procs, session, backend)
            await wait_answering(session, seed)
            targets.append(seed)
        except (SeedUnavailable, RuntimeError, TimeoutError, OSError) as exc:
            print(f"seed: not available ({str(exc).strip()[:300]})")
    return targets


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    where = f"{ROOT} at {commit.stdout.strip() or '?'}"
    return f"{os.cpu_count()} CPUs, load average {load}; {where}; python {sys.version.split()[0]}"


@dataclass(frozen=True)
class Options:
    seconds: float
    warmup: float
    grpc: bool
    seed: bool
    profile: int
    cases: tuple[int, ...]


async def main(options: Options) -> None:
    logdir = Path(tempfile.mkdtemp(prefix="bench-real-path-"))
    procs, ok = Processes(logdir), False
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # like Ctrl-C: clean up, then exit
    started = time.perf_counter()
    print(f"real path benchmark: {machine_line()}")
    try:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            backend = await start_backend(procs, CASES[0].shape)
            bench = Bench(
                session, backend, await start_targets(procs, session, backend, options), options.seconds, options.warmup
            )
            results = {case.number: await bench.run_case(case) for case in CASES if case.number in options.cases}
            if len(bench.targets) > 1:
                print_summary(results)
            if options.profile:
                await profile_streaming(bench, bench.targets[1], options.profile)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nload average at the end: {load}; the run took {time.perf_counter() - started:.0f} s")
        ok = True
    finally:
        await procs.stop()
        if ok:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            print(f"process logs kept in {logdir}", file=sys.stderr)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per case and target")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per case and target")
    parser.add_argument("--quick", action="store_true", help="1.5 s measured, 0.5 s warm-up")
    parser.add_argument("--grpc", action=argparse.BooleanOptionalAction, default=True, help="also the gRPC roles")
    parser.add_argument("--seed", action="store_true", help="also the seed agent server (venv cached in /tmp)")
    parser.add_argument(
        "--profile", type=int, nargs="?", const=3, default=0, metavar="CASE",
        help="py-spy the embedded server under a case's load (default: case 3)",
    )  # fmt: skip
    parser.add_argument("--cases", default="1,2,3,4,5,6,7", help="which cases, e.g. 3,4")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an agenthost setting, e.g. streaming.coalesce_ms=50",
    )
    args = parser.parse_args(argv)
    for item in args.set:
        key, _, value = item.partition("=")
        EXTRA_ENV["AGENTHOST_" + key.upper().replace(".", "__")] = value
    seconds, warmup = (1.5, 0.5) if args.quick else (args.seconds, args.warmup)
    cases = tuple(int(number) for number in args.cases.split(","))
    return Options(seconds, warmup, args.grpc, args.seed, args.profile, cases)


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_options()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)
