"""The listening socket and its connections: a cap on open connections, JSON for what the parser refuses,
and quiet logs near the file-descriptor limit.

aiohttp serves a connection with a :class:`aiohttp.web.RequestHandler` made by the runner's
:class:`aiohttp.web.Server`. :class:`GuardedSite` is a ``TCPSite`` that makes them itself:

- at most ``max_connections`` are open at once (by default the process's file-descriptor limit less
  :data:`FD_RESERVE` and :data:`BACKLOG`); one more is answered ``503`` and closed, so the process never runs out of
  descriptors because of idle or slow clients, and the connections it has keep being served;
- a request the HTTP parser refuses (a bad request line or header) gets the API's JSON error body and
  one INFO line, not a plain-text body and an ERROR with a traceback.

Idle and slow clients: aiohttp closes a connection that has not sent a complete request head within its
``keepalive_timeout`` of opening or of its previous response, which the runner sets to
``settings.http.idle_timeout``; reading a body is bounded in :func:`http_bridge.body.read_body`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any, cast

from aiohttp import web

from .errors import ApiError, error_body

__all__ = ["BACKLOG", "FD_RESERVE", "BridgeRequestHandler", "GuardedSite", "connection_cap", "quiet_accept_errors"]

logger = logging.getLogger(__name__)

FD_RESERVE = 64
"""Descriptors kept for everything but client connections (state store, model clients, gRPC, files)."""
BACKLOG = 128
"""The listen backlog; asyncio also accepts up to this many connections in one go, before the cap sees them,
so the default cap keeps that many descriptors free as well."""
BUSY_LINGER = 0.5
"""Seconds a refused connection may take to read its 503 before it is closed."""
MAX_LINGERING = FD_RESERVE // 2
"""Refused connections waiting for their client at once, at most (half the reserve)."""
REPORT_EVERY = 60.0


def connection_cap(configured: int | None) -> tuple[int, int]:
    """The open-connection cap to use, and the soft file-descriptor limit it was fitted under."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    fitting = max(1, soft - FD_RESERVE - BACKLOG) if soft != resource.RLIM_INFINITY else 1_000_000
    if configured is None:
        return fitting, soft
    if configured > fitting:
        logger.warning(
            "AGENTHOST_HTTP__MAX_CONNECTIONS=%d does not fit under the file-descriptor limit %d less %d in "
            "reserve: using %d (raise the limit with ulimit -n)",
            configured, soft, FD_RESERVE + BACKLOG, fitting,
        )  # fmt: skip
        return fitting, soft
    return configured, soft


class BridgeRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering what its parser refuses in the API's JSON, logged at INFO."""

    __slots__ = ()

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:
            logger.error("error handling a request from %s", request.remote, exc_info=exc)
            error = ApiError(status, "internal_error", "internal error; see the server log")
        else:
            reason = " ".join(str(getattr(exc, "message", None) or message or "malformed request").split())
            logger.info("refused a malformed request from %s: %s", request.remote, reason)
            error = ApiError(status, "malformed_request", f"the HTTP request is malformed: {reason}")
        if request.writer.output_size > 0:  # a response has started: nothing more can be said
            raise ConnectionError("the response had started when the request failed")
        response = web.Response(status=status, text=error_body(request, error), content_type="application/json")
        response.force_close()
        return response


class _Busy(asyncio.Protocol):
    """Answers ``503`` to a connection over the cap and closes it (after the client read it, briefly).

    At most :data:`MAX_LINGERING` of them wait for their client; beyond that they close at once, so that
    a flood of connections over the cap cannot use up the descriptors the cap keeps in reserve.
    """

    lingering = 0

    BODY = (
        b'{"status":"error","error":{"code":"too_many_connections","message":'
        b'"the server has too many open connections; retry shortly","field":null},"request_id":null}'
    )
    RESPONSE = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, but not always an asyncio.Transport instance (uvloop's are not): no isinstance.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        transport.write(self.RESPONSE)
        if transport.can_write_eof():
            transport.write_eof()
        if _Busy.lingering >= MAX_LINGERING:
            self._closer: asyncio.TimerHandle | None = None
            transport.close()
            return
        # Closing with the request unread would reset the connection before the client reads the answer.
        _Busy.lingering += 1
        self._closer = asyncio.get_running_loop().call_later(BUSY_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        """The request is not read; it is only drained."""

    def eof_received(self) -> bool:
        self._transport.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closer is not None:
            self._closer.cancel()
            _Busy.lingering -= 1


class GuardedSite(web.BaseSite):
    """A TCP site that caps open connections and serves them with :class:`BridgeRequestHandler`.

    Args:
        runner: the app's runner (``handler_cancellation`` and the shutdown timeout are the runner's).
        host, port: where to listen.
        max_connections: open connections at most; one more gets ``503`` and is closed.
        handler_args: keyword arguments of each :class:`aiohttp.web.RequestHandler` (``keepalive_timeout``...).
    """

    __slots__ = ("_handler_args", "_host", "_last_report", "_max", "_port", "_refused_since", "refused")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        handler_args: dict[str, Any],
        backlog: int = BACKLOG,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host, self._port = host, port
        self._max = max_connections
        self._handler_args = handler_args
        self.refused = 0
        self._refused_since = 0
        self._last_report = 0.0

    @property
    def name(self) -> str:
        sockets = getattr(self._server, "sockets", None) or ()
        port = sockets[0].getsockname()[1] if sockets else self._port
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        sockets = getattr(self._server, "sockets", None) or ()
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self._host, self._port, backlog=self._backlog, reuse_address=True
        )

    def _protocol(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        assert server is not None
        if len(server.connections) >= self._max:
            self._refuse()
            return _Busy()
        return BridgeRequestHandler(server, loop=asyncio.get_running_loop(), **self._handler_args)

    def _refuse(self) -> None:
        self.refused += 1
        self._refused_since += 1
        now = time.monotonic()
        if now - self._last_report >= REPORT_EVERY:
            logger.warning(
                "%d open connections, the cap (AGENTHOST_HTTP__MAX_CONNECTIONS): refused %d since the last report",
                self._max, self._refused_since,
            )  # fmt: skip
            self._last_report, self._refused_since = now, 0


class _AcceptErrors:
    """A loop exception handler: "out of file descriptors" on accept once a minute, as one WARNING line."""

    def __init__(self) -> None:
        self.seen = 0
        self._last_report = -REPORT_EVERY

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != "socket.accept() out of system resource":
            loop.default_exception_handler(context)
            return
        self.seen += 1
        now = time.monotonic()
        if now - self._last_report >= REPORT_EVERY:
            logger.warning(
                "cannot accept connections: %s (seen %d times; retrying every second; raise ulimit -n or lower "
                "AGENTHOST_HTTP__MAX_CONNECTIONS)", context.get("exception"), self.seen,
            )  # fmt: skip
            self._last_report = now


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Report running out of descriptors on accept once a minute instead of a traceback a second."""
    loop.set_exception_handler(_AcceptErrors())
