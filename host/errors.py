"""The exceptions agenthost raises.

Hierarchy::

    HostError                     base of everything below; carries an ErrorInfo code
    ├── AgentNotFound             no agent of that name is registered        (not_found)
    ├── BadRequest                the request itself is invalid              (bad_request)
    ├── ModelNotConfigured        an LLM agent ran with no model backend     (model_not_configured)
    ├── ModelFailed               the model backend failed (a crashed local model process, ...) (model_error)
    ├── TurnFailed                the agent itself failed                    (agent_error)
    ├── TurnCancelled             the turn was cancelled                     (cancelled)
    ├── TurnLimitExceeded         the turn produced more than the limits allow (limit_exceeded)
    ├── EventsLost                a resumed stream asked for events no longer kept (events_lost)
    ├── TurnTimeout               no answer within the configured timeout    (timeout)
    └── RuntimeUnavailable        the runtime, gRPC host or worker is gone   (unavailable)

Every :data:`~agenthost.messages.ErrorCode` has exactly one exception class here
(:data:`EXCEPTIONS`) and one HTTP status in the bridge; ``tests/test_structure.py``
checks that no code is missing from either.

Apart from those, :class:`ConfigError` (a ``ValueError``) says that the settings are
wrong, in one line naming the setting and the fix; it stops a host from starting.

Errors cross the runtime as data (:class:`host.messages.ErrorInfo`); these
exceptions are what the embedding API raises from that data, and what the HTTP
bridge maps to status codes in one place.
"""

from __future__ import annotations

from .messages import ErrorCode, ErrorInfo

__all__ = [
    "EXCEPTIONS",
    "AgentNotFound",
    "BadRequest",
    "ConfigError",
    "EventsLost",
    "HostError",
    "ModelFailed",
    "ModelNotConfigured",
    "RuntimeUnavailable",
    "TurnCancelled",
    "TurnFailed",
    "TurnLimitExceeded",
    "TurnTimeout",
]


class ConfigError(ValueError):
    """The settings are wrong: the message names the setting and the fix."""


class HostError(Exception):
    """Base class; ``code`` is the stable :data:`host.messages.ErrorCode`."""

    code: ErrorCode = "agent_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=self.message)

    @staticmethod
    def from_info(info: ErrorInfo) -> HostError:
        cls = EXCEPTIONS.get(info.code, TurnFailed)
        error = cls(info.message)
        error.code = info.code
        return error


class AgentNotFound(HostError):
    code: ErrorCode = "not_found"


class BadRequest(HostError):
    code: ErrorCode = "bad_request"


class ModelNotConfigured(HostError):
    code: ErrorCode = "model_not_configured"


class ModelFailed(HostError):
    code: ErrorCode = "model_error"


class TurnFailed(HostError):
    code: ErrorCode = "agent_error"


class TurnCancelled(HostError):
    code: ErrorCode = "cancelled"


class EventsLost(HostError):
    code: ErrorCode = "events_lost"


class TurnLimitExceeded(HostError):
    code: ErrorCode = "limit_exceeded"


class TurnTimeout(HostError):
    code: ErrorCode = "timeout"


class RuntimeUnavailable(HostError):
    code: ErrorCode = "unavailable"


EXCEPTIONS: dict[ErrorCode, type[HostError]] = {
    "agent_error": TurnFailed,
    "bad_request": BadRequest,
    "cancelled": TurnCancelled,
    "events_lost": EventsLost,
    "limit_exceeded": TurnLimitExceeded,
    "model_error": ModelFailed,
    "model_not_configured": ModelNotConfigured,
    "not_found": AgentNotFound,
    "timeout": TurnTimeout,
    "unavailable": RuntimeUnavailable,
}
"""The exception class of each error code."""
