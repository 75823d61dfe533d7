"""``assistant``: the plain passthrough assistant on the configured model."""

from __future__ import annotations

from autogen_agentchat.agents import AssistantAgent
from autogen_core.model_context import ChatCompletionContext

from agenthost.core.ambient import get_default_model
from agenthost.core.registry import AgentRegistry

SYSTEM = "You are a helpful assistant. Answer clearly and concisely."


def create_agent(user_message: str, context: ChatCompletionContext) -> AssistantAgent:
    return AssistantAgent(
        "assistant",
        model_client=get_default_model(),
        model_client_stream=True,
        model_context=context,
        system_message=SYSTEM,
    )


def setup(registry: AgentRegistry) -> None:
    registry.add_agent("assistant", create_agent, "A helpful general-purpose assistant on the configured model.")
