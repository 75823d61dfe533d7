# A seed-style plugin that reads the seed server's `config.settings` and picks an agent by the message.
from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import ChatCompletionClient
from autogen_core.model_context import ChatCompletionContext
from config import settings
from registry import add_agent, get_default_model, list_agents

NAME = "titler"

def create_agent(user_message: str, context: ChatCompletionContext) -> ChatCompletionClient:
    if user_message.startswith("### Task:"):
        return AssistantAgent(name="task_handler", model_client=get_default_model(),
                              model_client_stream=True, model_context=context)
    client = ChatCompletionClient.load_component(settings.default_model_config(timeout=30))
    return AssistantAgent(name=NAME, model_client=client, model_client_stream=True, model_context=context,
                          system_message=f"Model {settings.default_llm}; agents: {', '.join(list_agents())}")

add_agent(NAME, create_agent)
