"""Runs an AgentChat agent or team as a hosted agent, republishing its stream.

The plugin contract of the agent server this grows from: a factory
``create_agent(user_message, context)`` returns an AgentChat agent or team;
``context`` is an AutoGen ``ChatCompletionContext`` already holding the prior
history (windowed when ``AGENTHOST_MODEL__HISTORY_WINDOW`` is set), passed
straight on as ``AssistantAgent(..., model_context=context)``. Events map as:
``ModelClientStreamingChunkEvent`` -> ``chunk``, ``ToolCallRequestEvent`` -> ``tool_call``,
``ToolCallExecutionEvent`` -> ``tool_result``, chat messages -> ``message``, ``ThoughtEvent`` -> ``status``.
With tracing on, each tool call is an ``execute_tool`` span, from its request event to its execution event.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from autogen_agentchat.base import ChatAgent, TaskResult, Team
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    ModelClientStreamingChunkEvent,
    ThoughtEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_core import CancellationToken
from autogen_core.model_context import ChatCompletionContext

from ..events import StatusData, ToolCallData, ToolResultData
from ..messages import ChatReply, ChatRequest, ChatTurn, Usage
from ..models.scoped import TurnScope, current_scope
from ..telemetry import NO_TRACING, end_span
from ..telemetry.genai import tool_span
from .ambient import using_models
from .emitter import EventEmitter
from .hosted import AgentDeps, HostedAgent

__all__ = ["AgentChatAdapter", "CreateAgent", "Runnable"]

Runnable: TypeAlias = ChatAgent | Team
CreateAgent: TypeAlias = Callable[[str, ChatCompletionContext], Runnable | Awaitable[Runnable]]
StreamItem: TypeAlias = BaseAgentEvent | BaseChatMessage | TaskResult


class AgentChatAdapter(HostedAgent):
    """One generic adapter for every ``add_agent`` plugin."""

    def __init__(self, description: str, deps: AgentDeps, create_agent: CreateAgent) -> None:
        super().__init__(description, deps)
        self._create_agent = create_agent
        self._chat: Runnable | None = None

    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        user_message, history = split_history(request.messages)
        chat = self._chat if request.conversation_id is not None else None
        if chat is None:
            chat = await self._build(user_message, history)
        scope = current_scope()
        run = _TurnRun(emit, team=isinstance(chat, Team), scope=scope)
        try:
            async for item in chat.run_stream(task=user_message, cancellation_token=token):
                await run.handle(item)
        finally:
            run.end_tool_spans()
        return ChatReply(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            content=run.content,
            usage=run.usage,
            finish_reason="stop" if scope is None else scope.finish_reason,
        )

    async def prepare(self, request: ChatRequest, state: Mapping[str, Any] | None) -> None:
        user_message, history = split_history(request.messages)
        self._chat = await self._build(user_message, history)
        if state:  # {} is what a new instance saves: nothing to load
            await self._chat.load_state(state)

    async def save_state(self) -> Mapping[str, Any]:
        return {} if self._chat is None else await self._chat.save_state()

    async def _build(self, user_message: str, history: tuple[ChatTurn, ...]) -> Runnable:
        context = self.deps.models.context(history)
        with using_models(self.deps.models):
            made = self._create_agent(user_message, context)
            if inspect.isawaitable(made):
                made = await made
        return made


class _TurnRun:
    """Maps one run's stream items to events and keeps the turn's totals.

    ``chunk`` events carry every piece of the reply's text, with its ``source``:
    streamed tokens, and the whole text of a message that arrived without
    chunks (an agent not streaming, a tool-call summary). Messages are set
    apart by a blank line; in a team each member's text starts with
    ``**member:**``. The reply's content is exactly the chunks joined, so a
    streamed reply and a whole one read the same.
    """

    def __init__(self, emit: EventEmitter, team: bool, scope: TurnScope | None = None) -> None:
        self._emit = emit
        self._team = team
        self._tracing = NO_TRACING if scope is None else scope.tracing
        self._parent = None if scope is None else scope.span
        self._tool_spans: dict[str, Any] = {}
        self.usage = Usage()
        self._parts: list[str] = []
        self._speaker: str | None = None
        self._new_message = False  # the next text starts a new message
        self._streamed = False  # chunks arrived for the message in progress

    @property
    def content(self) -> str:
        return "".join(self._parts)

    async def handle(self, item: StreamItem) -> None:
        if isinstance(item, TaskResult):
            return
        usage = item.models_usage
        if usage is not None:
            self.usage = self.usage + Usage(
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
            )
        if isinstance(item, ModelClientStreamingChunkEvent):
            self._streamed = True
            await self._text(item.source, item.content)
        elif isinstance(item, ToolCallRequestEvent):
            for call in item.content:
                if self._tracing.enabled:
                    span = tool_span(self._tracing, self._parent, call.name, call.id, call.arguments)
                    self._tool_spans[call.id] = span
                data = ToolCallData(id=call.id, name=call.name, arguments=call.arguments, source=item.source)
                await self._emit.tool_call(data)
        elif isinstance(item, ToolCallExecutionEvent):
            for result in item.content:
                self._end_tool_span(result.call_id, result.content, bool(result.is_error))
                await self._emit.tool_result(
                    ToolResultData(
                        id=result.call_id, name=result.name, content=result.content,
                        is_error=bool(result.is_error), source=item.source,
                    )
                )  # fmt: skip
        elif isinstance(item, ThoughtEvent):
            self._end_message()
            await self._emit.status(StatusData(status="thinking", content=item.content, source=item.source))
        elif isinstance(item, BaseChatMessage) and item.source != "user":
            text = item.to_text()
            if not self._streamed and text:
                await self._text(item.source, text)
            self._end_message()
            await self._emit.message(text, item.source, type=item.__class__.__name__)

    async def _text(self, source: str, text: str) -> None:
        if not text:
            return
        prefix = ""
        if self._parts and (self._new_message or source != self._speaker):
            prefix = "\n\n"
        if self._team and (source != self._speaker or self._new_message):
            prefix += f"**{source}:** "
        self._speaker, self._new_message = source, False
        self._parts.append(prefix + text)
        await self._emit.chunk(prefix + text, source)

    def _end_tool_span(self, call_id: str, content: str, is_error: bool) -> None:
        span = self._tool_spans.pop(call_id, None)
        if span is not None:
            result = {"gen_ai.tool.call.result": content} if self._tracing.record_content else None
            end_span(span, "tool_error" if is_error else None, result)

    def end_tool_spans(self) -> None:
        """End the spans of tool calls whose result never came (the turn failed or was cancelled)."""
        for span in self._tool_spans.values():
            end_span(span, "incomplete")
        self._tool_spans.clear()

    def _end_message(self) -> None:
        self._new_message = self._new_message or bool(self._parts)
        self._streamed = False


def split_history(turns: tuple[ChatTurn, ...]) -> tuple[str, tuple[ChatTurn, ...]]:
    """The last user message, and every other turn (the history the agent's context starts from)."""
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].role == "user":
            return turns[index].content, turns[:index] + turns[index + 1 :]
    return turns[-1].content, turns[:-1]
