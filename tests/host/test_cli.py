"""The ``agenthost`` command, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTHOST_") and k != "OPENAI_API_KEY"}
    env["AGENTHOST_MODEL__PROVIDER"] = "none"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return subprocess.run(
        [sys.executable, "-m", "host.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_agents_lists_the_shipped_agents(tmp_path: Path) -> None:
    result = _run("agents", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["assistant", "echo", "password-game", "weather", "writer-critic"]


def test_chat_streams_to_the_terminal(tmp_path: Path) -> None:
    result = _run("chat", "echo", "hello from the shell", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from the shell\n"
    events = _run("chat", "echo", "a b", "--json", "--conversation", "c1", cwd=tmp_path).stdout.splitlines()
    assert [json.loads(line)["event"] for line in events] == ["status", "chunk", "chunk", "message", "done"]


def test_chat_errors_exit_non_zero(tmp_path: Path) -> None:
    missing = _run("chat", "nobody", "hi", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no agent named 'nobody'" in missing.stderr
    no_model = _run("chat", "assistant", "hi", cwd=tmp_path)
    assert no_model.returncode == 1
    assert "model_not_configured" in no_model.stderr
