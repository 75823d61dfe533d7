"""Request ids: unique per request, echoed on every response as ``X-Request-ID``.

A client's ``X-Request-ID`` (up to 64 of ``A-Z a-z 0-9 _ . : -``) is kept as the start of the id, and
the server appends ``.`` and 16 hex digits of its own: the client can find its request by its prefix,
and no client can make two requests share an id (``12345`` sent twice gives two ids). Without one, or
with one that is not of that form, the id is 32 random hex digits.
"""

from __future__ import annotations

import os
import re

from aiohttp import web

from .keys import REQUEST_ID

__all__ = ["REQUEST_ID_HEADER", "echo_request_id", "new_id", "request_id"]

REQUEST_ID_HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def new_id() -> str:
    """A random 128-bit hex id (uuid4's randomness at a quarter of its cost)."""
    return os.urandom(16).hex()


def request_id(request: web.BaseRequest) -> str:
    """This request's id (made once, then cached on the request)."""
    cached: str | None = request.get(REQUEST_ID)
    if cached is not None:
        return cached
    given = request.headers.get(REQUEST_ID_HEADER, "")
    value = f"{given}.{os.urandom(8).hex()}" if _SANE.match(given) else new_id()
    request[REQUEST_ID] = value
    return value


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: also reaches streamed responses, whose headers go out early."""
    response.headers[REQUEST_ID_HEADER] = request_id(request)
