"""Request and response models of both APIs; the OpenAPI document is generated from them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "AgentInfo",
    "AgentList",
    "ChatBody",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatResponse",
    "CompletionMessage",
    "ContentPart",
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "InputMessage",
    "ModelCard",
    "ModelList",
    "OpenAIError",
    "OpenAIErrorBody",
    "Readiness",
    "ResponseCreate",
    "ResponseDeleted",
    "ResponseInputItem",
    "ResponseInputPart",
    "ResponseObject",
    "ResponseStreamEvent",
    "RunAccepted",
    "RunError",
    "RunInfo",
    "ServiceInfo",
    "StreamOptions",
    "UsageInfo",
]

_IN = ConfigDict(extra="ignore", frozen=True, strict=True)  # what the schema says: no "1" for 1, no false for 0
_OUT = ConfigDict(frozen=True)
CONVERSATION_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$"


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: an int, or a number with no fraction (``5.0``); never ``true`` or ``"5"``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


PositiveInt = Annotated[int, Field(gt=0), BeforeValidator(_json_integer)]
NOT_BLANK = r"\S"
"""A string with at least one character that is not white space (JSON Schema patterns search, unanchored)."""

# -- native API ---------------------------------------------------------------------------------


class ChatBody(BaseModel):
    """``POST /api/chat`` and ``POST /api/chat/stream``."""

    model_config = _IN

    message: str = Field(min_length=1, pattern=NOT_BLANK, description="The user's message; not blank.")
    conversation_id: str | None = Field(
        default=None, pattern=CONVERSATION_PATTERN, description="Continue this conversation; omit to start one."
    )
    agent: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="Agent name; default from settings.", examples=["echo"]
    )
    on_disconnect: Literal["cancel", "continue"] = Field(
        default="cancel",
        description="/api/chat/stream: when the client leaves, cancel the turn, or let it run on "
        "(resume it at the Location the response names).",
    )


class ChatResponse(BaseModel):
    """The reply of ``POST /api/chat``."""

    model_config = _OUT

    message: str
    conversation_id: str
    status: Literal["success"] = "success"


class RunAccepted(BaseModel):
    """``POST /api/runs``: the run started in the background."""

    model_config = _OUT

    run_id: str
    status: Literal["queued", "running", "done", "error", "cancelled"]
    conversation_id: str | None


class RunError(BaseModel):
    model_config = _OUT

    code: str
    message: str


class RunInfo(BaseModel):
    """A run's status and, once it ended, its result."""

    model_config = _OUT

    run_id: str
    agent: str
    conversation_id: str | None
    status: Literal["queued", "running", "done", "error", "cancelled"]
    message: str | None = Field(default=None, description="The reply, once done.")
    usage: dict[str, int] | None = Field(default=None, description="Token usage, once done.")
    error: RunError | None = Field(default=None, description="Why it failed or was cancelled.")
    created_at: float
    ended_at: float | None = None


class AgentInfo(BaseModel):
    model_config = _OUT

    name: str
    description: str


class AgentList(BaseModel):
    model_config = _OUT

    agents: list[AgentInfo]
    default: str


class ServiceInfo(BaseModel):
    model_config = _OUT

    name: str
    version: str
    agents: list[str]
    docs: str
    openapi: str


class Health(BaseModel):
    model_config = _OUT

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = _OUT

    status: Literal["ready", "not_ready"]
    runtime: bool
    agents: int
    served: dict[str, bool] = Field(
        default_factory=dict,
        description="Per agent: whether something runs it now (on the gRPC runtime: a live worker serves its type).",
    )


class ErrorDetail(BaseModel):
    model_config = _OUT

    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every native error: ``{"status": "error", "error": {...}, "request_id": ...}``."""

    model_config = _OUT

    status: Literal["error"] = "error"
    error: ErrorDetail
    request_id: str | None = None


# -- OpenAI-compatible facade -------------------------------------------------------------------


def _text_parts_only(schema: dict[str, Any]) -> None:
    """Document what is served: text parts (other kinds are read, then refused with 400)."""
    schema["properties"]["type"] = {"const": "text", "type": "string", "title": "Type"}
    schema["properties"]["text"] = {"type": "string", "title": "Text"}
    schema["required"] = ["type", "text"]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, json_schema_extra=_text_parts_only)

    type: str
    text: str | None = None


class InputMessage(BaseModel):
    model_config = _IN

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_call_id: str | None = None


class StreamOptions(BaseModel):
    model_config = _IN

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``.

    ``max_tokens`` (or ``max_completion_tokens``) and ``temperature`` apply to every model call the agent
    makes in this turn; the ``echo`` agent caps its words at ``max_tokens``. Other sampling fields are
    accepted and ignored.
    """

    model_config = _IN

    model: str = Field(min_length=1, description="An agent name (see GET /v1/models).", examples=["echo"])
    messages: list[InputMessage] = Field(
        min_length=1,
        description="The whole history: the facade is stateless. System and developer messages come first; "
        "at least one user message has text.",
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature, every model call.")
    max_tokens: PositiveInt | None = Field(default=None, description="Cap on each model call's completion tokens.")
    max_completion_tokens: PositiveInt | None = Field(default=None, description="The same as max_tokens.")
    user: str | None = None


class UsageInfo(BaseModel):
    model_config = _OUT

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionMessage(BaseModel):
    model_config = _OUT

    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None


class CompletionChoice(BaseModel):
    model_config = _OUT

    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    model_config = _OUT

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: UsageInfo
    system_fingerprint: str | None = None


class ChunkChoice(BaseModel):
    model_config = _OUT

    index: int = 0
    delta: dict[str, Any]
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One ``data:`` frame of a streamed completion (``choices`` is empty in the usage frame)."""

    model_config = _OUT

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: UsageInfo | None = None


class ModelCard(BaseModel):
    model_config = _OUT

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "agenthost"
    description: str | None = None


class ModelList(BaseModel):
    model_config = _OUT

    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIError(BaseModel):
    model_config = _OUT

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    model_config = _OUT

    error: OpenAIError


# -- OpenAI Responses API -----------------------------------------------------------------------


class ResponseInputPart(BaseModel):
    model_config = _IN

    type: str
    text: str | None = None


class ResponseInputItem(BaseModel):
    model_config = _IN

    type: str = "message"
    role: str = "user"
    content: str | list[ResponseInputPart] = ""


class ResponseCreate(BaseModel):
    """``POST /v1/responses`` (the fields agenthost uses; others are accepted and ignored)."""

    model_config = _IN

    model: str = Field(min_length=1, description="An agent name (see GET /v1/models).")
    input: str | list[ResponseInputItem] = Field(description="A user message, or a list of input messages.")
    instructions: str | None = None
    stream: bool = False
    background: bool = False
    previous_response_id: str | None = None
    store: bool = True
    max_output_tokens: PositiveInt | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = None
    metadata: dict[str, str] | None = None


class ResponseObject(BaseModel):
    """A Responses API ``Response`` (the fields agenthost fills; see OpenAI's reference for their meaning)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]
    model: str
    output: list[dict[str, Any]]
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    previous_response_id: str | None = None


class ResponseStreamEvent(BaseModel):
    """One SSE frame of a Responses API stream: ``type`` names it; the other fields depend on it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    sequence_number: int


class ResponseDeleted(BaseModel):
    model_config = _OUT

    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool = True
