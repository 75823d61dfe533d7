"""Traces through the bridge: one trace per request, the GenAI span tree under the HTTP server span.

Spans of this process are collected with the SDK's in-memory exporter; a gRPC worker
process exports its own over OTLP/HTTP to a small collector run by the test, so the
tree is checked across the process boundary too (W3C trace context on the request).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agenthost import AgentHost, Settings
from agenthost.http_bridge import create_app
from agenthost.http_bridge.keys import HOST
from agenthost.telemetry import Telemetry, Tracing
from tests.cluster import Cluster, model_env
from tests.fakes import FakeOpenAI, FakeReply, ToolCall
from tests.http_bridge.conftest import Client

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    yield spans
    spans.shutdown()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


MakeTraced = Callable[..., Awaitable[Client]]


@pytest.fixture
def traced_client(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings], provider: TracerProvider
) -> MakeTraced:
    async def make(fake: FakeOpenAI | None = None, **overrides: Any) -> Client:
        settings = make_settings(fake, **overrides)
        host = AgentHost(settings, telemetry=Telemetry.from_settings(settings, tracer_provider=provider))
        return await aiohttp_client(create_app(host=host))

    return make


def tool_then_answer(fake: FakeOpenAI) -> None:
    fake.add(FakeReply(tool_calls=(ToolCall("get_weather", {"city": "Paris"}),)), FakeReply(content="Sunny."))


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_one_trace_per_request_with_the_genai_tree(
    traced_client: MakeTraced, fake_openai: FakeOpenAI, exporter: InMemorySpanExporter
) -> None:
    client = await traced_client(fake_openai)
    tool_then_answer(fake_openai)
    body = {"model": "weather", "messages": [{"role": "user", "content": "Weather in Paris?"}], "stream": True}
    response = await client.post("/v1/chat/completions", json=body, headers={"traceparent": TRACEPARENT})
    assert response.status == 200
    await response.read()
    spans = list(exporter.get_finished_spans())

    server = one(spans, "POST /v1/chat/completions")
    agent = one(spans, "invoke_agent weather")
    tool = one(spans, "execute_tool get_weather")
    chats = [span for span in spans if span.name == "chat fake-model"]
    assert len(chats) == 2  # the tool call, then the reflection on its result
    assert {format(span.context.trace_id, "032x") for span in spans} == {CALLER_TRACE}  # the caller's trace
    assert parent_of(server) == int(CALLER_SPAN, 16)
    assert server.kind == SpanKind.SERVER
    assert attrs(server)["http.route"] == "/v1/chat/completions"
    assert attrs(server)["http.response.status_code"] == 200
    assert parent_of(agent) == server.context.span_id
    assert all(parent_of(span) == agent.context.span_id for span in [tool, *chats])

    assert attrs(agent)["gen_ai.operation.name"] == "invoke_agent"
    assert attrs(agent)["gen_ai.agent.name"] == "weather"
    assert attrs(agent)["agenthost.request_id"] == response.headers["X-Request-ID"]  # one id end to end
    assert attrs(agent)["gen_ai.usage.input_tokens"] == 22  # both model calls
    chat = chats[0]
    assert chat.kind == SpanKind.CLIENT
    assert attrs(chat)["gen_ai.operation.name"] == "chat"
    assert attrs(chat)["gen_ai.provider.name"] == "openai"
    assert attrs(chat)["gen_ai.request.model"] == "fake-model"
    assert attrs(chat)["gen_ai.usage.input_tokens"] == 11
    assert attrs(chat)["gen_ai.response.finish_reasons"] == ("function_calls",)
    assert attrs(tool)["gen_ai.tool.call.id"] == "call_0"
    recorded = [key for span in spans for key in (span.attributes or {}) if key.endswith(("messages", "arguments"))]
    assert recorded == []  # no message text unless telemetry.record_content says so


async def test_content_is_recorded_only_when_asked(
    traced_client: MakeTraced, fake_openai: FakeOpenAI, exporter: InMemorySpanExporter
) -> None:
    client = await traced_client(fake_openai, telemetry={"record_content": True})
    body = {"model": "assistant", "messages": [{"role": "user", "content": "my secret"}], "max_tokens": 9}
    assert (await client.post("/v1/chat/completions", json=body)).status == 200
    spans = list(exporter.get_finished_spans())
    agent = one(spans, "invoke_agent assistant")
    chat = one(spans, "chat fake-model")
    assert "my secret" in str(attrs(agent)["gen_ai.input.messages"])
    assert json.loads(str(attrs(chat)["gen_ai.output.messages"]))[0]["parts"][0]["content"] == "You said: my secret"
    assert attrs(chat)["gen_ai.request.max_tokens"] == 9
    server = one(spans, "POST /v1/chat/completions")
    assert parent_of(server) is None  # no traceparent sent: a new trace


async def test_errors_mark_the_spans(traced_client: MakeTraced, exporter: InMemorySpanExporter) -> None:
    client = await traced_client()  # no model: the assistant fails
    assert (await client.post("/api/chat", json={"message": "hi", "agent": "assistant"})).status == 503
    spans = list(exporter.get_finished_spans())
    agent = one(spans, "invoke_agent assistant")
    assert attrs(agent)["error.type"] == "model_not_configured"
    assert attrs(agent)["gen_ai.conversation.id"]  # a native turn is a conversation
    server = one(spans, "POST /api/chat")
    assert attrs(server)["error.type"] == "503"


async def test_tracing_off_builds_nothing(client: Client) -> None:
    assert client.app is not None
    agent_host = client.app[HOST]
    assert agent_host.telemetry.tracing.tracer is None
    request = agent_host.request("echo", "hi")
    assert request.traceparent is None


# -- across a gRPC worker process ------------------------------------------------------------------


WORKER_SPANS = {"invoke_agent weather", "chat fake-model", "execute_tool get_weather"}  # chat twice


class Collector:
    """An OTLP/HTTP trace receiver: ``POST /v1/traces`` with an ``ExportTraceServiceRequest``."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def receive(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "service": resource.get("service.name"),
                            "attributes": {kv.key: kv.value for kv in span.attributes},
                        }
                    )
        self.arrived.set()
        return web.Response(body=b"", content_type="application/x-protobuf")

    def named(self, name: str) -> dict[str, Any]:
        return next(span for span in self.spans if span["name"] == name)


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    sink = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", sink.receive)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield sink, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.grpc
@pytest.mark.slow
async def test_the_trace_crosses_into_the_worker(
    cluster: Cluster,
    collector: tuple[Collector, str],
    fake_openai: FakeOpenAI,
    aiohttp_client: Callable[..., Awaitable[Client]],
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    sink, endpoint = collector
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "worker"}
    await cluster.start_host()
    await cluster.start_worker("weather", env={**model_env(fake_openai), **otel})
    settings = cluster.client_settings(timeouts={"request": 20, "cancel": 2, "startup": 10, "shutdown": 3})
    tracing = Tracing.from_settings(settings, provider)
    host = AgentHost(settings, register_agents=False, telemetry=Telemetry(tracing=tracing))
    client = await aiohttp_client(create_app(host=host))
    tool_then_answer(fake_openai)

    response = await client.post("/api/chat", json={"message": "Weather in Paris?", "agent": "weather"})
    assert response.status == 200
    async with asyncio.timeout(15):
        while True:
            sink.arrived.clear()
            if sum(span["name"] in WORKER_SPANS for span in sink.spans) == len(WORKER_SPANS) + 1:
                break
            await sink.arrived.wait()

    server = one(list(exporter.get_finished_spans()), "POST /api/chat")
    agent = sink.named("invoke_agent weather")
    assert agent["service"] == "worker"
    assert agent["trace_id"] == format(server.context.trace_id, "032x")  # one trace, two processes
    assert agent["parent"] == format(server.context.span_id, "016x")
    assert agent["attributes"]["agenthost.request_id"].string_value == response.headers["X-Request-ID"]
    below = [span for span in sink.spans if span["parent"] == agent["span_id"]]
    assert sorted(span["name"] for span in below) == ["chat fake-model", "chat fake-model", "execute_tool get_weather"]
