"""Scale-out: throughput with 1, 2 and 3 workers of one agent type, the host's CPU per message, failover time.

Run: ``python -m bench.bench_scale [--turns 1500] [--burn-ms 5] [--freeze]``

Starts ``agenthost grpc-host`` and N ``agenthost worker`` processes serving ``busy`` (a
stateful agent from ``bench/plugins`` that burns ``--burn-ms`` of CPU per turn) and ``echo``.
This process is the caller (an in-process gRPC ``AgentHost``, as a bridge is).

1. Throughput: ``--turns`` turns over 96 conversations, 32 at a time, with 1, 2 and 3 workers;
   prints turns/s, the ratio to 1 worker, how the turns spread, and the CPU per turn of the host,
   the workers and the caller. Every process shares the machine's cores, so the ratio is capped
   by them: the script prints the core count.
2. The host's CPU per message: per RPC (request and reply, from phase 1) and per streamed event
   (``echo`` streaming 32-word replies, one event per word).
3. Failover: a worker is killed (``kill -9``) with a turn in flight; prints the time from the kill to
   that turn's error and to the next successful turn of the same conversation (on another worker,
   from the shared state store). ``--freeze`` also stops one with SIGSTOP (a node that vanished:
   no FIN, no RST), which the host's keepalive notices.
4. Connections: 100 more clients (each serving an agent type of its own) connected to the host: its
   memory per client and its CPU while they idle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from agenthost import AgentHost, HostError, Settings

from ._util import rss_mb

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "plugins"
CONVERSATIONS = 96
CONCURRENCY = 32


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Proc:
    name: str
    process: asyncio.subprocess.Process
    health_port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


class Cell:
    """A host and its workers as processes; the state store shared through Redis (or a SQLite file)."""

    def __init__(self, workdir: Path, burn_ms: float, store: dict[str, str]) -> None:
        self.workdir = workdir
        self.store = store["AGENTHOST_STATE__STORE"]
        self.address = f"127.0.0.1:{_free_port()}"
        self.procs: list[Proc] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTHOST_")}
        self.env.update(
            PYTHONPATH=str(ROOT),
            AGENTHOST_MODEL__PROVIDER="none",
            AGENTHOST_ENTRY_POINTS="false",
            AGENTHOST_PLUGIN_DIRS=f'["{PLUGINS}"]',
            AGENTHOST_LOG_LEVEL="INFO",
            AGENTHOST_BENCH_BURN_MS=str(burn_ms),
            AGENTHOST_TIMEOUTS__REQUEST="60",
            **store,
        )

    async def start(self, name: str, *args: str, ready: str, health: bool = False) -> Proc:
        port = _free_port() if health else None
        env = {**self.env, "AGENTHOST_RUNTIME__REPLICA_ID": name}
        if port is not None:
            env["AGENTHOST_RUNTIME__HEALTH_PORT"] = str(port)
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agenthost.cli", *args, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env
            )
        proc = Proc(name, process, port)
        self.procs.append(proc)
        async with asyncio.timeout(60):
            while ready not in log.read_text(errors="replace"):
                if process.returncode is not None:
                    raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')}")
                await asyncio.sleep(0.05)
        return proc

    async def host(self) -> Proc:
        return await self.start("host", "grpc-host", "--address", self.address, ready="gRPC host serving")

    async def worker(self, name: str) -> Proc:
        args = ("worker", "--host-address", self.address, "--agents", "busy,echo")
        return await self.start(name, *args, ready="worker serving agents", health=True)

    def workers(self) -> list[Proc]:
        return [proc for proc in self.procs if proc.health_port is not None and proc.process.returncode is None]

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.process.send_signal(signal.SIGCONT)
                    proc.process.kill()
        for proc in self.procs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.process.wait(), 10)


async def health(proc: Proc) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        http.get(f"http://127.0.0.1:{proc.health_port}/health") as response,
    ):
        report: dict[str, Any] = await response.json()
        return report


@contextlib.asynccontextmanager
async def caller_of(cell: Cell) -> AsyncIterator[AgentHost]:
    settings = Settings(
        model={"provider": "none"},
        entry_points=False,
        plugin_dirs=[PLUGINS],
        runtime={"mode": "grpc", "host_address": cell.address, "exit_on_host_loss": False, "replica_id": "caller"},
        timeouts={"request": 60, "cancel": 2, "startup": 30},
        log_level="WARNING",
    )
    async with AgentHost(settings, register_agents=False) as host:
        yield host


async def throughput(cell: Cell, caller: AgentHost, turns: int) -> dict[str, float]:
    """``turns`` turns of ``busy`` over CONVERSATIONS conversations, CONCURRENCY at a time."""
    for i in range(CONVERSATIONS):  # warm up: every conversation placed and its instance built
        await caller.chat("busy", "warm", conversation_id=f"c{i}")
    pids = {"host": [cell.procs[0].pid], "workers": [proc.pid for proc in cell.workers()]}
    before = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}
    caller_before, started = own_cpu(), time.perf_counter()
    counter = iter(range(turns))

    async def lane() -> None:
        for i in counter:
            await caller.chat("busy", "work", conversation_id=f"c{i % CONVERSATIONS}")

    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - started
    after = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}
    return {
        "rate": turns / wall,
        "host_us": (after["host"] - before["host"]) / turns * 1e6,
        "workers_us": (after["workers"] - before["workers"]) / turns * 1e6,
        "caller_us": (own_cpu() - caller_before) / turns * 1e6,
    }


async def host_cpu_per_event(cell: Cell, caller: AgentHost, rpc_us: float, turns: int = 300) -> tuple[float, int]:
    """Streamed ``echo`` turns (one event per word): the host's CPU per event relayed (each turn's RPC subtracted)."""
    text = " ".join(f"w{i}" for i in range(32))
    for _ in range(20):
        [event async for event in caller.stream("echo", text)]
    host_pid = cell.procs[0].pid
    before, events = cpu_seconds(host_pid), 0
    for _ in range(turns):
        events += len([event async for event in caller.stream("echo", text)])
    spent = cpu_seconds(host_pid) - before - turns * rpc_us / 1e6
    return spent / events * 1e6, events // turns


async def failover(cell: Cell, caller: AgentHost, conversation: str, how: signal.Signals) -> tuple[float, float]:
    """Kill (or freeze) the worker running a turn of ``conversation``: seconds to its error, to the next good turn."""
    turn = asyncio.create_task(caller.chat("busy", "sleep 120", conversation_id=conversation))
    victim = None
    async with asyncio.timeout(20):
        while victim is None:
            await asyncio.sleep(0.02)
            reports = [(proc, await health(proc)) for proc in cell.workers()]
            victim = next((proc for proc, report in reports if report["inflight_turns"]), None)
    killed = time.perf_counter()
    victim.process.send_signal(how)
    with contextlib.suppress(HostError):
        await asyncio.wait_for(turn, 60)
        raise RuntimeError("the turn in flight on a killed worker succeeded")
    failed = time.perf_counter()
    reply = await caller.chat("busy", "after", conversation_id=conversation)
    recovered = time.perf_counter()
    if reply.content.split()[0] == victim.name:
        raise RuntimeError("the next turn ran on the killed worker")
    if how is not signal.SIGKILL:
        victim.process.kill()
    return failed - killed, recovered - killed


def _store(workdir: Path) -> tuple[dict[str, str], list[str] | None]:
    """The state store's settings: Redis if ``redis-server`` is installed (and its command line), else SQLite."""
    workdir.mkdir(parents=True)
    binary = shutil.which("redis-server")
    if binary is None:
        path = workdir / "state.sqlite3"
        return {"AGENTHOST_STATE__STORE": "sqlite", "AGENTHOST_STATE__SQLITE_PATH": str(path)}, None
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return {"AGENTHOST_STATE__STORE": "redis", "AGENTHOST_STATE__REDIS_URL": f"redis://127.0.0.1:{port}/0"}, args


