"""AgentChat's own spans, built only when something records them.

AgentChat opens an OpenTelemetry span when it creates an agent, when an agent or a team member runs, and
around each tool call. With no tracer provider configured these are no-op spans, but building one still
costs about as much as creating the agent itself (18 of 26 µs for an ``AssistantAgent`` here), and the
hosted agents build one agent and run it on every turn. :func:`spans_only_when_traced` makes those span
helpers hand out a null context while the global tracer provider is OpenTelemetry's default proxy (no
SDK provider set), and call the real ones as soon as a provider is set: an embedding program that
configures tracing, before or after, gets every span.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from ._base import attr

__all__ = ["SPAN_HELPERS", "spans_only_when_traced"]

SPAN_HELPERS: dict[str, tuple[str, ...]] = {
    "autogen_agentchat.agents._base_chat_agent": ("trace_create_agent_span", "trace_invoke_agent_span"),
    "autogen_agentchat.teams._group_chat._chat_agent_container": ("trace_invoke_agent_span",),
    "autogen_core.tools._base": ("trace_tool_span",),
}
"""Module -> the span helpers it calls by name (each looked up in the module at call time)."""

_NULL = contextlib.nullcontext()


def _traced_only(helper: Callable[..., Any]) -> Callable[..., Any]:
    def span(*args: Any, **kwargs: Any) -> Any:
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return _NULL  # nothing records spans: the helper would build a no-op one
        return helper(*args, **kwargs)

    span.__wrapped__ = helper  # type: ignore[attr-defined]
    span.agenthost_traced_only = True  # type: ignore[attr-defined]
    return span


def spans_only_when_traced() -> None:
    """Process-wide and idempotent: swap AgentChat's span helpers for ones that skip work when untraced."""
    for module_name, names in SPAN_HELPERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            helper = attr(module, name)
            if not getattr(helper, "agenthost_traced_only", False):  # (contextmanager sets __wrapped__ too)
                setattr(module, name, _traced_only(helper))
