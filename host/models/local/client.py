"""The ``ChatCompletionClient`` for the offline model: AutoGen's OpenAI client on the model's own process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,
    ModelFamily,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from ...errors import ModelFailed
from ...settings import ModelSettings
from ..openai_client import UsageStreamingOpenAIClient
from .process import Endpoint, LocalModelProcess

__all__ = ["DEFAULT_MAX_TOKENS", "MODEL_INFO", "LocalModelClient"]

DEFAULT_MAX_TOKENS = 256

MODEL_INFO = ModelInfo(
    vision=False, function_calling=True, json_output=False, structured_output=False, family=ModelFamily.UNKNOWN
)
"""What the client reports. ``function_calling`` is a deliberate lie: see :class:`LocalModelClient`."""


class LocalModelClient(ChatCompletionClient):
    """The ``ChatCompletionClient`` for the offline model: AutoGen's OpenAI client on the child process.

    It streams token by token, honours ``max_tokens``/``temperature``/``seed``
    in ``extra_create_args``, reports ``finish_reason="length"`` at the cap, and
    stops the generation when the consumer leaves or the cancellation token fires.

    Tools: the default 135M-parameter model cannot call tools. They are sent and
    ignored; the model answers in plain text. :attr:`model_info` nevertheless
    reports ``function_calling=True`` so that AgentChat agents built with tools
    still run on it. No vision, JSON or structured output.
    """

    def __init__(self, process: LocalModelProcess, settings: ModelSettings) -> None:
        self.process = process
        self._settings = settings
        self._client: UsageStreamingOpenAIClient | None = None
        self._generation = 0
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    @classmethod
    def from_settings(cls, settings: ModelSettings, startup_timeout: float = 120.0) -> LocalModelClient:
        """A client with a process of its own (not started until the first call)."""
        return cls(LocalModelProcess(settings, startup_timeout), settings)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        """A whole answer (tools are ignored: the model answers in plain text)."""
        _refuse_json(json_output)
        client, generation = await self._current()
        try:
            result = await client.create(
                messages, extra_create_args=extra_create_args, cancellation_token=cancellation_token
            )
        except Exception as exc:
            raise await self._explain(exc, generation) from exc
        return self._count(result)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
        max_consecutive_empty_chunk_tolerance: int = 0,
        include_usage: bool | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """Text chunks as the model samples them, then a ``CreateResult`` (tools ignored, as in :meth:`create`)."""
        _refuse_json(json_output)
        client, generation = await self._current()
        stream = client.create_stream(
            messages, extra_create_args=extra_create_args, cancellation_token=cancellation_token
        )
        async with contextlib.aclosing(stream):
            try:
                async for item in stream:
                    yield self._count(item) if isinstance(item, CreateResult) else item
            except Exception as exc:
                raise await self._explain(exc, generation) from exc

    async def _current(self) -> tuple[UsageStreamingOpenAIClient, int]:
        endpoint = await self.process.endpoint()
        if self._client is None or self._generation != endpoint.generation:
            if self._client is not None:
                await self._client.close()
            self._client = UsageStreamingOpenAIClient(**self._client_args(endpoint))
            self._generation = endpoint.generation
        return self._client, endpoint.generation

    def _client_args(self, endpoint: Endpoint) -> dict[str, Any]:
        s = self._settings
        args: dict[str, Any] = {
            "model": self.process.name,
            "base_url": endpoint.base_url,
            "api_key": endpoint.key,
            "model_info": MODEL_INFO,
            "max_retries": 0,  # a retry would run the generation twice
            "timeout": s.request_timeout,
            "max_tokens": s.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if s.temperature is not None:
            args["temperature"] = s.temperature
        return args

    async def _explain(self, exc: Exception, generation: int) -> Exception:
        """A crash of the model process, named; anything else as it was."""
        cause = await self.process.crash_cause(generation)
        if cause is None:
            return exc
        return ModelFailed(f"the local model process died during generation ({cause}); it is being restarted")

    def _count(self, result: CreateResult) -> CreateResult:
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + result.usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + result.usage.completion_tokens,
        )
        return result

    async def close(self) -> None:
        """Stop the model process (a later call starts a new one only if the process was not closed)."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        await self.process.close()

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        """An estimate (4 characters a token): exact counts would need the model in this process."""
        return sum(len(str(message.content)) for message in messages) // 4 + 1

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._settings.local_context - self.count_tokens(messages)

    @property
    def capabilities(self) -> ModelCapabilities:
        """Deprecated by AutoGen: the same as :attr:`model_info`."""
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return MODEL_INFO.copy()


def _refuse_json(json_output: bool | type[BaseModel] | None) -> None:
    if json_output:
        raise ValueError("the local model supports neither JSON mode nor structured output")
