"""The replacement for AutoGen's OpenAI client's ``_create_stream_chunks``: a stream that ends early closes.

Upstream iterates the SDK's ``AsyncStream`` in a task per chunk and never closes
it when the consumer stops early (cancelled, its token fired, it stopped
reading): the HTTP response stays open until garbage collection, so the backend
keeps generating for a client that left and the connection stays in use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, cast

from autogen_core import CancellationToken
from openai import AsyncStream, omit
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionToolParam

from ._base import attr

__all__ = ["stream_chunks"]


async def stream_chunks(
    client: Any,
    tool_params: list[ChatCompletionToolParam],
    oai_messages: list[ChatCompletionMessageParam],
    create_args: dict[str, Any],
    cancellation_token: CancellationToken | None,
) -> AsyncGenerator[ChatCompletionChunk, None]:
    """``BaseOpenAIChatCompletionClient._create_stream_chunks`` for ``client``, closing the response at the end."""
    completions = attr(client, "_client").chat.completions
    stream_future = asyncio.ensure_future(
        completions.create(messages=oai_messages, stream=True, tools=tool_params or omit, **create_args)
    )
    if cancellation_token is not None:
        cancellation_token.link_future(stream_future)
    stream = cast("AsyncStream[ChatCompletionChunk]", await stream_future)
    try:
        while True:
            chunk_future = asyncio.ensure_future(anext(stream))
            if cancellation_token is not None:
                cancellation_token.link_future(chunk_future)
            try:
                chunk = await chunk_future
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        await stream.close()  # the backend sees the disconnect and stops generating
