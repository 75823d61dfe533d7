"""``busy``: a stateful agent that spends CPU on every turn, for the scale-out benchmark.

Each turn burns ``AGENTHOST_BENCH_BURN_MS`` milliseconds of CPU (default 5: an agent's own work,
which more workers spread over more cores), counts the conversation's turns in its saved state and
answers ``<replica id> <turn>``. A message ``sleep <seconds>`` waits that long instead (a turn in
flight to kill a worker under).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import Any

from autogen_core import CancellationToken

from agenthost.core.emitter import EventEmitter
from agenthost.core.hosted import AgentDeps, HostedAgent
from agenthost.core.registry import AgentRegistry
from agenthost.messages import ChatReply, ChatRequest

_BURN = float(os.environ.get("AGENTHOST_BENCH_BURN_MS", "5")) / 1000


class Busy(HostedAgent):
    def __init__(self, description: str, deps: AgentDeps) -> None:
        super().__init__(description, deps)
        self.turns = 0

    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        text = request.messages[-1].content
        if text.startswith("sleep "):
            await asyncio.sleep(float(text.split()[1]))
        else:
            end = time.process_time() + _BURN
            while time.process_time() < end:
                pass
        self.turns += 1
        replica = self.deps.settings.runtime.replica_id or str(os.getpid())
        return ChatReply(
            request_id=request.request_id, conversation_id=request.conversation_id, content=f"{replica} {self.turns}"
        )

    async def save_state(self) -> Mapping[str, Any]:
        return {"turns": self.turns}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        self.turns = int(state.get("turns", 0))


def setup(registry: AgentRegistry) -> None:
    registry.add_hosted("busy", Busy, "Burns CPU on every turn (benchmark only).")
