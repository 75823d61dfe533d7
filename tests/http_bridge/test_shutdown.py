"""Graceful shutdown: in-flight streams end with a terminal event, the runtime stops, SIGTERM exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agenthost import Settings
from agenthost.http_bridge.keys import HOST
from tests.cluster import free_port
from tests.fakes import FakeOpenAI, FakeReply

from .sse_client import frames

ROOT = Path(__file__).resolve().parents[2]


async def test_shutdown_ends_open_streams_with_an_error_event(
    fake_openai: FakeOpenAI,
    make_settings: Callable[..., Settings],
    make_app: Callable[[Settings], Awaitable[web.Application]],
) -> None:
    app = await make_app(make_settings(fake_openai, http={"shutdown_timeout": 1}))
    server = TestServer(app, handler_cancellation=True, shutdown_timeout=1)
    await server.start_server()
    fake_openai.add(FakeReply(content="x" * 400, chunk_size=1, chunk_delay=0.02))
    async with aiohttp.ClientSession() as session:
        response = await session.post(server.make_url("/api/chat/stream"), json={"message": "go", "agent": "assistant"})
        events = []
        closing: asyncio.Task[None] | None = None
        async for frame in frames(response):
            events.append(frame)
            if frame.event == "chunk" and closing is None:
                closing = asyncio.create_task(server.close())
    assert closing is not None
    await asyncio.wait_for(closing, 5)
    assert events[-1].event == "error"
    assert events[-1].json()["code"] == "unavailable"
    assert not app[HOST].started
    await asyncio.wait_for(fake_openai.cancelled_event.wait(), 5)


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
async def test_serve_stops_on_sigterm_with_exit_code_0(loop: str) -> None:
    """On uvloop by default (a dependency), on asyncio's loop when told; the start line says which."""
    port = free_port()
    env = {**os.environ, "AGENTHOST_MODEL__PROVIDER": "none", "AGENTHOST_ENTRY_POINTS": "false", "AGENTHOST_LOOP": loop}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agenthost.cli",
        "serve",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(_until_ready(f"http://127.0.0.1:{port}/ready"), 30)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 0
        started = next(line for line in stderr.decode().splitlines() if "agenthost listening on" in line)
        assert f"http://127.0.0.1:{port} (docs at /docs); runtime: local; model: none" in started
        assert "agents: assistant, echo, password-game, weather, writer-critic; API keys: off" in started
        assert started.endswith(f"event loop: {'uvloop' if loop == 'auto' else 'asyncio'}")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _until_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
