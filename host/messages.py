"""Wire messages: every type that crosses the runtime, as frozen pydantic models.

The gRPC wire names a type by its bare class name, so every class here has a
name unique across the project. Errors cross the runtime as data
(:class:`ErrorInfo` inside replies and ``error`` events), never as exceptions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "STATELESS_KEY",
    "STATELESS_PREFIX",
    "TERMINAL_KINDS",
    "CancelReply",
    "CancelRequest",
    "ChatReply",
    "ChatRequest",
    "ChatTurn",
    "ErrorCode",
    "ErrorInfo",
    "EventKind",
    "FinishReason",
    "ForgetReply",
    "ForgetRequest",
    "GenerationOptions",
    "Role",
    "StreamEvent",
    "Usage",
]

_WIRE = ConfigDict(frozen=True, extra="forbid")

Role = Literal["system", "user", "assistant", "tool"]
EventKind = Literal["status", "chunk", "message", "tool_call", "tool_result", "done", "error"]
FinishReason = Literal["stop", "length", "error", "cancelled"]
ErrorCode = Literal[
    "agent_error",
    "bad_request",
    "cancelled",
    "events_lost",
    "limit_exceeded",
    "model_error",
    "model_not_configured",
    "not_found",
    "timeout",
    "unavailable",
]
TERMINAL_KINDS: frozenset[str] = frozenset({"done", "error"})

STATELESS_KEY = "~stateless"
"""Agent key of requests without a conversation (the request carries the whole history). No client can name
it: conversation ids may not start with :data:`STATELESS_PREFIX` (nor hold ``/``, the owner separator)."""
STATELESS_PREFIX = "~"
"""Over gRPC a caller sends a request without a conversation to ``AgentId(agent, "~" + request_id)``: the host
spreads those over the type's workers and forwards each with key :data:`STATELESS_KEY`. Conversation ids must
not start with it (the HTTP API's pattern excludes it)."""


class ChatTurn(BaseModel):
    """One message of a conversation's history."""

    model_config = _WIRE

    role: Role
    content: str
    name: str | None = None

    def __repr__(self) -> str:  # the engine formats every message it routes into a log string
        return f"ChatTurn(role={self.role!r}, content={self.content[:80]!r})"


class Usage(BaseModel):
    """Token usage of one turn, summed over every model call in it."""

    model_config = _WIRE

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __repr__(self) -> str:
        return f"Usage(prompt_tokens={self.prompt_tokens}, completion_tokens={self.completion_tokens})"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class ErrorInfo(BaseModel):
    """An error as data: a stable code and a message that names the problem and the fix."""

    model_config = _WIRE

    code: ErrorCode
    message: str


class GenerationOptions(BaseModel):
    """Per-request model options (an OpenAI request's ``max_tokens``, ``temperature``), for every model call."""

    model_config = _WIRE

    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)


class ChatRequest(BaseModel):
    """One turn, sent as an RPC to ``AgentId(agent, instance_key(owner, conversation_id))``.

    A conversation belongs to its ``owner`` (the bridge derives one from the API key): two owners
    naming the same ``conversation_id`` reach two instances. Requests without a conversation
    go to one stateless instance per agent, whose key no client can name.
    Events go to ``TopicId(type=reply_topic_type, source=request_id)``.
    """

    model_config = _WIRE

    request_id: str = Field(min_length=1)
    agent: str = Field(min_length=1)
    messages: tuple[ChatTurn, ...] = Field(min_length=1)
    conversation_id: str | None = None
    stream: bool = True
    reply_topic_type: str = ""
    options: GenerationOptions | None = None
    fork_from: str | None = Field(
        default=None,
        description="A conversation with no state of its own yet starts from the state of this agent key's "
        "conversation (a branch: the Responses API's previous_response_id).",
    )
    full_history: bool = Field(
        default=False,
        description="messages is the whole conversation so far (an OpenAI client's); a conversation whose saved "
        "transcript matches it continues with what is new, any other starts over from it.",
    )
    direct: bool = Field(
        default=False, description="Answer with one call of the agent's model: no agent, no tools, no state."
    )
    traceparent: str | None = Field(default=None, description="W3C trace context of the caller's span.")
    tracestate: str | None = None
    owner: str | None = Field(default=None, pattern=r"^[^/]+$")


class ChatReply(BaseModel):
    """The RPC's reply. It may arrive before the request's events (it does over gRPC)."""

    model_config = _WIRE

    request_id: str
    conversation_id: str | None = None
    content: str = ""
    usage: Usage = Usage()
    finish_reason: FinishReason = "stop"
    error: ErrorInfo | None = None


class StreamEvent(BaseModel):
    """One intermediate event of a turn; ``seq`` counts from 0 per request."""

    model_config = _WIRE

    request_id: str
    seq: int = Field(ge=0)
    kind: EventKind
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS


class CancelRequest(BaseModel):
    """Asks the agent instance running ``request_id`` to stop (tokens do not cross gRPC)."""

    model_config = _WIRE

    request_id: str


class CancelReply(BaseModel):
    """Whether a turn was running and has been told to stop."""

    model_config = _WIRE

    request_id: str
    cancelled: bool


class ForgetRequest(BaseModel):
    """Deletes a conversation at its instance: a turn in flight is cancelled, the stored state dropped."""

    model_config = _WIRE

    conversation_id: str


class ForgetReply(BaseModel):
    """Whether the conversation had saved state."""

    model_config = _WIRE

    conversation_id: str
    found: bool
