"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agenthost import AgentHost, Settings
from tests.cluster import Cluster, base_env, redis_server
from tests.fakes import FakeOpenAI


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests build their own settings: no stray environment, .env file or API key leaks in."""
    import os

    for name in list(os.environ):
        if name.startswith("AGENTHOST_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: no model unless given, state in tmp_path, short timeouts."""

    def make(fake: FakeOpenAI | None = None, **overrides: Any) -> Settings:
        model: dict[str, Any] = {"provider": "none"}
        if fake is not None:
            model = {"provider": "openai", "base_url": fake.base_url, "name": fake.model, "max_retries": 0}
        model.update(overrides.pop("model", {}))
        values: dict[str, Any] = {
            "model": model,
            "entry_points": False,
            "state": {"store": "memory", "sqlite_path": str(tmp_path / "state.sqlite3")},
            "timeouts": {"request": 20, "first_event": 10, "cancel": 2, "shutdown": 5},
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def host(make_settings: Callable[..., Settings]) -> AsyncIterator[AgentHost]:
    """A started host with the built-in agents and no model backend."""
    async with AgentHost(make_settings()) as started:
        yield started


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Real gRPC host/worker/bridge processes, started on demand, killed at the end."""
    started = Cluster(tmp_path, base_env(tmp_path))
    try:
        yield started
    finally:
        await started.close()


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    """A real, throw-away ``redis-server`` on an ephemeral port."""
    async with redis_server(tmp_path) as server:
        yield server.url
