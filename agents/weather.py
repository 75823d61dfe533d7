"""``weather``: an assistant with a weather tool, reflecting on the tool's result."""

from __future__ import annotations

import zlib

from autogen_agentchat.agents import AssistantAgent
from autogen_core.model_context import ChatCompletionContext
from autogen_core.tools import FunctionTool

from agenthost.core.ambient import get_default_model
from agenthost.core.registry import AgentRegistry

_SKIES = ("sunny", "cloudy", "rainy", "windy", "snowy")
SYSTEM = "You answer questions about the weather. Use the get_weather tool for any city you are asked about."


def get_weather(city: str) -> str:
    """Current weather for a city (a deterministic stand-in for a real weather service)."""
    seed = zlib.crc32(city.strip().lower().encode())
    return f"{city.strip()}: {_SKIES[seed % len(_SKIES)]}, {seed % 35 - 5} °C"


def create_agent(user_message: str, context: ChatCompletionContext) -> AssistantAgent:
    return AssistantAgent(
        "weather",
        model_client=get_default_model(),
        model_client_stream=True,
        model_context=context,
        tools=[FunctionTool(get_weather, description=get_weather.__doc__ or "")],
        reflect_on_tool_use=True,
        system_message=SYSTEM,
    )


def setup(registry: AgentRegistry) -> None:
    registry.add_agent("weather", create_agent, "Weather questions, answered with a weather tool.")
