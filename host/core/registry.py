"""The agent registry: named agent types and how to build an instance of each."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from autogen_core import AgentRuntime, RoutedAgent

from ..errors import ConfigError
from .adapter import AgentChatAdapter, CreateAgent
from .hosted import AgentDeps, HostedAgent

__all__ = ["AgentRegistry", "AgentSpec", "instance_factory"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class AgentSpec:
    """One agent type: its name (the AutoGen agent type), a description and a factory."""

    name: str
    description: str
    build: Callable[[AgentDeps], RoutedAgent]
    uses_model: bool = True
    create_agent: CreateAgent | None = None
    """The ``create_agent(user_message, context)`` factory of an AgentChat plugin (None for hosted agents)."""


class AgentRegistry:
    """Agent types by name. Plugins add to it; a host registers it on a runtime."""

    def __init__(self) -> None:
        self._specs: dict[str, AgentSpec] = {}

    def add(self, spec: AgentSpec, *, replace: bool = False) -> AgentSpec:
        if not _NAME.match(spec.name):
            raise ValueError(f"agent name {spec.name!r} must match {_NAME.pattern}")
        if spec.name in self._specs and not replace:
            raise ValueError(f"an agent named {spec.name!r} is already registered")
        self._specs[spec.name] = spec
        return spec

    def add_agent(self, name: str, create_agent: CreateAgent, description: str | None = None) -> AgentSpec:
        """Register an AgentChat factory ``create_agent(user_message, context)``."""
        text = description or (create_agent.__doc__ or "").strip().split("\n")[0] or f"AgentChat agent {name}"

        def build(deps: AgentDeps) -> RoutedAgent:
            return AgentChatAdapter(text, deps, create_agent)

        return self.add(AgentSpec(name, text, build, create_agent=create_agent), replace=True)

    def add_hosted(
        self, name: str, agent_class: type[HostedAgent], description: str, *, uses_model: bool = False
    ) -> AgentSpec:
        """Register a :class:`HostedAgent` subclass built as ``agent_class(description, deps)``."""

        def build(deps: AgentDeps) -> RoutedAgent:
            return agent_class(description, deps)

        return self.add(AgentSpec(name, description, build, uses_model))

    def merge(self, other: AgentRegistry) -> None:
        for spec in other:
            self.add(spec, replace=True)

    def get(self, name: str) -> AgentSpec | None:
        return self._specs.get(name)

    def factory(self, name: str) -> CreateAgent | None:
        """The ``create_agent`` of the AgentChat plugin ``name`` (the seed server's ``get_agent``)."""
        spec = self._specs.get(name)
        return None if spec is None else spec.create_agent

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[AgentSpec]:
        return iter(sorted(self._specs.values(), key=lambda spec: spec.name))

    def __len__(self) -> int:
        return len(self._specs)

    def select(self, only: Collection[str]) -> AgentRegistry:
        """A registry with just the ``only`` agents (all when empty); unknown names raise."""
        if not only:
            return self
        unknown = sorted(set(only) - set(self._specs))
        if unknown:
            raise ConfigError(
                f"AGENTHOST_AGENTS names unknown agents {unknown}; known: {', '.join(sorted(self._specs))}"
            )
        selected = AgentRegistry()
        for name in only:
            selected.add(self._specs[name])
        return selected

    async def register(self, runtime: AgentRuntime, deps: AgentDeps) -> list[str]:
        """Register every agent type on ``runtime`` by factory."""
        for spec in self:
            # No expected_class: the gRPC worker runtime compares it with ``type(agent) ==``, not issubclass.
            await runtime.register_factory(spec.name, instance_factory(spec, deps))
        return [spec.name for spec in self]


def instance_factory(spec: AgentSpec, deps: AgentDeps) -> Callable[[], RoutedAgent]:
    def make() -> RoutedAgent:
        return spec.build(deps)

    return make
