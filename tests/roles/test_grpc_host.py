"""The host's servicer in-process, with in-process worker runtimes: shared types and subscriptions, events to
the owner only, cancellations that create nothing, orphaned turns cancelled, drain and snapshot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from autogen_core import AgentId, MessageContext, RoutedAgent, TopicId, TypeSubscription, event, rpc
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

from agenthost import Settings, _engine
from agenthost.messages import STATELESS_KEY, CancelReply, CancelRequest, ChatReply, ChatRequest, ChatTurn, StreamEvent
from agenthost.roles.grpc_host import open_host_server
from agenthost.runtime import routing
from agenthost.runtime.grpc_worker_runtime import open_grpc_worker
from tests.cluster import eventually, free_port

pytestmark = pytest.mark.grpc

Worker = GrpcWorkerAgentRuntime


class Pinger(RoutedAgent):
    """Answers with its worker's name, its key and the events it got; ``hang`` waits until cancelled."""

    def __init__(self, worker: str, cancelled: list[str], started: asyncio.Event) -> None:
        super().__init__("test agent")
        self.worker = worker
        self.events = 0
        self._cancelled = cancelled
        self._started = started
        self._hanging: dict[str, asyncio.Task[object]] = {}

    @rpc
    async def on_turn(self, message: ChatRequest, ctx: MessageContext) -> ChatReply:
        if message.messages[-1].content == "hang":
            self._started.set()
            task = asyncio.current_task()
            assert task is not None
            self._hanging[message.request_id] = task
            await asyncio.sleep(60)
        return ChatReply(request_id=message.request_id, content=f"{self.worker} {self.id.key} {self.events}")

    @rpc
    async def on_cancel(self, message: CancelRequest, ctx: MessageContext) -> CancelReply:
        self._cancelled.append(message.request_id)
        task = self._hanging.pop(message.request_id, None)
        if task is not None:
            task.cancel()
        return CancelReply(request_id=message.request_id, cancelled=task is not None)

    @event
    async def on_event(self, message: StreamEvent, ctx: MessageContext) -> None:
        self.events += 1


class Cell:
    """An in-process host and its in-process runtimes."""

    def __init__(self, stack: contextlib.AsyncExitStack, settings: Settings, servicer: _engine.RoutingHostServicer):
        self.stack = stack
        self.settings = settings
        self.servicer = servicer
        self.cancelled: list[str] = []
        self.started = asyncio.Event()

    async def runtime(self) -> Worker:
        return await self.stack.enter_async_context(open_grpc_worker(self.settings))

    async def worker(self, name: str) -> Worker:
        runtime = await self.runtime()
        await Pinger.register(runtime, "pinger", lambda: Pinger(name, self.cancelled, self.started))
        await runtime.add_subscription(TypeSubscription("pings", "pinger"))
        return runtime


@pytest.fixture
async def cell() -> AsyncIterator[Cell]:
    address = f"127.0.0.1:{free_port()}"
    settings = Settings(
        model={"provider": "none"},
        entry_points=False,
        runtime={"mode": "grpc", "host_address": address, "exit_on_host_loss": False},
        timeouts={"request": 10, "cancel": 2, "startup": 10, "shutdown": 2},
    )
    async with contextlib.AsyncExitStack() as stack:
        servicer = await stack.enter_async_context(open_host_server(settings, address))
        yield Cell(stack, settings, servicer)


def _turn(text: str = "hi") -> ChatRequest:
    return ChatRequest(request_id=f"r-{text}", agent="pinger", messages=(ChatTurn(role="user", content=text),))


async def _ask(caller: Worker, key: str, text: str = "hi") -> list[str]:
    async with asyncio.timeout(10):
        reply = await caller.send_message(_turn(text), AgentId("pinger", key))
    assert isinstance(reply, ChatReply)
    return reply.content.split()


def _subscriptions(cell: Cell) -> list[str]:
    return sorted(type(sub).__name__ for sub in cell.servicer._subscription_manager.subscriptions)


