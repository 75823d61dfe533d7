"""200 clients leave their streams at once: every model call stops and every backend connection is freed.

The fake backend counts, on its side of the socket, the generations that ran to the end
and the ones whose client left; the test also reads the kernel's socket table for the
host's connections to the backend, which must not sit ESTABLISHED with unread data.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.fakes import FakeOpenAI, FakeReply

from .conftest import Client, MakeClient

pytestmark = pytest.mark.slow

CLIENTS = 200
LONG = FakeReply(content="word " * 400, chunk_size=5, chunk_delay=0.1)  # 40 s a generation if left to run


def _backend_sockets(port: int) -> list[tuple[str, int]]:
    """(state, bytes waiting to be read) of every TCP connection to 127.0.0.1:``port`` (from /proc/net/tcp)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, queues = fields[2], fields[3], fields[4]
        if int(remote.split(":")[1], 16) == port:
            found.append(("ESTABLISHED" if state == "01" else state, int(queues.split(":")[1], 16)))
    return found


async def _until(check: Callable[[], bool], within: float) -> None:
    """Poll ``check`` (counters and the kernel's socket table: nothing to await) for up to ``within`` seconds."""
    for _ in range(int(within * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within} s")


async def _storm(url: str, body: dict[str, object], started: Callable[[bytes], bool]) -> None:
    """Open ``CLIENTS`` streams, wait until each has content flowing, then drop them all at once."""
    connector = aiohttp.TCPConnector(limit=CLIENTS + 10)
    async with aiohttp.ClientSession(connector=connector) as session:
        flowing: list[aiohttp.ClientResponse] = []

        async def open_one() -> None:
            response = await session.post(url, json=body)
            async for line in response.content:
                if started(line):
                    break
            flowing.append(response)

        async with asyncio.timeout(180):  # generous: a bound, not a speed test (the machine may be busy)
            await asyncio.gather(*(open_one() for _ in range(CLIENTS)))
        for response in flowing:
            response.close()  # every client leaves, at once


async def _assert_all_stopped(fake_openai: FakeOpenAI, port: int) -> None:
    await _until(lambda: fake_openai.cancelled + fake_openai.completed >= CLIENTS, 90)
    assert (fake_openai.cancelled, fake_openai.completed) == (CLIENTS, 0)  # the backend's own count
    await _until(lambda: all(waiting == 0 for _, waiting in _backend_sockets(port)), 60)
    assert [s for s in _backend_sockets(port) if s[0] == "ESTABLISHED" and s[1] > 0] == []
    left = [s for s in _backend_sockets(port) if s[0] == "ESTABLISHED"]
    print(
        f"\n{CLIENTS} clients left: backend generations cancelled {fake_openai.cancelled}, finished "
        f"{fake_openai.completed}; host->backend sockets ESTABLISHED after: {len(left)}, with unread data: 0"
    )


@pytest.mark.parametrize("api", ["openai", "native"])
async def test_two_hundred_clients_leaving_at_once_stop_every_generation(
    fake_openai: FakeOpenAI, make_client: MakeClient, api: str
) -> None:
    client: Client = await make_client(fake_openai, timeouts={"request": 120, "cancel": 10})
    fake_openai.add(*[LONG] * CLIENTS)
    port = int(fake_openai.base_url.split(":")[2].split("/")[0])
    if api == "openai":
        url = str(client.make_url("/v1/chat/completions"))
        body = {"model": "assistant", "stream": True, "messages": [{"role": "user", "content": "talk"}]}
        started = _first_content_openai
    else:
        url = str(client.make_url("/api/chat/stream"))
        body = {"agent": "assistant", "message": "talk"}
        started = _first_content_native
    await _storm(url, body, started)
    await _assert_all_stopped(fake_openai, port)


def _first_content_openai(line: bytes) -> bool:
    if not line.startswith(b"data: {"):
        return False
    choices = json.loads(line[6:]).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


def _first_content_native(line: bytes) -> bool:
    return line.startswith(b"event: chunk")
