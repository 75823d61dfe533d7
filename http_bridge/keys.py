"""Every piece of app and request state, as typed ``web.AppKey``/``web.RequestKey`` (declared only here)."""

from __future__ import annotations

from aiohttp import web

from agenthost.agent_host import AgentHost
from agenthost.settings import Settings

from .sse import StreamRegistry

__all__ = ["API_KEYS", "HOST", "OPENAPI", "OWNER", "REQUEST_ID", "SETTINGS", "STARTED_AT", "STREAMS"]

SETTINGS = web.AppKey("settings", Settings)
HOST = web.AppKey("host", AgentHost)
STREAMS = web.AppKey("streams", StreamRegistry)
API_KEYS = web.AppKey("api_keys", frozenset)
STARTED_AT = web.AppKey("started_at", int)
OPENAPI = web.AppKey("openapi", dict)
REQUEST_ID = web.RequestKey("request_id", str)
OWNER = web.RequestKey("owner", str)
