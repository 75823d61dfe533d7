"""The autogen internals host/_engine.py relies on: these fail loudly if the pinned engine moves them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, ClassVar

import autogen_core
import pytest
from autogen_core import AgentId, SingleThreadedAgentRuntime, TopicId, TypeSubscription
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime
from autogen_ext.runtimes.grpc._worker_runtime_host_servicer import GrpcWorkerAgentRuntimeHostServicer

from agenthost import AgentHost, _engine
from agenthost.serialization import WIRE_TYPES, register_wire_types


def test_pinned_engine_version() -> None:
    assert autogen_core.__version__ == _engine.ENGINE_VERSION


def test_every_runtime_has_the_internals_we_use() -> None:
    local = SingleThreadedAgentRuntime()
    worker = GrpcWorkerAgentRuntime("127.0.0.1:1")
    servicer = GrpcWorkerAgentRuntimeHostServicer()
    for target in (local, worker, servicer):
        assert isinstance(_engine.install_bounded_subscriptions(target), _engine.BoundedSubscriptionManager)
    for runtime in (local, worker):
        assert _engine.instance_count(runtime) == 0
        assert _engine.known_agent_types(runtime) == frozenset()
        assert _engine.missing_serializers(runtime, WIRE_TYPES) == [t.__name__ for t in WIRE_TYPES]
        register_wire_types(runtime)
        assert _engine.missing_serializers(runtime, WIRE_TYPES) == []
    assert callable(local._try_serialize)


async def test_bounded_manager_caps_topics_and_collapses_sinks() -> None:
    manager = _engine.BoundedSubscriptionManager(max_topics=8, collapse_types=["sink"])
    await manager.add_subscription(TypeSubscription("stream", "sink"))
    for i in range(100):
        recipients = await manager.get_subscribed_recipients(TopicId("stream", f"request-{i}"))
        assert recipients == [AgentId("sink", "sink")]
    assert manager.cached_topics == 8
    assert await manager.get_subscribed_recipients(TopicId("other", "x")) == []


async def test_eviction_forgets_an_instance(host: AgentHost) -> None:
    agent_id = AgentId("echo", "c-1")
    await host.chat("echo", "hi", conversation_id="c-1")
    instance = _engine.get_instance(host.runtime, agent_id)
    assert instance is not None
    assert _engine.evict_instance(host.runtime, agent_id) is instance
    assert _engine.get_instance(host.runtime, agent_id) is None
    await host.chat("echo", "hi", conversation_id="c-1")  # a new instance is made on demand
    assert _engine.get_instance(host.runtime, agent_id) is not instance


def test_the_dispatch_yield_we_remove_is_the_only_one() -> None:
    import inspect

    import autogen_core._single_threaded_agent_runtime as engine

    source = inspect.getsource(engine)
    assert source.count("asyncio.sleep(0)") == 1
    assert "asyncio.sleep(0)" in inspect.getsource(SingleThreadedAgentRuntime._process_next)
    _engine.dispatch_in_batches()
    _engine.dispatch_in_batches()  # idempotent
    swapped = vars(engine)["asyncio"]
    assert isinstance(swapped, _engine.local._AsyncioDispatchingInBatches)
    assert swapped.Queue is asyncio.Queue


async def test_event_log_records_still_come_when_the_logger_is_on(
    host: AgentHost, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=autogen_core.EVENT_LOGGER_NAME):
        await host.chat("echo", "logged")
    records = [r.getMessage() for r in caplog.records if r.name == autogen_core.EVENT_LOGGER_NAME]
    assert len(records) == 4  # send, deliver, respond, deliver: each with its serialized payload
    assert all('\\"content\\":\\"logged\\"' in record for record in records)


def test_every_forked_or_wrapped_engine_function_is_unchanged() -> None:
    """An engine change fails here first: re-read each named function against its patch, then re-pin."""
    assert _engine.pins.changed() == {}
    from agenthost.models.openai_client import UsageStreamingOpenAIClient

    assert "_create_stream_chunks" in vars(UsageStreamingOpenAIClient)


def test_a_changed_source_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    name = next(iter(_engine.pins.PINS))
    monkeypatch.setitem(_engine.pins.PINS, name, "0" * 16)
    assert list(_engine.pins.changed()) == [name]


@dataclasses.dataclass
class _Text:
    text: str


class _Heard(autogen_core.RoutedAgent):
    """Records what it is published; fails on "boom"; publishes "echo" on to the topic itself."""

    heard: ClassVar[list[tuple[str, str]]] = []

    def __init__(self) -> None:
        super().__init__("records")

    @autogen_core.message_handler
    async def on_text(self, message: _Text, ctx: autogen_core.MessageContext) -> None:
        if message.text == "slow":  # stop_when_idle must wait for a delivery still running
            await asyncio.sleep(0.05)
        self.heard.append((str(self.id), message.text))
        if message.text == "boom":
            raise RuntimeError("boom")
        if message.text == "echo" and self.id.type == "left":
            await self.publish_message(_Text(text="from left"), TopicId("t", "s"))


def _engine_under_test(lean: bool) -> SingleThreadedAgentRuntime:
    """The stock engine (tracing off), or the same with lean_delivery: the two a story is compared on."""
    runtime = SingleThreadedAgentRuntime(ignore_unhandled_exceptions=False)
    _engine.untraced(runtime)
    if lean:
        _engine.lean_delivery(runtime)
    return runtime


async def _publish_story(lean: bool, messages: list[str]) -> tuple[list[tuple[str, str]], BaseException | None]:
    runtime = _engine_under_test(lean)
    for agent_type in ("left", "right"):
        await _Heard.register(runtime, agent_type, _Heard)
        await runtime.add_subscription(TypeSubscription("t", agent_type))
    await _Heard.register(runtime, "alone", _Heard)
    await runtime.add_subscription(TypeSubscription("solo", "alone"))
    _Heard.heard = []
    runtime.start()
    failure = None
    try:
        for text in messages:
            topic = "solo" if text.startswith("solo") else "t"
            await runtime.publish_message(_Text(text=text), TopicId(topic, "s"))
        await runtime.stop_when_idle()
    except BaseException as exc:  # the engine re-raises a handler's failure when it stops
        failure = exc
    return _Heard.heard, failure


@pytest.mark.parametrize(
    "messages", [["a", "b", "solo 1", "echo"], ["a", "boom", "c"], ["solo boom"], ["slow", "a", "solo slow"]]
)
async def test_lean_delivery_delivers_what_the_engine_delivers(messages: list[str]) -> None:
    stock, stock_failure = await _publish_story(False, messages)
    lean, lean_failure = await _publish_story(True, messages)
    assert sorted(lean) == sorted(stock)  # every recipient, the sender skipped ("from left" reaches only right)
    assert len(lean) >= len(messages)
    assert repr(lean_failure) == repr(stock_failure)


class _Answers(autogen_core.RoutedAgent):
    """Answers RPCs: upper-cases; fails on "boom"; "slow" takes a while; "ask <x>" asks the other agent first."""

    def __init__(self) -> None:
        super().__init__("answers")

    @autogen_core.rpc
    async def on_text(self, message: _Text, ctx: autogen_core.MessageContext) -> _Text:
        if message.text == "boom":
            raise RuntimeError("boom")
        if message.text == "slow":
            await asyncio.sleep(0.05)
        if message.text.startswith("ask "):
            other = "right" if self.id.type == "left" else "left"
            answer = await self.send_message(_Text(text=message.text[4:]), AgentId(other, "k"))
            return _Text(text=f"{self.id.type} heard {answer.text}")
        return _Text(text=message.text.upper())


async def _send_story(lean: bool) -> list[str]:
    runtime = _engine_under_test(lean)
    for agent_type in ("left", "right"):
        await _Answers.register(runtime, agent_type, _Answers)
    runtime.start()
    outcomes: list[str] = []

    async def ask(text: str, to: str = "left", token: autogen_core.CancellationToken | None = None) -> None:
        try:
            answer = await runtime.send_message(_Text(text=text), AgentId(to, "k"), cancellation_token=token)
            outcomes.append(f"{text} -> {answer.text}")
        except BaseException as exc:  # what the caller sees, failures included
            outcomes.append(f"{text} -> {type(exc).__name__}: {exc}")

    await ask("hi")
    await ask("boom")
    await ask("hi", to="nobody")
    await ask("ask there")
    await asyncio.gather(ask("slow"), ask("a"), ask("b", to="right"))  # answers in completion order, not send order
    token = autogen_core.CancellationToken()
    cancelled = asyncio.create_task(ask("slow", token=token))
    await asyncio.sleep(0.01)
    token.cancel()
    await cancelled
    await runtime.stop_when_idle()
    return outcomes


async def test_lean_delivery_answers_rpcs_as_the_engine_does() -> None:
    """Replies, failures, unknown recipients, RPCs made from a handler, concurrent and cancelled calls."""
    stock = await _send_story(False)
    assert stock[:2] == ["hi -> HI", "boom -> RuntimeError: boom"]
    assert stock[-1].startswith("slow -> CancelledError")
    assert await _send_story(True) == stock


def test_agentchat_spans_are_built_only_when_a_tracer_provider_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from opentelemetry import trace

    _engine.spans_only_when_traced()
    _engine.spans_only_when_traced()  # idempotent: wrapped once
    helper: Any = importlib.import_module("autogen_agentchat.agents._base_chat_agent").trace_create_agent_span
    assert helper.agenthost_traced_only
    assert not hasattr(helper.__wrapped__, "agenthost_traced_only")
    with helper(agent_name="a") as span:  # no provider set: nothing is built
        assert span is None
    monkeypatch.setattr(trace, "get_tracer_provider", trace.NoOpTracerProvider)  # any provider but the default
    with helper(agent_name="b") as span:
        assert span is not None  # the real helper ran and opened its span
