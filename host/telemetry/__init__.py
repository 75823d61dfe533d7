"""Operating the host: Prometheus metrics, OpenTelemetry traces, logs that name their request.

:class:`Telemetry` holds one host's :class:`Metrics` (or :data:`NO_METRICS`) and
:class:`Tracing` (or :data:`NO_TRACING`); an :class:`~agenthost.AgentHost` builds
one from its settings, or takes one (a test's registry or tracer provider).

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> telemetry = Telemetry.from_settings(Settings(), tracer_provider=TracerProvider())
    >>> host = AgentHost(settings, telemetry=telemetry)
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry

from ..settings import Settings
from .logs import REQUEST_ID, TURN_SPAN, ContextFilter, JsonFormatter, TextFormatter, configure_logging
from .metrics import CONTENT_TYPE, NO_METRICS, LoopLagMonitor, Metrics, NoMetrics, TimedStore
from .tracing import NO_TRACING, Tracing, end_span

__all__ = [
    "CONTENT_TYPE",
    "NO_METRICS",
    "NO_TELEMETRY",
    "NO_TRACING",
    "REQUEST_ID",
    "TURN_SPAN",
    "ContextFilter",
    "JsonFormatter",
    "LoopLagMonitor",
    "Metrics",
    "NoMetrics",
    "Telemetry",
    "TextFormatter",
    "TimedStore",
    "Tracing",
    "configure_logging",
    "end_span",
]


@dataclass(frozen=True)
class Telemetry:
    """One host's metrics and tracing."""

    metrics: NoMetrics = NO_METRICS
    tracing: Tracing = NO_TRACING

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> Telemetry:
        """As ``settings.telemetry`` says; ``registry`` and ``tracer_provider`` replace the defaults."""
        metrics = Metrics(registry) if settings.telemetry.metrics else NO_METRICS
        return cls(metrics, Tracing.from_settings(settings, tracer_provider))


NO_TELEMETRY = Telemetry()
