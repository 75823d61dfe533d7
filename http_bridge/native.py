"""The native chat API (the chat backend's contract): service info, health, agents, chat and its SSE stream.

Conversations belong to the API key that started them (:func:`~http_bridge.auth.owner_of`): another key
naming the same ``conversation_id`` starts a conversation of its own, and cannot delete the first one.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import hdrs, web

import agenthost
from agenthost.errors import HostError

from .auth import owner_of
from .body import read_body
from .errors import ApiError
from .ids import request_id
from .keys import HOST, SETTINGS
from .playground import page, wants_html
from .runs_api import stream_run, turn_of
from .schemas import CONVERSATION_PATTERN, AgentInfo, AgentList, ChatBody, ChatResponse, Health, Readiness, ServiceInfo

__all__ = ["agents", "chat", "chat_stream", "delete_conversation", "health", "index", "ready"]

_JSON = "application/json"
CONVERSATION_ID = re.compile(CONVERSATION_PATTERN)


def _json(model: Any, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type=_JSON)


async def index(request: web.Request) -> web.StreamResponse:
    """``GET /``: the service info as JSON; a browser (``Accept`` preferring ``text/html``) gets the playground."""
    if wants_html(request.headers.get(hdrs.ACCEPT, "")):
        return page(request)
    names = [spec.name for spec in request.app[HOST].agents()]
    info = ServiceInfo(
        name="agenthost", version=agenthost.__version__, agents=names, docs="/docs", openapi="/openapi.json"
    )
    response = _json(info)
    response.headers[hdrs.VARY] = hdrs.ACCEPT  # a cache must not hand the page to an API client, or the reverse
    return response


async def health(request: web.Request) -> web.Response:
    return _json(Health())


async def ready(request: web.Request) -> web.Response:
    """Ready when the runtime runs and every agent is served (over gRPC: a worker serves its type now)."""
    agent_host = request.app[HOST]
    count = len(agent_host.agents()) if agent_host.started else 0
    try:
        served = await agent_host.served_agents()
    except HostError:  # the gRPC host did not answer: nothing is known to be served
        served = dict.fromkeys((spec.name for spec in agent_host.agents()), False)
    ok = agent_host.started and count > 0 and all(served.values())
    readiness = Readiness(
        status="ready" if ok else "not_ready", runtime=agent_host.started, agents=count, served=served
    )
    return _json(readiness, 200 if ok else 503)


async def agents(request: web.Request) -> web.Response:
    specs = request.app[HOST].agents()
    listing = AgentList(
        agents=[AgentInfo(name=s.name, description=s.description) for s in specs],
        default=request.app[SETTINGS].default_agent,
    )
    return _json(listing)


async def chat(request: web.Request) -> web.Response:
    """``POST /api/chat``: one stateful turn; without ``conversation_id`` a new conversation starts."""
    body = await read_body(request, ChatBody)
    agent_host, agent, conversation_id = turn_of(request, body)
    turn_id, owner = request_id(request), owner_of(request)
    reply = await agent_host.chat(agent, body.message, conversation_id, request_id=turn_id, owner=owner)  # bounded
    return _json(ChatResponse(message=reply.content, conversation_id=reply.conversation_id or conversation_id))


async def chat_stream(request: web.Request) -> web.StreamResponse:
    """``POST /api/chat/stream``: the turn as a run, its events as SSE (``id:`` = seq, ``event:`` = kind).

    The response says where to resume (``Location: /api/runs/{run_id}/stream``). A client
    that leaves cancels the turn, unless it asked for ``"on_disconnect": "continue"``.
    """
    body = await read_body(request, ChatBody)
    agent_host, agent, conversation_id = turn_of(request, body)
    owner = owner_of(request)
    turn = agent_host.request(agent, body.message, conversation_id, request_id=request_id(request), owner=owner)
    run = agent_host.start_run(turn)  # 404 / 400 came first, before a byte
    return await stream_run(request, run, conversation_id, cancel_on_leave=body.on_disconnect == "cancel")


async def delete_conversation(request: web.Request) -> web.Response:
    """``DELETE /api/conversations/{conversation_id}``: every agent's state of it; a turn in flight is cancelled."""
    conversation_id = request.match_info["conversation_id"]
    missing = ApiError(404, "not_found", f"no conversation {conversation_id!r}")
    if not CONVERSATION_ID.fullmatch(conversation_id):
        raise missing
    if not await request.app[HOST].forget(conversation_id, owner=owner_of(request)):
        raise missing  # another key's conversation looks exactly like one that does not exist
    return web.Response(status=204)
