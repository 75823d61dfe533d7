"""``writer-critic``: a writer and a critic take turns until the critic says APPROVE."""

from __future__ import annotations

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.model_context import ChatCompletionContext

from agenthost.core.ambient import get_default_model
from agenthost.core.registry import AgentRegistry

MAX_MESSAGES = 6
WRITER = "You are a writer. Write or revise a short piece for the task, taking the critic's feedback into account."
CRITIC = (
    "You are a critic. Give short, concrete feedback on the writer's latest draft. "
    "When it is good enough, reply with APPROVE and nothing else."
)


def create_agent(user_message: str, context: ChatCompletionContext) -> RoundRobinGroupChat:
    model = get_default_model()
    writer = AssistantAgent(
        "writer", model_client=model, model_client_stream=True, model_context=context,
        system_message=WRITER,
    )  # fmt: skip
    critic = AssistantAgent("critic", model_client=model, model_client_stream=True, system_message=CRITIC)
    stop = TextMentionTermination("APPROVE") | MaxMessageTermination(MAX_MESSAGES)
    return RoundRobinGroupChat([writer, critic], termination_condition=stop)


def setup(registry: AgentRegistry) -> None:
    registry.add_agent("writer-critic", create_agent, "A writer and a critic iterate until the critic approves.")
