"""Connection hygiene of ``agenthost serve``, a real process on a real socket: idle, slow-header and slow-body
clients are closed, open connections are capped below the file-descriptor limit, and the server stays
quiet and keeps answering near it."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator

import pytest

from tests.cluster import Cluster, Proc, free_port, open_fds

pytestmark = pytest.mark.slow

ECHO_ONLY = {"AGENTHOST_AGENTS": "echo", "AGENTHOST_DEFAULT_AGENT": "echo"}
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Sockets:
    """The test's client connections, all closed at the end whatever happens."""

    def __init__(self) -> None:
        self.open: list[Conn] = []

    async def connect(self, port: int) -> Conn:
        async with asyncio.timeout(10):
            conn = await asyncio.open_connection("127.0.0.1", port)
        self.open.append(conn)
        return conn

    def close(self, conns: list[Conn] | None = None) -> None:
        for _, writer in self.open if conns is None else conns:
            writer.close()


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    made = Sockets()
    yield made
    made.close()


async def _get_health(conn: Conn) -> bytes:
    """One keep-alive ``GET /health`` on ``conn``; the response's status line."""
    reader, writer = conn
    writer.write(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
    return head.split(b"\r\n", 1)[0]


async def _until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``within`` seconds)."""
    async with asyncio.timeout(within):
        return await reader.read()


async def _fds_settle(proc: Proc, at_most: int) -> int:
    """The server's open fds once they are down to ``at_most`` (or after 10 s)."""
    for _ in range(100):
        count = open_fds(proc.pid)
        if count <= at_most:
            break
        await asyncio.sleep(0.1)
    return count


async def _peek_refused(conn: Conn) -> bool:
    """Whether the server answered ``conn`` with its over-the-cap 503 before any request."""
    try:
        async with asyncio.timeout(0.3):
            head = await conn[0].read(12)
    except TimeoutError:
        return False
    return head.startswith(b"HTTP/1.1 503")


async def _silent(conn: Conn, within: float) -> bool:
    """Whether the server sends nothing on ``conn`` (and keeps it open) for ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            await conn[0].read(1)
    except TimeoutError:
        return True
    return False


async def test_idle_slow_header_and_slow_body_clients_are_closed(cluster: Cluster, sockets: Sockets) -> None:
    port = free_port()
    env = {**ECHO_ONLY, "AGENTHOST_HTTP__IDLE_TIMEOUT": "2", "AGENTHOST_HTTP__BODY_TIMEOUT": "2"}
    proc = await cluster.start_server(port, env)
    warm = await sockets.connect(port)
    assert await _get_health(warm) == b"HTTP/1.1 200 OK"
    assert await _until_closed(warm[0], 10) == b""  # idle after a response: closed too
    baseline = await _fds_settle(proc, at_most=10_000)

    idle = [await sockets.connect(port) for _ in range(50)]
    peak = open_fds(proc.pid)
    assert peak > baseline
    for reader, _ in idle:  # each one opened and never sent a byte: closed within the idle timeout
        assert await _until_closed(reader, 15) == b""

    reader, writer = await sockets.connect(port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: t\r\n")

    async def trickle() -> None:  # a header line every 0.2 s, never the end of the head
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"X-Slow: yes\r\n")
                await writer.drain()
                await asyncio.sleep(0.2)

    trickling = asyncio.create_task(trickle())
    try:
        assert await _until_closed(reader, 15) == b""  # closed although bytes kept coming
    finally:
        trickling.cancel()

    reader, writer = await sockets.connect(port)
    head = b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    writer.write(head + b'{"message": "hel')  # and the rest of the 100 bytes never comes
    answer = await _until_closed(reader, 15)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"code":"body_timeout"' in answer

    sockets.close()
    after = await _fds_settle(proc, at_most=baseline)
    print(f"\nserver fds: {baseline} before, {peak} with 50 idle connections, {after} after they were closed")
    assert after <= baseline
    assert "Traceback" not in proc.text()


async def test_connections_over_the_cap_get_503_and_health_keeps_answering(cluster: Cluster, sockets: Sockets) -> None:
    port = free_port()
    proc = await cluster.start_server(port, {**ECHO_ONLY, "AGENTHOST_HTTP__IDLE_TIMEOUT": "120"}, max_fds=300)
    assert "connections: at most 108 (fd limit 300)" in proc.text()  # less 64 in reserve, less the backlog 128
    kept = await sockets.connect(port)
    assert await _get_health(kept) == b"HTTP/1.1 200 OK"

    inside = [await sockets.connect(port) for _ in range(107)]  # with `kept`: the cap
    assert all(await asyncio.gather(*(_silent(conn, 1.0) for conn in inside)))
    over = [await sockets.connect(port) for _ in range(100)]
    async with asyncio.timeout(60):  # near the fd limit accepts may pause a second at a time: bounded, not instant
        refused = await asyncio.gather(*(conn[0].read() for conn in over))
    assert all(answer.startswith(b"HTTP/1.1 503") and b"too_many_connections" in answer for answer in refused)
    assert open_fds(proc.pid) <= 300
    assert all(await asyncio.gather(*(_silent(conn, 0.3) for conn in inside)))  # still open, untouched
    assert await _get_health(kept) == b"HTTP/1.1 200 OK"  # a connection inside the cap is served throughout

    sockets.close(inside + over)
    statuses = []
    for _ in range(50):  # the server notices the closed ones within moments: then a new connection is served
        fresh = await sockets.connect(port)
        statuses.append(b"refused" if await _peek_refused(fresh) else await _get_health(fresh))
        if statuses[-1] == b"HTTP/1.1 200 OK":
            break
        await asyncio.sleep(0.2)
    assert statuses[-1] == b"HTTP/1.1 200 OK", statuses
    log = proc.text()
    assert "Traceback" not in log
    assert log.count("Too many open files") <= 2  # at most one line a minute, never one per accept
    print(f"\n{len(refused)} connections over the cap of 108 refused with 503; server fds <= 300")
