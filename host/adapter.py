"""Runs an AgentChat agent or team as a hosted agent, republishing its stream.

The plugin contract of the agent server this grows from: a factory
``create_agent(user_message, context)`` returns an AgentChat agent or team
(``context`` is the prior history as OpenAI-style ``{"role", "content"}``
dicts). Events map as: ``ModelClientStreamingChunkEvent`` -> ``chunk``,
``ToolCallRequestEvent`` -> ``tool_call``, ``ToolCallExecutionEvent`` ->
``tool_result``, chat messages -> ``message``, ``ThoughtEvent`` -> ``status``.
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

from .agent_base import AgentDeps, HostedAgent
from .messages import ChatReply, ChatRequest, ChatTurn, Usage
from .plugins import using_models
from .streaming import EventEmitter

__all__ = ["AgentChatAdapter", "CreateAgent", "Runnable"]

Runnable: TypeAlias = ChatAgent | Team
CreateAgent: TypeAlias = Callable[[str, list[dict[str, Any]]], Runnable | Awaitable[Runnable]]
StreamItem: TypeAlias = BaseAgentEvent | BaseChatMessage | TaskResult


class AgentChatAdapter(HostedAgent):
    """One generic adapter for every ``add_agent`` plugin."""

    def __init__(self, description: str, deps: AgentDeps, create_agent: CreateAgent) -> None:
        super().__init__(description, deps)
        self._create_agent = create_agent
        self._chat: Runnable | None = None

    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        user_message, context = split_history(request.messages)
        chat = self._chat if request.conversation_id is not None else None
        if chat is None:
            chat = await self._build(user_message, context)
        run = _TurnRun(emit)
        async for item in chat.run_stream(task=user_message, cancellation_token=token):
            await run.handle(item)
        return ChatReply(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            content=run.last_content,
            usage=run.usage,
        )

    async def prepare(self, request: ChatRequest, state: Mapping[str, Any] | None) -> None:
        user_message, context = split_history(request.messages)
        self._chat = await self._build(user_message, context)
        if state is not None:
            await self._chat.load_state(state)

    async def save_state(self) -> Mapping[str, Any]:
        return {} if self._chat is None else await self._chat.save_state()

    async def _build(self, user_message: str, context: list[dict[str, Any]]) -> Runnable:
        with using_models(self.deps.models):
            made = self._create_agent(user_message, context)
            if inspect.isawaitable(made):
                made = await made
        return made


class _TurnRun:
    """Maps one run's stream items to events and keeps the turn's totals."""

    def __init__(self, emit: EventEmitter) -> None:
        self._emit = emit
        self.usage = Usage()
        self.last_content = ""

    async def handle(self, item: StreamItem) -> None:
        if isinstance(item, TaskResult):
            return
        usage = item.models_usage
        if usage is not None:
            self.usage = self.usage + Usage(
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
            )
        if isinstance(item, ModelClientStreamingChunkEvent):
            await self._emit.chunk(item.content)
        elif isinstance(item, ToolCallRequestEvent):
            for call in item.content:
                await self._emit.emit(
                    "tool_call", id=call.id, name=call.name, arguments=call.arguments, source=item.source
                )
        elif isinstance(item, ToolCallExecutionEvent):
            for result in item.content:
                await self._emit.emit(
                    "tool_result", id=result.call_id, name=result.name, content=result.content,
                    is_error=bool(result.is_error), source=item.source,
                )  # fmt: skip
        elif isinstance(item, ThoughtEvent):
            await self._emit.emit("status", status="thinking", content=item.content, source=item.source)
        elif isinstance(item, BaseChatMessage) and item.source != "user":
            self.last_content = item.to_text()
            await self._emit.message(self.last_content, item.source, type=item.__class__.__name__)


def split_history(turns: tuple[ChatTurn, ...]) -> tuple[str, list[dict[str, Any]]]:
    """The last user message, and everything before it as OpenAI-style dicts."""
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].role == "user":
            before = turns[:index] + turns[index + 1 :]
            return turns[index].content, [turn.model_dump(exclude_none=True) for turn in before]
    return turns[-1].content, [turn.model_dump(exclude_none=True) for turn in turns[:-1]]
