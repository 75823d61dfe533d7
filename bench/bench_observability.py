"""What metrics and tracing cost on the hot path: ``python -m bench.bench_observability`` (about 3 minutes).

Each configuration serves the same load from a fresh process of its own (configurations
take turns, round after round, so a busy machine weighs on all of them alike):

- ``off``: ``telemetry.metrics=false``, tracing off (no OTEL_* set): the leanest path;
- ``metrics``: the default (metrics on, tracing off);
- ``tracing``: metrics on and tracing on, spans built and handed to the SDK's batch
  processor (its exporter drops them: the cost measured is agenthost's and the SDK's, not
  a collector's network);
- ``before`` (with ``--before DIR``, a checkout without telemetry): the same load on that code.

Two loads, each over real sockets in the serving process: ``echo`` (``POST /api/chat/stream``
with the echo agent, 16 words: the bridge, the run and its events), and ``assistant``
(``POST /v1/chat/completions`` streamed, the AgentChat assistant against ``bench/fake_backend.py``
answering 20 tokens: a model call per request, so a ``chat`` span with tracing on). Eight
clients at a time. Printed: requests/s per configuration (median of the rounds) and the ratio
to ``off``, and CPU time per request (this process: server and clients) with its ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
CONFIGS = ("off", "metrics", "tracing")
CONCURRENCY = 8


# -- the child: one configuration, one load, one process -------------------------------------------


def _settings_values(config: str, backend: str) -> dict[str, Any]:
    values: dict[str, Any] = {"entry_points": False, "log_level": "WARNING"}
    values["model"] = {"provider": "openai", "base_url": f"{backend}/v1", "name": "fake", "max_retries": 0}
    if config != "before":
        values["telemetry"] = {"metrics": config != "off", "tracing": "on" if config == "tracing" else "off"}
    return values


def _tracer_provider() -> Any:
    """An SDK provider whose batch processor drops what it exports (no network in the measure)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    return provider


async def _child(config: str, load: str, requests: int, backend: str) -> tuple[float, float]:
    """Requests/s, and CPU seconds per request of this process (server and clients together)."""
    import aiohttp
    from aiohttp import web

    from agenthost import AgentHost, Settings
    from agenthost.http_bridge import create_app

    settings = Settings(**_settings_values(config, backend))
    if config == "tracing":  # as OTEL_EXPORTER_OTLP_ENDPOINT would: a provider of agenthost's own
        from agenthost.telemetry import Telemetry

        telemetry = Telemetry.from_settings(settings, tracer_provider=_tracer_provider())
        app = create_app(host=AgentHost(settings, telemetry=telemetry))
    else:
        app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url, body = _request(load, port)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
            await _load(session, url, body, CONCURRENCY * 4)  # warm up
            began, cpu = time.perf_counter(), time.process_time()
            await _load(session, url, body, requests)
            return requests / (time.perf_counter() - began), (time.process_time() - cpu) / requests
    finally:
        await runner.cleanup()


def _request(load: str, port: int) -> tuple[str, dict[str, Any]]:
    base = f"http://127.0.0.1:{port}"
    if load == "echo":
        words = " ".join(f"w{i}" for i in range(16))
        return f"{base}/api/chat/stream", {"message": words, "agent": "echo"}
    messages = [{"role": "user", "content": "Tell me something."}]
    return f"{base}/v1/chat/completions", {"model": "assistant", "messages": messages, "stream": True}


async def _load(session: Any, url: str, body: dict[str, Any], total: int) -> None:
    counter = iter(range(total))

    async def client() -> None:
        for _ in counter:
            async with session.post(url, json=body) as response:
                payload = await response.read()
                if response.status != 200 or b"error" in payload[-200:]:
                    raise RuntimeError(f"{response.status}: {payload[-300:]!r}")

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))


# -- the parent: rounds of children ----------------------------------------------------------------


async def _run_child(config: str, load: str, requests: int, backend: str, before: Path | None) -> tuple[float, float]:
    root = before if config == "before" and before is not None else ROOT
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": "0"}
    env = {k: v for k, v in env.items() if not k.startswith(("AGENTHOST_", "OTEL_"))}
    args = ["--child", config, "--load", load, "--requests", str(requests), "--backend", backend]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *args, cwd=root, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    if proc.returncode != 0:
        raise RuntimeError(f"{config}/{load} failed ({proc.returncode})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return float(result["rps"]), float(result["cpu"])


async def _start_backend() -> tuple[asyncio.subprocess.Process, str]:
    cmd = [sys.executable, "-m", "bench.fake_backend", "--port", "0", "--tokens", "20"]
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    return proc, f"http://127.0.0.1:{int(line)}"


async def _main(rounds: int, echo_requests: int, assistant_requests: int, before: Path | None) -> None:
    configs = (*CONFIGS, "before") if before is not None else CONFIGS
    loads = {"echo": echo_requests, "assistant": assistant_requests}
    backend_proc, backend = await _start_backend()
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for round_ in range(rounds):
            for load, requests in loads.items():
                for config in configs:
                    rps, cpu = await _run_child(config, load, requests, backend, before)
                    results.setdefault((config, load), []).append((rps, cpu))
                    print(
                        f"round {round_ + 1} {load:9} {config:8} {rps:8.0f} req/s {cpu * 1e6:7.0f} µs CPU", flush=True
                    )
    finally:
        backend_proc.kill()
        await backend_proc.wait()
    print(f"\nmedian of {rounds} rounds, {CONCURRENCY} clients; ratios to 'off' (throughput: 1.00 = no cost)")
    print("CPU per request counts the serving process and its clients (the same clients for every configuration)")
    for load in loads:
        base_rps = statistics.median(rps for rps, _ in results[("off", load)])
        base_cpu = statistics.median(cpu for _, cpu in results[("off", load)])
        for config in configs:
            rps = statistics.median(rps for rps, _ in results[(config, load)])
            cpu = statistics.median(cpu for _, cpu in results[(config, load)])
            print(
                f"{load:9} {config:8} {rps:7.0f} req/s ({rps / base_rps:4.2f})   {cpu * 1e6:6.0f} µs CPU/request "
                f"({base_cpu / cpu:4.2f}; +{(cpu - base_cpu) * 1e6:.0f} µs)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--echo-requests", type=int, default=1500)
    parser.add_argument("--assistant-requests", type=int, default=400)
    parser.add_argument("--before", type=Path, default=None, help="a checkout without telemetry, measured too")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--load", default="echo", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        rps, cpu = asyncio.run(_child(args.child, args.load, args.requests, args.backend))
        print(json.dumps({"rps": rps, "cpu": cpu}))
        return
    asyncio.run(_main(args.rounds, args.echo_requests, args.assistant_requests, args.before))


if __name__ == "__main__":
    main()
