"""agenthost's core: settings, wire messages, runtime, agent registry and plugins, the embedding API."""

from .agent_base import AgentDeps, HostedAgent
from .agent_host import AgentHost
from .errors import (
    AgentNotFound,
    BadRequest,
    HostError,
    ModelNotConfigured,
    RuntimeUnavailable,
    TurnFailed,
    TurnTimeout,
)
from .messages import ChatReply, ChatRequest, ChatTurn, ErrorInfo, StreamEvent, Usage
from .plugins import add_agent, get_default_model, model_context
from .registry import AgentRegistry, AgentSpec
from .settings import Settings
from .streaming import EventEmitter

__version__ = "0.1.0"

__all__ = [
    "AgentDeps",
    "AgentHost",
    "AgentNotFound",
    "AgentRegistry",
    "AgentSpec",
    "BadRequest",
    "ChatReply",
    "ChatRequest",
    "ChatTurn",
    "ErrorInfo",
    "EventEmitter",
    "HostError",
    "HostedAgent",
    "ModelNotConfigured",
    "RuntimeUnavailable",
    "Settings",
    "StreamEvent",
    "TurnFailed",
    "TurnTimeout",
    "Usage",
    "__version__",
    "add_agent",
    "get_default_model",
    "model_context",
]
