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
import bisect
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ..state.base import StateStore

__all__ = ["CONTENT_TYPE", "NO_METRICS", "LoopLagMonitor", "Metrics", "NoMetrics", "TimedStore"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What ``GET /metrics`` answers with: the Prometheus text format, version 0.0.4."""

_le = cast(Callable[[float], str], floatToGoString)  # a bucket bound as Prometheus writes it ("0.005", "+Inf")
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


class _Series:
    """A counter or histogram family kept as plain numbers; the registry reads it only when scraped.

    ``prometheus_client``'s own metrics take a lock per increment (they are thread-safe); every
    instrumented place here runs on the event loop's thread, so a dict update is all it takes.
    """

    __slots__ = ("buckets", "help", "labels", "name", "values")

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...], buckets: tuple[float, ...] = ()) -> None:
        self.name, self.help, self.labels, self.buckets = name, help_text, labels, buckets
        self.values: dict[tuple[str, ...], Any] = {}  # counter: float; histogram: [count per bucket..., +Inf, sum]

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        values = self.values
        values[key] = values.get(key, 0.0) + amount

    def observe(self, key: tuple[str, ...], value: float) -> None:
        counts = self.values.get(key)
        if counts is None:
            counts = self.values[key] = [0] * (len(self.buckets) + 1) + [0.0]
        counts[bisect.bisect_left(self.buckets, value)] += 1  # the first bucket whose bound is >= value ("le")
        counts[-1] += value

    def family(self) -> CounterMetricFamily | HistogramMetricFamily:
        if not self.buckets:
            counter = CounterMetricFamily(self.name, self.help, labels=self.labels)
            for key, total in self.values.items():
                counter.add_metric(key, total)
            return counter
        histogram = HistogramMetricFamily(self.name, self.help, labels=self.labels)
        bounds = [*(_le(bound) for bound in self.buckets), "+Inf"]
        for key, counts in self.values.items():
            cumulative = list(itertools.accumulate(counts[:-1]))
            histogram.add_metric(key, list(zip(bounds, cumulative, strict=True)), counts[-1])
        return histogram


class _Catalogue(Collector):
    """Hands the registry every :class:`_Series` at scrape time."""

    def __init__(self, series: list[_Series]) -> None:
        self.series = series

    def collect(self) -> Iterator[Metric]:
        for series in self.series:
            yield series.family()


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

    Counters and histograms are plain numbers updated on the event loop's thread (one dict update per
    increment); they become Prometheus families only when ``/metrics`` is read.
    """

    enabled = True

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        series: list[_Series] = []

        def add(name: str, help_text: str, labels: tuple[str, ...] = (), buckets: tuple[float, ...] = ()) -> _Series:
            series.append(_Series(f"agenthost_{name}", help_text, labels, buckets))
            return series[-1]

        self._runs_started = add("runs_started", "Runs (turns) started, by agent.", ("agent",))
        self._runs_ended = add(
            "runs_ended", "Runs ended, by agent and outcome (done, or the error code).", ("agent", "outcome")
        )
        self._run_seconds = add(
            "run_duration_seconds", "From a run's start to its terminal event, on the caller's side.",
            ("agent",), _TURN_BUCKETS,
        )  # fmt: skip
        self._first_token = add(
            "time_to_first_token_seconds", "From a run's start to its first chunk event.", ("agent",),
            _FIRST_TOKEN_BUCKETS,
        )  # fmt: skip
        self._tokens = add(
            "tokens", "Model tokens of ended runs: type=input (prompt) or output (completion).", ("agent", "type")
        )
        self._turns = add("agent_turns", "Turns the agents of this process answered, by outcome.", ("agent", "outcome"))
        self._turn_seconds = add(
            "agent_turn_duration_seconds", "A turn inside the agent, where it runs.", ("agent",), _TURN_BUCKETS
        )
        self._store_seconds = add(
            "state_store_operation_seconds", "Conversation state store operations.", ("operation",), _FAST_BUCKETS
        )
        self._store_errors = add("state_store_errors", "State store operations that raised.", ("operation",))
        self._http = add(
            "http_requests", "HTTP requests by method, route template and status.", ("method", "route", "status")
        )
        self._http_seconds = add(
            "http_request_duration_seconds", "HTTP request handling (a stream: until it ends).",
            ("method", "route"), _TURN_BUCKETS,
        )  # fmt: skip
        self._lag = add("event_loop_lag_seconds", "How late the event loop ran a timer (sampled).", (), _LAG_BUCKETS)
        self.registry.register(_Catalogue(series))
        self._gauges: dict[str, Gauge] = {}
        if process:
            ProcessCollector(registry=self.registry)

    # -- the instrumented places -------------------------------------------------------------------

    def run_started(self, agent: str) -> None:
        self._runs_started.inc((agent,))

    def run_ended(self, agent: str, outcome: str, seconds: float, first_token: float | None, usage: Any) -> None:
        """A run ended: ``usage`` (prompt and completion tokens) comes from its ``done`` event."""
        self._runs_ended.inc((agent, outcome))
        self._run_seconds.observe((agent,), seconds)
        if first_token is not None:
            self._first_token.observe((agent,), first_token)
        if usage.prompt_tokens:
            self._tokens.inc((agent, "input"), usage.prompt_tokens)
        if usage.completion_tokens:
            self._tokens.inc((agent, "output"), usage.completion_tokens)

    def turn_ended(self, agent: str, outcome: str, seconds: float) -> None:
        self._turns.inc((agent, outcome))
        self._turn_seconds.observe((agent,), seconds)

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._http.inc((method, route, str(status)))
        self._http_seconds.observe((method, route), seconds)

    def store_operation(self, operation: str, seconds: float, failed: bool) -> None:
        self._store_seconds.observe((operation,), seconds)
        if failed:
            self._store_errors.inc((operation,))

    def loop_lag(self, seconds: float) -> None:
        self._lag.observe((), seconds)

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """A gauge read only when scraped (``agenthost_<name>``); a second call replaces what it reads."""
        gauge = self._gauges.get(name)
        if gauge is None:
            gauge = self._gauges[name] = Gauge(f"agenthost_{name}", _GAUGE_HELP.get(name, name), registry=self.registry)
        gauge.set_function(read)

    def render(self) -> bytes:
        """Everything on the registry, in the Prometheus text format."""
        return generate_latest(self.registry)


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
        return await self._timed("get", self.inner.get(key))

    async def put(self, key: str, state: Mapping[str, Any]) -> None:
        await self._timed("put", self.inner.put(key, state))

    async def delete(self, key: str) -> bool:
        return await self._timed("delete", self.inner.delete(key))

    async def _timed(self, operation: str, call: Awaitable[_T]) -> _T:
        start, failed = time.perf_counter(), True
        try:
            result = await call
            failed = False
        finally:
            self._metrics.store_operation(operation, time.perf_counter() - start, failed)
        return result

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:  # what a store offers beyond the protocol
        return getattr(self.inner, name)


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
