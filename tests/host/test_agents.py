"""One test per shipped agent, each on the fake OpenAI-compatible backend (echo needs none)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autogen_agentchat.agents import AssistantAgent
from autogen_core import AgentId, CancellationToken, MessageContext, RoutedAgent, rpc
from autogen_core.model_context import ChatCompletionContext

from host import (
    AgentHost,
    AgentRegistry,
    ChatReply,
    ChatRequest,
    EventEmitter,
    HostedAgent,
    Settings,
    StreamEvent,
    get_default_model,
)
from host.messages import GenerationOptions
from tests.fakes import FakeOpenAI, FakeReply, ToolCall


async def _run(host: AgentHost, agent: str, text: str, conversation: str | None = None) -> list[StreamEvent]:
    return [event async for event in host.stream(agent, text, conversation_id=conversation)]


def _kinds(events: list[StreamEvent]) -> list[str]:
    return [event.kind for event in events]


async def test_echo_streams_word_by_word(host: AgentHost) -> None:
    events = await _run(host, "echo", "the quick  brown fox")
    assert _kinds(events) == ["status", "chunk", "chunk", "chunk", "chunk", "message", "done"]
    assert [e.seq for e in events] == list(range(len(events)))
    assert "".join(e.data["content"] for e in events if e.kind == "chunk") == "the quick  brown fox"
    assert events[-1].data["message"] == "the quick  brown fox"


async def test_assistant_streams_tokens(fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]) -> None:
    fake_openai.add(FakeReply(content="Hello, how can I help?", chunk_size=3))
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await _run(host, "assistant", "hi")
    chunks = [e.data["content"] for e in events if e.kind == "chunk"]
    assert len(chunks) >= 5
    assert "".join(chunks) == "Hello, how can I help?"
    assert _kinds(events)[-2:] == ["message", "done"]
    assert events[-1].data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    assert fake_openai.requests[0]["stream"] is True


async def test_password_game_reveals_only_through_its_tool(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(
        FakeReply(tool_calls=(ToolCall("reveal_secret", {"password": "open sesame"}),)),
        FakeReply(content="The secret word is platypus."),
        FakeReply(tool_calls=(ToolCall("reveal_secret", {"password": "swordfish"}),)),
        FakeReply(content="Wrong password."),
    )
    async with AgentHost(make_settings(fake_openai)) as host:
        right = await _run(host, "password-game", "The password is open sesame")
        wrong = await _run(host, "password-game", "Try swordfish")
    call = next(e for e in right if e.kind == "tool_call")
    result = next(e for e in right if e.kind == "tool_result")
    assert call.data["name"] == "reveal_secret"
    assert "platypus" in result.data["content"]
    assert result.data["id"] == call.data["id"]
    assert _kinds(right).index("tool_call") < _kinds(right).index("tool_result") < _kinds(right).index("done")
    assert "platypus" not in next(e for e in wrong if e.kind == "tool_result").data["content"]


async def test_weather_calls_tool_then_reflects(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(
        FakeReply(tool_calls=(ToolCall("get_weather", {"city": "Paris"}),)),
        FakeReply(content="It is sunny in Paris."),
    )
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await _run(host, "weather", "Weather in Paris?")
    result = next(e for e in events if e.kind == "tool_result")
    assert result.data["content"].startswith("Paris: ")
    assert events[-1].kind == "done"
    assert events[-1].data["message"] == "It is sunny in Paris."
    assert len(fake_openai.requests) == 2  # the tool call, then the reflection
    assert any(m["role"] == "tool" for m in fake_openai.requests[1]["messages"])


async def test_writer_critic_stops_on_approve(fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]) -> None:
    fake_openai.add(
        FakeReply(content="Roses are red."),
        FakeReply(content="Rhyme it."),
        FakeReply(content="Roses are red, violets are blue."),
        FakeReply(content="APPROVE"),
    )
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await _run(host, "writer-critic", "A two-line poem")
    messages = [(e.data["source"], e.data["content"]) for e in events if e.kind == "message"]
    assert messages == [
        ("writer", "Roses are red."),
        ("critic", "Rhyme it."),
        ("writer", "Roses are red, violets are blue."),
        ("critic", "APPROVE"),
    ]
    assert events[-1].kind == "done"
    assert len(fake_openai.requests) == 4


async def test_llm_agent_without_backend_names_the_setting(host: AgentHost) -> None:
    events = await _run(host, "assistant", "hello")
    assert events[-1].kind == "error"
    assert events[-1].data["code"] == "model_not_configured"
    assert "AGENTHOST_MODEL__BASE_URL" in events[-1].data["message"]
    assert (await host.chat("echo", "still works")).content == "still works"


async def test_response_cache_answers_repeats_from_disk(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(fake_openai, model={"cache_dir": str(tmp_path / "cache")})
    for _ in range(2):  # a second host reads the same disk cache
        async with AgentHost(settings) as host:
            events = await _run(host, "assistant", "same question")
            assert events[-1].data["message"] == "You said: same question"
    assert len(fake_openai.requests) == 1


async def test_history_window_keeps_the_last_messages(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(9)]
    async with AgentHost(make_settings(fake_openai, model={"history_window": 3})) as host:
        await host.chat("assistant", history)
    sent = [m["content"] for m in fake_openai.requests[-1]["messages"] if m["role"] != "system"]
    assert sent == ["m6", "m7", "m8"]


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


async def test_team_reply_names_each_member_and_reads_as_streamed(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(FakeReply(content="Roses are red."), FakeReply(content="APPROVE"))
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await _run(host, "writer-critic", "A poem")
        reply = await _whole_reply(host, fake_openai)
    chunks = [e.data for e in events if e.kind == "chunk"]
    assert {chunk["source"] for chunk in chunks} == {"writer", "critic"}
    text = "".join(chunk["content"] for chunk in chunks)
    assert text == "**writer:** Roses are red.\n\n**critic:** APPROVE"
    assert events[-1].data["message"] == text
    assert reply == text


async def _whole_reply(host: AgentHost, fake_openai: FakeOpenAI) -> str:
    fake_openai.add(FakeReply(content="Roses are red."), FakeReply(content="APPROVE"))
    return (await host.chat("writer-critic", "A poem")).content


async def test_a_reply_cut_at_the_token_cap_says_length(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(FakeReply(content="Once upon", finish_reason="length"), FakeReply(content="fine"))
    async with AgentHost(make_settings(fake_openai)) as host:
        events = await _run(host, "assistant", "A long story")
        assert events[-1].data["finish_reason"] == "length"
        assert (await host.chat("assistant", "A short one")).finish_reason == "stop"


async def test_request_options_reach_every_model_call_of_the_turn(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    fake_openai.add(FakeReply(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),)), FakeReply(content="Cold."))
    options = GenerationOptions(max_tokens=5, temperature=0.25)
    async with AgentHost(make_settings(fake_openai)) as host:
        await host.chat("weather", "Oslo?", options=options)
        await host.chat("weather", "again, no options")
    assert [(r.get("max_tokens"), r.get("temperature")) for r in fake_openai.requests[:2]] == [(5, 0.25)] * 2
    assert "max_tokens" not in fake_openai.requests[-1]


async def test_echo_caps_its_words_at_max_tokens(host: AgentHost) -> None:
    reply = await host.chat("echo", "one two three four", options=GenerationOptions(max_tokens=2))
    assert (reply.content, reply.finish_reason) == ("one two ", "length")
    events = [e async for e in host.stream("echo", "one two", options=GenerationOptions(max_tokens=2))]
    assert events[-1].data["finish_reason"] == "stop"


async def test_an_agent_that_does_not_stream_still_sends_its_text_as_chunks(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    registry = AgentRegistry()

    def create_agent(user_message: str, context: ChatCompletionContext) -> AssistantAgent:
        return AssistantAgent("quiet", model_client=get_default_model(), model_context=context)

    registry.add_agent("quiet", create_agent)
    async with AgentHost(make_settings(fake_openai), registry=registry) as host:
        events = await _run(host, "quiet", "hi")
    assert [(e.data["content"], e.data["source"]) for e in events if e.kind == "chunk"] == [("You said: hi", "quiet")]
    assert events[-1].data["message"] == "You said: hi"


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
    events = await _run(host, "upper", "streamed")
    assert [e.kind for e in events] == ["status", "message", "done"]
