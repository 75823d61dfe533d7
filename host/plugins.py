"""Plugins: where agent types come from, and the plugin API.

Agents are loaded from the built-in ``agents`` package, from every ``*.py`` in
the folders named by ``Settings.plugin_dirs``, and from the entry-point group
``agenthost.agents``. A plugin either defines ``setup(registry)`` or, as with
the OpenAI-compatible agent server this grows from, calls at import time::

    from host import add_agent, get_default_model

    def create_agent(user_message, context):
        return AssistantAgent("helper", model_client=get_default_model())

    add_agent("helper", create_agent)
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import pkgutil
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from autogen_core.model_context import ChatCompletionContext
from autogen_core.models import ChatCompletionClient

from .errors import ModelNotConfigured
from .messages import ChatTurn

if TYPE_CHECKING:
    from .adapter import CreateAgent
    from .models import ModelProvider
    from .registry import AgentRegistry
    from .settings import Settings

__all__ = ["ENTRY_POINT_GROUP", "add_agent", "get_default_model", "load_plugins", "model_context", "using_models"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "agenthost.agents"

_loading: ContextVar[AgentRegistry | None] = ContextVar("agenthost_loading", default=None)
_models: ContextVar[ModelProvider | None] = ContextVar("agenthost_models", default=None)
_fallback_models: list[ModelProvider] = []  # the hosts running in this process, newest last
_pending: list[tuple[str, CreateAgent, str | None]] = []  # add_agent calls made outside any load


def add_agent(name: str, create_agent: CreateAgent, description: str | None = None) -> None:
    """Register an AgentChat agent or team factory ``create_agent(user_message, context)``."""
    registry = _loading.get()
    if registry is None:
        _pending.append((name, create_agent, description))
    else:
        registry.add_agent(name, create_agent, description)


def get_default_model() -> ChatCompletionClient:
    """The host's configured model client: one shared client, closed when the host stops."""
    provider = _models.get() or (_fallback_models[-1] if _fallback_models else None)
    if provider is None:
        raise ModelNotConfigured("get_default_model() was called outside a running AgentHost")
    return provider.get()


def model_context(context: list[dict[str, Any]]) -> ChatCompletionContext:
    """A model context holding ``context`` (as given to ``create_agent``), windowed per settings."""
    provider = _models.get() or (_fallback_models[-1] if _fallback_models else None)
    turns = [ChatTurn.model_validate(item) for item in context]
    if provider is None:
        from autogen_core.model_context import UnboundedChatCompletionContext

        from .models import _llm_message

        return UnboundedChatCompletionContext(initial_messages=[_llm_message(turn) for turn in turns])
    return provider.context(turns)


@contextlib.contextmanager
def using_models(provider: ModelProvider) -> Iterator[None]:
    """Make ``provider`` what :func:`get_default_model` returns in this context."""
    token = _models.set(provider)
    try:
        yield
    finally:
        _models.reset(token)


@contextlib.contextmanager
def serving_models(provider: ModelProvider) -> Iterator[None]:
    """While a host runs, it is the process-wide fallback for :func:`get_default_model`."""
    _fallback_models.append(provider)
    try:
        yield
    finally:
        _fallback_models.remove(provider)


def load_plugins(registry: AgentRegistry, settings: Settings, models: ModelProvider) -> None:
    """Fill ``registry`` from every plugin source the settings enable."""
    with using_models(models):
        if settings.builtin_agents:
            _load_package("agents", registry)
        for folder in settings.plugin_dirs:
            _load_folder(Path(folder), registry)
        if settings.entry_points:
            _load_entry_points(registry)
        for name, create_agent, description in _pending:
            registry.add_agent(name, create_agent, description)


def _load_package(package_name: str, registry: AgentRegistry) -> None:
    package = importlib.import_module(package_name)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            _setup(importlib.import_module(f"{package_name}.{info.name}"), registry)


def _load_folder(folder: Path, registry: AgentRegistry) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(f"plugin folder {folder} does not exist (AGENTHOST_PLUGIN_DIRS)")
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            _setup(_exec_file(path, registry), registry)


def _exec_file(path: Path, registry: AgentRegistry) -> ModuleType:
    """Run a plugin file as a fresh module, so its ``add_agent`` calls reach this registry."""
    name = f"agenthost_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load plugin {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    token = _loading.set(registry)
    try:
        spec.loader.exec_module(module)
    finally:
        _loading.reset(token)
    return module


def _load_entry_points(registry: AgentRegistry) -> None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        token = _loading.set(registry)
        try:
            target = entry.load()
        finally:
            _loading.reset(token)
        if isinstance(target, ModuleType):
            _setup(target, registry)
        elif callable(target):
            target(registry)


def _setup(module: ModuleType, registry: AgentRegistry) -> None:
    setup = getattr(module, "setup", None)
    if callable(setup):
        setup(registry)
