"""Reading a JSON request body into a schema model: 415, 413, 400 and 400/422 naming the field."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from .errors import ApiError, from_validation, is_openai
from .keys import SETTINGS

__all__ = ["read_body"]

M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    """The body of ``request`` validated as ``model``; OpenAI routes answer 400 where native ones say 422."""
    if request.content_type != "application/json":
        given = request.content_type or "none"
        raise ApiError(415, "unsupported_media_type", f"send Content-Type: application/json (got {given})")
    limit = request.app[SETTINGS].http.max_body_bytes
    too_large = ApiError(413, "body_too_large", f"the body is over {limit} bytes (AGENTHOST_HTTP__MAX_BODY_BYTES)")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        raw = await request.read()  # aiohttp enforces the app's client_max_size (the same limit) while reading
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise from_validation(exc, 400 if is_openai(request) else 422) from None
