"""agenthost: host AutoGen agents over HTTP/SSE, embedded in your program, or on gRPC workers.

The public API, importable from the package itself::

    from agenthost import AgentHost, Settings, HostedAgent, add_agent, get_default_model

Names load on first use (the package itself imports nothing heavy), so
``import agenthost`` and the CLI start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    "AgentDeps": "agenthost.core.hosted",
    "AgentHost": "agenthost.agent_host",
    "AgentNotFound": "agenthost.errors",
    "AgentRegistry": "agenthost.core.registry",
    "AgentSpec": "agenthost.core.registry",
    "BadRequest": "agenthost.errors",
    "ChatReply": "agenthost.messages",
    "ChatRequest": "agenthost.messages",
    "ChatTurn": "agenthost.messages",
    "ConfigError": "agenthost.errors",
    "ErrorInfo": "agenthost.messages",
    "EventEmitter": "agenthost.core.emitter",
    "GenerationOptions": "agenthost.messages",
    "HostError": "agenthost.errors",
    "HostedAgent": "agenthost.core.hosted",
    "ModelFailed": "agenthost.errors",
    "ModelNotConfigured": "agenthost.errors",
    "RuntimeUnavailable": "agenthost.errors",
    "Settings": "agenthost.settings",
    "StreamEvent": "agenthost.messages",
    "TurnFailed": "agenthost.errors",
    "TurnTimeout": "agenthost.errors",
    "Usage": "agenthost.messages",
    "add_agent": "agenthost.core.plugins",
    "get_default_model": "agenthost.core.ambient",
    "model_context": "agenthost.core.ambient",
}

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
    "ConfigError",
    "ErrorInfo",
    "EventEmitter",
    "GenerationOptions",
    "HostError",
    "HostedAgent",
    "ModelFailed",
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

if TYPE_CHECKING:
    from .agent_host import AgentHost
    from .core.ambient import get_default_model, model_context
    from .core.emitter import EventEmitter
    from .core.hosted import AgentDeps, HostedAgent
    from .core.plugins import add_agent
    from .core.registry import AgentRegistry, AgentSpec
    from .errors import (
        AgentNotFound,
        BadRequest,
        ConfigError,
        HostError,
        ModelFailed,
        ModelNotConfigured,
        RuntimeUnavailable,
        TurnFailed,
        TurnTimeout,
    )
    from .messages import ChatReply, ChatRequest, ChatTurn, ErrorInfo, GenerationOptions, StreamEvent, Usage
    from .settings import Settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agenthost' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__
