"""One request cannot stall the server: 100 KB messages to ``echo`` (50,000 words each) while /health is probed.

Before limits and coalescing, one such message became 50,002 SSE events and held the event loop
for seconds (8 at once: /health stalled 44 s, RSS 1.9 GB). Now a turn's chunks are coalesced, an
agent that emits without awaiting yields the loop every 64 chunks, and a turn over its limits ends
with ``limit_exceeded``.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time

import pytest

from tests.cluster import Cluster

from .conftest import Client, MakeClient
from .sse_client import events

pytestmark = pytest.mark.slow

WORDS = 50_000
MESSAGE = "w " * WORDS  # 100,000 characters: the largest message the default settings accept


async def _health_latencies(client: Client, stop: asyncio.Event) -> list[float]:
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.get("/health")
        assert response.status == 200
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    return latencies


async def test_eight_huge_echo_streams_do_not_stall_health(
    make_client: MakeClient, grpc_cluster: Cluster | None
) -> None:
    client = await make_client(timeouts={"request": 120})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stop = asyncio.Event()
    probe = asyncio.create_task(_health_latencies(client, stop))

    async def one() -> int:
        response = await client.post("/api/chat/stream", json={"message": MESSAGE, "agent": "echo"})
        frames = await events(response)
        assert frames[-1].event == "done"
        assert "".join(f.json()["content"] for f in frames if f.event == "chunk") == MESSAGE
        return len(frames)

    sizes = await asyncio.gather(*(one() for _ in range(8)))
    stop.set()
    latencies = await probe
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    p50, worst, grew = statistics.median(latencies) * 1000, max(latencies) * 1000, (rss_after - rss_before) / 1024
    print(f"\n8 x 100 KB echo streams: {max(sizes)} events each at most; /health p50 {p50:.1f} ms, max {worst:.1f} ms")
    print(f"({len(latencies)} probes); peak RSS of the test process +{grew:.1f} MiB")
    assert max(sizes) < 2_000  # not 50,002 events: chunks coalesce
    assert max(latencies) < 2.0, f"/health stalled {max(latencies):.2f} s"  # it was 44 s; a generous bound
    if grpc_cluster is None:  # the embedded runtime runs the agent in this process
        assert rss_after - rss_before < 400 * 1024  # KiB: it was +1.8 GB


async def test_a_turn_over_its_event_limit_ends_with_limit_exceeded(
    make_client: MakeClient, grpc_cluster: Cluster | None
) -> None:
    if grpc_cluster is not None:
        pytest.skip("limits are the worker's settings; the shared cluster runs with the defaults")
    client = await make_client(limits={"max_events": 10})
    many = " ".join(f"w{i}" for i in range(2_000))  # echo yields every 64 words: ~30 chunk events, plus others
    response = await client.post("/api/chat/stream", json={"message": many, "agent": "echo"})
    last = (await events(response))[-1]
    assert (last.event, last.json()["code"]) == ("error", "limit_exceeded")
    assert "AGENTHOST_LIMITS__MAX_EVENTS" in last.json()["message"]
    response = await client.post("/api/chat/stream", json={"message": "a few words", "agent": "echo"})
    assert (await events(response))[-1].event == "done"  # the limit is per turn
    small = await make_client(limits={"max_bytes": 1_000})
    response = await small.post("/api/chat/stream", json={"message": "w " * 2_000, "agent": "echo"})
    last = (await events(response))[-1]
    assert last.event == "error"
    assert last.json()["code"] == "limit_exceeded"
    assert "AGENTHOST_LIMITS__MAX_BYTES" in last.json()["message"]
