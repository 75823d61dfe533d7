"""Log records name their request: the formatters, and the id from the HTTP request to the agent's worker."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from autogen_core import CancellationToken
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agenthost import AgentHost, AgentRegistry, Settings
from agenthost.core.emitter import EventEmitter
from agenthost.core.hosted import HostedAgent
from agenthost.http_bridge import create_app
from agenthost.messages import ChatReply, ChatRequest
from agenthost.telemetry import REQUEST_ID, ContextFilter, JsonFormatter, Telemetry, TextFormatter
from tests.cluster import Cluster

Client = TestClient[web.Request, web.Application]


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    made = logging.LogRecord("agenthost.test", logging.ERROR, __file__, 1, message, args, exc_info)
    ContextFilter().filter(made)
    return made


def test_json_lines_cannot_be_forged() -> None:
    token = REQUEST_ID.set("abc.123")
    try:
        line = JsonFormatter().format(record('user said "%s"', 'x"\n{"level": "INFO"}', exc=True))
    finally:
        REQUEST_ID.reset(token)
    assert "\n" not in line  # one record, one line, whatever the message holds
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["message"] == 'user said "x"\n{"level": "INFO"}"'
    assert entry["request_id"] == "abc.123"
    assert "ValueError: bad" in entry["exception"]
    assert entry["time"].endswith("Z")


def test_text_lines_end_with_the_request_id() -> None:
    assert not TextFormatter().format(record("outside a request")).endswith("request_id=None")
    token = REQUEST_ID.set("r-1")
    try:
        assert TextFormatter().format(record("inside")).endswith(" inside request_id=r-1")
    finally:
        REQUEST_ID.reset(token)


class Failing(HostedAgent):
    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        logging.getLogger("agenthost.test.agent").warning("about to fail")
        raise RuntimeError("broken on purpose")


async def test_one_id_from_access_log_to_agent_error(
    aiohttp_client: Callable[..., Awaitable[Client]],
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = AgentRegistry()
    registry.add_hosted("failing", Failing, "fails")
    host = AgentHost(make_settings(), registry=registry)
    client = await aiohttp_client(create_app(host=host))
    caplog.handler.addFilter(ContextFilter())
    caplog.set_level(logging.INFO)
    logged = _Seen("aiohttp.access")
    logging.getLogger("aiohttp.access").addHandler(logged)
    try:
        response = await client.post("/api/chat", json={"message": "hi", "agent": "failing"})
        assert response.status == 502
        request_id = response.headers["X-Request-ID"]
        async with asyncio.timeout(5):
            await logged.event.wait()  # the access line is written after the response went out
    finally:
        logging.getLogger("aiohttp.access").removeHandler(logged)
    by_logger = {r.name: r for r in caplog.records}
    assert by_logger["agenthost.test.agent"].request_id == request_id  # type: ignore[attr-defined]
    assert by_logger["agenthost.core.hosted"].request_id == request_id  # type: ignore[attr-defined]
    assert by_logger["aiohttp.access"].request_id == request_id  # type: ignore[attr-defined]


class _Seen(logging.Handler):
    """Sets ``event`` when a record of logger ``name`` is handled."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.event = asyncio.Event()
        self._name = name

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == self._name:
            self.event.set()


PLUGIN = """
from registry import add_agent

def create_agent(user_message, context):
    raise RuntimeError("this plugin is broken")

add_agent("broken", create_agent)
"""


@pytest.mark.grpc
@pytest.mark.slow
async def test_worker_logs_carry_the_request_id(
    cluster: Cluster, aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(PLUGIN)
    env = {"AGENTHOST_PLUGIN_DIRS": str(plugins), "AGENTHOST_BUILTIN_AGENTS": "false", "AGENTHOST_LOG_FORMAT": "json"}
    await cluster.start_host()
    worker = await cluster.start_worker("broken", env=env)
    host = AgentHost(cluster.client_settings(builtin_agents=False, plugin_dirs=[plugins]), register_agents=False)
    client = await aiohttp_client(create_app(host=host))
    response = await client.post("/api/chat", json={"message": "hi", "agent": "broken"})
    assert response.status == 502
    request_id = response.headers["X-Request-ID"]
    await worker.wait_for_log(request_id, within=10)
    lines = [json.loads(line) for line in worker.text().splitlines() if line.startswith("{")]
    failure = next(line for line in lines if line.get("request_id") == request_id)
    assert failure["level"] == "ERROR"
    assert "this plugin is broken" in failure["exception"]


async def test_agent_logs_name_the_trace(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = AgentRegistry()
    registry.add_hosted("failing", Failing, "fails")
    settings = make_settings()
    telemetry = Telemetry.from_settings(settings, tracer_provider=provider)
    caplog.handler.addFilter(ContextFilter())
    async with AgentHost(settings, registry=registry, telemetry=telemetry) as host:
        reply = [event async for event in host.stream("failing", "hi")]
    assert reply[-1].kind == "error"
    (span,) = [span for span in exporter.get_finished_spans() if span.name == "invoke_agent failing"]
    failure = next(r for r in caplog.records if r.name == "agenthost.core.hosted")
    assert failure.trace_id == format(span.context.trace_id, "032x")  # type: ignore[attr-defined]
    assert failure.span_id == format(span.context.span_id, "016x")  # type: ignore[attr-defined]
