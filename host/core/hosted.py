"""``HostedAgent``: the RoutedAgent base every hosted agent type derives from.

It owns the plumbing of a turn so that agents only write :meth:`HostedAgent.respond`:
publishing events with ``seq`` numbers, the terminal ``done``/``error`` event,
errors as data, cancellation (a token from the runtime, or a
:class:`CancelRequest` message, which is what crosses gRPC), one turn at a time
per conversation, and loading/saving state around each turn.

It also makes each turn observable: the turn's request id is on every log
record written while it runs (:data:`agenthost.telemetry.REQUEST_ID`), the turn
is an ``invoke_agent`` span under the caller's (with tracing on), and
``agenthost_agent_turns_total`` counts it. Two kinds of request take another
path: ``direct`` ones get one model call and no agent (:mod:`.direct`), and
``full_history`` ones continue a conversation only if its saved transcript is
what the request's history says (:mod:`.transcripts`).

A turn that fails or is cancelled leaves no trace: the store is not written and
the instance reloads the last saved state before its next turn. Once the agent
has answered, the turn commits: saving its state (and transcript) is no longer
cancellable (a cancel that arrives then comes after the answer). A save that
fails fails the turn, with the same rollback. The one window left: the process
dies after the save and before the ``done`` event reaches the client, who then
has not seen a turn that the conversation keeps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from autogen_core import CancellationToken, MessageContext, RoutedAgent, rpc
from opentelemetry.context import Context

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
from ..telemetry import NO_TELEMETRY, REQUEST_ID, TURN_SPAN, Telemetry
from ..telemetry.genai import agent_span, finish_agent_span, parent_context
from .deadlines import Deadlines
from .direct import answer_directly
from .emitter import EventEmitter
from .instances import STATELESS_KEY, InstanceTracker, instance_key, state_key
from .transcripts import Transcript

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
    telemetry: Telemetry = NO_TELEMETRY


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
        self._transcript: Transcript | None = None
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
        settings = self.deps.settings
        window = settings.streaming.window(settings.runtime.mode)
        emit = EventEmitter.for_request(self.runtime, message, window=window, limits=settings.limits)
        request_token = REQUEST_ID.set(request_id)
        started, reply = time.monotonic(), None
        tracing = self.deps.telemetry.tracing
        span = agent_span(tracing, message, self.id.type, self.id.key)
        span_token = None if span is None else TURN_SPAN.set(span.get_span_context())
        try:
            reply = await self._turn(message, emit, ctx.cancellation_token, parent_context(span))
        finally:
            REQUEST_ID.reset(request_token)
            if span_token is not None:
                TURN_SPAN.reset(span_token)
            deadlines.disarm(request_id)
            del self._running[request_id]
            if stateful:
                self.deps.instances.touch(self.id)
            finish_agent_span(span, reply, tracing.record_content)
            outcome = "cancelled" if reply is None else "done" if reply.error is None else reply.error.code
            self.deps.telemetry.metrics.turn_ended(self.id.type, outcome, time.monotonic() - started)
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
            await self.deps.store.delete(self._transcript_key)
            self._rollback()
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

    async def _turn(
        self, request: ChatRequest, emit: EventEmitter, token: CancellationToken, span: Context | None = None
    ) -> ChatReply:
        try:
            with turn_scope(request.options, self.deps.telemetry.tracing, span):
                if request.direct and self.deps.models.configured:
                    await self._started(request, emit)
                    return await answer_directly(self.deps.models, request, emit, token)
                if request.conversation_id is None:
                    await self._started(request, emit)
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

    async def _started(self, request: ChatRequest, emit: EventEmitter) -> None:
        """The turn starts now (a conversation's turn once the turns before it are done): say so."""
        if emit.enabled:
            await emit.status(StatusData(status="started", agent=self.id.type, conversation_id=request.conversation_id))

    def _cancel_message(self, reason: ErrorCode) -> str:
        if reason == "timeout":
            return f"the turn took over {self.deps.settings.timeouts.request:g} s (AGENTHOST_TIMEOUTS__REQUEST)"
        return "the request was cancelled"

    async def _stateful_turn(self, request: ChatRequest, emit: EventEmitter, token: CancellationToken) -> ChatReply:
        async with self._turn_lock:  # AgentChat agents are not coroutine-safe
            await self._started(request, emit)
            whole = request
            try:
                request, restart = await self._what_is_new(request)
                if not self._state_loaded:
                    await self._load(request, restart)
                reply = await self.respond(request, emit, token)
                if reply.error is None:
                    await self._commit(whole, reply)
            except BaseException:
                self._rollback()
                raise
            if reply.error is not None:  # an agent that answers with an error has not had a turn either
                self._rollback()
            return reply

    def _rollback(self) -> None:
        """Forget what the instance holds: its next turn reloads the last saved state."""
        self._state_loaded = False
        self._transcript = None

    async def _what_is_new(self, request: ChatRequest) -> tuple[ChatRequest, bool]:
        """For a ``full_history`` request: only its new message if the saved state has seen the rest
        (``restart`` False), else the whole history, to start the conversation over from (``restart`` True)."""
        if not request.full_history:
            return request, False
        seen = self._transcript if self._state_loaded else await self._saved_transcript()
        if seen is not None and seen.continued_by(request.messages):
            return request.model_copy(update={"messages": request.messages[-1:]}), False
        self._state_loaded = False
        return request, True

    async def _saved_transcript(self) -> Transcript | None:
        return Transcript.from_record(await self.deps.store.get(self._transcript_key))

    @property
    def _transcript_key(self) -> str:
        return f"{self._state_key}#transcript"

    async def _load(self, request: ChatRequest, restart: bool) -> None:
        """Load the saved state (a branch: the state it forks from); with none, the state this instance had when new."""
        state = None if restart else await self.deps.store.get(self._state_key)
        if state is None and request.fork_from is not None:  # a new branch of another conversation
            state = await self.deps.store.get(f"{self.id.type}/{request.fork_from}")
        if not self._loaded_once:  # the first load: the instance is as it was built
            self._loaded_once = True
            self._initial_state = await self._state_when_new()
        elif state is None:  # reloading after a failed turn, a restart, or after the conversation was deleted
            state = self._initial_state
        await self.prepare(request, state)
        self._state_loaded = True

    async def _state_when_new(self) -> Mapping[str, Any] | None:
        try:
            return await self.save_state()
        except Exception:  # an agent whose state exists only once prepared: it gets None, as when new
            logger.debug("agent %s cannot save its state before its first turn", self.id, exc_info=True)
            return None

    async def _commit(self, whole: ChatRequest, reply: ChatReply) -> None:
        """Save the turn's state (and transcript); from here on the turn is not cancelled (it has answered)."""
        state = await self.save_state()
        transcript = Transcript.after(whole.messages, reply.content) if whole.full_history else None
        self._committing.add(whole.request_id)
        try:
            # The transcript first: if the state's save then fails, the client's next history (without this
            # turn's answer) does not continue the saved transcript, and the conversation starts over from it.
            if transcript is not None:
                await self.deps.store.put(self._transcript_key, transcript.record())
            await self.deps.store.put(self._state_key, state)
        finally:
            self._committing.discard(whole.request_id)
        if transcript is not None:
            self._transcript = transcript

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
