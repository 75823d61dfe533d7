"""The import names of agenthost 0.1 (``host``, ``agents``, ``http_bridge``), kept for one release.

0.1 installed three generic top-level packages; ``agents`` is also the import name
of the OpenAI Agents SDK, so installing both broke one of them. 0.2 installs only
``agenthost`` (``agenthost.agents``, ``agenthost.http_bridge``). Old imports still
work, with a ``DeprecationWarning``: the wheel ships a ``.pth`` file that puts
:class:`LegacyFinder` on ``sys.meta_path`` at interpreter start. It answers an old
top-level name only when no other finder provides it (a real package called
``agents`` or ``host`` wins), and then the submodules of the aliased package, so
``host.messages`` is ``agenthost.messages`` itself, never a second copy. To be
removed in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

__all__ = ["LegacyFinder", "install", "new_name"]

_TOP = {"host": "agenthost", "agents": "agenthost.agents", "http_bridge": "agenthost.http_bridge"}
_MOVED = {
    "host.agent_base": "agenthost.core.hosted",
    "host.adapter": "agenthost.core.adapter",
    "host.streaming": "agenthost.core.emitter",
    "host.deadlines": "agenthost.core.deadlines",
    "host.instances": "agenthost.core.instances",
    "host.registry": "agenthost.core.registry",
    "host.plugins": "agenthost",
    "host.seed_compat": "agenthost.core.seed_compat",
    "host.models": "agenthost.models.provider",
    "host.scoped_model": "agenthost.models.scoped",
    "host._openai_client": "agenthost.models.openai_client",
    "host.local_model": "agenthost.models.local",
    "host.local_model_server": "agenthost.models.local.server",
    "host.local_model_check": "agenthost.models.local.check",
    "host.redis_state": "agenthost.state.redis_store",
    "host.grpc_runtime": "agenthost.runtime.grpc_worker_runtime",
    "host.grpc_worker": "agenthost.roles.worker",
}


def new_name(old: str) -> str | None:
    """The 0.2 module for an 0.1 module name (None: not an 0.1 name)."""
    if old in _MOVED:
        return _MOVED[old]
    top, dot, rest = old.partition(".")
    return None if top not in _TOP else _TOP[top] + dot + rest


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def exec_module(self, module: ModuleType) -> None:
        real = importlib.import_module(self.target)
        sys.modules[module.__name__] = real  # the import system hands out what sys.modules holds


class LegacyFinder(importlib.abc.MetaPathFinder):
    """Finds ``host.x`` as the module that replaced it, warning once per name."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        target_name = new_name(fullname)
        if target_name is None or not self._ours(fullname, path, target):
            return None
        warnings.warn(
            f"'{fullname}' is agenthost 0.1's import name; import '{target_name}' instead (removed in 0.3)",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.machinery.ModuleSpec(fullname, _Alias(target_name))

    def _ours(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None) -> bool:
        top = fullname.partition(".")[0]
        if "." in fullname:  # a submodule: ours when its top-level package is our alias
            parent = sys.modules.get(top)
            return parent is not None and parent is sys.modules.get(_TOP[top])
        others = (finder for finder in sys.meta_path if finder is not self and hasattr(finder, "find_spec"))
        return all(finder.find_spec(fullname, path, target) is None for finder in others)


def install() -> None:
    """Put :class:`LegacyFinder` first on ``sys.meta_path`` (once); it defers to every other finder."""
    if not any(isinstance(finder, LegacyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LegacyFinder())
