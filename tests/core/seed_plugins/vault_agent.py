# A seed-style tool-using plugin: the tool raises on a wrong password, as the seed's examples do.
import re
from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import ChatCompletionClient
from autogen_core.model_context import ChatCompletionContext
from registry import add_agent, get_default_model, get_logger

NAME = "vault"

def strip_punctuation(text):
    return re.sub(r'[^\w\s]', '', text)

async def open_vault(password: str) -> str:
    """Open the vault with the password; it reveals what is inside."""
    get_logger().info("vault tried")
    if strip_punctuation(password) == "kumquat":
        return "The vault holds 'a brass key'"
    else:
        raise ValueError("Wrong password")

def create_agent(user_message: str,
                 context: ChatCompletionContext
                 ) -> ChatCompletionClient:
    model_client = get_default_model()
    return AssistantAgent(name=NAME, model_client=model_client, model_client_stream=True,
                          model_context=context, tools=[open_vault], reflect_on_tool_use=True,
                          system_message=None)

add_agent(NAME, create_agent)
