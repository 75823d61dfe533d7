"""HTTP bridge benchmark: ``python -m bench.bench_http`` (about a minute).

Prints, in one run:
- ``POST /api/chat`` (echo agent) requests/s and p50/p99 at fixed concurrency, against a bare
  aiohttp handler returning the same JSON from the same process, and the ratio (goal >= 0.50);
- the p50 latency HTTP adds over an in-process ``AgentHost.chat`` (sequential; goal <= 1 ms);
- streamed chunks/s on ``/api/chat/stream`` and its time to first event.

Both servers and the load generator share one process and one event loop, as the goal is phrased.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from agenthost import AgentHost, Settings
from agenthost.http_bridge import create_app, make_runner
from agenthost.http_bridge.keys import HOST

REPLY = {"message": "hello", "conversation_id": "0" * 32, "status": "success"}
Call = Callable[[aiohttp.ClientSession, int], Awaitable[None]]


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float


def _settings() -> Settings:
    return Settings(model={"provider": "none"}, entry_points=False, log_level="WARNING")


async def _bare(request: web.Request) -> web.Response:
    return web.json_response(REPLY)


async def _start(app: web.Application, settings: Settings) -> tuple[web.AppRunner, str]:
    runner = make_runner(app, settings)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def _summary(latencies: list[float], elapsed: float) -> Result:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Result(len(ordered) / elapsed, statistics.median(ordered) * 1e3, p99 * 1e3)


async def _drive(call: Call, total: int, concurrency: int) -> Result:
    """``total`` calls by ``concurrency`` workers over one pooled session."""
    latencies: list[float] = []
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(index: int) -> None:
            for _ in counter:
                start = time.perf_counter()
                await call(session, index)
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return _summary(latencies, time.perf_counter() - began)


async def _interleaved(
    first: Call, second: Call, total: int, concurrency: int, rounds: int = 3
) -> tuple[Result, Result]:
    """Alternate rounds of both, so that a noisy neighbour on the machine weighs on both alike."""
    a: list[Result] = []
    b: list[Result] = []
    for _ in range(rounds):
        a.append(await _drive(first, total // rounds, concurrency))
        b.append(await _drive(second, total // rounds, concurrency))
    return _merge(a), _merge(b)


def _merge(results: list[Result]) -> Result:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    return Result(
        median([r.rps for r in results]), median([r.p50_ms for r in results]), median([r.p99_ms for r in results])
    )


def _post_json(url: str, body: Callable[[int], dict[str, str]]) -> Call:
    async def call(session: aiohttp.ClientSession, worker: int) -> None:
        async with session.post(url, json=body(worker)) as response:
            assert response.status == 200, await response.text()
            await response.read()

    return call


async def _inprocess_p50(host: AgentHost, count: int) -> float:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        await host.chat("echo", "hello", conversation_id="bench-inproc")
        latencies.append(time.perf_counter() - start)
    return statistics.median(latencies) * 1e3


async def _stream(session: aiohttp.ClientSession, url: str, message: str) -> tuple[float, int, float]:
    """Time to the first event, the number of chunk events, and the whole stream's duration."""
    start = time.perf_counter()
    first, chunks = 0.0, 0
    async with session.post(url, json={"message": message, "agent": "echo"}) as response:
        async for line in response.content:
            if line.startswith(b"event:") and not first:
                first = time.perf_counter() - start
            chunks += line == b"event: chunk\n"
    return first, chunks, time.perf_counter() - start


async def _streaming(base: str, streams: int, words: int) -> tuple[float, float, float]:
    """Words streamed per second and chunk events per stream over long streams (echo sends every word back;
    chunks that pile up while the client reads coalesce), and time-to-first-event p50 (ms) over short ones."""
    long_message = " ".join(f"w{i}" for i in range(words))
    async with aiohttp.ClientSession() as session:
        runs = [await _stream(session, f"{base}/api/chat/stream", long_message) for _ in range(streams)]
        firsts = [(await _stream(session, f"{base}/api/chat/stream", "hello"))[0] for _ in range(300)]
    words_per_s = streams * words / sum(run[2] for run in runs)
    return words_per_s, sum(run[1] for run in runs) / streams, statistics.median(firsts) * 1e3


async def _throughput(base: str, bare_base: str, total: int, concurrency: int) -> None:
    conversations = [uuid.uuid4().hex for _ in range(concurrency)]
    chat = _post_json(
        f"{base}/api/chat", lambda w: {"message": "hello", "agent": "echo", "conversation_id": conversations[w]}
    )
    fresh = _post_json(f"{base}/api/chat", lambda w: {"message": "hello", "agent": "echo"})
    plain = _post_json(f"{bare_base}/api/chat", lambda w: {"message": "hello", "agent": "echo"})
    for call in (chat, plain):
        await _drive(call, 500, concurrency)  # warm-up
    http, bare = await _interleaved(chat, plain, total, concurrency)
    new = await _drive(fresh, total, concurrency)
    one, bare_one = await _interleaved(chat, plain, total // 2, 1)
    print(f"concurrency: {concurrency} requests: {total}")
    print(f"http_chat_rps: {http.rps:.1f} bare_rps: {bare.rps:.1f} ratio: {http.rps / bare.rps:.2f} (goal >= 0.50)")
    print(
        f"concurrency_1: http_chat_rps: {one.rps:.1f} bare_rps: {bare_one.rps:.1f} ratio: {one.rps / bare_one.rps:.2f}"
    )
    print(f"http_chat_p50_ms: {http.p50_ms:.3f} p99_ms: {http.p99_ms:.3f}")
    print(f"bare_p50_ms: {bare.p50_ms:.3f} p99_ms: {bare.p99_ms:.3f}")
    print(f"http_chat_new_conversation_rps: {new.rps:.1f} p50_ms: {new.p50_ms:.3f} p99_ms: {new.p99_ms:.3f}")


async def _latency(host: AgentHost, base: str, bare_base: str, count: int) -> None:
    body = {"message": "hello", "agent": "echo", "conversation_id": "bench-http"}
    inproc = await _inprocess_p50(host, count)
    http = await _drive(_post_json(f"{base}/api/chat", lambda w: body), count, 1)
    bare = await _drive(_post_json(f"{bare_base}/api/chat", lambda w: body), count, 1)
    print(f"sequential_p50_ms: http_chat {http.p50_ms:.3f} in_process_agenthost {inproc:.3f} bare {bare.p50_ms:.3f}")
    print(f"added_p50_ms_over_in_process: {http.p50_ms - inproc:.3f} (goal <= 1.000)")


async def main(total: int, concurrency: int, sequential: int) -> None:
    settings = _settings()
    app = create_app(settings)
    bridge, base = await _start(app, settings)
    bare_app = web.Application()
    bare_app.router.add_post("/api/chat", _bare)
    bare, bare_base = await _start(bare_app, settings)
    try:
        await _throughput(base, bare_base, total, concurrency)
        await _latency(app[HOST], base, bare_base, sequential)
        words_per_s, chunks, first_ms = await _streaming(base, 10, 2000)
        print(
            f"stream_words_per_s: {words_per_s:.0f} (2,000 words in {chunks:.0f} chunk events) "
            f"time_to_first_event_p50_ms: {first_ms:.3f}"
        )
    finally:
        await bare.cleanup()
        await bridge.cleanup()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.sequential))


if __name__ == "__main__":
    run()
