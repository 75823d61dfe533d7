"""Fixtures for the process-role tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agenthost import AgentHost
from tests.cluster import Cluster


@pytest.fixture
def client(cluster: Cluster) -> Callable[..., AgentHost]:
    """``client(**settings)``: an in-test gRPC caller (registers no agents); ``async with client() as host:``."""

    def make(**overrides: Any) -> AgentHost:
        return AgentHost(cluster.client_settings(**overrides), register_agents=False)

    return make
