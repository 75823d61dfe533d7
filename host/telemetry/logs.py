"""Logs that name their request: one id from the HTTP access log to the agent's worker.

The bridge sets :data:`REQUEST_ID` for each HTTP request (the id it echoes as
``X-Request-ID``, which is also the turn's ``request_id``, so the run is
``run_<request id>``); a hosted agent sets it for each turn it runs, on whatever
process that is. :class:`ContextFilter` copies it (and, with tracing on, the
trace and span ids) onto every log record, and both formatters write it:
``text`` appends ``request_id=...``; ``json`` writes one JSON object per line
(``AGENTHOST_LOG_FORMAT=json``), every field escaped, so nothing a client sends
can forge a field or a line.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.trace import SpanContext

from ..settings import Settings

__all__ = ["REQUEST_ID", "TURN_SPAN", "ContextFilter", "JsonFormatter", "TextFormatter", "configure_logging"]

REQUEST_ID: ContextVar[str | None] = ContextVar("agenthost_request_id", default=None)
"""The id of the HTTP request or agent turn this code runs for."""

TURN_SPAN: ContextVar[SpanContext | None] = ContextVar("agenthost_turn_span", default=None)
"""The span of the agent turn this code runs for (an agent's turn span is not the current span)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``trace_id`` and ``span_id`` (None when there is none) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            context = TURN_SPAN.get() or context
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else None
        record.span_id = format(context.span_id, "016x") if context.is_valid else None
        return True


class TextFormatter(logging.Formatter):
    """The plain format, with ``request_id=...`` at the end of lines written for a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return line if request_id is None or "request_id=" in line else f"{line} request_id={request_id}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time``, ``level``, ``logger``, ``message``, the ids, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("request_id", "trace_id", "span_id"):
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def configure_logging(settings: Settings) -> None:
    """The process's root logger: ``settings.log_level``, ``settings.log_format``, request ids on every line."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
