"""The memory store's byte bound holds a real server's memory: the same 3,000 conversations of 8 KB each, sent to
``agenthost serve`` with the default store bounded at 8 MiB and with it practically unbounded; RSS compared."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.cluster import Cluster, Proc, free_port

pytestmark = pytest.mark.slow

KEEPER = '''
"""keeper: keeps every message of a conversation in its state (a stand-in for an LLM agent's history)."""

from agenthost.core.hosted import HostedAgent
from agenthost.messages import ChatReply


class Keeper(HostedAgent):
    def __init__(self, description, deps):
        super().__init__(description, deps)
        self.notes = []

    async def respond(self, request, emit, token):
        self.notes.append(request.messages[-1].content)
        return ChatReply(request_id=request.request_id, conversation_id=request.conversation_id,
                         content=str(len(self.notes)))

    async def save_state(self):
        return {"notes": self.notes}

    async def load_state(self, state):
        self.notes = list(state["notes"])


def setup(registry):
    registry.add_hosted("keeper", Keeper, "Keeps every message.")
'''
CONVERSATIONS = 3000
MESSAGE = "x" * 8000
BOUND = 8 * 1024 * 1024


def _rss_mib(proc: Proc) -> float:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _chat(session: aiohttp.ClientSession, url: str, conversation_id: str) -> str:
    body = {"message": MESSAGE, "agent": "keeper", "conversation_id": conversation_id}
    async with session.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        reply: dict[str, Any] = await response.json()
        return str(reply["message"])


async def _drive(port: int, first: int, last: int) -> None:
    url = f"http://127.0.0.1:{port}/api/chat"
    queue = iter(range(first, last))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for index in queue:
                await _chat(session, url, f"c{index}")

        async with asyncio.timeout(300):
            await asyncio.gather(*(worker() for _ in range(8)))


async def _run(cluster: Cluster, tmp_path: Path, max_bytes: int) -> tuple[float, float, str, str]:
    plugins = tmp_path / f"plugins-{max_bytes}"
    plugins.mkdir()
    (plugins / "keeper.py").write_text(KEEPER, encoding="utf-8")
    port = free_port()
    env = {
        "AGENTHOST_PLUGIN_DIRS": str(plugins),
        "AGENTHOST_BUILTIN_AGENTS": "false",
        "AGENTHOST_DEFAULT_AGENT": "keeper",
        "AGENTHOST_STATE__MAX_BYTES": str(max_bytes),
        "AGENTHOST_RUNTIME__MAX_INSTANCES": "50",
    }
    proc = await cluster.start_server(port, env)
    await _drive(port, 0, 300)  # warm up: code paths, allocator pools, 50 live instances
    before = _rss_mib(proc)
    await _drive(port, 300, CONVERSATIONS)
    after = _rss_mib(proc)
    url = f"http://127.0.0.1:{port}/api/chat"
    async with aiohttp.ClientSession() as session:
        oldest = await _chat(session, url, "c300")  # notes counted after this turn
        newest = await _chat(session, url, f"c{CONVERSATIONS - 1}")
    proc.signal(signal.SIGTERM)
    await proc.wait(30)
    return before, after, oldest, newest


async def test_the_byte_bound_holds_the_servers_memory(cluster: Cluster, tmp_path: Path) -> None:
    bounded = await _run(cluster, tmp_path, BOUND)
    unbounded = await _run(cluster, tmp_path, 1024**3)
    state_mib = (CONVERSATIONS - 300) * len(MESSAGE) / 1024**2
    print(
        f"\n{CONVERSATIONS - 300} conversations, {state_mib:.1f} MiB of state:"
        f" RSS bounded at {BOUND // 1024**2} MiB {bounded[0]:.1f} -> {bounded[1]:.1f} MiB"
        f" (+{bounded[1] - bounded[0]:.1f});"
        f" unbounded {unbounded[0]:.1f} -> {unbounded[1]:.1f} MiB (+{unbounded[1] - unbounded[0]:.1f})"
    )
    assert bounded[2] == "1"  # the oldest conversation was dropped: it starts afresh
    assert unbounded[2] == "2"  # kept when nothing bounds the store
    assert bounded[3] == unbounded[3] == "2"  # the newest is kept either way
    assert bounded[1] - bounded[0] < BOUND / 1024**2 + 8  # the bound plus slack, whatever the traffic
    assert unbounded[1] - unbounded[0] > state_mib * 0.8  # and the traffic would have grown it this much
