"""Prometheus metrics: every ``agenthost_`` series, in one catalogue, on a registry of its own.

The instrumented places call a handful of methods (:meth:`Metrics.run_started`,
:meth:`Metrics.run_ended`, :meth:`Metrics.turn_ended`, :meth:`Metrics.http_request`):
each is a few counter increments or histogram observations per turn or request,
never per token (tokens are counted from a turn's usage). Gauges of things that
already exist (live instances, open streams, live runs) are read only when
scraped. With ``telemetry.metrics`` off, :data:`NO_METRICS` stands in: the same
methods, doing nothing.

Example:
    >>> metrics = Metrics()
    >>> metrics.run_started("echo")
    >>> print(metrics.render().decode())  # Prometheus text format
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ..state.base import StateStore

__all__ = ["CONTENT_TYPE", "NO_METRICS", "LoopLagMonitor", "Metrics", "NoMetrics", "TimedStore"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What ``GET /metrics`` answers with: the Prometheus text format, version 0.0.4."""

_TURN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_FIRST_TOKEN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class NoMetrics:
    """Metrics off: every method is a no-op (the instrumented code needs no ``if``)."""

    enabled = False

    def run_started(self, agent: str) -> None:
        pass

    def run_ended(self, agent: str, outcome: str, seconds: float, first_token: float | None, usage: Any) -> None:
        pass

    def turn_ended(self, agent: str, outcome: str, seconds: float) -> None:
        pass

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        pass

    def store_operation(self, operation: str, seconds: float, failed: bool) -> None:
        pass

    def loop_lag(self, seconds: float) -> None:
        pass

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        pass

    def render(self) -> bytes:
        return b""


NO_METRICS = NoMetrics()


