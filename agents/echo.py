"""``echo``: streams the last user message back word by word. No model: deterministic."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from autogen_core import CancellationToken

from agenthost.core.emitter import EventEmitter
from agenthost.core.hosted import AgentDeps, HostedAgent
from agenthost.core.registry import AgentRegistry
from agenthost.messages import ChatReply, ChatRequest

_WORDS = re.compile(r"\S+\s*|\s+")


class EchoAgent(HostedAgent):
    """Echoes; in a conversation it also counts the turns (kept in its saved state)."""

    def __init__(self, description: str, deps: AgentDeps) -> None:
        super().__init__(description, deps)
        self.turns = 0

    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        text = next((t.content for t in reversed(request.messages) if t.role == "user"), request.messages[-1].content)
        words = _WORDS.findall(text)
        limit = request.options.max_tokens if request.options is not None else None
        cut = limit is not None and len(words) > limit
        if cut:  # a word is echo's token: max_tokens caps the words, as it caps a model's tokens
            words = words[:limit]
            text = "".join(words)
        self.turns += 1
        if emit.enabled:
            for word in words:
                await emit.chunk(word, self.id.type)
            await emit.message(text, self.id.type, turn=self.turns)
        return ChatReply(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            content=text,
            finish_reason="length" if cut else "stop",
        )

    async def save_state(self) -> Mapping[str, Any]:
        return {"turns": self.turns}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        self.turns = int(state.get("turns", 0))


def setup(registry: AgentRegistry) -> None:
    registry.add_hosted("echo", EchoAgent, "Streams your last message back word by word (no model needed).")
