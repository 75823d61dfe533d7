"""The host's view of every model call a turn makes: the request's options go in, the finish reason comes out.

Agents get one shared model client (``get_default_model()``) and call it through
AgentChat, which passes no per-request arguments. :class:`ScopedModelClient`
wraps that client: inside :func:`turn_scope` every call gets the turn's
``max_tokens``/``temperature`` (an OpenAI request's, say) as
``extra_create_args``, and the scope records how the last call finished, so a
reply cut off at the token cap reports ``finish_reason="length"``. With tracing
on, every call is a ``chat {model}`` span (:mod:`agenthost.telemetry.genai`).

Example:
    >>> with turn_scope(GenerationOptions(max_tokens=5)) as scope:
    ...     await agent.run(task="Tell me a story")
    >>> scope.finish_reason
    'length'
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import Tool, ToolSchema
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from pydantic import BaseModel

from ..messages import FinishReason, GenerationOptions
from ..telemetry import NO_TRACING, Tracing, end_span
from ..telemetry.genai import messages_attribute, model_span_attributes

__all__ = ["ScopedModelClient", "TurnScope", "current_scope", "turn_scope"]


@dataclass
class TurnScope:
    """One turn's model options, and what its model calls reported."""

    options: GenerationOptions | None = None
    finish_reason: FinishReason = "stop"
    calls: int = 0
    tracing: Tracing = NO_TRACING
    span: Context | None = None  # the turn's span, parent of its model and tool spans

    def create_args(self, given: Mapping[str, Any]) -> Mapping[str, Any]:
        """``given`` with the turn's options on top (the request asked for them)."""
        if self.options is None:
            return given
        extra = self.options.model_dump(exclude_none=True)
        return {**given, **extra} if extra else given

    def record(self, result: CreateResult) -> None:
        self.calls += 1
        self.finish_reason = "length" if result.finish_reason == "length" else "stop"


_scope: ContextVar[TurnScope | None] = ContextVar("agenthost_turn_scope", default=None)


@contextlib.contextmanager
def turn_scope(
    options: GenerationOptions | None = None, tracing: Tracing = NO_TRACING, span: Context | None = None
) -> Iterator[TurnScope]:
    """Model calls made in this context (and in tasks it starts) get ``options`` and report to the scope.

    With tracing on, their spans are children of ``span`` (the turn's).
    """
    scope = TurnScope(options, tracing=tracing, span=span)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def current_scope() -> TurnScope | None:
    return _scope.get()


class ScopedModelClient(ChatCompletionClient):
    """Delegates to ``inner``, applying and recording the current :class:`TurnScope`.

    ``model`` and ``provider`` name the backend on spans (``gen_ai.request.model``, ``gen_ai.provider.name``).
    """

    def __init__(self, inner: ChatCompletionClient, model: str = "unknown", provider: str = "unknown") -> None:
        self.inner = inner
        self.model = model
        self.provider = provider

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        scope = _scope.get()
        args = extra_create_args if scope is None else scope.create_args(extra_create_args)
        span = self._span(scope, messages, args)
        try:
            result = await self.inner.create(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=args,
                cancellation_token=cancellation_token,
            )
        except BaseException as exc:
            end_span(span, type(exc).__name__)
            raise
        if scope is not None:
            scope.record(result)
        self._end(span, scope, result)
        return result

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        scope = _scope.get()
        args = extra_create_args if scope is None else scope.create_args(extra_create_args)
        span = self._span(scope, messages, args)
        stream = self.inner.create_stream(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=args,
            cancellation_token=cancellation_token,
        )
        if span is not None:
            async for item in self._traced(span, scope, stream):
                yield item
            return
        async with contextlib.aclosing(stream):
            async for item in stream:
                if scope is not None and isinstance(item, CreateResult):
                    scope.record(item)
                yield item

    async def _traced(
        self, span: Span, scope: TurnScope | None, stream: AsyncGenerator[str | CreateResult, None]
    ) -> AsyncGenerator[str | CreateResult, None]:
        result: CreateResult | None = None
        try:
            async with contextlib.aclosing(stream):
                async for item in stream:
                    if isinstance(item, CreateResult):
                        result = item
                        if scope is not None:
                            scope.record(item)
                    yield item
        except BaseException as exc:
            end_span(span, type(exc).__name__)
            raise
        if result is None:
            end_span(span, "incomplete")
        else:
            self._end(span, scope, result)

    def _span(self, scope: TurnScope | None, messages: Sequence[LLMMessage], args: Mapping[str, Any]) -> Span | None:
        """A started ``chat {model}`` span, when the turn is traced."""
        tracer = None if scope is None else scope.tracing.tracer
        if tracer is None or scope is None:
            return None
        attributes = model_span_attributes(self.model, self.provider, args)
        if scope.tracing.record_content:
            attributes["gen_ai.input.messages"] = messages_attribute([_llm_text(message) for message in messages])
        return tracer.start_span(f"chat {self.model}", scope.span, SpanKind.CLIENT, attributes)

    def _end(self, span: Span | None, scope: TurnScope | None, result: CreateResult) -> None:
        if span is None:
            return
        attributes: dict[str, Any] = {
            "gen_ai.response.finish_reasons": (result.finish_reason,),
            "gen_ai.usage.input_tokens": result.usage.prompt_tokens,
            "gen_ai.usage.output_tokens": result.usage.completion_tokens,
        }
        if scope is not None and scope.tracing.record_content and isinstance(result.content, str):
            attributes["gen_ai.output.messages"] = messages_attribute([("assistant", result.content)])
        end_span(span, None, attributes)

    async def close(self) -> None:
        await self.inner.close()

    def actual_usage(self) -> RequestUsage:
        return self.inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        return self.inner.total_usage()

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self.inner.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self.inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelCapabilities:
        return self.inner.capabilities

    @property
    def model_info(self) -> ModelInfo:
        return self.inner.model_info


def _llm_text(message: LLMMessage) -> tuple[str, str]:
    """A model message as (role, text) for a span; non-text parts are named, not copied."""
    role = {"SystemMessage": "system", "UserMessage": "user", "AssistantMessage": "assistant"}.get(
        type(message).__name__, "tool"
    )
    content = message.content
    if isinstance(content, str):
        return role, content
    return role, " ".join(part if isinstance(part, str) else f"[{type(part).__name__}]" for part in content)
