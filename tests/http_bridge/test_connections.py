"""Connection hygiene of ``agenthost serve``, a real process on a real socket: idle, slow-header and slow-body
clients are closed, open connections are capped below the file-descriptor limit, and the server stays
quiet and keeps answering near it."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

from tests.cluster import Cluster, Proc, free_port, open_fds

pytestmark = pytest.mark.slow

ECHO_ONLY = {"AGENTHOST_AGENTS": "echo", "AGENTHOST_DEFAULT_AGENT": "echo"}
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(port: int) -> Conn:
    async with asyncio.timeout(10):
        return await asyncio.open_connection("127.0.0.1", port)


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


def _close(conns: list[Conn]) -> None:
    for _, writer in conns:
        writer.close()


async def test_idle_slow_header_and_slow_body_clients_are_closed(cluster: Cluster) -> None:
    port = free_port()
    env = {**ECHO_ONLY, "AGENTHOST_HTTP__IDLE_TIMEOUT": "1", "AGENTHOST_HTTP__BODY_TIMEOUT": "1"}
    proc = await cluster.start_server(port, env)
    warm = await _connect(port)
    assert await _get_health(warm) == b"HTTP/1.1 200 OK"
    assert await _until_closed(warm[0], 10) == b""  # idle after a response: closed too
    _close([warm])
    baseline = await _fds_settle(proc, at_most=10_000)

    idle = [await _connect(port) for _ in range(50)]
    assert open_fds(proc.pid) >= baseline + 50
    for reader, _ in idle:  # each one opened and never sent a byte: closed within the idle timeout
        assert await _until_closed(reader, 15) == b""
    _close(idle)

    reader, writer = await _connect(port)
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
        writer.close()

    reader, writer = await _connect(port)
    head = b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    writer.write(head + b'{"message": "hel')  # and the rest of the 100 bytes never comes
    answer = await _until_closed(reader, 15)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"code":"body_timeout"' in answer

    after = await _fds_settle(proc, at_most=baseline)
    print(f"\nserver fds: {baseline} before, {baseline + 50}+ with 50 idle connections, {after} after")
    assert after <= baseline
    assert "Traceback" not in proc.text()


async def test_connections_over_the_cap_get_503_and_health_keeps_answering(cluster: Cluster) -> None:
    port = free_port()
    proc = await cluster.start_server(port, {**ECHO_ONLY, "AGENTHOST_HTTP__IDLE_TIMEOUT": "120"}, max_fds=200)
    assert "connections: at most 136 (fd limit 200)" in proc.text()  # the limit less 64 in reserve
    kept = await _connect(port)
    assert await _get_health(kept) == b"HTTP/1.1 200 OK"

    conns = [await _connect(port) for _ in range(235)]  # with `kept`: 100 over the cap of 136

    async def outcome(conn: Conn) -> bytes:
        try:
            return await _until_closed(conn[0], 5)
        except TimeoutError:
            return b"open"

    outcomes = await asyncio.gather(*(outcome(conn) for conn in conns))
    refused = [answer for answer in outcomes if answer != b"open"]
    assert len(refused) == 100
    assert all(answer.startswith(b"HTTP/1.1 503") and b"too_many_connections" in answer for answer in refused)
    assert open_fds(proc.pid) <= 200
    assert await _get_health(kept) == b"HTTP/1.1 200 OK"  # a connection inside the cap is served throughout

    _close(conns)
    statuses = []
    for _ in range(50):  # the server notices the closed ones within moments: then a new connection is served
        fresh = await _connect(port)
        statuses.append(await _get_health(fresh) if not (await _peek_refused(fresh)) else b"refused")
        _close([fresh])
        if statuses[-1] == b"HTTP/1.1 200 OK":
            break
        await asyncio.sleep(0.2)
    assert statuses[-1] == b"HTTP/1.1 200 OK", statuses
    _close([kept])
    log = proc.text()
    assert "Traceback" not in log
    assert log.count("Too many open files") <= 2  # at most one line a minute, never one per accept
    print(
        f"\nrefused {len(refused)} connections over the cap; server fds at most 200; log lines: {len(log.splitlines())}"
    )
