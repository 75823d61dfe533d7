"""The OpenAI-compatible client every agent on an OpenAI-compatible backend gets."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import CreateResult, LLMMessage
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.openai import OpenAIChatCompletionClient
from openai import DefaultAioHttpClient
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import BaseModel

from .. import _engine

__all__ = ["UsageStreamingOpenAIClient"]


class UsageStreamingOpenAIClient(OpenAIChatCompletionClient):
    """AutoGen's OpenAI client: every ``ChatCompletionClient`` behaviour kept, the streamed path made cheap.

    * The SDK runs on aiohttp (``openai.DefaultAioHttpClient``) unless an ``http_client``
      is given: one pooled connector per client, no selector churn per read.
    * Streamed chunks are read and validated by :func:`agenthost._engine.openai.stream_chunks`
      (pydantic-core per ``data:`` line instead of the SDK's generic model building),
      and a stream that ends early closes its HTTP response at once, so the backend
      stops generating for a client that left.
    * With ``stream_usage`` (the default) streamed calls ask for
      ``stream_options.include_usage`` so ``done`` events carry real usage. AgentChat
      calls ``create_stream`` without ``include_usage``; setting ``stream_options``
      on the client instead would also send it on non-streamed calls, which OpenAI rejects.
    """

    def __init__(self, *, stream_usage: bool = True, **kwargs: Any) -> None:
        if "http_client" not in kwargs:
            kwargs["http_client"] = DefaultAioHttpClient(timeout=kwargs.get("timeout") or 60.0)
        super().__init__(**kwargs)
        self._stream_usage = stream_usage

    def create_stream(
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
        if include_usage is None and self._stream_usage and "stream_options" not in extra_create_args:
            include_usage = True
        return super().create_stream(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
            max_consecutive_empty_chunk_tolerance=max_consecutive_empty_chunk_tolerance,
            include_usage=include_usage,
        )

    def _create_stream_chunks(
        self,
        tool_params: list[ChatCompletionToolParam],
        oai_messages: list[ChatCompletionMessageParam],
        create_args: dict[str, Any],
        cancellation_token: CancellationToken | None,
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        return _engine.openai.stream_chunks(self, tool_params, oai_messages, create_args, cancellation_token)
