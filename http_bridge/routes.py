"""Every HTTP route, in one table: it builds the router (:func:`setup_routes`) and the OpenAPI document.

A route that is not part of the API (the docs pages themselves) says so with ``documented=False``;
``tests/test_structure.py`` fails if the router and the document ever disagree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from . import docs, native, observe, openai_api, playground, responses_api, runs_api
from . import schemas as s
from .body import expect_continue

__all__ = ["ROUTES", "Route", "setup_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SSE_NOTE = (
    "Server-Sent Events: `id:` (seq), `event:` (status, chunk, message, tool_call, tool_result, done, error),"
    " JSON `data:` (see the `*Data` schemas)."
)
RESPONSES_SSE_NOTE = (
    "Responses API events (`response.created` ... `response.completed`), each with `sequence_number`; agent "
    "events with no OpenAI equivalent as `agenthost.tool_call`, `agenthost.tool_result`, `agenthost.message`, "
    "`agenthost.status`."
)
OPENAI_SSE_NOTE = '`chat.completion.chunk` frames, then `data: [DONE]`; after an error, a `data: {"error"}` frame.'


@dataclass(frozen=True)
class Route:
    """One route: how it is served and how the OpenAPI document describes it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str = "service"
    response: type[BaseModel] | None = None  # None: the response is an event stream, or no content (204)
    body: type[BaseModel] | None = None
    status: int = 200
    stream: str | None = None
    stream_model: type[BaseModel] | None = None  # each SSE frame's data (default: a chat.completion.chunk)
    guarded: bool = True
    errors: tuple[int, ...] = ()
    text: str | None = None  # the media type of a plain-text response (not JSON, not SSE)
    documented: bool = True


_CHAT_ERRORS = (400, 401, 404, 408, 413, 415, 417, 422, 502, 503, 504)

ROUTES: tuple[Route, ...] = (
    Route(
        "GET", "/", native.index, "Service info (a browser, Accept preferring text/html, gets the playground page)",
        response=s.ServiceInfo, guarded=False,
    ),
    Route("GET", "/health", native.health, "Liveness", response=s.Health, guarded=False),
    Route(
        "GET", "/ready", native.ready, "Readiness: runtime started, every agent served",
        response=s.Readiness, guarded=False, errors=(503,),
    ),
    Route("GET", "/api/agents", native.agents, "The agents and their descriptions", "chat", s.AgentList, errors=(401,)),
    Route(
        "POST", "/api/chat", native.chat, "One turn; without conversation_id a conversation starts", "chat",
        s.ChatResponse, s.ChatBody, errors=_CHAT_ERRORS,
    ),
    Route(
        "POST", "/api/chat/stream", native.chat_stream, "One turn as Server-Sent Events", "chat",
        None, s.ChatBody, stream=SSE_NOTE, errors=(400, 401, 404, 408, 413, 415, 417, 422),
    ),
    Route(
        "DELETE", "/api/conversations/{conversation_id}", native.delete_conversation,
        "Delete a conversation (every agent's state of it); a turn in flight is cancelled. 404 when this API key"
        " has no conversation of that id", "chat", status=204, errors=(401, 404, 503),
    ),
    Route(
        "POST", "/api/runs", runs_api.start_run, "Start a turn in the background (202 with its run id)", "runs",
        s.RunAccepted, s.ChatBody, status=202, errors=(400, 401, 404, 413, 415, 422),
    ),
    Route(
        "GET", "/api/runs/{run_id}", runs_api.get_run, "A run's status and, once it ended, its result", "runs",
        s.RunInfo, errors=(401, 404),
    ),
    Route(
        "GET", "/api/runs/{run_id}/stream", runs_api.resume_run,
        "The run's events after Last-Event-ID (or ?after=N), then live", "runs", None,
        stream=SSE_NOTE, errors=(400, 401, 404),
    ),
    Route(
        "POST", "/api/runs/{run_id}/cancel", runs_api.cancel_run, "Stop the run (idempotent)", "runs", s.RunInfo,
        errors=(401, 404),
    ),
    Route("GET", "/v1/models", openai_api.list_models, "Agents as models", "openai", s.ModelList, errors=(401,)),
    Route(
        "GET", "/v1/models/{model_id}", openai_api.get_model, "One agent as a model", "openai", s.ModelCard,
        errors=(401, 404),
    ),
    Route(
        "POST", "/v1/chat/completions", openai_api.chat_completions,
        "Chat completion (stateless; stream=true for SSE chunks)", "openai", s.ChatCompletion,
        s.ChatCompletionRequest, stream=OPENAI_SSE_NOTE, errors=(400, 401, 404, 408, 413, 415, 417, 502, 503, 504),
    ),
    Route(
        "POST", "/v1/responses", responses_api.create_response,
        "Create a response (model = agent): whole, stream=true, or background=true", "openai", s.ResponseObject,
        s.ResponseCreate, stream=RESPONSES_SSE_NOTE, stream_model=s.ResponseStreamEvent,
        errors=(400, 401, 404, 413, 415, 502, 503, 504),
    ),
    Route(
        "GET", "/v1/responses/{response_id}", responses_api.retrieve_response,
        "A response; ?stream=true&starting_after=N replays its events, then live", "openai", s.ResponseObject,
        stream=RESPONSES_SSE_NOTE, stream_model=s.ResponseStreamEvent, errors=(400, 401, 404, 410),
    ),
    Route(
        "POST", "/v1/responses/{response_id}/cancel", responses_api.cancel_response, "Stop a response (idempotent)",
        "openai", s.ResponseObject, errors=(401, 404),
    ),
    Route(
        "DELETE", "/v1/responses/{response_id}", responses_api.delete_response, "Forget a response", "openai",
        s.ResponseDeleted, errors=(401, 404),
    ),
    Route(
        "GET", "/metrics", observe.metrics, "Prometheus metrics (text format 0.0.4; agenthost_* series)",
        guarded=False, errors=(404,), text="text/plain; version=0.0.4",
    ),
    Route("GET", "/openapi.json", docs.openapi_json, "This document", guarded=False, documented=False),
    Route("GET", "/docs", docs.docs, "Swagger UI", guarded=False, documented=False),
    Route("GET", "/redoc", docs.redoc, "Redirects to /docs", guarded=False, documented=False),
    Route("GET", "/docs/static/{name}", docs.asset, "Docs assets", guarded=False, documented=False),
    Route(
        "GET", "/playground/static/{name}", playground.asset, "Playground script and style", guarded=False,
        documented=False,
    ),
)  # fmt: skip


def setup_routes(app: web.Application, routes: tuple[Route, ...] = ROUTES) -> None:
    """Add every route of the table to ``app``'s router: ``HEAD`` with each ``GET``, and on routes with a body an
    ``Expect: 100-continue`` handler that refuses (401, 413) before the client sends the body."""
    for route in routes:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler, allow_head=True)
        elif route.body is not None:
            app.router.add_route(route.method, route.path, route.handler, expect_handler=expect_continue)
        else:
            app.router.add_route(route.method, route.path, route.handler)
