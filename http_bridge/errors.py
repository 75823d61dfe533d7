"""HTTP errors: one middleware turns every failure into a JSON body with the right status.

Hierarchy::

    ApiError                      an HTTP error with a stable code, a message and the field at fault
    host.errors.HostError         mapped by its code (not_found 404, bad_request 400, timeout 504, ...)
    aiohttp.web.HTTPException     routing and body-size errors (404, 405 with ``Allow``, 413), re-rendered as JSON
    pydantic.ValidationError      raised by :func:`http_bridge.body.read_body` as an ApiError
    anything else                 500, logged with the request id, never shown as a stack trace

Requests the HTTP parser itself refuses (a bad request line or header) never reach the app: the
listener (:mod:`http_bridge.listener`) answers them with the same JSON body, and logs them at INFO.

Under ``/v1`` bodies use OpenAI's envelope ``{"error": {"message", "type", "param", "code"}}``;
elsewhere ``{"status": "error", "error": {"code", "message", "field"}, "request_id"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from agenthost.errors import HostError
from agenthost.events import ErrorData
from agenthost.messages import ErrorCode

from .ids import request_id
from .schemas import NOT_BLANK, ErrorBody, ErrorDetail, OpenAIError, OpenAIErrorBody

__all__ = [
    "STATUS",
    "UNREAD_BODY",
    "ApiError",
    "error_body",
    "error_middleware",
    "error_response",
    "from_validation",
    "is_openai",
    "openai_error",
]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS: dict[ErrorCode, int] = {
    "agent_error": 502,
    "bad_request": 400,
    "cancelled": 503,
    "events_lost": 410,
    "limit_exceeded": 502,
    "model_error": 502,
    "model_not_configured": 503,
    "not_found": 404,
    "timeout": 504,
    "unavailable": 503,
}
"""The HTTP status of each error code that crosses the runtime (every one of them)."""
_OPENAI_TYPES: dict[int, str] = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
UNREAD_BODY = frozenset({408, 413, 417})
"""Statuses sent before the request's body was read through: the connection closes after them."""


class ApiError(Exception):
    """An HTTP error: ``status``, a stable ``code``, a message naming the problem and the fix, the field."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    @classmethod
    def from_host(cls, exc: HostError) -> ApiError:
        return cls(STATUS.get(exc.code, 502), exc.code, exc.message)

    @classmethod
    def from_event(cls, data: ErrorData) -> ApiError:
        """From the ``data`` of an ``error`` event."""
        return cls(STATUS.get(data["code"], 502), data["code"], data["message"] or "the agent failed")

    @classmethod
    def from_http(cls, exc: web.HTTPException) -> ApiError:
        code = exc.reason.lower().replace(" ", "_").replace("-", "_")
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        allow = exc.headers.get("Allow")
        return cls(exc.status, code, message, headers={"Allow": allow} if allow is not None else None)


def from_validation(exc: ValidationError, status: int) -> ApiError:
    """The first problem of ``exc``, naming the field (``messages.0.content``)."""
    error = exc.errors(include_url=False)[0]
    if error["type"] == "json_invalid":
        return ApiError(400, "invalid_json", f"the body is not valid JSON: {error['msg']}")
    field = ".".join(str(part) for part in error["loc"]) or None
    if field is None:
        return ApiError(status, "invalid_body", f"the body must be a JSON object ({error['msg']})")
    code = "missing_field" if error["type"] == "missing" else "invalid_value"
    blank = error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == NOT_BLANK
    return ApiError(status, code, f"{field}: {'must not be blank' if blank else error['msg']}", field)


def is_openai(request: web.BaseRequest) -> bool:
    return request.path.startswith("/v1/")


def openai_error(error: ApiError) -> OpenAIError:
    """``error`` in OpenAI's terms (``type`` from the status)."""
    kind = _OPENAI_TYPES.get(error.status, "server_error" if error.status >= 500 else "invalid_request_error")
    return OpenAIError(message=error.message, type=kind, param=error.field, code=error.code)


def error_body(request: web.BaseRequest, error: ApiError) -> str:
    """The JSON error body of ``error``, in the envelope of the API that ``request`` addressed."""
    body: OpenAIErrorBody | ErrorBody
    if is_openai(request):
        body = OpenAIErrorBody(error=openai_error(error))
    else:
        detail = ErrorDetail(code=error.code, message=error.message, field=error.field)
        body = ErrorBody(error=detail, request_id=request_id(request))
    return body.model_dump_json()


def error_response(request: web.Request, error: ApiError) -> web.Response:
    """The JSON error response of ``error``, in the envelope of the API that ``request`` addressed."""
    response = web.Response(status=error.status, text=error_body(request, error), content_type="application/json")
    response.headers.update(error.headers)
    if error.status >= 500 or error.status == 409:
        response.headers["x-should-retry"] = "false"  # the agent may have run: a retry would run it twice
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if error.status in UNREAD_BODY:
        response.force_close()  # the rest of the body is not read: the connection cannot carry another request
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error response; nothing escapes as a stack trace."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(request, exc)
    except HostError as exc:
        return error_response(request, ApiError.from_host(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, ApiError.from_http(exc))
    except Exception:
        logger.exception("unhandled error in %s %s (request id %s)", request.method, request.path, request_id(request))
        return error_response(request, ApiError(500, "internal_error", "internal error; see the server log"))
