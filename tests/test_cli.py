"""The ``agenthost`` command, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTHOST_") and k != "OPENAI_API_KEY"}
    env["AGENTHOST_MODEL__PROVIDER"] = "none"
    env.update(settings)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return subprocess.run(
        [sys.executable, "-m", "agenthost.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
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
    failed_json = _run("chat", "assistant", "hi", "--json", cwd=tmp_path)
    assert failed_json.returncode == 1
    assert json.loads(failed_json.stdout.splitlines()[-1])["event"] == "error"


def test_version(tmp_path: Path) -> None:
    from agenthost import __version__

    result = _run("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, f"agenthost {__version__}")


QUIET_PLUGIN = """
from agenthost import ChatReply, HostedAgent


class Quiet(HostedAgent):
    async def respond(self, request, emit, token):
        await emit.message("whole message, no chunks", self.id.type)
        return ChatReply(request_id=request.request_id, content="whole message, no chunks")


def setup(registry):
    registry.add_hosted("quiet", Quiet, "Sends whole messages only.")
"""


def test_an_agent_that_sends_only_messages_is_printed(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "quiet.py").write_text(QUIET_PLUGIN)
    result = _run("chat", "quiet", "hi", cwd=tmp_path, AGENTHOST_PLUGIN_DIRS="plugins")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "whole message, no chunks\n"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("AGENTHOST_PLUGIN_DIRS", "./nowhere", "AGENTHOST_PLUGIN_DIRS: the plugin folder nowhere (that is /"),
        ("AGENTHOST_PLUGIN_DIRS", '["a",', "AGENTHOST_PLUGIN_DIRS: Value error, not a valid JSON list"),
        ("AGENTHOST_HTTP__API_KEYS", "k1", "AGENTHOST_HTTP__API_KEYS: not a JSON list"),
        ("AGENTHOST_HTTP__PORT", "99999", "AGENTHOST_HTTP__PORT: Input should be less than or equal to 65535"),
        ("AGENTHOST_AGENTS", "echo,nobody", "AGENTHOST_AGENTS names unknown agents ['nobody']"),
    ],
)
def test_configuration_mistakes_are_one_line_naming_the_setting(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    result = _run("agents", cwd=tmp_path, **{variable: value})
    assert result.returncode == 2
    assert result.stderr.startswith(f"agenthost: configuration error: {says}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_a_plugin_that_fails_to_load_is_skipped_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text("import json\n\nx = 1 / 0\n")
    (tmp_path / "plugins" / "quiet.py").write_text(QUIET_PLUGIN)
    result = _run("agents", cwd=tmp_path, AGENTHOST_PLUGIN_DIRS="plugins", AGENTHOST_LOG_LEVEL="ERROR")
    assert result.returncode == 0, result.stderr
    assert "quiet" in [line.split()[0] for line in result.stdout.splitlines()]
    problems = [line for line in result.stderr.splitlines() if "broken.py" in line]
    assert problems
    assert all("ZeroDivisionError: division by zero (line 3)" in line for line in problems)
    assert "Traceback" not in result.stderr


def test_migrate_env_turns_a_seed_env_file_into_agenthost_settings(tmp_path: Path) -> None:
    seed = tmp_path / "seed.env"
    seed.write_text(
        'OPENAI_API_KEY="key"\nBACKEND_URL="http://localhost:11436/v1"\nDEFAULT_LLM="qwq-32b"\n'
        "DEFAULT_LLM_FAMILY=r1\nAGENT_DIR=server_agents\nSERVER_PORT=11435\nDEBUG_LOG=True\nHEADLESS=True\n"
    )
    result = _run("migrate-env", str(seed), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "AGENTHOST_HTTP__PORT=11435",
        "AGENTHOST_LOG_LEVEL=DEBUG",
        "AGENTHOST_MODEL__API_KEY=key",
        "AGENTHOST_MODEL__BASE_URL=http://localhost:11436/v1",
        "AGENTHOST_MODEL__INFO__FAMILY=r1",
        "AGENTHOST_MODEL__NAME=qwq-32b",
        "AGENTHOST_PLUGIN_DIRS=server_agents",
        "# HEADLESS: not needed (agenthost is always headless and does not reload code)",
    ]
