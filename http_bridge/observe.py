"""The bridge's part of observability: every request named, counted and (with tracing on) a trace's root span.

One middleware, outermost, built for what is configured: it sets the request's
id for the logs (:data:`agenthost.telemetry.REQUEST_ID`; the same id is the
turn's, so the run is ``run_<request id>``), counts the request by method,
route template (``/api/runs/{run_id}``, never the raw path) and status, and
opens the HTTP server span, continuing the client's ``traceparent`` if it sent
one. ``GET /metrics`` serves the host's metrics in the Prometheus text format.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from agenthost.telemetry import CONTENT_TYPE, REQUEST_ID, NoMetrics, Tracing, end_span

from .errors import Handler
from .ids import request_id
from .keys import HOST

__all__ = ["CLIENT_CLOSED", "metrics", "observe_middleware", "route_of"]

CLIENT_CLOSED = 499
"""The status counted for a request whose client left before the response ended (nginx's convention)."""


def route_of(request: web.BaseRequest) -> str:
    """The matched route's template (bounded cardinality); ``unmatched`` for a path no route serves."""
    resource = request.match_info.route.resource if isinstance(request, web.Request) else None
    return resource.canonical if resource is not None else "unmatched"


def observe_middleware(metrics: NoMetrics, tracing: Tracing) -> Middleware:
    """The middleware for this configuration (nothing but the request id when metrics and tracing are off)."""
    if not metrics.enabled and tracing.tracer is None:
        return _named

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        REQUEST_ID.set(request_id(request))  # kept to the end of the request's task: the access log reads it
        route, started, status = route_of(request), time.perf_counter(), 500
        span = _server_span(tracing, request, route)
        token = None if span is None else otel_context.attach(trace.set_span_in_context(span))
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
            end_span(span, str(status) if status >= 500 else None, {"http.response.status_code": status})
            metrics.http_request(request.method, route, status, time.perf_counter() - started)

    return observe


@web.middleware
async def _named(request: web.Request, handler: Handler) -> web.StreamResponse:
    REQUEST_ID.set(request_id(request))  # kept to the end of the request's task: the access log reads it
    return await handler(request)


def _server_span(tracing: Tracing, request: web.Request, route: str) -> Span | None:
    if tracing.tracer is None:
        return None
    parent = tracing.parent(request.headers.get("traceparent"), request.headers.get("tracestate"))
    attributes = {
        "http.request.method": request.method,
        "http.route": route,
        "url.path": request.path,
        "url.scheme": request.scheme,
        "agenthost.request_id": request_id(request),
    }
    return tracing.tracer.start_span(f"{request.method} {route}", parent, SpanKind.SERVER, attributes)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text format (404 with ``telemetry.metrics`` off)."""
    host_metrics = request.app[HOST].metrics
    if not host_metrics.enabled:
        raise web.HTTPNotFound(text="metrics are off (AGENTHOST_TELEMETRY__METRICS=false)")
    response = web.Response(body=host_metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response
