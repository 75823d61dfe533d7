"""gRPC-mode throughput of ``AgentHost.chat`` against bare engine ``send_message``, and a soak.

Run: ``python -m bench.bench_grpc [--rounds 5] [--count 1000] [--soak 20000]``

Starts ``agenthost grpc-host`` and one ``agenthost worker`` (the ``echo`` agent
plus ``bare_echo``, a plain RoutedAgent from ``bench/plugins``) as processes on
127.0.0.1. This process is a gRPC worker runtime itself and measures, between
the same processes, sequential round trips of (a) bare ``runtime.send_message``
of a tiny pydantic message to ``bare_echo`` and (b) ``AgentHost.chat("echo")``.
Rounds alternate; each variant's best round counts. Goal: (b) >= 70 % of (a)'s
rate, added p50 <= 1 ms.

``--soak N`` also starts a bridge (``agenthost serve --runtime grpc``) and sends
N streamed requests (``POST /api/chat/stream``, 8 at a time), then prints the
RSS growth of the host, worker and bridge and the p50 of the last 1,000
requests against the first 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from autogen_core import AgentId

from agenthost import AgentHost, Settings
from agenthost.messages import CancelReply, CancelRequest

from ._util import Timing, rss_mb, time_calls

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "plugins"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Roles:
    """The host, worker and (for the soak) bridge processes."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.address = f"127.0.0.1:{_free_port()}"
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTHOST_")}
        self.env.update(
            PYTHONPATH=str(ROOT),
            AGENTHOST_MODEL__PROVIDER="none",
            AGENTHOST_ENTRY_POINTS="false",
            AGENTHOST_PLUGIN_DIRS=f'["{PLUGINS}"]',
            AGENTHOST_LOG_LEVEL="WARNING",
        )

    async def start(self, name: str, *args: str, ready: str) -> None:
        log = self.workdir / f"{name}.log"
        env = {**self.env, "AGENTHOST_LOG_LEVEL": "INFO"}
        with log.open("wb") as out:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agenthost.cli", *args, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env
            )
        async with asyncio.timeout(30):
            while ready not in log.read_text(errors="replace"):
                if self.procs[name].returncode is not None:
                    raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')}")
                await asyncio.sleep(0.05)

    def rss(self) -> dict[str, float]:
        return {name: rss_mb(proc.pid) for name, proc in self.procs.items()}

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.kill()
        for proc in self.procs.values():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)


@contextlib.asynccontextmanager
async def running_roles(workdir: Path, max_instances: int | None = None) -> AsyncIterator[Roles]:
    roles = Roles(workdir)
    if max_instances is not None:
        roles.env["AGENTHOST_RUNTIME__MAX_INSTANCES"] = str(max_instances)
    try:
        await roles.start("host", "grpc-host", "--address", roles.address, ready="gRPC host serving")
        worker_args = ("worker", "--host-address", roles.address, "--agents", "echo,bare_echo")
        await roles.start("worker", *worker_args, ready="worker serving agents")
        yield roles
    finally:
        await roles.stop()


def _caller_settings(address: str) -> Settings:
    return Settings(
        model={"provider": "none"},
        entry_points=False,
        runtime={"mode": "grpc", "host_address": address, "exit_on_host_loss": False},
        log_level="WARNING",
    )


async def compare(host: AgentHost, rounds: int, count: int) -> tuple[Timing, Timing]:
    runtime, target = host.runtime, AgentId("bare_echo", "default")
    ping = CancelRequest(request_id="bench")

    async def bare() -> None:
        reply = await runtime.send_message(ping, target)
        assert isinstance(reply, CancelReply)

    async def chat() -> None:
        await host.chat("echo", "hello")

    await time_calls(bare, 200)  # warm up both paths
    await time_calls(chat, 200)
    best: dict[str, Timing] = {}
    for _ in range(rounds):
        for name, call in (("bare", bare), ("chat", chat)):
            timing = await time_calls(call, count)
            if name not in best or timing.rate > best[name].rate:
                best[name] = timing
    return best["bare"], best["chat"]


async def soak(roles: Roles, total: int, concurrency: int = 8) -> None:
    port = _free_port()
    await roles.start(
        "bridge",
        *("serve", "--runtime", "grpc", "--host-address", roles.address, "--port", str(port)),
        ready="agenthost listening",
    )
    url = f"http://127.0.0.1:{port}/api/chat/stream"
    latencies: list[float] = [0.0] * total
    counter = iter(range(total))
    async with aiohttp.ClientSession() as http:

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            async with http.post(url, json={"agent": "echo", "message": f"soak {i}"}) as response:
                body = await response.read()
            if b"event: done" not in body:
                raise RuntimeError(f"request {i} did not end with done: {body[-300:]!r}")
            latencies[i] = time.perf_counter() - t0

        async def lane() -> None:
            for i in counter:
                await one(i)

        for i in range(200):  # warm up before the first RSS sample
            await one(i)
        before = roles.rss()
        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    after = roles.rss()
    window = min(1000, total // 4)
    first, last = statistics.median(latencies[:window]), statistics.median(latencies[-window:])
    print(f"\nsoak: {total} streamed requests over HTTP, {concurrency} at a time, {total / wall:,.0f} req/s")
    for name in before:
        print(f"  RSS {name:<7} {before[name]:7.1f} MiB -> {after[name]:7.1f} MiB ({after[name] - before[name]:+.1f})")
    print(f"  p50 first {window}: {first * 1000:.2f} ms, last {window}: {last * 1000:.2f} ms, ratio {last / first:.2f}")


def _report(bare: Timing, chat: Timing) -> None:
    ratio = chat.rate / bare.rate
    added = chat.p50_ms - bare.p50_ms
    print("gRPC mode, sequential round trips, bench process -> host -> worker (127.0.0.1)")
    print(f"  bare send_message  : {bare.rate:8,.0f} /s   p50 {bare.p50_ms:6.3f} ms   p99 {bare.p99_ms:6.3f} ms")
    print(f"  AgentHost.chat     : {chat.rate:8,.0f} /s   p50 {chat.p50_ms:6.3f} ms   p99 {chat.p99_ms:6.3f} ms")
    print(f"  throughput ratio   : {ratio:8.1%}   (goal >= 70%: {'met' if ratio >= 0.7 else 'NOT met'})")
    print(f"  added p50          : {added:8.3f} ms (goal <= 1 ms: {'met' if added <= 1.0 else 'NOT met'})")


async def main(rounds: int, count: int, soak_total: int, max_instances: int | None) -> None:
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp:
        async with (
            running_roles(Path(tmp), max_instances) as roles,
            AgentHost(_caller_settings(roles.address), register_agents=False) as host,
        ):
            _report(*await compare(host, rounds, count))
            if soak_total:
                await soak(roles, soak_total)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--soak", type=int, default=0, help="also run N streamed requests through a bridge")
    parser.add_argument("--max-instances", type=int, default=None, help="live conversations per agent type")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.count, args.soak, args.max_instances))
