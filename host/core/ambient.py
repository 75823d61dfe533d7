"""The model a plugin's ``create_agent`` gets: ``get_default_model()`` and ``model_context()``.

A plugin calls these without being handed the host: inside a turn (and while
plugins load) the host that runs it is the one in scope (:func:`using_models`);
elsewhere in a process that runs a host, the newest running host answers
(:func:`serving_models`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from autogen_core.model_context import ChatCompletionContext, UnboundedChatCompletionContext
from autogen_core.models import ChatCompletionClient

from ..errors import ModelNotConfigured
from ..messages import ChatTurn
from ..models.provider import ModelProvider, llm_message

__all__ = ["get_default_model", "model_context", "serving_models", "using_models"]

_models: ContextVar[ModelProvider | None] = ContextVar("agenthost_models", default=None)
_fallback_models: list[ModelProvider] = []  # the hosts running in this process, newest last


def _provider() -> ModelProvider | None:
    return _models.get() or (_fallback_models[-1] if _fallback_models else None)


def get_default_model() -> ChatCompletionClient:
    """The host's configured model client: one shared client, closed when the host stops."""
    provider = _provider()
    if provider is None:
        raise ModelNotConfigured("get_default_model() was called outside a running AgentHost")
    return provider.get()


def model_context(context: ChatCompletionContext | Sequence[Mapping[str, Any]]) -> ChatCompletionContext:
    """The model context for ``context`` as given to ``create_agent``.

    ``create_agent`` already receives a ``ChatCompletionContext`` (returned as it is);
    a list of ``{"role", "content"}`` dicts (the form agenthost 0.1 passed) is turned
    into one, windowed per ``AGENTHOST_MODEL__HISTORY_WINDOW``.
    """
    if isinstance(context, ChatCompletionContext):
        return context
    turns = [ChatTurn.model_validate(item) for item in context]
    provider = _provider()
    if provider is None:
        return UnboundedChatCompletionContext(initial_messages=[llm_message(turn) for turn in turns])
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
