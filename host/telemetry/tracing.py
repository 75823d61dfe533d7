"""OpenTelemetry traces: off unless configured, one trace per request when on.

The tree of one turn (names and attributes follow the OpenTelemetry GenAI conventions)::

    POST /v1/chat/completions          SERVER   the bridge (http_bridge.observe)
    └── invoke_agent weather          INTERNAL  the agent's process (HostedAgent), across gRPC
        ├── chat gpt-4o-mini          CLIENT    every model call (ScopedModelClient)
        ├── execute_tool get_weather  INTERNAL  every tool call (the AgentChat adapter)
        └── chat gpt-4o-mini          CLIENT

The context crosses the runtime as W3C trace context on the :class:`ChatRequest`
(``traceparent``, ``tracestate``), so the agent's spans join the bridge's trace on
any worker. Configuration is the standard ``OTEL_*`` environment: an OTLP exporter
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_PROTOCOL`` = ``http/protobuf``
or ``grpc``), ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``),
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
``OTEL_BSP_*``, ``OTEL_SDK_DISABLED``. With none of that (and ``telemetry.tracing``
not ``on``) :data:`NO_TRACING` is used: no tracer, nothing built per request.

agenthost's spans go to a tracer provider of its own, so the engine's and AgentChat's
built-in spans (older attribute names, a span per runtime message) stay out. If the
program has set a global SDK tracer provider itself, that one is used; with
``runtime.tracing`` on, agenthost's provider becomes the global one, and the engine's
spans join the same traces.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..settings import Settings

__all__ = ["NO_TRACING", "Tracing", "end_span", "wanted"]

logger = logging.getLogger(__name__)

INSTRUMENTATION = "agenthost"
_PROPAGATOR = TraceContextTextMapPropagator()


def wanted(settings: Settings, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether these settings and this environment (or a tracer provider the program set) turn tracing on."""
    mode = settings.telemetry.tracing
    if mode == "off" or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if mode == "on" or isinstance(trace.get_tracer_provider(), TracerProvider):
        return True
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return any(environ.get(name) for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class Tracing:
    """The tracer agenthost records its spans with (``tracer is None``: tracing is off)."""

    def __init__(
        self, tracer: Tracer | None = None, *, record_content: bool = False, owned: TracerProvider | None = None
    ) -> None:
        self.tracer = tracer
        self.record_content = record_content
        self._owned = owned

    @classmethod
    def from_settings(cls, settings: Settings, provider: trace.TracerProvider | None = None) -> Tracing:
        """Tracing as configured; ``provider`` (a test's, say) is used as given, and not shut down here."""
        record = settings.telemetry.record_content
        if provider is not None:
            return cls(provider.get_tracer(INSTRUMENTATION), record_content=record)
        if not wanted(settings):
            return NO_TRACING
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):  # the program configured OpenTelemetry itself: its provider
            return cls(current.get_tracer(INSTRUMENTATION), record_content=record)
        owned = _provider_from_environment()
        if settings.runtime.tracing:
            trace.set_tracer_provider(owned)
        return cls(owned.get_tracer(INSTRUMENTATION), record_content=record, owned=owned)

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def carrier(self) -> tuple[str | None, str | None]:
        """The current span as W3C ``traceparent`` and ``tracestate`` (None, None when there is none)."""
        if self.tracer is None:
            return None, None
        headers: dict[str, str] = {}
        _PROPAGATOR.inject(headers)
        return headers.get("traceparent"), headers.get("tracestate")

    def parent(self, traceparent: str | None, tracestate: str | None = None) -> Context | None:
        """The context a ``traceparent`` (from a request or a header) names; None without one."""
        if not traceparent:
            return None
        carrier = {"traceparent": traceparent}
        if tracestate:
            carrier["tracestate"] = tracestate
        return _PROPAGATOR.extract(carrier, context=otel_context.Context())

    async def shutdown(self) -> None:
        """Export what is buffered and stop (a provider agenthost built; others belong to their owner)."""
        owned, self._owned = self._owned, None
        if owned is not None:
            await asyncio.to_thread(owned.shutdown)


NO_TRACING = Tracing()


def _provider_from_environment() -> TracerProvider:
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "agenthost"}))
    provider = TracerProvider(resource=resource)  # reads OTEL_TRACES_SAMPLER itself
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))  # reads OTEL_BSP_* itself
    return provider


def _exporters() -> list[SpanExporter]:
    names = [name.strip().lower() for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    exporters: list[SpanExporter] = []
    for name in filter(None, names):
        if name == "otlp":
            exporters.append(_otlp_exporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            logger.warning("OTEL_TRACES_EXPORTER: %r is not supported here (otlp, console, none); ignored", name)
    return exporters


def _otlp_exporter() -> SpanExporter:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip().lower() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()  # endpoint, headers, timeout, compression: from OTEL_EXPORTER_OTLP_*
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def end_span(span: Span | None, error: str | None = None, attributes: Mapping[str, Any] | None = None) -> None:
    """Set ``attributes``, mark an error (``error.type``), end the span. ``span=None`` does nothing."""
    if span is None:
        return
    if attributes:
        span.set_attributes(attributes)
    if error is not None:
        span.set_attribute("error.type", error)
        span.set_status(trace.StatusCode.ERROR)
    span.end()
