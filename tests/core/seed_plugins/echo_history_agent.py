# A plugin written for the seed agent server, unchanged: it imports `registry`, takes the prior
# history as an AutoGen ChatCompletionContext and hands it straight to the AssistantAgent.
from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import ChatCompletionClient
from autogen_core.model_context import ChatCompletionContext
from registry import add_agent, get_default_model

NAME = "historian"

def create_agent(user_message: str,
                 context: ChatCompletionContext
                 ) -> ChatCompletionClient:
    system_message = ("You remember everything the user told you.")
    model_client = get_default_model()
    return AssistantAgent(name=NAME, model_client=model_client, model_client_stream=True,
                          model_context=context, system_message=system_message)

add_agent(NAME, create_agent)
