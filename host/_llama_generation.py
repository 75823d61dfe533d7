"""One streamed llama.cpp completion: a worker thread produces tokens, the event loop consumes them."""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, cast

from autogen_core.models import CreateResult, RequestUsage

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_types import ChatCompletionRequestMessage, CreateChatCompletionStreamResponse

__all__ = ["THREAD_NAME", "Generation"]

THREAD_NAME = "agenthost-local-model"
"""The name of every generation thread (tests look for it)."""


class _Signal(enum.Enum):
    """Control items on a generation's queue, besides text chunks and errors."""

    DONE = "done"
    CANCELLED = "cancelled"


_Item = str | _Signal | BaseException


class Generation:
    """One streamed completion: a worker thread produces tokens, the event loop consumes them.

    The thread checks :attr:`stop` between tokens; every hand-over to the loop
    goes through ``call_soon_threadsafe``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: Callable[[Generation], None]) -> None:
        """Prepare a generation; :meth:`start` runs it.

        Args:
            loop: The consumer's event loop.
            on_done: Called on the loop once the thread has ended.
        """
        self.loop = loop
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.stop = threading.Event()
        self.done: asyncio.Future[None] = loop.create_future()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.finish_reason: Literal["stop", "length"] = "stop"
        self._on_done = on_done

    def start(self, llm: Llama, messages: list[ChatCompletionRequestMessage], params: dict[str, Any]) -> None:
        """Start the generation thread.

        Args:
            llm: The loaded model; nothing else may use it until :attr:`done`.
            messages: The chat.
            params: Extra ``create_chat_completion`` arguments.
        """
        thread = threading.Thread(target=self._run, args=(llm, messages, params), name=THREAD_NAME, daemon=True)
        thread.start()

    def cancel(self) -> None:
        """Stop generating and make the consumer raise ``CancelledError``; callable from any thread."""
        self._emit(_Signal.CANCELLED)  # Queued before the thread can notice the flag and queue DONE.
        self.stop.set()

    async def next_chunk(self) -> str | None:
        """The next text chunk, or None once generation has finished.

        Returns:
            A chunk, or None at the end.

        Raises:
            asyncio.CancelledError: The cancellation token was cancelled.
            BaseException: Whatever llama.cpp raised in the thread.
        """
        item = await self.queue.get()
        if item is _Signal.CANCELLED:
            raise asyncio.CancelledError("cancelled through the cancellation token")
        if isinstance(item, BaseException):
            raise item
        return None if item is _Signal.DONE else item

    async def stop_and_wait(self) -> None:
        """Tell the thread to stop and wait until it has (its own cancellation does not stop the thread)."""
        self.stop.set()
        await asyncio.shield(self.done)

    def result(self, text: str) -> CreateResult:
        """The final result of a finished generation.

        Args:
            text: The full text, as streamed.

        Returns:
            The ``CreateResult`` closing the stream.
        """
        usage = RequestUsage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)
        return CreateResult(finish_reason=self.finish_reason, content=text, usage=usage, cached=False)

    def _run(self, llm: Llama, messages: list[ChatCompletionRequestMessage], params: dict[str, Any]) -> None:
        """Thread body: generate, then report the end (or the error) to the loop."""
        try:
            self._generate(llm, messages, params)
        except BaseException as exc:  # Handed to the consumer, never lost in the thread.
            self._emit(exc)
        else:
            self._emit(_Signal.DONE)
        finally:
            self._call_soon(self._finish)

    def _generate(self, llm: Llama, messages: list[ChatCompletionRequestMessage], params: dict[str, Any]) -> None:
        """Pull tokens from llama.cpp until it stops or :attr:`stop` is set."""
        if self.stop.is_set():  # Cancelled before it started: skip even the prompt.
            return
        stream = cast(
            "Iterator[CreateChatCompletionStreamResponse]",
            llm.create_chat_completion(messages=messages, stream=True, **params),
        )
        try:
            for chunk in stream:
                if self.stop.is_set():
                    return
                self._on_chunk(llm, chunk)
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                close()  # Ends llama's generator (and its sampling loop) now, in this thread.

    def _on_chunk(self, llm: Llama, chunk: CreateChatCompletionStreamResponse) -> None:
        """Count and forward one streamed chunk."""
        if not self.prompt_tokens:
            # The first chunk comes right after the prompt is evaluated: the context holds just the prompt.
            self.prompt_tokens = llm.n_tokens
        choice = chunk["choices"][0]
        content = cast("str | None", choice["delta"].get("content"))
        if content is not None:
            self.completion_tokens += 1
            if content:
                self._emit(content)
        if choice["finish_reason"] is not None:
            self.finish_reason = "length" if choice["finish_reason"] == "length" else "stop"

    def _emit(self, item: _Item) -> None:
        """Queue an item for the consumer (from any thread)."""
        self._call_soon(self.queue.put_nowait, item)

    def _call_soon(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback`` on the loop; a closed loop means nobody listens, so stop."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            self.stop.set()

    def _finish(self) -> None:
        """On the loop, once the thread has ended: resolve :attr:`done` and notify the client."""
        if not self.done.done():
            self.done.set_result(None)
        self._on_done(self)
