"""What durable runs cost: streamed events/s, log in-process or mirrored to Redis; memory per kept run.

Run: ``python -m bench.bench_runs [--events 400] [--clients 8] [--seconds 4] [--kept 2000]``

1. **Streaming**: the embedded bridge on 127.0.0.1 streams ``POST /api/chat/stream`` of a
   ``ticker`` agent that emits ``--events`` chunk events as fast as the loop lets it (each
   its own event: it yields between them). Measured twice in one run, alternating, with
   ``runs.store=memory`` (every turn resumable on this replica: the in-process log) and
   ``runs.store=redis`` (resumable from any replica: the log also mirrored to a real
   ``redis-server``), against the same server with no log reader but the response itself.
   Prints events/s and the ratio redis/memory.
2. **Memory per kept run**: ``--kept`` runs of ``--events`` events each, ended and kept (as
   they are for ``runs.keep_seconds``), RSS growth divided by the count; and after the
   registry forgets them (``runs.max_kept`` lowered), what is left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from autogen_core import CancellationToken

from agenthost import AgentHost, AgentRegistry, ChatReply, ChatRequest, EventEmitter, HostedAgent, Settings
from agenthost.http_bridge import create_app, make_runner

from ._util import rss_mb


class Ticker(HostedAgent):
    """Emits :attr:`count` chunk events, yielding the loop between them."""

    count = 400

    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        for index in range(self.count):
            await emit.chunk(f"t{index} ")
            await asyncio.sleep(0)  # one event each: the emitter would coalesce a burst
        return ChatReply(request_id=request.request_id, content="")


def _registry() -> AgentRegistry:
    registry = AgentRegistry()
    registry.add_hosted("ticker", Ticker, "Emits chunk events as fast as it can.")
    return registry


def _settings(store: str, redis_url: str | None, **extra: object) -> Settings:
    values: dict[str, object] = {
        "model": {"provider": "none"},
        "entry_points": False,
        "log_level": "WARNING",
        "runs": {"store": store, **({"redis_url": redis_url} if redis_url else {})},
        **extra,
    }
    return Settings(**values)


@contextlib.asynccontextmanager
async def _redis() -> AsyncIterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tempfile.mkdtemp()
    args = ("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder)
    process = await asyncio.create_subprocess_exec(binary, *args, stdout=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        await process.wait()
        shutil.rmtree(folder, ignore_errors=True)


async def _stream_rate(settings: Settings, clients: int, seconds: float) -> float:
    """Events/s streamed to ``clients`` concurrent SSE clients for ``seconds``."""
    host = AgentHost(settings, registry=_registry())
    runner = make_runner(create_app(host=host), settings)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/chat/stream"
    received = 0
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal received
        body = {"agent": "ticker", "message": "go"}
        while time.monotonic() < deadline:
            async with session.post(url, json=body) as response:
                async for line in response.content:
                    received += line.startswith(b"event: chunk")

    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients + 2)) as session:
            started = time.monotonic()
            await asyncio.gather(*(client(session) for _ in range(clients)))
            elapsed = time.monotonic() - started
    finally:
        await runner.cleanup()
    return received / elapsed


async def streaming(events: int, clients: int, seconds: float, rounds: int) -> None:
    Ticker.count = events
    async with _redis() as redis_url:
        variants = {"memory": _settings("memory", None)}
        if redis_url is not None:
            variants["redis"] = _settings("redis", redis_url, state={"redis_url": redis_url})
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, settings in variants.items():
                rates[name].append(await _stream_rate(settings, clients, seconds))
    print(
        f"streaming: {clients} clients, turns of {events} chunk events each, {rounds} rounds of {seconds:g} s (median)"
    )
    for name, values in rates.items():
        print(
            f"  runs.store={name:<7} {statistics.median(values):9,.0f} events/s   rounds {[round(v) for v in values]}"
        )
    if "redis" in rates:
        ratio = statistics.median(rates["redis"]) / statistics.median(rates["memory"])
        print(f"  ratio redis/memory {ratio:.2f}   (what resuming from any replica costs)")
    else:
        print("  runs.store=redis: skipped (redis-server is not installed)")


async def memory(kept: int, events: int) -> None:
    settings = _settings("memory", None, runs={"max_kept": kept * 2, "max_kept_events": kept * (events + 10) * 2})
    async with AgentHost(settings, registry=_registry()) as host:
        gc.collect()
        before = rss_mb()
        Ticker.count = events
        for start in range(0, kept, 50):
            runs = [host.start_run(host.request("ticker", "go")) for _ in range(min(50, kept - start))]
            await asyncio.gather(*(run.task for run in runs if run.task is not None))
        gc.collect()
        after = rss_mb()
        assert len(host.runs) == kept
        host.runs.max_kept = 0
        host.runs.purge()
        gc.collect()
        forgotten = rss_mb()
    per_run_kb = (after - before) * 1024 / kept
    print(f"memory: {kept:,} kept runs of {events} events each")
    per_event = per_run_kb * 1024 / events
    print(f"  RSS {before:.1f} -> {after:.1f} MB: {per_run_kb:.1f} KB per kept run ({per_event:.0f} bytes per event)")
    print(f"  after the registry forgot them: {forgotten:.1f} MB (freed memory may stay with the allocator)")


async def main(args: argparse.Namespace) -> None:
    await streaming(args.events, args.clients, args.seconds, args.rounds)
    await memory(args.kept, args.events)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kept", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
