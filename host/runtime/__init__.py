"""The runtime factory: the one place that decides local vs gRPC."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from autogen_core import AgentRuntime, SingleThreadedAgentRuntime

from .. import _engine
from ..serialization import register_wire_types
from ..settings import Settings
from .grpc_worker_runtime import open_grpc_worker
from .logs import quiet_engine_logs

__all__ = ["open_runtime"]

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[AgentRuntime]:
    """A started runtime with every wire type registered and a bounded topic cache."""
    _engine.spans_only_when_traced()
    if settings.runtime.mode == "grpc":
        async with open_grpc_worker(settings) as worker:
            yield worker
        return
    quiet_engine_logs(settings)
    _engine.dispatch_in_batches()
    runtime = SingleThreadedAgentRuntime(ignore_unhandled_exceptions=True)
    _engine.install_bounded_subscriptions(runtime)
    _engine.serialize_only_when_logged(runtime)
    if not settings.runtime.tracing:
        _engine.untraced(runtime)
        _engine.lean_delivery(runtime)
    register_wire_types(runtime)
    runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
