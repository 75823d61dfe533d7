"""A turn answered by the model alone: no agent, no tools, no conversation state.

For a chat front end's background prompts (Open WebUI's "### Task:" titles, tags,
follow-up suggestions): each would otherwise build the whole agent (a team, its
tools) and run a full turn, for a prompt that carries everything it needs. The
request's messages go to the host's model as they are, streamed as ``chunk``
events, with the turn's options (``max_tokens``, ``temperature``) applied.
"""

from __future__ import annotations

from autogen_core import CancellationToken
from autogen_core.models import CreateResult

from ..messages import ChatReply, ChatRequest, Usage
from ..models.provider import ModelProvider, llm_message
from ..models.scoped import current_scope
from .emitter import EventEmitter

__all__ = ["answer_directly"]


async def answer_directly(
    models: ModelProvider, request: ChatRequest, emit: EventEmitter, token: CancellationToken
) -> ChatReply:
    """One streamed model call on ``request.messages``; its text is the reply."""
    client = models.get()
    parts: list[str] = []
    result: CreateResult | None = None
    stream = client.create_stream([llm_message(turn) for turn in request.messages], cancellation_token=token)
    async for item in stream:
        if isinstance(item, CreateResult):
            result = item
        elif item:
            parts.append(item)
            await emit.chunk(item)
    if not parts and result is not None and isinstance(result.content, str) and result.content:
        parts.append(result.content)  # a backend that does not stream
        await emit.chunk(result.content)
    usage = (
        Usage()
        if result is None
        else Usage(prompt_tokens=result.usage.prompt_tokens, completion_tokens=result.usage.completion_tokens)
    )
    scope = current_scope()
    return ChatReply(
        request_id=request.request_id,
        conversation_id=request.conversation_id,
        content="".join(parts),
        usage=usage,
        finish_reason="stop" if scope is None else scope.finish_reason,
    )
