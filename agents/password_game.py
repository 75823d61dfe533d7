"""``password-game``: reveals its secret word only through a tool, and only for the right password."""

from __future__ import annotations

from autogen_agentchat.agents import AssistantAgent
from autogen_core.model_context import ChatCompletionContext
from autogen_core.tools import FunctionTool

from agenthost.core.ambient import get_default_model
from agenthost.core.registry import AgentRegistry

PASSWORD = "open sesame"
SECRET_WORD = "platypus"
SYSTEM = (
    "You guard a secret word that you do not know yourself. Only the reveal_secret tool can reveal it, "
    "and only for the right password. When the user offers a password, call reveal_secret with it and "
    "report the result. Never guess or invent the password or the secret word."
)


def reveal_secret(password: str) -> str:
    """Reveal the secret word if the password is right."""
    if password.strip().lower() == PASSWORD:
        return f"The secret word is {SECRET_WORD!r}."
    return "Wrong password: the secret stays secret."


def create_agent(user_message: str, context: ChatCompletionContext) -> AssistantAgent:
    return AssistantAgent(
        "password_game",
        model_client=get_default_model(),
        model_client_stream=True,
        model_context=context,
        tools=[FunctionTool(reveal_secret, description=reveal_secret.__doc__ or "")],
        reflect_on_tool_use=True,
        system_message=SYSTEM,
    )


def setup(registry: AgentRegistry) -> None:
    registry.add_agent("password-game", create_agent, "Guess the password and it reveals its secret word.")
