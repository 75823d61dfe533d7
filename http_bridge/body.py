"""Reading a JSON request body into a schema model: 415, 413, 408, 400 and 400/422 naming the field."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from .auth import check_auth
from .errors import ApiError, error_response, from_validation, is_openai
from .keys import SETTINGS

__all__ = ["expect_continue", "read_body"]

M = TypeVar("M", bound=BaseModel)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the body is over {limit} bytes (AGENTHOST_HTTP__MAX_BODY_BYTES)")


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """The ``Expect: 100-continue`` handler of body routes: say no (401, 413, 417) before the body is sent.

    Runs before the middlewares, so it answers with the JSON error response itself.
    """
    try:
        if request.headers.get("Expect", "").lower() != "100-continue":
            raise ApiError(417, "expectation_failed", "only 'Expect: 100-continue' is supported")
        check_auth(request)
        limit = request.app[SETTINGS].http.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
    except ApiError as exc:
        return error_response(request, exc)
    if request.version >= (1, 1):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the interim response is not the response's start (as aiohttp does)
    return None


async def read_body(request: web.Request, model: type[M]) -> M:
    """The body of ``request`` validated as ``model``; OpenAI routes answer 400 where native ones say 422."""
    if request.content_type != "application/json":
        given = request.content_type or "none"
        raise ApiError(415, "unsupported_media_type", f"send Content-Type: application/json (got {given})")
    limit = request.app[SETTINGS].http.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    timeout = request.app[SETTINGS].http.body_timeout
    try:
        if request.content.is_eof():  # the whole body came with the head (the usual small request): no wait
            raw = await request.read()
        else:
            async with asyncio.timeout(timeout):
                raw = await request.read()  # aiohttp enforces the app's client_max_size (the same limit)
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limit) from None
    except TimeoutError:
        message = f"the body did not arrive within {timeout:g} s (AGENTHOST_HTTP__BODY_TIMEOUT)"
        raise ApiError(408, "body_timeout", message) from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise from_validation(exc, 400 if is_openai(request) else 422) from None
