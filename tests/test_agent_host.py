"""``AgentHost`` for embedding programs: their own agent types next to the hosted ones."""

from __future__ import annotations

import pytest
from autogen_core import AgentId, CancellationToken, MessageContext, RoutedAgent, rpc

from agenthost import (
    AgentHost,
    AgentRegistry,
    BadRequest,
    ChatReply,
    ChatRequest,
    EventEmitter,
    HostedAgent,
)
from tests.turns import run_turn


class Shout(RoutedAgent):
    """An agent type of the embedding program's own, next to the hosted ones."""

    def __init__(self) -> None:
        super().__init__("shouts")

    @rpc
    async def on_request(self, message: ChatRequest, ctx: MessageContext) -> ChatReply:
        return ChatReply(request_id=message.request_id, content=message.messages[-1].content.upper())


async def test_own_agent_types_on_the_runtime(host: AgentHost) -> None:
    await Shout.register(host.runtime, "shout", Shout)
    request = host.request("echo", "hey", stream=False)
    reply = await host.runtime.send_message(request, AgentId("shout", "default"))
    assert reply.content == "HEY"


class Upper(HostedAgent):
    """A hosted agent of the embedding program's own."""

    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        text = request.messages[-1].content.upper()
        await emit.message(text, self.id.type)
        return ChatReply(request_id=request.request_id, conversation_id=request.conversation_id, content=text)


async def test_an_embedding_program_hosts_its_own_agent_on_a_running_host(host: AgentHost) -> None:
    await host.add(AgentRegistry().add_hosted("upper", Upper, "Shouts back."))
    assert (await host.chat("upper", "hey")).content == "HEY"
    assert (await host.chat("upper", "again", conversation_id="c1")).content == "AGAIN"
    assert "upper" in [spec.name for spec in host.agents()]
    events = await run_turn(host, "upper", "streamed")
    assert [e.kind for e in events] == ["status", "message", "done"]


async def test_a_request_id_names_one_turn(host: AgentHost) -> None:
    """The caller's id is the turn's (its run is run_<id>); an id in use by another turn is refused."""
    run = host.start_run(host.request("echo", "a b c", request_id="req-1"))
    assert run.run_id == "run_req-1"
    with pytest.raises(BadRequest, match="req-1"):
        host.request("echo", "again", request_id="req-1")  # its run is still known
    events = [event async for event in host.follow(run)]
    assert {event.request_id for event in events} == {"req-1"}
    reply = await host.chat("echo", "hello", request_id="req-2")
    assert reply.request_id == "req-2"


async def test_a_conversation_id_cannot_pose_as_a_stateless_request(host: AgentHost) -> None:
    """Over gRPC, keys starting with "~" mark stateless requests the host spreads over workers."""
    with pytest.raises(BadRequest, match="must not start with '~'"):
        host.request("echo", "hi", conversation_id="~c1")
    assert await host.served_agents() == {spec.name: True for spec in host.agents()}


async def test_a_conversation_id_cannot_pose_as_another_owners(host: AgentHost) -> None:
    """Instance keys are "<owner>/<conversation id>": an id holding "/" could name another owner's conversation."""
    with pytest.raises(BadRequest, match="must not contain '/'"):
        host.request("echo", "hi", conversation_id="alice/c1")
    for owner in ("alice", "alice", "bob"):
        await host.chat("echo", "hi", conversation_id="c1", owner=owner)
    assert host.store is not None
    assert await host.store.get("echo/alice/c1") == {"turns": 2}
    assert await host.store.get("echo/bob/c1") == {"turns": 1}  # its own conversation, not alice's third turn