@contextlib.asynccontextmanager
async def running_cell(workdir: Path, burn_ms: float, workers: int) -> AsyncIterator[Cell]:
    store, redis_args = _store(workdir)
    redis = None
    if redis_args is not None:
        redis = await asyncio.create_subprocess_exec(*redis_args, stdout=asyncio.subprocess.DEVNULL)
    cell = Cell(workdir, burn_ms, store)
    try:
        await asyncio.sleep(0.3)
        await cell.host()
        for i in range(workers):
            await cell.worker(f"w{i}")
        yield cell
    finally:
        await cell.stop()
        if redis is not None:
            redis.kill()
            await redis.wait()


async def scaling(workdir: Path, turns: int, burn_ms: float) -> None:
    rows: list[tuple[int, dict[str, float], list[int]]] = []
    per_event, events = 0.0, 0
    for workers in (1, 2, 3):
        async with running_cell(workdir / f"n{workers}", burn_ms, workers) as cell, caller_of(cell) as caller:
            result = await throughput(cell, caller, turns)
            spread = [(await health(proc))["turns_by_agent"].get("busy", 0) for proc in cell.workers()]
            if workers == 1:
                per_event, events = await host_cpu_per_event(cell, caller, result["host_us"])
            rows.append((workers, result, spread))
    print(
        f"\nthroughput (turns/s) of busy, {CONVERSATIONS} conversations, {CONCURRENCY} at a time (caller: this process)"
    )
    base = rows[0][1]["rate"]
    for workers, result, spread in rows:
        print(
            f"  {workers} worker(s): {result['rate']:6.0f} /s  ratio {result['rate'] / base:4.2f}"
            f" | CPU per turn: host {result['host_us']:4.0f} us, workers {result['workers_us']:5.0f} us,"
            f" caller {result['caller_us']:4.0f} us | turns per worker {spread}"
        )
    rpc = sum(result["host_us"] for _, result, _ in rows) / len(rows)
    print(f"\nhost CPU per RPC (request and reply relayed): {rpc:.0f} us -> ~{1e6 / rpc:,.0f} RPC/s per host core")
    print(
        f"host CPU per streamed event: {per_event:.0f} us ({events} events per turn)"
        f" -> ~{1e6 / per_event:,.0f} events/s per host core"
    )


