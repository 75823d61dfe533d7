"""``bare_echo``: a plain RoutedAgent answering ``CancelRequest`` with ``CancelReply``, for the benchmark.

It reuses two tiny wire types (already registered on every runtime) so that
the benchmark measures the bare engine round trip, nothing of agenthost's.
"""

from __future__ import annotations

from autogen_core import MessageContext, RoutedAgent, rpc

from agenthost.core.hosted import AgentDeps
from agenthost.core.registry import AgentRegistry, AgentSpec
from agenthost.messages import CancelReply, CancelRequest


class BareEcho(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("Answers at once; the bare engine's round trip.")

    @rpc
    async def on_ping(self, message: CancelRequest, ctx: MessageContext) -> CancelReply:
        return CancelReply(request_id=message.request_id, cancelled=False)


def _build(deps: AgentDeps) -> RoutedAgent:
    return BareEcho()


def setup(registry: AgentRegistry) -> None:
    registry.add(AgentSpec("bare_echo", "Bare RoutedAgent echo (benchmark only).", _build, uses_model=False))
