"""The native chat API (the chat backend's contract): service info, health, agents, chat and its SSE stream.

Conversations belong to the API key that started them (:func:`~http_bridge.auth.owner_of`): another key
naming the same ``conversation_id`` starts a conversation of its own, and cannot delete the first one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

import agenthost
from agenthost.agent_host import AgentHost
from agenthost.messages import ErrorInfo, StreamEvent

from .auth import owner_of
from .body import read_body
from .errors import ApiError
from .ids import new_id
from .keys import HOST, SETTINGS, STREAMS
from .schemas import CONVERSATION_PATTERN, AgentInfo, AgentList, ChatBody, ChatResponse, Health, Readiness, ServiceInfo
from .sse import SSEWriter

__all__ = ["agents", "chat", "chat_stream", "delete_conversation", "health", "index", "ready"]

_JSON = "application/json"
CONVERSATION_ID = re.compile(CONVERSATION_PATTERN)


def _json(model: Any, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type=_JSON)


async def index(request: web.Request) -> web.Response:
    names = [spec.name for spec in request.app[HOST].agents()]
    info = ServiceInfo(
        name="agenthost", version=agenthost.__version__, agents=names, docs="/docs", openapi="/openapi.json"
    )
    return _json(info)


async def health(request: web.Request) -> web.Response:
    return _json(Health())


async def ready(request: web.Request) -> web.Response:
    agent_host = request.app[HOST]
    count = len(agent_host.agents()) if agent_host.started else 0
    ok = agent_host.started and count > 0
    return _json(
        Readiness(status="ready" if ok else "not_ready", runtime=agent_host.started, agents=count), 200 if ok else 503
    )


async def agents(request: web.Request) -> web.Response:
    specs = request.app[HOST].agents()
    listing = AgentList(
        agents=[AgentInfo(name=s.name, description=s.description) for s in specs],
        default=request.app[SETTINGS].default_agent,
    )
    return _json(listing)


def _turn(request: web.Request, body: ChatBody) -> tuple[AgentHost, str, str]:
    """The host, the agent and the conversation id of a native chat request (checks the message)."""
    limit = request.app[SETTINGS].http.max_message_chars
    if len(body.message) > limit:
        message = f"message: over {limit} characters (AGENTHOST_HTTP__MAX_MESSAGE_CHARS)"
        raise ApiError(422, "message_too_long", message, "message")
    if not body.message.strip():
        raise ApiError(422, "invalid_value", "message: must not be blank", "message")
    agent = body.agent or request.app[SETTINGS].default_agent
    return request.app[HOST], agent, body.conversation_id or new_id()


async def chat(request: web.Request) -> web.Response:
    """``POST /api/chat``: one stateful turn; without ``conversation_id`` a new conversation starts."""
    body = await read_body(request, ChatBody)
    agent_host, agent, conversation_id = _turn(request, body)
    owner = owner_of(request)
    reply = await agent_host.chat(agent, body.message, conversation_id=conversation_id, owner=owner)  # bounded
    return _json(ChatResponse(message=reply.content, conversation_id=reply.conversation_id or conversation_id))


async def chat_stream(request: web.Request) -> web.StreamResponse:
    """``POST /api/chat/stream``: the turn's events as SSE (``id:`` = seq, ``event:`` = kind, JSON ``data:``)."""
    body = await read_body(request, ChatBody)
    agent_host, agent, conversation_id = _turn(request, body)
    turn = agent_host.request(agent, body.message, conversation_id, owner=owner_of(request))  # 404/400 before a byte
    sse = SSEWriter(request)
    keepalive = request.app[SETTINGS].http.keepalive_interval
    cancel_timeout = request.app[SETTINGS].timeouts.cancel
    async with request.app[STREAMS].open(agent_host.stream_request(turn), cancel_timeout) as channel:
        try:
            await sse.prepare({"X-Conversation-ID": conversation_id})
            last_seq = -1
            async for item in channel.items(keepalive):
                if item is None:
                    await sse.comment()
                    continue
                event = _as_event(item, turn.request_id, last_seq)
                last_seq = event.seq
                await sse.send(_event_json(event, conversation_id), event=event.kind, id=event.seq)
            await sse.close()
        except ConnectionError:  # the client left; leaving the block cancels the turn
            pass
    return sse.response


async def delete_conversation(request: web.Request) -> web.Response:
    """``DELETE /api/conversations/{conversation_id}``: every agent's state of it; a turn in flight is cancelled."""
    conversation_id = request.match_info["conversation_id"]
    missing = ApiError(404, "not_found", f"no conversation {conversation_id!r}")
    if not CONVERSATION_ID.fullmatch(conversation_id):
        raise missing
    if not await request.app[HOST].forget(conversation_id, owner=owner_of(request)):
        raise missing  # another key's conversation looks exactly like one that does not exist
    return web.Response(status=204)


def _as_event(item: StreamEvent | ErrorInfo, request_id: str, last_seq: int) -> StreamEvent:
    if isinstance(item, StreamEvent):
        return item
    return StreamEvent(request_id=request_id, seq=last_seq + 1, kind="error", data=item.model_dump())


def _event_json(event: StreamEvent, conversation_id: str) -> str:
    if event.kind == "chunk" or event.data.get("conversation_id"):
        return json.dumps(event.data)
    return json.dumps({**event.data, "conversation_id": conversation_id})
