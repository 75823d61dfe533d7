"""HTTP edges on the real listener (``start_site``, what ``agenthost serve`` runs) and raw sockets: what the
parser refuses, bytes that are not UTF-8, methods, ``HEAD``, ``Expect: 100-continue``, and an access log
that a client can neither forge nor fill with secrets."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agenthost import Settings
from agenthost.http_bridge import create_app, start_site
from agenthost.http_bridge.listener import quiet_accept_errors

Serve = Callable[..., Awaitable[int]]
KEY = "edge-key-0123456789"


@pytest.fixture
async def serve(make_settings: Callable[..., Settings]) -> AsyncIterator[Serve]:
    """Starts the bridge on the real listener; returns its port. Stopped at the end of the test."""
    runners = []

    async def start(**http: Any) -> int:
        settings = make_settings(agents=["echo"], default_agent="echo", http={"port": 0, **http})
        runner, site = await start_site(create_app(settings), settings)
        runners.append(runner)
        return site.port

    yield start
    for runner in runners:
        await runner.cleanup()


async def _exchange(port: int, raw: bytes, *, until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        async with asyncio.timeout(10):
            if until_close:
                return await reader.read()
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length: (\d+)", head)
            return head + (await reader.readexactly(int(match.group(1))) if match else b"")
    finally:
        writer.close()


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _json(response: bytes) -> Any:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


async def test_what_the_parser_refuses_gets_json_and_one_quiet_log_line(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = await serve()
    response = await _exchange(port, b"GET /health HTTP/1.1\r\nHost: t\r\nX-Bad: \x00\r\n\r\n")
    assert _status(response) == 400
    assert b"application/json" in response
    assert _json(response)["error"]["code"] == "malformed_request"
    garbage = await _exchange(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
    assert _status(garbage) == 400
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "a client's mistake is not an error"
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a malformed request"


async def test_an_authorization_header_that_is_not_utf8_is_a_401(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    port = await serve(api_keys=[KEY])
    for token in (b"\xff\xfe\xfd", KEY.encode() + b"\xff", b"\xc3\x28"):
        raw = b"GET /api/agents HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token + b"\r\n\r\n"
        response = await _exchange(port, raw, until_close=False)
        assert _status(response) == 401, response
        assert _json(response)["error"]["code"] == "invalid_api_key"
    raw = f"GET /api/agents HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode()
    ok = await _exchange(port, raw, until_close=False)
    assert _status(ok) == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_methods_head_and_allow(serve: Serve) -> None:
    port = await serve()
    wrong = await _exchange(port, b"PUT /api/chat HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", until_close=False)
    assert _status(wrong) == 405
    assert re.search(rb"(?i)\r\nallow: POST\r\n", wrong), wrong
    assert _json(wrong)["error"]["code"] == "method_not_allowed"
    trace = await _exchange(port, b"TRACE /v1/models HTTP/1.1\r\nHost: t\r\n\r\n", until_close=False)
    assert _status(trace) == 405
    assert re.search(rb"(?i)\r\nallow: GET,HEAD\r\n", trace), trace
    for path in (b"/health", b"/v1/models", b"/api/agents", b"/openapi.json"):
        head = await _exchange(port, b"HEAD " + path + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert _status(head) == 200, (path, head)
        assert head.endswith(b"\r\n\r\n")  # headers only


async def test_expect_100_continue_is_refused_before_the_body(serve: Serve) -> None:
    port = await serve(api_keys=[KEY], max_body_bytes=4096)
    auth = f"Authorization: Bearer {KEY}\r\n".encode()
    big = b"POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
    response = await _exchange(port, big + auth + b"Content-Length: 67108864\r\n\r\n", until_close=False)
    assert response.startswith(b"HTTP/1.1 413"), response  # no "100 Continue" first
    assert b"100 Continue" not in response
    assert _json(response)["error"]["code"] == "body_too_large"
    stranger = await _exchange(
        port, big + b"Authorization: Bearer nope\r\nContent-Length: 10\r\n\r\n", until_close=False
    )
    assert stranger.startswith(b"HTTP/1.1 401")
    assert b"100 Continue" not in stranger

    body = json.dumps({"message": "hi", "agent": "echo"}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(big + auth + f"Content-Length: {len(body)}\r\n\r\n".encode())
        async with asyncio.timeout(10):
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(body)
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    finally:
        writer.close()


async def test_the_access_log_cannot_be_forged_and_keeps_no_query_secret(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    port = await serve()
    forged = b'curl" 200 0 0.001s "x" request_id=forged'
    head = b"GET /health?api_key=s3cr3t&x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    await _exchange(port, head + b"User-Agent: " + forged + b"\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1
    line = lines[0]
    assert "s3cr3t" not in line
    assert '"GET /health?api_key=***&x=*** HTTP/1.1"' in line
    assert '"curl\\" 200 0 0.001s \\"x\\" request_id=forged"' in line  # the client's quotes are escaped
    assert line.count("request_id=") == 2
    assert re.search(r" request_id=[0-9a-f]{32}$", line)


async def test_running_out_of_descriptors_is_one_warning_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    quiet_accept_errors(loop)
    try:
        for _ in range(500):  # asyncio retries accept every second: this is over 8 minutes of it
            error = OSError(errno.EMFILE, "Too many open files")
            loop.call_exception_handler({"message": "socket.accept() out of system resource", "exception": error})
    finally:
        loop.set_exception_handler(previous)
    lines = [r for r in caplog.records if "Too many open files" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    assert lines[0].exc_info is None
