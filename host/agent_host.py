"""``AgentHost``: the embedding API, and what the HTTP bridge and CLI stand on.

Example:
    >>> async with AgentHost(Settings()) as host:
    ...     reply = await host.chat("echo", "hello there")
    ...     async for event in host.stream("echo", "hello again", conversation_id="c1"):
    ...         print(event.kind, event.data)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from autogen_core import AgentId, AgentRuntime, CancellationToken, TypeSubscription
from pydantic import ValidationError

from . import _engine
from .core.ambient import serving_models
from .core.deadlines import Deadlines
from .core.hosted import AgentDeps
from .core.instances import STATELESS_KEY, InstanceTracker, instance_key, state_key
from .core.plugins import PluginFailure, load_plugins
from .core.registry import AgentRegistry, AgentSpec, instance_factory
from .errors import AgentNotFound, BadRequest, HostError, RuntimeUnavailable, TurnTimeout
from .messages import (
    STATELESS_PREFIX,
    CancelRequest,
    ChatReply,
    ChatRequest,
    ChatTurn,
    ErrorInfo,
    ForgetReply,
    ForgetRequest,
    GenerationOptions,
    StreamEvent,
    Usage,
)
from .models.provider import ModelProvider
from .runs import RedisRuns, RemoteRun, Run, RunRegistry, StreamRouter, StreamSink
from .runtime import open_runtime, routing
from .settings import Settings
from .state import StateStore, open_state_store
from .telemetry import LoopLagMonitor, Telemetry, TimedStore

__all__ = ["AgentHost", "Messages"]

logger = logging.getLogger(__name__)

Messages = str | Sequence[ChatTurn | dict[str, Any]]


class AgentHost:
    """Runs agents on an AutoGen runtime and talks to them in-process.

    Args:
        settings: the configuration; ``Settings()`` reads the environment.
        registry: the agents to host; by default loaded from the plugin sources in ``settings``.
        register_agents: register the agent types on this runtime (a gRPC bridge leaves them to workers).
        telemetry: metrics and tracing; by default built from ``settings.telemetry`` (and ``OTEL_*``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: AgentRegistry | None = None,
        register_agents: bool = True,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.telemetry = telemetry or Telemetry.from_settings(self.settings)
        self.metrics = self.telemetry.metrics
        self.models = ModelProvider(self.settings.model, self.settings.timeouts.startup)
        self.registry = registry or AgentRegistry()
        self.plugin_failures: list[PluginFailure] = []
        self._load_plugins = registry is None
        self._register_agents = register_agents
        self._router = StreamRouter()
        runs = self.settings.runs
        self.runs = RunRegistry(runs.keep_seconds, runs.max_kept, runs.max_kept_events)
        self.shared_runs: RedisRuns | None = None
        replica = self.settings.runtime.replica_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stream_type = f"agenthost.stream.{replica}"
        self._sink_type = f"agenthost.sink.{replica}"
        self._stack: contextlib.AsyncExitStack | None = None
        self._runtime: AgentRuntime | None = None
        self.store: StateStore | None = None
        self.instances = InstanceTracker(self.settings.timeouts.instance_idle, self.settings.runtime.max_instances)
        self._remote = self.settings.runtime.mode == "grpc"
        self._inflight: set[asyncio.Task[Any]] = set()
        self._turn_ids: set[str] = set()  # request ids of the turns in flight: each names one turn
        self.deadlines = Deadlines()
        self._stateless_ids: dict[str, AgentId] = {}
        self._deps: AgentDeps | None = None
        self._stopping = False
        self._loop_lag = LoopLagMonitor(self.metrics, self.settings.telemetry.loop_lag_interval)
        self.metrics.gauge("runs_live", lambda: len(self._router))
        self.metrics.gauge("live_instances", lambda: len(self.instances))

    # -- life -----------------------------------------------------------------------------------

    async def __aenter__(self) -> AgentHost:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Load plugins, start the runtime, register the agents and this host's stream sink."""
        if self._stack is not None:
            raise RuntimeError("AgentHost is already started")
        stack = contextlib.AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        if self._load_plugins:
            self.plugin_failures = load_plugins(self.registry, self.settings, self.models).failures
        self.registry = self.registry.select(self.settings.agents)
        stack.push_async_callback(self.telemetry.tracing.shutdown)  # last: spans of the shutdown are exported
        stack.push_async_callback(self.models.close)
        stack.enter_context(serving_models(self.models))
        if self._register_agents and any(spec.uses_model for spec in self.registry):
            await self.models.start()
        opened = open_state_store(self.settings.state)
        store: StateStore = TimedStore(opened, self.metrics) if self.metrics.enabled else opened
        self.store = store
        stack.push_async_callback(store.close)
        if self.settings.runs.store == "redis":
            self.shared_runs = self._redis_runs()
            stack.push_async_callback(self.shared_runs.close)
        self.deadlines.start()
        stack.push_async_callback(self.deadlines.stop)
        self._loop_lag.start()
        stack.push_async_callback(self._loop_lag.stop)
        runtime = await stack.enter_async_context(open_runtime(self.settings))
        if self._register_agents:
            self._deps = AgentDeps(self.settings, self.models, store, self.instances, self.deadlines, self.telemetry)
            await self.registry.register(runtime, self._deps)
            self.instances.start(runtime)
            stack.push_async_callback(self.instances.stop)
        await self._add_sink(runtime)
        stack.push_async_callback(self._drain)
        self._runtime = runtime

    async def _add_sink(self, runtime: AgentRuntime) -> None:
        router = self._router

        def make_sink() -> StreamSink:
            return StreamSink(router)

        await runtime.register_factory(self._sink_type, make_sink, expected_class=StreamSink)
        _engine.install_bounded_subscriptions(runtime).collapse(self._sink_type)
        await runtime.add_subscription(TypeSubscription(self.stream_type, self._sink_type))

    async def stop(self) -> None:
        """Cancel what is still running (within the shutdown timeout) and stop the runtime."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        self._runtime = None

    async def _drain(self) -> None:
        self._stopping = True
        for run in self.runs.live():
            if run.task is not None:
                run.task.cancel()
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=self.settings.timeouts.shutdown)

    @property
    def runtime(self) -> AgentRuntime:
        """The AutoGen runtime, for registering agent types of your own."""
        if self._runtime is None:
            raise RuntimeUnavailable("the AgentHost is not started")
        return self._runtime

    @property
    def started(self) -> bool:
        return self._runtime is not None

    def agents(self) -> list[AgentSpec]:
        return list(self.registry)

    async def served_agents(self) -> dict[str, bool]:
        """Per agent of this host, whether something runs it now: every one once started here; for a gRPC
        caller that registers none (a bridge), whether a live worker serves its type (asks the gRPC host).

        Raises:
            RuntimeUnavailable: the gRPC host did not answer within ``timeouts.cancel``.
        """
        names = [spec.name for spec in self.registry]
        if not self.started or not self._remote or self._register_agents:
            return dict.fromkeys(names, self.started)
        try:
            served = await routing.served_types(self.runtime, within=self.settings.timeouts.cancel)
        except Exception as exc:  # grpc.aio.AioRpcError: host gone, or one without the agenthost.Routing service
            raise RuntimeUnavailable(f"the gRPC host did not say which agents it serves: {exc}") from exc
        return {name: name in served for name in names}

    async def add(self, spec: AgentSpec) -> None:
        """Host one more agent type on the running host (built with :class:`AgentRegistry`'s helpers).

        Example:
            >>> await host.add(AgentRegistry().add_hosted("mine", MyAgent, "My own agent"))
            >>> await host.chat("mine", "hello")
        """
        if self._deps is None:
            raise RuntimeUnavailable("start the AgentHost first, or add the agent to its registry before starting it")
        await self.runtime.register_factory(spec.name, instance_factory(spec, self._deps))
        self.registry.add(spec)

    # -- turns ----------------------------------------------------------------------------------

    async def chat(
        self,
        agent: str,
        messages: Messages,
        conversation_id: str | None = None,
        *,
        options: GenerationOptions | None = None,
        request_id: str | None = None,
        owner: str | None = None,
    ) -> ChatReply:
        """One turn; returns the agent's reply or raises a :class:`host.errors.HostError`.

        ``options`` (``max_tokens``, ``temperature``) apply to every model call of the turn.
        ``owner`` scopes ``conversation_id`` (see :meth:`request`).
        """
        request = self.request(
            agent, messages, conversation_id, stream=False, options=options, request_id=request_id, owner=owner
        )
        return await self.chat_request(request)

    async def chat_request(self, request: ChatRequest) -> ChatReply:
        """Like :meth:`chat`, for a request built with :meth:`request`."""
        self.metrics.run_started(request.agent)
        started = time.monotonic()
        outcome, usage = "cancelled", Usage()
        try:
            reply = await self._call(request, CancellationToken())
            outcome, usage = ("done" if reply.error is None else reply.error.code), reply.usage
        except HostError as exc:
            outcome = exc.code
            raise
        finally:
            self.metrics.run_ended(request.agent, outcome, time.monotonic() - started, None, usage)
        if reply.error is not None:
            raise HostError.from_info(reply.error)
        return reply

    async def stream(
        self,
        agent: str,
        messages: Messages,
        conversation_id: str | None = None,
        *,
        options: GenerationOptions | None = None,
        request_id: str | None = None,
        owner: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """One turn as events, ending with ``done`` or ``error``. Leaving the loop cancels the turn."""
        request = self.request(
            agent, messages, conversation_id, stream=True, options=options, request_id=request_id, owner=owner
        )
        async for event in self.stream_request(request):
            yield event

    async def stream_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Like :meth:`stream`, for a request built with :meth:`request`."""
        run = self.start_run(request)
        try:
            async for event in self.follow(run):
                yield event
        finally:
            if not run.ended:
                await self.cancel_run(run)

    def start_run(self, request: ChatRequest, *, extra: dict[str, str] | None = None) -> Run:
        """Start the turn ``request`` as a run: it goes on by itself until it ends, whoever reads it.

        The run's events are appended to its log as they arrive; read them with
        :meth:`follow` (from any position), stop it with :meth:`cancel_run`. Its id is
        ``run_<request id>``; it belongs to the request's ``owner`` (the same as its conversation).
        """
        run = Run(f"run_{request.request_id}", request, request.owner, self.settings.runs.max_events, extra)
        self.metrics.run_started(request.agent)
        self.runs.add(run)
        self._router.open(run)
        run.task = asyncio.create_task(self._drive(run), name=f"agenthost-{run.run_id}")
        if self.shared_runs is not None:
            self.shared_runs.mirror(run, self._agent_id(request).key)
        return run

    async def find_run(self, run_id: str) -> Run | RemoteRun | None:
        """A run by id: one started here, or (with ``runs.store=redis``) by any replica. None: unknown or expired."""
        run = self.runs.get(run_id)
        if run is not None or self.shared_runs is None:
            return run
        return await self.shared_runs.find(run_id)

    async def update_run_extra(self, run: Run | RemoteRun, extra: dict[str, str]) -> None:
        """Change what an API layer keeps with a run, here and (``runs.store=redis``) for every replica."""
        if isinstance(run, Run):
            run.extra.update(extra)
        if self.shared_runs is not None:
            await self.shared_runs.update_extra(run.run_id, {**run.extra, **extra})

    async def cancel(self, run: Run | RemoteRun) -> None:
        """Stop a run wherever it was started (see :meth:`cancel_run` for one started here)."""
        if isinstance(run, Run):
            await self.cancel_run(run)
            return
        target = AgentId(run.agent, run.agent_key)
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(self.settings.timeouts.cancel):
                await self.runtime.send_message(CancelRequest(request_id=run.request_id), target)

    async def follow(self, run: Run, after: int = -1) -> AsyncIterator[StreamEvent]:
        """The run's events with ``seq > after``, live until its terminal event.

        Events no longer kept are skipped: when resuming, ``run.read(after).lost`` says so first.
        """
        while True:
            for event in run.read(after).events:
                after = event.seq
                yield event
                if event.terminal:
                    return
            if run.ended and after + 1 >= run.next_seq:
                return
            await run.wait(after, self.settings.timeouts.request)

    def _redis_runs(self) -> RedisRuns:
        url = self.settings.runs.redis_url or self.settings.state.redis_url
        ttl = self.settings.timeouts.request + self.settings.timeouts.cancel + self.settings.runs.keep_seconds
        return RedisRuns(
            url.get_secret_value(),
            self.settings.state.key_prefix,
            keep_seconds=self.settings.runs.keep_seconds,
            ttl=ttl,
            max_events=self.settings.runs.max_events,
        )

    async def cancel_run(self, run: Run) -> None:
        """Stop the run (the model call stops); its log ends with a ``cancelled`` error. Idempotent."""
        task = run.task
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task}, timeout=self.settings.timeouts.cancel)

    async def _drive(self, run: Run) -> None:
        """Send the run's request and make sure its log ends, whatever happens."""
        token = CancellationToken()
        started = time.monotonic()
        try:
            reply = await self._call(run.request, token)
        except HostError as exc:
            run.fail(exc.info())
        except asyncio.CancelledError:
            stopping = self._runtime is None or self._stopping
            reason = "the host is stopping" if stopping else "the run was cancelled"
            run.fail(ErrorInfo(code="unavailable" if stopping else "cancelled", message=reason))
        else:
            # The reply can come before the events (gRPC): give them a bounded while, then end from the reply.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.timeouts.cancel):
                    while not run.ended:
                        await run.wait(run.next_seq - 1, self.settings.timeouts.cancel)
            run.finish(reply)
        finally:
            if not run.ended:
                run.fail(ErrorInfo(code="unavailable", message="the run ended without a result"))
            self._router.close(run.request.request_id)
            self.runs.ended(run)
            first = None if run.first_chunk_at is None else run.first_chunk_at - started
            outcome = "done" if run.error is None else run.error.code
            self.metrics.run_ended(run.agent, outcome, time.monotonic() - started, first, run.usage)

    def request(
        self,
        agent: str,
        messages: Messages,
        conversation_id: str | None = None,
        *,
        stream: bool = True,
        options: GenerationOptions | None = None,
        fork_from: str | None = None,
        request_id: str | None = None,
        full_history: bool = False,
        direct: bool = False,
        owner: str | None = None,
    ) -> ChatRequest:
        """Validate and build a :class:`ChatRequest` (raises :class:`BadRequest` / :class:`AgentNotFound`).

        ``fork_from`` names a conversation of the same agent and owner: a conversation with no
        state of its own yet starts from that one's (a branch). ``request_id`` (unique per turn;
        default: a random one) names the turn everywhere: its run is ``run_<request_id>``, and the
        agent's logs and spans carry it. ``full_history``: ``messages`` is the whole conversation so
        far (an OpenAI client's), not just what is new. ``direct``: one model call answers, no agent.
        With tracing on, the current span travels with the request (W3C trace context).

        With an ``owner`` (the HTTP bridge derives one from the API key) the conversation is that
        owner's alone: another owner naming the same ``conversation_id`` reaches another one.
        Without one (embedding) conversations are keyed by their id only.
        """
        if agent not in self.registry:
            known = ", ".join(spec.name for spec in self.registry)
            raise AgentNotFound(f"no agent named {agent!r}; known agents: {known}")
        if conversation_id is not None and conversation_id in ("", STATELESS_KEY):
            raise BadRequest(f"conversation_id {conversation_id!r} is reserved; pick another")
        turns = _turns(messages)
        if conversation_id is not None and conversation_id.startswith(STATELESS_PREFIX):
            raise BadRequest(f"conversation_id must not start with {STATELESS_PREFIX!r} (it marks stateless requests)")
        if conversation_id is not None and "/" in conversation_id:  # "<owner>/<conversation id>" is an instance key
            raise BadRequest(f"conversation_id must not contain '/' (got {conversation_id!r})")
        if request_id is not None and self.runs.get(f"run_{request_id}") is not None:
            raise BadRequest(f"request id {request_id!r} is already in use: each turn needs an id of its own")
        traceparent, tracestate = self.telemetry.tracing.carrier()
        return ChatRequest(
            request_id=request_id or os.urandom(16).hex(),
            agent=agent,
            messages=turns,
            conversation_id=conversation_id,
            stream=stream,
            reply_topic_type=self.stream_type if stream else "",
            options=options,
            fork_from=None if fork_from is None else self.agent_key(agent, fork_from, owner),
            full_history=full_history,
            direct=direct,
            traceparent=traceparent,
            tracestate=tracestate,
            owner=owner,
        )

    def agent_key(self, agent: str, conversation_id: str | None, owner: str | None = None) -> str:
        """The agent instance key that serves ``owner``'s ``conversation_id`` (the stateless one for None)."""
        probe = ChatRequest(
            request_id="-",
            agent=agent,
            messages=(ChatTurn(role="user", content="-"),),
            conversation_id=conversation_id,
            owner=owner,
        )
        return self._agent_id(probe).key

    async def _call(self, request: ChatRequest, token: CancellationToken) -> ChatReply:
        runtime = self.runtime
        task = asyncio.current_task()
        assert task is not None
        if request.request_id in self._turn_ids:
            raise BadRequest(f"request id {request.request_id!r} is in use by another turn: each turn needs its own")
        expired = _Expiry(task)
        key = (request.request_id, "caller")
        self.deadlines.arm(key, self.settings.timeouts.request, expired)
        self._inflight.add(task)
        self._turn_ids.add(request.request_id)
        try:
            reply = await runtime.send_message(
                request, self._agent_id(request), cancellation_token=token, message_id=request.request_id
            )
        except asyncio.CancelledError:
            await self._cancel(request, token)
            if expired.fired and task.uncancel() == 0:
                raise TurnTimeout(self._timeout_message()) from None
            raise
        except Exception as exc:  # the engine's errors: dead worker, unknown type, lost host
            raise RuntimeUnavailable(f"agent {request.agent!r} is unavailable: {exc}") from exc
        finally:
            self.deadlines.disarm(key)
            self._inflight.discard(task)
            self._turn_ids.discard(request.request_id)
        if not isinstance(reply, ChatReply):
            raise RuntimeUnavailable(f"agent {request.agent!r} sent an unreadable reply ({type(reply).__name__})")
        return reply

    def _agent_id(self, request: ChatRequest) -> AgentId:
        if request.conversation_id is not None:
            return AgentId(request.agent, instance_key(request.conversation_id, request.owner))
        if self._remote:  # the gRPC host spreads these over the type's workers (and forwards them as STATELESS_KEY)
            return AgentId(request.agent, STATELESS_PREFIX + request.request_id)
        agent_id = self._stateless_ids.get(request.agent)
        if agent_id is None:
            agent_id = self._stateless_ids[request.agent] = AgentId(request.agent, STATELESS_KEY)
        return agent_id

    async def _cancel(self, request: ChatRequest, token: CancellationToken) -> None:
        """Stop the turn: the token reaches a local handler; a message reaches a remote one."""
        token.cancel()
        if not self._remote or self._runtime is None:
            return
        target = self._agent_id(request)
        cancel = CancelRequest(request_id=request.request_id)
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(self.settings.timeouts.cancel):
                await self._runtime.send_message(cancel, target)

    def _timeout_message(self) -> str:
        return f"no answer within {self.settings.timeouts.request:g} s (AGENTHOST_TIMEOUTS__REQUEST)"

    # -- conversations --------------------------------------------------------------------------

    async def forget(self, conversation_id: str, *, owner: str | None = None) -> bool:
        """Delete a conversation, for every agent: its saved state and its live instance's state.

        A turn in flight on it is cancelled. Returns False when no agent had it saved.
        """
        key = instance_key(conversation_id, owner)
        found = [await self._forget(AgentId(spec.name, key), conversation_id) for spec in self.registry]
        return any(found)

    async def _forget(self, agent_id: AgentId, conversation_id: str) -> bool:
        store = self.store
        if store is not None and not self._remote and _engine.get_instance(self.runtime, agent_id) is None:
            key = state_key(agent_id)  # no live instance here: the store is all there is
            await store.delete(f"{key}#transcript")
            return await store.delete(key)
        try:
            async with asyncio.timeout(self.settings.timeouts.request):
                forget = ForgetRequest(conversation_id=conversation_id)
                reply = await self.runtime.send_message(forget, agent_id)
        except Exception as exc:  # the engine's errors: dead worker, unknown type, lost host, timeout
            raise RuntimeUnavailable(f"agent {agent_id.type!r} is unavailable: {exc}") from exc
        return isinstance(reply, ForgetReply) and reply.found


class _Expiry:
    """Cancels the caller's task when its deadline passes, and remembers that it did."""

    __slots__ = ("_task", "fired")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        self.fired = False

    def __call__(self) -> None:
        self.fired = True
        self._task.cancel()


def _turns(messages: Messages) -> tuple[ChatTurn, ...]:
    if isinstance(messages, str):
        if not messages.strip():
            raise BadRequest("message must not be empty")
        return (ChatTurn(role="user", content=messages),)
    try:
        turns = tuple(item if isinstance(item, ChatTurn) else ChatTurn.model_validate(item) for item in messages)
    except ValidationError as exc:
        raise BadRequest(f"invalid messages: {exc.errors(include_url=False)}") from None
    if not turns:
        raise BadRequest("messages must not be empty")
    return turns