async def test_two_workers_share_a_type_its_subscriptions_and_its_conversations(cell: Cell) -> None:
    first, second = await cell.worker("w1"), await cell.worker("w2")  # the engine refuses the second
    caller = await cell.runtime()
    assert _subscriptions(cell) == ["TypePrefixSubscription", "TypeSubscription"]  # one each, two holders
    owners = {key: (await _ask(caller, key))[0] for key in (f"c{i}" for i in range(20))}
    assert set(owners.values()) == {"w1", "w2"}
    assert {key: (await _ask(caller, key))[0] for key in owners} == owners

    await caller.publish_message(StreamEvent(request_id="e", seq=0, kind="status"), TopicId("pings", "c3"))

    async def delivered() -> bool:  # to the instance that serves c3's turns
        return (await _ask(caller, "c3"))[2] == "1"

    await eventually(delivered, 10, "the event reached c3's instance")
    other = second if owners["c3"] == "w1" else first
    assert _engine.get_instance(other, AgentId("pinger", "c3")) is None  # and nowhere else

    await _engine.stop_worker(first, 5)
    assert _subscriptions(cell) == ["TypePrefixSubscription", "TypeSubscription"]  # still held by w2
    assert {(await _ask(caller, key))[0] for key in owners} == {"w2"}
    await _engine.stop_worker(second, 5)
    await eventually(lambda: not _subscriptions(cell), 5, "the last holder's leave removed the subscriptions")
    with pytest.raises(Exception, match="no worker serves agent type 'pinger'"):
        await _ask(caller, "c1")


async def test_a_cancellation_without_a_turn_in_flight_creates_nothing(cell: Cell) -> None:
    workers = [await cell.worker("w1"), await cell.worker("w2")]
    caller = await cell.runtime()
    async with asyncio.timeout(10):
        reply = await caller.send_message(CancelRequest(request_id="r1"), AgentId("pinger", "nobody"))
    assert reply == CancelReply(request_id="r1", cancelled=False)
    assert [_engine.instance_count(worker) for worker in workers] == [0, 0]
    assert cell.cancelled == []


async def test_a_caller_that_leaves_has_its_turns_cancelled(cell: Cell) -> None:
    await cell.worker("w1")
    await cell.worker("w2")
    caller = await cell.runtime()
    pending = asyncio.ensure_future(_ask(caller, "c1", "hang"))
    async with asyncio.timeout(10):
        await cell.started.wait()
    await _engine.stop_worker(caller, 0.1)  # its channel closes with the turn in flight
    await eventually(lambda: bool(cell.cancelled), 10, "the worker was told to cancel the orphaned turn")
    assert cell.cancelled == ["r-hang"]
    assert cell.servicer.snapshot()["orphans_cancelled"] == 1
    pending.cancel()
    with contextlib.suppress(BaseException):
        await pending


async def test_stateless_keys_spread_and_reach_the_workers_default_instance(cell: Cell) -> None:
    await cell.worker("w1")
    await cell.worker("w2")
    caller = await cell.runtime()
    answers = [await _ask(caller, f"~r{i}") for i in range(10)]
    assert {worker for worker, _, _ in answers} == {"w1", "w2"}
    assert {key for _, key, _ in answers} == {STATELESS_KEY}
    assert cell.servicer.snapshot()["stateless_inflight"] == 0


async def test_drain_and_snapshot(cell: Cell) -> None:
    first = await cell.worker("w1")
    await cell.worker("w2")
    caller = await cell.runtime()
    owners = {key: (await _ask(caller, key))[0] for key in (f"c{i}" for i in range(10))}
    assert await routing.drain(first, within=5) == 0
    assert {(await _ask(caller, key))[0] for key in owners} == {"w2"}
    assert {(await _ask(caller, f"n{i}"))[0] for i in range(5)} == {"w2"}
    snapshot = await routing.snapshot(caller, within=5)
    (w1,) = [c for c in snapshot["types"]["pinger"] if c["client"] == _engine.host_client_id(first)]
    assert w1 == {"client": _engine.host_client_id(first), "conversations": 0, "inflight": 0, "draining": True}
    assert await routing.served_types(caller, within=5) == {"pinger"}


async def test_an_exclusive_type_has_one_owner(cell: Cell) -> None:
    first, second = await cell.runtime(), await cell.runtime()

    def factory() -> Callable[[], RoutedAgent]:
        return lambda: Pinger("sink", cell.cancelled, cell.started)

    await first.register_factory("agenthost.sink.a", factory())
    with pytest.raises(Exception, match="already registered"):
        await second.register_factory("agenthost.sink.a", factory())
