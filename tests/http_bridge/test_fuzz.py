"""Schemathesis against ``agenthost serve``'s own ``/openapi.json``: every check, bounded examples, no failure.

The server is a real process on 127.0.0.1 (embedded runtime, the ``echo`` agent, API keys on); schemathesis
runs as its own process with a fixed seed (a failure is reproducible with ``st replay`` or the same seed).
Its checks include: no 5xx, every status and content type documented, responses that match their schemas
(SSE events included), requests the document calls valid accepted and invalid ones refused, ``Allow`` on
405, and requests without the key refused. ``tests/http_bridge/schemathesis.toml`` holds its settings.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.cluster import Cluster, free_port

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
KEY = "fuzz-key-0123456789"
MAX_EXAMPLES = 100
SEED = 20261121


async def test_schemathesis_finds_nothing(cluster: Cluster, tmp_path: Path) -> None:
    port = free_port()
    env = {"AGENTHOST_AGENTS": "echo", "AGENTHOST_DEFAULT_AGENT": "echo", "AGENTHOST_HTTP__API_KEYS": f'["{KEY}"]'}
    server = await cluster.start_server(port, env)
    args = (
        "--config-file", str(CONFIG), "--no-color", "run", f"http://127.0.0.1:{port}/openapi.json",
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--header", f"Authorization: Bearer {KEY}", "--request-timeout", "10",
    )  # fmt: skip
    fuzz = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    try:
        async with asyncio.timeout(240):
            output, _ = await fuzz.communicate()
    finally:
        if fuzz.returncode is None:
            fuzz.kill()
            await fuzz.wait()
    report = output.decode(errors="replace")
    summary = report[report.rfind("SUMMARY") :]
    print(summary)
    assert fuzz.returncode == 0, report[-8000:]
    assert "Failures:" not in summary
    warnings = [line for line in summary.splitlines() if line.strip().startswith("⚠️")]
    # Random ids reach 404 in the stateless phases; the stateful phase follows the document's links to real ones.
    assert all("Missing test data" in line for line in warnings), summary
    assert "✅ Stateful" in summary
    generated = int(summary.split(" generated")[0].split()[-1])
    assert generated >= 500, summary  # it really ran: every operation, every phase
    assert "Traceback" not in server.text()
