"""The offline model: a GGUF file (by default SmolLM2-135M-Instruct) run by llama.cpp in a child process.

:class:`LocalModelProcess` supervises the child (:mod:`.server`);
:class:`LocalModelClient` is the ``ChatCompletionClient`` agents get, which turns a
crash mid-turn into a :class:`~agenthost.errors.ModelFailed` naming the cause.

Example:
    >>> client = LocalModelClient.from_settings(ModelSettings(max_tokens=64))
    >>> result = await client.create([UserMessage(content="Say hello", source="user")])
"""

from .client import DEFAULT_MAX_TOKENS, MODEL_INFO, LocalModelClient
from .files import DEFAULT_GGUF, default_model_path, local_model_available, model_file
from .process import CRASH_WINDOW, MAX_CRASHES, Endpoint, LocalModelProcess

__all__ = [
    "CRASH_WINDOW",
    "DEFAULT_GGUF",
    "DEFAULT_MAX_TOKENS",
    "MAX_CRASHES",
    "MODEL_INFO",
    "Endpoint",
    "LocalModelClient",
    "LocalModelProcess",
    "default_model_path",
    "local_model_available",
    "model_file",
]
