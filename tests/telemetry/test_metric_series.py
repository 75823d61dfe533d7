"""agenthost's own counters and histograms read exactly as ``prometheus_client``'s would, after the same events."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from agenthost.messages import Usage
from agenthost.telemetry.metrics import _FIRST_TOKEN_BUCKETS, _TURN_BUCKETS, Metrics

from .scrape import parse


def _without_created(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {key: value for key, value in parse(text.decode()).items() if not key[0].endswith("_created")}


def test_the_exposition_matches_prometheus_clients_own() -> None:
    ours = Metrics(process=False)
    reference = CollectorRegistry()
    started = Counter("agenthost_runs_started", "h", ["agent"], registry=reference)
    ended = Counter("agenthost_runs_ended", "h", ["agent", "outcome"], registry=reference)
    seconds = Histogram("agenthost_run_duration_seconds", "h", ["agent"], buckets=_TURN_BUCKETS, registry=reference)
    first = Histogram(
        "agenthost_time_to_first_token_seconds", "h", ["agent"], buckets=_FIRST_TOKEN_BUCKETS, registry=reference
    )
    tokens = Counter("agenthost_tokens", "h", ["agent", "type"], registry=reference)
    # on a bucket's bound, between bounds, below the first, above the last
    runs = [
        ("echo", "done", 0.01, 0.005),
        ("echo", "timeout", 0.3, None),
        ("a", "done", 0.0001, 31.0),
        ("a", "done", 999.0, 2.5),
    ]
    for agent, outcome, duration, first_token in runs:
        ours.run_started(agent)
        ours.run_ended(agent, outcome, duration, first_token, Usage(prompt_tokens=3, completion_tokens=5))
        started.labels(agent).inc()
        ended.labels(agent, outcome).inc()
        seconds.labels(agent).observe(duration)
        if first_token is not None:
            first.labels(agent).observe(first_token)
        tokens.labels(agent, "input").inc(3)
        tokens.labels(agent, "output").inc(5)
    expected = _without_created(generate_latest(reference))
    got = {key: value for key, value in _without_created(ours.render()).items() if key[0] in {k[0] for k in expected}}
    assert got == expected
    assert len(got) > 60  # every bucket of both histograms, for both agents