async def connections(cell: Cell, count: int) -> None:
    """``count`` more clients connected, each serving an agent type of its own: the host's memory and idle CPU."""
    from agenthost.runtime.grpc_worker_runtime import open_grpc_worker

    host = cell.procs[0].pid
    settings = Settings(
        model={"provider": "none"},
        entry_points=False,
        runtime={"mode": "grpc", "host_address": cell.address, "exit_on_host_loss": False},
        log_level="WARNING",
    )
    before = rss_mb(host)
    async with contextlib.AsyncExitStack() as stack:
        for i in range(count):
            runtime = await stack.enter_async_context(open_grpc_worker(settings))
            await runtime.register_factory(f"idle{i}", lambda: None)  # type: ignore[arg-type,return-value]
        idle_cpu, started = cpu_seconds(host), time.perf_counter()
        await asyncio.sleep(10)
        idle = (cpu_seconds(host) - idle_cpu) / (time.perf_counter() - started)
        grown = rss_mb(host) - before
    print(
        f"\n{count} more clients connected (each serving a type): host RSS +{grown:.1f} MiB"
        f" ({grown * 1024 / count:.0f} KiB each), host CPU while idle {idle * 100:.1f} % of a core"
    )


async def failovers(workdir: Path, burn_ms: float, freeze: bool) -> None:
    async with running_cell(workdir / "failover", burn_ms, 3) as cell, caller_of(cell) as caller:
        for i in range(30):
            await caller.chat("busy", "warm", conversation_id=f"f{i}")
        print(f"\nfailover (3 workers, state in {cell.store}): kill -9 of the worker running a turn")
        for trial in range(3):
            to_error, to_next = await failover(cell, caller, f"f{trial}", signal.SIGKILL)
            print(
                f"  trial {trial + 1}: the turn in flight failed after {to_error * 1000:5.1f} ms;"
                f" the conversation's next turn succeeded {to_next * 1000:5.1f} ms after the kill"
            )
            await cell.worker(f"r{trial}")
        if freeze:
            to_error, to_next = await failover(cell, caller, "f9", signal.SIGSTOP)
            print(
                f"  SIGSTOP (a vanished node): turn failed after {to_error:4.1f} s, next turn OK after {to_next:4.1f} s"
            )
        await connections(cell, 100)


async def main(turns: int, burn_ms: float, freeze: bool) -> None:
    load = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}; load average at start: {load:.2f}; busy agent: {burn_ms:g} ms of CPU per turn")
    with tempfile.TemporaryDirectory(prefix="agenthost-scale-") as tmp:
        await scaling(Path(tmp), turns, burn_ms)
        await failovers(Path(tmp), burn_ms, freeze)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=1500)
    parser.add_argument("--burn-ms", type=float, default=5.0)
    parser.add_argument("--freeze", action="store_true", help="also time a frozen worker (SIGSTOP): ~15 s")
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.burn_ms, args.freeze))
