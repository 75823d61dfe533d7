"""The import names that plugin files of the seed agent server use: ``registry`` and ``config``.

Plugin files written for that server start with ``from registry import add_agent,
get_default_model`` (some also ``get_logger``, ``from config import settings``).
agenthost installs no top-level module of either name: while such a file runs,
two module objects built here stand in ``sys.modules`` under those names, and
whatever was there before (a module of the user's own with that name) comes back
afterwards.

What they offer, as the seed server did:

* ``registry``: ``add_agent(name, create_agent)``, ``get_default_model()``,
  ``get_agent(name)``, ``list_agents()``, ``get_logger()``.
* ``config.settings``: the seed server's setting names read from ours
  (``openai_api_key``, ``backend_url``, ``default_llm``, ``headless``...), and
  ``default_model_config(llm=None, base_url=None, timeout=None, model_info=None)``,
  an AutoGen component config for ``ChatCompletionClient.load_component``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models.provider import ModelProvider
    from ..settings import Settings
    from .registry import AgentRegistry

__all__ = ["SEED_MODULES", "SEED_SETTINGS", "SeedSettings", "seed_imports", "translate_seed_env"]

SEED_MODULES = ("registry", "config")
PLUGIN_LOGGER = "agenthost.plugins"


class SeedSettings:
    """The seed agent server's ``config.settings``, answered from agenthost's settings."""

    def __init__(self, settings: Settings, models: ModelProvider) -> None:
        self._settings = settings
        self._models = models
        model = settings.model
        self.openai_api_key = model.api_key.get_secret_value() if model.api_key else "not-needed"
        self.backend_request_timeout = int(model.request_timeout)
        self.default_llm = model.name
        info = model.info
        self.default_llm_family = info.family if info else None
        self.default_llm_function_calling = info.function_calling if info else None
        self.default_llm_json_output = info.json_output if info else None
        self.default_llm_vision = info.vision if info else None
        self.model_info = info.model_dump() if info else None
        self.server_host = settings.http.host
        self.server_port = settings.http.port
        self.agent_dir = str(settings.plugin_dirs[0]) if settings.plugin_dirs else ""
        self.debug_log = settings.log_level == "DEBUG"
        self.autogen_debug_log = settings.log_level == "DEBUG"
        self.headless = True  # a server has no display

    @property
    def backend_url(self) -> str:
        """The OpenAI-compatible endpoint behind ``get_default_model()`` (the offline model's, when it runs)."""
        local = self._models.local_base_url()
        return local or self._settings.model.base_url or "https://api.openai.com/v1"

    def default_model_config(
        self,
        llm: str | None = None,
        base_url: str | None = None,
        timeout: int | None = None,
        model_info: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A component config for ``ChatCompletionClient.load_component``, on the configured backend."""
        config: dict[str, Any] = {
            "model": llm or self._models.model_name(),
            "api_key": self._models.api_key(),
            "base_url": base_url or self.backend_url,
            "timeout": timeout or self.backend_request_timeout,
        }
        info = model_info or self._models.model_info()
        if info is not None:
            config["model_info"] = dict(info)
        return {"provider": "OpenAIChatCompletionClient", "config": config}


def _registry_module(registry: AgentRegistry, add_agent: Callable[..., None], get_default_model: Any) -> ModuleType:
    module = ModuleType("registry", "agenthost's stand-in for the seed agent server's registry module")
    module.add_agent = add_agent  # type: ignore[attr-defined]
    module.get_default_model = get_default_model  # type: ignore[attr-defined]
    module.get_agent = registry.factory  # type: ignore[attr-defined]
    module.list_agents = registry.names  # type: ignore[attr-defined]
    module.get_logger = lambda: logging.getLogger(PLUGIN_LOGGER)  # type: ignore[attr-defined]
    return module


def _config_module(settings: Settings, models: ModelProvider) -> ModuleType:
    module = ModuleType("config", "agenthost's stand-in for the seed agent server's config module")
    module.settings = SeedSettings(settings, models)  # type: ignore[attr-defined]
    return module


@contextlib.contextmanager
def seed_imports(
    registry: AgentRegistry,
    settings: Settings,
    models: ModelProvider,
    add_agent: Callable[..., None],
    get_default_model: Any,
) -> Iterator[None]:
    """While a plugin file runs, ``import registry`` and ``import config`` find the stand-ins."""
    stand_ins = {
        "registry": _registry_module(registry, add_agent, get_default_model),
        "config": _config_module(settings, models),
    }
    saved = {name: sys.modules.get(name) for name in SEED_MODULES}
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


SEED_SETTINGS: dict[str, str] = {
    # the OpenAI-compatible agent server
    "OPENAI_API_KEY": "AGENTHOST_MODEL__API_KEY",
    "BACKEND_URL": "AGENTHOST_MODEL__BASE_URL",
    "BACKEND_REQUEST_TIMEOUT": "AGENTHOST_MODEL__REQUEST_TIMEOUT",
    "DEFAULT_LLM": "AGENTHOST_MODEL__NAME",
    "DEFAULT_LLM_FAMILY": "AGENTHOST_MODEL__INFO__FAMILY",
    "DEFAULT_LLM_FUNCTION_CALLING": "AGENTHOST_MODEL__INFO__FUNCTION_CALLING",
    "DEFAULT_LLM_JSON_OUTPUT": "AGENTHOST_MODEL__INFO__JSON_OUTPUT",
    "DEFAULT_LLM_VISION": "AGENTHOST_MODEL__INFO__VISION",
    "AGENT_DIR": "AGENTHOST_PLUGIN_DIRS",
    "SERVER_HOST": "AGENTHOST_HTTP__HOST",
    "SERVER_PORT": "AGENTHOST_HTTP__PORT",
    # the chat backend
    "API_KEY": "AGENTHOST_MODEL__API_KEY",
    "MODEL_NAME": "AGENTHOST_MODEL__NAME",
    "BASE_URL": "AGENTHOST_MODEL__BASE_URL",
}
"""Each seed server's setting and the agenthost setting that does its job."""

_DEBUG = ("DEBUG_LOG", "AUTOGEN_DEBUG_LOG")
_TRUE = ("1", "true", "yes", "on")


def translate_seed_env(values: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The seed servers' settings in ``values`` as agenthost ``NAME=value`` lines, and notes on the rest."""
    lines: list[str] = []
    notes: list[str] = []
    for name, value in values.items():
        key = name.upper()
        if key in SEED_SETTINGS:
            lines.append(f"{SEED_SETTINGS[key]}={value}")
        elif key in _DEBUG and value.strip().lower() in _TRUE:
            lines.append("AGENTHOST_LOG_LEVEL=DEBUG")
        elif key in ("HEADLESS", "AUTO_RELOAD", *_DEBUG):
            notes.append(f"{key}: not needed (agenthost is always headless and does not reload code)")
    return sorted(set(lines)), notes