class Metrics(NoMetrics):
    """The process's ``agenthost_`` metrics, on ``registry`` (by default a registry of its own).

    Names (stable; documented in the README): ``agenthost_runs_started_total{agent}``,
    ``agenthost_runs_ended_total{agent,outcome}``, ``agenthost_run_duration_seconds{agent}``,
    ``agenthost_time_to_first_token_seconds{agent}``, ``agenthost_tokens_total{agent,type}``,
    ``agenthost_agent_turns_total{agent,outcome}``, ``agenthost_agent_turn_duration_seconds{agent}``,
    ``agenthost_runs_live``, ``agenthost_active_streams``, ``agenthost_live_instances``,
    ``agenthost_state_store_operation_seconds{operation}``, ``agenthost_state_store_errors_total{operation}``,
    ``agenthost_http_requests_total{method,route,status}``, ``agenthost_http_request_duration_seconds{method,route}``,
    ``agenthost_event_loop_lag_seconds``, and the ``process_*`` series.
    """

    enabled = True

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self._runs_started = Counter(
            "agenthost_runs_started", "Runs (turns) started, by agent.", ["agent"], registry=reg
        )
        self._runs_ended = Counter(
            "agenthost_runs_ended", "Runs ended, by agent and outcome (done, or the error code).",
            ["agent", "outcome"], registry=reg,
        )  # fmt: skip
        self._run_seconds = Histogram(
            "agenthost_run_duration_seconds", "From a run's start to its terminal event, on the caller's side.",
            ["agent"], buckets=_TURN_BUCKETS, registry=reg,
        )  # fmt: skip
        self._first_token = Histogram(
            "agenthost_time_to_first_token_seconds", "From a run's start to its first chunk event.",
            ["agent"], buckets=_FIRST_TOKEN_BUCKETS, registry=reg,
        )  # fmt: skip
        self._tokens = Counter(
            "agenthost_tokens", "Model tokens of ended runs: type=input (prompt) or output (completion).",
            ["agent", "type"], registry=reg,
        )  # fmt: skip
        self._turns = Counter(
            "agenthost_agent_turns",
            "Turns the agents of this process answered, by outcome.",
            ["agent", "outcome"],
            registry=reg,
        )
        self._turn_seconds = Histogram(
            "agenthost_agent_turn_duration_seconds", "A turn inside the agent, where it runs.",
            ["agent"], buckets=_TURN_BUCKETS, registry=reg,
        )  # fmt: skip
        self._store_seconds = Histogram(
            "agenthost_state_store_operation_seconds", "Conversation state store operations.",
            ["operation"], buckets=_FAST_BUCKETS, registry=reg,
        )  # fmt: skip
        self._store_errors = Counter(
            "agenthost_state_store_errors", "State store operations that raised.", ["operation"], registry=reg
        )
        self._http = Counter(
            "agenthost_http_requests", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=reg,
        )  # fmt: skip
        self._http_seconds = Histogram(
            "agenthost_http_request_duration_seconds", "HTTP request handling (a stream: until it ends).",
            ["method", "route"], buckets=_TURN_BUCKETS, registry=reg,
        )  # fmt: skip
        self._lag = Histogram(
            "agenthost_event_loop_lag_seconds", "How late the event loop ran a timer (sampled).",
            buckets=_LAG_BUCKETS, registry=reg,
        )  # fmt: skip
        self._gauges: dict[str, Gauge] = {}
        self._children: dict[tuple[Any, ...], Any] = {}
        if process:
            ProcessCollector(registry=reg)

    # -- the instrumented places -------------------------------------------------------------------

    def run_started(self, agent: str) -> None:
        self._child(self._runs_started, agent).inc()

    def run_ended(self, agent: str, outcome: str, seconds: float, first_token: float | None, usage: Any) -> None:
        """A run ended: ``usage`` (prompt and completion tokens) comes from its ``done`` event."""
        self._child(self._runs_ended, agent, outcome).inc()
        self._child(self._run_seconds, agent).observe(seconds)
        if first_token is not None:
            self._child(self._first_token, agent).observe(first_token)
        if usage.prompt_tokens:
            self._child(self._tokens, agent, "input").inc(usage.prompt_tokens)
        if usage.completion_tokens:
            self._child(self._tokens, agent, "output").inc(usage.completion_tokens)

    def turn_ended(self, agent: str, outcome: str, seconds: float) -> None:
        self._child(self._turns, agent, outcome).inc()
        self._child(self._turn_seconds, agent).observe(seconds)

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self._http, method, route, str(status)).inc()
        self._child(self._http_seconds, method, route).observe(seconds)

    def store_operation(self, operation: str, seconds: float, failed: bool) -> None:
        self._child(self._store_seconds, operation).observe(seconds)
        if failed:
            self._child(self._store_errors, operation).inc()

    def loop_lag(self, seconds: float) -> None:
        self._lag.observe(seconds)

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """A gauge read only when scraped (``agenthost_<name>``); a second call replaces what it reads."""
        gauge = self._gauges.get(name)
        if gauge is None:
            gauge = self._gauges[name] = Gauge(f"agenthost_{name}", _GAUGE_HELP.get(name, name), registry=self.registry)
        gauge.set_function(read)

    def render(self) -> bytes:
        """Everything on the registry, in the Prometheus text format."""
        return generate_latest(self.registry)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: the library's own lookup takes a lock and builds a tuple."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


_GAUGE_HELP: Mapping[str, str] = {
    "runs_live": "Runs in progress that this process started.",
    "active_streams": "SSE responses open on this bridge.",
    "live_instances": "Conversation agent instances alive in this process.",
}


class TimedStore:
    """A :class:`~agenthost.state.StateStore` whose operations are timed and their failures counted."""

    def __init__(self, inner: StateStore, metrics: NoMetrics) -> None:
        self.inner = inner
        self._metrics = metrics

    async def get(self, key: str) -> Mapping[str, Any] | None:
        with self._timed("get"):
            return await self.inner.get(key)

    async def put(self, key: str, state: Mapping[str, Any]) -> None:
        with self._timed("put"):
            await self.inner.put(key, state)

    async def delete(self, key: str) -> bool:
        with self._timed("delete"):
            return await self.inner.delete(key)

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:  # what a store offers beyond the protocol
        return getattr(self.inner, name)

    @contextlib.contextmanager
    def _timed(self, operation: str) -> Any:
        start = time.perf_counter()
        failed = True
        try:
            yield
            failed = False
        finally:
            self._metrics.store_operation(operation, time.perf_counter() - start, failed)


class LoopLagMonitor:
    """Samples how late the event loop runs a timer, every ``interval`` seconds (one sleep per sample)."""

    def __init__(self, metrics: NoMetrics, interval: float = 1.0) -> None:
        self._metrics = metrics
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._metrics.enabled and self._task is None:
            self._task = asyncio.create_task(self._sample_forever(), name="agenthost-loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sample_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            self._metrics.loop_lag(max(0.0, loop.time() - due))
