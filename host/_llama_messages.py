"""AutoGen messages as the plain chat dicts a small llama.cpp model gets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from autogen_core import FunctionCall
from autogen_core.models import AssistantMessage, FunctionExecutionResult, LLMMessage, SystemMessage, UserMessage

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

__all__ = ["message_text", "to_llama_messages"]


def message_text(message: LLMMessage) -> str:
    """The plain text a small local model gets for one AutoGen message.

    Images are dropped, tool calls and tool results become short sentences.

    Args:
        message: Any AutoGen ``LLMMessage``.

    Returns:
        The message's text.
    """
    if isinstance(message, SystemMessage):
        return message.content
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return message.content
        return "\n".join(part for part in message.content if isinstance(part, str))
    if isinstance(message, AssistantMessage):
        if isinstance(message.content, str):
            return message.content
        return _calls_text(message.content)
    return _results_text(message.content)


def _calls_text(calls: Sequence[FunctionCall]) -> str:
    """Describe an assistant's tool calls in one sentence."""
    return "I called " + ", ".join(f"{call.name}({call.arguments})" for call in calls) + "."


def _results_text(results: Sequence[FunctionExecutionResult]) -> str:
    """Describe tool results, one line each."""
    lines = [f"{result.name}{' (error)' if result.is_error else ''}: {result.content}" for result in results]
    return "Tool results:\n" + "\n".join(lines)


def to_llama_messages(messages: Sequence[LLMMessage]) -> list[ChatCompletionRequestMessage]:
    """Convert AutoGen messages to llama.cpp chat messages.

    Tool results are sent as user messages: the chat template of a small model
    knows no ``tool`` role worth relying on.

    Args:
        messages: The conversation.

    Returns:
        Chat dicts for ``Llama.create_chat_completion``.
    """
    return [_llama_message(message) for message in messages]


def _llama_message(message: LLMMessage) -> ChatCompletionRequestMessage:
    """Convert one AutoGen message to a llama.cpp chat dict."""
    text = message_text(message)
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": text}
    if isinstance(message, AssistantMessage):
        return {"role": "assistant", "content": text}
    return {"role": "user", "content": text}
