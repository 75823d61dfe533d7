"""Plugins: where agent types come from, and the plugin API.

Agents are loaded from the built-in ``agents`` package, from every ``*.py`` in
the folders named by ``Settings.plugin_dirs``, and from the entry-point group
``agenthost.agents``. A plugin either defines ``setup(registry)`` or, as with
the OpenAI-compatible agent server this grows from, calls at import time::

    from registry import add_agent, get_default_model   # or: from agenthost import ...

    def create_agent(user_message, context):
        return AssistantAgent("helper", model_client=get_default_model(), model_context=context)

    add_agent("helper", create_agent)

A plugin file that fails to load is logged in one line and skipped (listed in
:attr:`PluginReport.failures`); the other agents are served. A plugin folder
that does not exist is a :class:`~host.errors.ConfigError`.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
import sys
import traceback
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from ..errors import ConfigError
from ..models.provider import ModelProvider
from ..settings import Settings
from .adapter import CreateAgent
from .ambient import get_default_model, using_models
from .registry import AgentRegistry
from .seed_compat import seed_imports

__all__ = ["ENTRY_POINT_GROUP", "PluginFailure", "PluginReport", "add_agent", "load_plugins"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "agenthost.agents"

_loading: ContextVar[AgentRegistry | None] = ContextVar("agenthost_loading", default=None)
_pending: list[tuple[str, CreateAgent, str | None]] = []  # add_agent calls made outside any load


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that did not load: where it is and why, in one line."""

    source: str
    error: str


@dataclass
class PluginReport:
    failures: list[PluginFailure] = field(default_factory=list)


def add_agent(name: str, create_agent: CreateAgent, description: str | None = None) -> None:
    """Register an AgentChat agent or team factory ``create_agent(user_message, context)``."""
    registry = _loading.get()
    if registry is None:
        _pending.append((name, create_agent, description))
    else:
        registry.add_agent(name, create_agent, description)


def load_plugins(registry: AgentRegistry, settings: Settings, models: ModelProvider) -> PluginReport:
    """Fill ``registry`` from every plugin source the settings enable.

    Raises:
        ConfigError: a plugin folder does not exist.
    """
    report = PluginReport()
    folders = [_folder(path) for path in settings.plugin_dirs]
    with using_models(models):
        if settings.builtin_agents:
            _load_package("agenthost.agents", registry)
        for folder in folders:
            with seed_imports(registry, settings, models, add_agent, get_default_model):
                _load_folder(folder, registry, report)
        if settings.entry_points:
            _load_entry_points(registry, report)
        for name, create_agent, description in _pending:
            registry.add_agent(name, create_agent, description)
    for failure in report.failures:
        logger.error("plugin %s failed to load and is skipped: %s", failure.source, failure.error)
    return report


def _folder(path: Path) -> Path:
    folder = path.expanduser().absolute()
    if not folder.is_dir():
        shown = str(path) if str(path) == str(folder) else f"{path} (that is {folder})"
        raise ConfigError(
            f"AGENTHOST_PLUGIN_DIRS: the plugin folder {shown} does not exist; create it or fix the setting "
            "(relative folders are taken from the directory agenthost starts in)"
        )
    return folder


def _load_package(package_name: str, registry: AgentRegistry) -> None:
    package = importlib.import_module(package_name)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            _setup(importlib.import_module(f"{package_name}.{info.name}"), registry)


def _load_folder(folder: Path, registry: AgentRegistry, report: PluginReport) -> None:
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            _setup(_exec_file(path, registry), registry)
        except Exception as exc:
            report.failures.append(PluginFailure(str(path), _one_line(exc, path)))


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
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        _loading.reset(token)
    return module


def _load_entry_points(registry: AgentRegistry, report: PluginReport) -> None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        token = _loading.set(registry)
        try:
            target = entry.load()
            if isinstance(target, ModuleType):
                _setup(target, registry)
            elif callable(target):
                target(registry)
        except Exception as exc:
            report.failures.append(PluginFailure(f"entry point {entry.name} ({entry.value})", _one_line(exc)))
        finally:
            _loading.reset(token)


def _setup(module: ModuleType, registry: AgentRegistry) -> None:
    setup = getattr(module, "setup", None)
    if callable(setup):
        setup(registry)


def _one_line(exc: BaseException, path: Path | None = None) -> str:
    """``Type: message (file:line)``, the line being the deepest one in the plugin file itself."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [frame for frame in frames if path is not None and Path(frame.filename) == path]
    if mine:
        where = f" (line {mine[-1].lineno})"
    elif isinstance(exc, SyntaxError) and exc.lineno is not None:
        where = f" (line {exc.lineno})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"
