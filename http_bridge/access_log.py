"""The access log: one line per request that no client can forge, and no secret from a query string.

Fields the client chose (the request line, ``User-Agent``) are written as JSON strings, so a ``"``,
a newline or a control character in them is escaped and cannot end a field or start a line. Query
values are never logged (``?api_key=***``): keys and tokens sent in a URL stay out of the log. The
request id at the end is the server's (:mod:`http_bridge.ids`).

Example line::

    127.0.0.1 "POST /api/chat HTTP/1.1" 200 61 0.004s "curl/8.5.0" request_id=3f1c...
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .ids import request_id

__all__ = ["AccessLog", "redacted_path"]


def redacted_path(raw_path: str) -> str:
    """``raw_path`` with every query value replaced by ``***``."""
    path, mark, query = raw_path.partition("?")
    if not mark:
        return path
    names = (item.partition("=")[0] for item in query.split("&"))
    return path + "?" + "&".join(f"{name}=***" for name in names)


class AccessLog(AbstractAccessLogger):
    """aiohttp's access logger for the bridge (``access_log_class``); the format string is not used."""

    __slots__ = ()

    @property
    def enabled(self) -> bool:
        """Off when the ``aiohttp.access`` logger would drop INFO (then aiohttp skips timing requests too)."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        line = (
            f"{request.method} {redacted_path(request.raw_path)} HTTP/{request.version.major}.{request.version.minor}"
        )
        self.logger.info(
            "%s %s %d %d %.3fs %s request_id=%s",
            request.remote,
            json.dumps(line),
            response.status,
            response.body_length,
            time,
            json.dumps(request.headers.get("User-Agent", "-")),
            request_id(request),
        )
