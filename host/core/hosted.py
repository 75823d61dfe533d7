"""``HostedAgent``: the RoutedAgent base every hosted agent type derives from.

It owns the plumbing of a turn so that agents only write :meth:`HostedAgent.respond`:
publishing events with ``seq`` numbers, the terminal ``done``/``error`` event,
errors as data, cancellation (a token from the runtime, or a
:class:`CancelRequest` message, which is what crosses gRPC), one turn at a time
per conversation, and loading/saving state around each turn.

A turn that fails or is cancelled leaves no trace: the store is not written and
the instance reloads the last saved state before its next turn. Once the agent
has answered, the turn commits: saving its state is no longer cancellable (a
cancel that arrives then comes after the answer). A save that fails fails the
turn, with the same rollback. The one window left: the process dies after the
save and before the ``done`` event reaches the client, who then has not seen a
turn that the conversation keeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from autogen_core import CancellationToken, MessageContext, RoutedAgent, rpc

from ..errors import HostError
from ..events import StatusData
from ..messages import (
    CancelReply,
    CancelRequest,
    ChatReply,
    ChatRequest,
    ErrorCode,
    ErrorInfo,
    ForgetReply,
    ForgetRequest,
)
from ..models.provider import ModelProvider
from ..models.scoped import turn_scope
from ..settings import Settings
from ..state import StateStore
from .deadlines import Deadlines
from .emitter import EventEmitter
from .instances import STATELESS_KEY, InstanceTracker, instance_key, state_key

__all__ = ["STATELESS_KEY", "AgentDeps", "HostedAgent", "instance_key"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentDeps:
    """What a hosted agent gets from its host, through its constructor."""

    settings: Settings
    models: ModelProvider
    store: StateStore
    instances: InstanceTracker
    deadlines: Deadlines


class HostedAgent(RoutedAgent):
    """Base class: subclasses implement :meth:`respond` and, if stateful, the state methods."""

    def __init__(self, description: str, deps: AgentDeps) -> None:
        super().__init__(description)
        self.deps = deps
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._cancelling: dict[str, ErrorCode] = {}
        self._committing: set[str] = set()
        self._turn_lock = asyncio.Lock()
        self._state_loaded = False
        self._initial_state: Mapping[str, Any] | None = None
        self._loaded_once = False

    async def respond(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        """Answer one turn, publishing intermediate events through ``emit``."""
        raise NotImplementedError

    @property
    def busy(self) -> bool:
        return bool(self._running) or self._turn_lock.locked()

    @rpc
    async def on_chat_request(self, message: ChatRequest, ctx: MessageContext) -> ChatReply:
        request_id = message.request_id
        self._running[request_id] = asyncio.current_task()  # type: ignore[assignment]
        deadlines = self.deps.deadlines
        deadlines.arm(request_id, self.deps.settings.timeouts.request, partial(self._cancel, request_id, "timeout"))
        ctx.cancellation_token.add_callback(partial(self._cancel_quietly, request_id))
        stateful = message.conversation_id is not None
        if stateful:
            self.deps.instances.touch(self.id)
        emit = EventEmitter.for_request(self.runtime, message)
        try:
            reply = await self._turn(message, emit, ctx.cancellation_token)
        finally:
            deadlines.disarm(request_id)
            del self._running[request_id]
            if stateful:
                self.deps.instances.touch(self.id)
        if emit.enabled:
            await (emit.done(reply) if reply.error is None else emit.error(reply.error))
        return reply

    @rpc
    async def on_cancel_request(self, message: CancelRequest, ctx: MessageContext) -> CancelReply:
        return CancelReply(request_id=message.request_id, cancelled=self._cancel(message.request_id))

    @rpc
    async def on_forget_request(self, message: ForgetRequest, ctx: MessageContext) -> ForgetReply:
        """Delete this conversation: cancel its turns, drop its stored state, start the next turn afresh."""
        for request_id in list(self._running):
            self._cancel(request_id)
        async with self._turn_lock:
            found = await self.deps.store.delete(self._state_key)
            self._state_loaded = False
        self.deps.instances.touch(self.id)  # an instance made just for this is evicted like any idle one
        return ForgetReply(conversation_id=message.conversation_id, found=found)

    def _cancel_quietly(self, request_id: str) -> None:
        self._cancel(request_id)

    def _cancel(self, request_id: str, reason: ErrorCode = "cancelled") -> bool:
        """Cancel the task running ``request_id``'s turn; ``_turn`` turns that into an error reply.

        A turn that is saving its state has answered already: it is not cancelled (False).
        """
        task = self._running.get(request_id)
        if task is None or request_id in self._cancelling or request_id in self._committing:
            return False
        self._cancelling[request_id] = reason
        task.cancel()
        return True

    async def _turn(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        try:
            if emit.enabled:
                started = StatusData(status="started", agent=self.id.type, conversation_id=request.conversation_id)
                await emit.status(started)
            with turn_scope(request.options):
                if request.conversation_id is None:
                    return await self.respond(request, emit, token)
                return await self._stateful_turn(request, emit, token)
        except asyncio.CancelledError:
            reason = self._cancelling.pop(request.request_id, None)
            if reason is None:
                raise  # the runtime itself is stopping
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            token.cancel()  # reaches model calls linked to the token
            return self._failed(request, ErrorInfo(code=reason, message=self._cancel_message(reason)))
        except HostError as exc:
            return self._failed(request, exc.info())
        except Exception as exc:
            logger.exception("agent %s failed on request %s", self.id, request.request_id)
            return self._failed(request, ErrorInfo(code="agent_error", message=f"{type(exc).__name__}: {exc}"))

    def _cancel_message(self, reason: ErrorCode) -> str:
        if reason == "timeout":
            return f"the turn took over {self.deps.settings.timeouts.request:g} s (AGENTHOST_TIMEOUTS__REQUEST)"
        return "the request was cancelled"

    async def _stateful_turn(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        async with self._turn_lock:  # AgentChat agents are not coroutine-safe
            try:
                if not self._state_loaded:
                    await self._load(request)
                reply = await self.respond(request, emit, token)
                await self._commit(request.request_id)
            except BaseException:
                self._state_loaded = False  # a failed turn must not leak into the next one: reload first
                raise
            return reply

    async def _load(self, request: ChatRequest) -> None:
        """Load the saved state; with none saved, the state this instance had when new."""
        state = await self.deps.store.get(self._state_key)
        if not self._loaded_once:  # the first load: the instance is as it was built
            self._loaded_once = True
            self._initial_state = await self._state_when_new()
        elif state is None:  # reloading after a failed turn, or after the conversation was deleted
            state = self._initial_state
        await self.prepare(request, state)
        self._state_loaded = True

    async def _state_when_new(self) -> Mapping[str, Any] | None:
        try:
            return await self.save_state()
        except Exception:  # an agent whose state exists only once prepared: it gets None, as when new
            logger.debug("agent %s cannot save its state before its first turn", self.id, exc_info=True)
            return None

    async def _commit(self, request_id: str) -> None:
        """Save the turn's state; from here on the turn is not cancelled (it has answered)."""
        state = await self.save_state()
        self._committing.add(request_id)
        try:
            await self.deps.store.put(self._state_key, state)
        finally:
            self._committing.discard(request_id)

    async def save_state(self) -> Mapping[str, Any]:
        """What to keep between turns of a conversation; an agent that keeps nothing needs no override."""
        return {}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`save_state` kept."""

    async def prepare(self, request: ChatRequest, state: Mapping[str, Any] | None) -> None:
        """Called before the first turn of this instance, with the stored state if any."""
        if state is not None:
            await self.load_state(state)

    @property
    def _state_key(self) -> str:
        return state_key(self.id)

    def _failed(self, request: ChatRequest, error: ErrorInfo) -> ChatReply:
        finish = "cancelled" if error.code == "cancelled" else "error"
        return ChatReply(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            finish_reason=finish,
            error=error,
        )
