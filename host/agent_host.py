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
from .core.streams import RequestStream, StreamRouter, StreamSink
from .errors import AgentNotFound, BadRequest, HostError, RuntimeUnavailable, TurnTimeout
from .messages import (
    CancelRequest,
    ChatReply,
    ChatRequest,
    ChatTurn,
    ErrorInfo,
    ForgetReply,
    ForgetRequest,
    GenerationOptions,
    StreamEvent,
)
from .models.provider import ModelProvider
from .runtime import open_runtime
from .settings import Settings
from .state import StateStore, open_state_store

__all__ = ["AgentHost", "Messages"]

logger = logging.getLogger(__name__)

Messages = str | Sequence[ChatTurn | dict[str, Any]]


class AgentHost:
    """Runs agents on an AutoGen runtime and talks to them in-process.

    Args:
        settings: the configuration; ``Settings()`` reads the environment.
        registry: the agents to host; by default loaded from the plugin sources in ``settings``.
        register_agents: register the agent types on this runtime (a gRPC bridge leaves them to workers).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: AgentRegistry | None = None,
        register_agents: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self.models = ModelProvider(self.settings.model, self.settings.timeouts.startup)
        self.registry = registry or AgentRegistry()
        self.plugin_failures: list[PluginFailure] = []
        self._load_plugins = registry is None
        self._register_agents = register_agents
        self._router = StreamRouter()
        replica = self.settings.runtime.replica_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stream_type = f"agenthost.stream.{replica}"
        self._sink_type = f"agenthost.sink.{replica}"
        self._stack: contextlib.AsyncExitStack | None = None
        self._runtime: AgentRuntime | None = None
        self.store: StateStore | None = None
        self.instances = InstanceTracker(self.settings.timeouts.instance_idle, self.settings.runtime.max_instances)
        self._remote = self.settings.runtime.mode == "grpc"
        self._inflight: set[asyncio.Task[Any]] = set()
        self.deadlines = Deadlines()
        self._stateless_ids: dict[str, AgentId] = {}
        self._deps: AgentDeps | None = None

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
        stack.push_async_callback(self.models.close)
        stack.enter_context(serving_models(self.models))
        if self._register_agents and any(spec.uses_model for spec in self.registry):
            await self.models.start()
        self.store = open_state_store(self.settings.state)
        stack.push_async_callback(self.store.close)
        self.deadlines.start()
        stack.push_async_callback(self.deadlines.stop)
        runtime = await stack.enter_async_context(open_runtime(self.settings))
        if self._register_agents:
            self._deps = AgentDeps(self.settings, self.models, self.store, self.instances, self.deadlines)
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
        owner: str | None = None,
    ) -> ChatReply:
        """One turn; returns the agent's reply or raises a :class:`host.errors.HostError`.

        ``options`` (``max_tokens``, ``temperature``) apply to every model call of the turn.
        ``owner`` scopes ``conversation_id`` (see :meth:`request`).
        """
        request = self.request(agent, messages, conversation_id, stream=False, options=options, owner=owner)
        reply = await self._call(request, CancellationToken())
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
        owner: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """One turn as events, ending with ``done`` or ``error``. Leaving the loop cancels the turn."""
        request = self.request(agent, messages, conversation_id, stream=True, options=options, owner=owner)
        async for event in self.stream_request(request):
            yield event

    async def stream_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Like :meth:`stream`, for a request built with :meth:`request`."""
        stream = self._router.open(request.request_id)
        token = CancellationToken()
        sender = asyncio.create_task(self._send_for_stream(request, token, stream))
        finished = False
        try:
            async with asyncio.timeout(self.settings.timeouts.request + self.settings.timeouts.cancel):
                while not finished:
                    event = await stream.next()
                    finished = event.terminal
                    yield event
        except TimeoutError:
            finished = True
            yield stream.failure(ErrorInfo(code="timeout", message=self._timeout_message()))
        finally:
            self._router.close(request.request_id)
            if not finished:
                sender.cancel()
                await self._cancel(request, token)
            elif not sender.done():
                sender.cancel()

    def request(
        self,
        agent: str,
        messages: Messages,
        conversation_id: str | None = None,
        *,
        stream: bool = True,
        options: GenerationOptions | None = None,
        owner: str | None = None,
    ) -> ChatRequest:
        """Validate and build a :class:`ChatRequest` (raises :class:`BadRequest` / :class:`AgentNotFound`).

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
        return ChatRequest(
            request_id=os.urandom(16).hex(),
            agent=agent,
            messages=turns,
            conversation_id=conversation_id,
            stream=stream,
            reply_topic_type=self.stream_type if stream else "",
            options=options,
            owner=owner,
        )

    async def _send_for_stream(self, request: ChatRequest, token: CancellationToken, stream: RequestStream) -> None:
        try:
            reply = await self._call(request, token)
        except HostError as exc:
            stream.fail(exc.info())
            return
        except asyncio.CancelledError:
            stream.fail(ErrorInfo(code="unavailable", message="the host is stopping"))
            raise
        # The reply can come before the events (gRPC): give them a bounded while, then end from the reply.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.timeouts.cancel):
                await stream.wait_closed()
        stream.finish_from(reply)

    async def _call(self, request: ChatRequest, token: CancellationToken) -> ChatReply:
        runtime = self.runtime
        task = asyncio.current_task()
        assert task is not None
        expired = _Expiry(task)
        key = (request.request_id, "caller")
        self.deadlines.arm(key, self.settings.timeouts.request, expired)
        self._inflight.add(task)
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
        if not isinstance(reply, ChatReply):
            raise RuntimeUnavailable(f"agent {request.agent!r} sent an unreadable reply ({type(reply).__name__})")
        return reply

    def _agent_id(self, request: ChatRequest) -> AgentId:
        if request.conversation_id is not None:
            return AgentId(request.agent, instance_key(request.conversation_id, request.owner))
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
            return await store.delete(state_key(agent_id))  # no live instance here: the store is all there is
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
