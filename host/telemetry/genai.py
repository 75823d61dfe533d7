"""Spans of agents, model calls and tool calls, named and described by the OpenTelemetry GenAI conventions.

``invoke_agent {agent}`` (one turn of a hosted agent), ``chat {model}`` (one model call),
``execute_tool {tool}`` (one tool call). Attributes: ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.agent.name`` / ``.id``, ``gen_ai.conversation.id``,
``gen_ai.request.model`` / ``.max_tokens`` / ``.temperature``,
``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens`` / ``.output_tokens``,
``gen_ai.tool.name`` / ``.call.id`` / ``.type``, ``error.type``. Message text goes on a span
(``gen_ai.input.messages``, ``gen_ai.output.messages``, tool arguments and results) only
with ``telemetry.record_content`` on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from ..messages import ChatReply, ChatRequest, ChatTurn
from .tracing import Tracing, end_span

__all__ = [
    "agent_span",
    "finish_agent_span",
    "messages_attribute",
    "model_span_attributes",
    "parent_context",
    "tool_span",
]


def messages_attribute(turns: Sequence[tuple[str, str]]) -> str:
    """``gen_ai.input.messages`` / ``gen_ai.output.messages``: JSON, one text part per message."""
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]} for role, text in turns])


def agent_span(tracing: Tracing, request: ChatRequest, agent_type: str, agent_key: str) -> Span | None:
    """The turn's started ``invoke_agent`` span (None with tracing off), under the caller's.

    It is not made the current span: the engine copies the current span into the metadata of
    every message it routes (every event of the turn), which costs more than all of our spans.
    The turn's model and tool spans name it as their parent (:func:`parent_context`).
    """
    tracer = tracing.tracer
    if tracer is None:
        return None
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent_type,
        "gen_ai.agent.id": f"{agent_type}/{agent_key}",
        "agenthost.request_id": request.request_id,
    }
    if request.conversation_id is not None:
        attributes["gen_ai.conversation.id"] = request.conversation_id
    if tracing.record_content:
        attributes["gen_ai.input.messages"] = messages_attribute(_pairs(request.messages))
    parent = tracing.parent(request.traceparent, request.tracestate)
    return tracer.start_span(f"invoke_agent {agent_type}", parent, SpanKind.INTERNAL, attributes)


def parent_context(span: Span | None) -> Context | None:
    """The context that makes ``span`` the parent of the spans started with it."""
    return None if span is None else trace.set_span_in_context(span, Context())


def finish_agent_span(span: Span | None, reply: ChatReply | None, record_content: bool) -> None:
    """End the ``invoke_agent`` span with the reply's usage, finish reason and error (no reply: cancelled)."""
    if span is None:
        return
    if reply is None:
        end_span(span, "cancelled")
        return
    attributes: dict[str, Any] = {
        "gen_ai.usage.input_tokens": reply.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": reply.usage.completion_tokens,
        "gen_ai.response.finish_reasons": (reply.finish_reason,),
    }
    if record_content and reply.error is None:
        attributes["gen_ai.output.messages"] = messages_attribute([("assistant", reply.content)])
    end_span(span, None if reply.error is None else reply.error.code, attributes)


def model_span_attributes(model: str, provider: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The request attributes of a ``chat {model}`` span."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    if options.get("max_tokens") is not None:
        attributes["gen_ai.request.max_tokens"] = options["max_tokens"]
    if options.get("temperature") is not None:
        attributes["gen_ai.request.temperature"] = options["temperature"]
    return attributes


def tool_span(tracing: Tracing, parent: Context | None, name: str, call_id: str, arguments: str) -> Span | None:
    """A started ``execute_tool`` span under ``parent`` (the caller ends it)."""
    if tracing.tracer is None:
        return None
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
    }
    if tracing.record_content:
        attributes["gen_ai.tool.call.arguments"] = arguments
    return tracing.tracer.start_span(f"execute_tool {name}", parent, SpanKind.INTERNAL, attributes)


def _pairs(turns: Sequence[ChatTurn]) -> list[tuple[str, str]]:
    return [(turn.role, turn.content) for turn in turns]
