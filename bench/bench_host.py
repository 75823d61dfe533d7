"""In-process throughput of ``AgentHost`` against the bare runtime, and a memory/latency soak.

Run: ``python -m bench.bench_host [--rounds 5] [--count 2000] [--soak 100000]``

1. Chat round-trips per second through ``AgentHost.chat`` (echo agent) against bare
   ``runtime.send_message`` to an equivalent RoutedAgent on the same runtime: one that
   takes the same ``ChatRequest`` and returns the same ``ChatReply`` (the goal's baseline),
   and, for reference, one that echoes a two-field ping. Rounds alternate; each
   variant's best round counts.
2. A soak of streamed requests (per-request topics; every tenth one opens a new
   conversation, so instances are created and evicted) printing RSS growth and the
   p50 latency of the last 10,000 requests against the first 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from autogen_core import AgentId, MessageContext, RoutedAgent, rpc, try_get_known_serializers_for_type
from pydantic import BaseModel, ConfigDict

from agenthost import AgentHost, Settings
from agenthost.messages import ChatReply, ChatRequest

from ._util import Timing, rss_mb, time_calls


class BenchPing(BaseModel):
    model_config = ConfigDict(frozen=True)
    request_id: str
    text: str


class BenchPong(BaseModel):
    model_config = ConfigDict(frozen=True)
    request_id: str
    text: str


class BareEcho(RoutedAgent):
    """The equivalent agent: echoes the last message of a ChatRequest, with no host in between."""

    def __init__(self) -> None:
        super().__init__("bare echo")

    @rpc
    async def on_chat(self, message: ChatRequest, ctx: MessageContext) -> ChatReply:
        return ChatReply(request_id=message.request_id, content=message.messages[-1].content)

    @rpc
    async def on_ping(self, message: BenchPing, ctx: MessageContext) -> BenchPong:
        return BenchPong(request_id=message.request_id, text=message.text)


TEXT = "hello agent host"


def _settings(max_instances: int = 1000) -> Settings:
    return Settings(
        agents=("echo",),
        entry_points=False,
        model={"provider": "none"},
        runtime={"max_instances": max_instances},
    )


async def throughput(rounds: int, count: int) -> None:
    async with AgentHost(_settings()) as host:
        runtime = host.runtime
        for message_type in (BenchPing, BenchPong):
            runtime.add_message_serializer(try_get_known_serializers_for_type(message_type))
        await BareEcho.register(runtime, "bare-echo", BareEcho)
        bare_id = AgentId("bare-echo", "default")
        ping = BenchPing(request_id="x", text=TEXT)

        async def bare() -> object:
            return await runtime.send_message(host.request("echo", TEXT, stream=False), bare_id)

        async def bare_ping() -> object:
            return await runtime.send_message(ping, bare_id)

        async def hosted() -> object:
            return await host.chat("echo", TEXT)

        variants = {"bare": bare, "ping": bare_ping, "host": hosted}
        runs: dict[str, list[Timing]] = {name: [] for name in variants}
        for call in variants.values():
            await time_calls(call, 500)
        for _ in range(rounds):
            for name, call in variants.items():
                runs[name].append(await time_calls(call, count))
    best = {name: max(timings, key=lambda t: t.rate) for name, timings in runs.items()}
    ratio = best["host"].rate / best["bare"].rate
    labels = {
        "bare": "bare send_message (same ChatRequest/ChatReply)",
        "ping": "bare send_message (two-field ping, reference)",
        "host": "AgentHost.chat",
    }
    for name, label in labels.items():
        print(f"{label:<48} {best[name].rate:>8,.0f} rps  p50: {best[name].p50_ms:.3f} ms")
    verdict = "PASS" if ratio >= 0.8 else "FAIL"
    reference = best["host"].rate / best["ping"].rate
    print(f"throughput_ratio: {ratio:.2f} of bare (goal >= 0.80) {verdict}; {reference:.2f} of the ping reference")


async def soak(total: int, window: int) -> None:
    async with AgentHost(_settings()) as host:
        latencies: list[float] = []
        rss_start = 0.0
        clock = time.perf_counter
        for i in range(total):
            conversation = f"c{i}" if i % 10 == 0 else None
            t0 = clock()
            async for _event in host.stream("echo", "hello soak world", conversation_id=conversation):
                pass
            latencies.append(clock() - t0)
            if i + 1 == window:
                gc.collect()
                rss_start = rss_mb()
        gc.collect()
        rss_end = rss_mb()
        first = statistics.median(latencies[:window]) * 1000
        last = statistics.median(latencies[-window:]) * 1000
        growth = rss_end - rss_start
        ratio = last / first
        print(f"soak_requests: {total:,} streamed (every 10th a new conversation; {host.instances.evicted:,} evicted)")
        print(f"soak_live_instances: {len(host.instances)}  open_streams: {len(host._router)}")
        print(f"soak_rss_mb: after first {window:,}: {rss_start:.1f}  end: {rss_end:.1f}  growth: {growth:.1f} MB "
              f"(goal < 20) {'PASS' if growth < 20 else 'FAIL'}")  # fmt: skip
        print(f"soak_p50_ms: first {window:,}: {first:.3f}  last {window:,}: {last:.3f}  ratio: {ratio:.2f} "
              f"(goal <= 1.2) {'PASS' if ratio <= 1.2 else 'FAIL'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--soak", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(throughput(args.rounds, args.count))
    if args.soak:
        asyncio.run(soak(args.soak, min(args.window, args.soak // 2)))


if __name__ == "__main__":
    main()
