"""The OpenAI-compatible client, asking streamed completions for their token usage."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import CreateResult, LLMMessage
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.openai import OpenAIChatCompletionClient
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import BaseModel

from .. import _engine

__all__ = ["UsageStreamingOpenAIClient"]


class UsageStreamingOpenAIClient(OpenAIChatCompletionClient):
    """AutoGen's OpenAI client, with two fixes for streamed completions.

    * It asks for ``stream_options.include_usage`` so ``done`` events carry real usage.
      AgentChat calls ``create_stream`` without ``include_usage``; setting
      ``stream_options`` on the client instead would also send it on non-streamed
      calls, which OpenAI rejects.
    * A stream that ends early (the consumer cancelled, the token fired, the
      consumer stopped reading) closes its HTTP response at once. Upstream leaves
      it open until garbage collection, so the backend keeps generating for a
      client that left and the socket stays in use (``_create_stream_chunks``
      is :func:`agenthost._engine.openai.stream_chunks`; the original is pinned by
      a hash of its source).
    """

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
        if include_usage is None and "stream_options" not in extra_create_args:
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
