"""AutoGen's gRPC worker runtime, made to fail clearly and within bounds.

Left alone, the engine (autogen-ext 0.7.5) hangs callers and never notices a
lost host (see DESIGN.md, "Engine facts"). :func:`open_grpc_worker` gives a
started ``GrpcWorkerAgentRuntime`` (the worker side of every role: agent
workers and HTTP bridges) with every wire type's serializer checked,
``start()`` retried with backoff while the host is not up, bounded
subscriptions, a watchdog that ends the process (exit code
:data:`EXIT_HOST_LOST`) when the host connection breaks, and a bounded drain
of in-flight work on stop. The host service itself is a role:
:mod:`agenthost.roles.grpc_host`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable

from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

from .. import _engine
from ..errors import RuntimeUnavailable
from ..messages import ChatRequest
from ..serialization import WIRE_TYPES, register_wire_types
from ..settings import Settings
from .logs import quiet_engine_logs

__all__ = [
    "EXIT_HOST_LOST",
    "EXIT_STARTUP_FAILED",
    "channel_options",
    "check_serializers",
    "open_grpc_worker",
    "server_options",
]

logger = logging.getLogger(__name__)

EXIT_STARTUP_FAILED = 2
EXIT_HOST_LOST = 3
_WATCH_PERIOD = 1.0
_KEEPALIVE_MS = 20_000
_HOST_KEEPALIVE_MS = 10_000


def channel_options(settings: Settings) -> list[tuple[str, int]]:
    """Worker channel options: message size limits, and keepalive pings so a vanished host is noticed."""
    size = settings.runtime.grpc_max_message_bytes
    return [
        ("grpc.max_send_message_length", size),
        ("grpc.max_receive_message_length", size),
        ("grpc.keepalive_time_ms", _KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.ping_timeout_ms", 10_000),  # else a ping waits 60 s for its ack
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Host server options: it must accept the workers' keepalive pings or it cuts them off, and pings them
    itself, so that a worker whose node vanished (no FIN, no RST) is dropped in ~15 s, not TCP's hours."""
    size = settings.runtime.grpc_max_message_bytes
    return [
        ("grpc.max_send_message_length", size),
        ("grpc.max_receive_message_length", size),
        ("grpc.keepalive_time_ms", _HOST_KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", _HOST_KEEPALIVE_MS // 2),
        ("grpc.http2.ping_timeout_ms", _HOST_KEEPALIVE_MS // 2),  # else a ping waits 60 s for its ack
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", _KEEPALIVE_MS // 2),
        ("grpc.http2.max_ping_strikes", 0),
    ]


@contextlib.asynccontextmanager
async def open_grpc_worker(
    settings: Settings, *, on_host_lost: Callable[[], None] | None = None
) -> AsyncIterator[GrpcWorkerAgentRuntime]:
    """A started gRPC worker runtime connected to ``settings.runtime.host_address``.

    Raises:
        RuntimeUnavailable: the host did not answer within ``timeouts.startup``.
        RuntimeError: a wire type has no serializer (a bug: the message names it).
    """
    quiet_engine_logs(settings)
    runtime = GrpcWorkerAgentRuntime(settings.runtime.host_address, extra_grpc_config=channel_options(settings))
    _engine.install_bounded_subscriptions(runtime)
    _engine.install_always_answer(runtime)
    _engine.count_requests(runtime, ChatRequest.__name__)
    if not settings.runtime.tracing:
        _engine.untraced(runtime)
    register_wire_types(runtime)
    check_serializers(runtime)
    await _start_with_backoff(runtime, settings)
    lost = on_host_lost or _host_lost_action(settings)
    watchdog = asyncio.create_task(_watch_host(runtime, settings, lost), name="agenthost-grpc-watchdog")
    try:
        yield runtime
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        await _drain(runtime, settings.timeouts.shutdown)
        await _engine.stop_worker(runtime, settings.timeouts.shutdown)


def check_serializers(runtime: GrpcWorkerAgentRuntime) -> None:
    missing = _engine.missing_serializers(runtime, WIRE_TYPES)
    if missing:
        raise RuntimeError(
            f"no serializer for wire types {missing} on the gRPC runtime: a caller would hang on them; "
            "add them to host.serialization.WIRE_TYPES"
        )


async def _start_with_backoff(runtime: GrpcWorkerAgentRuntime, settings: Settings) -> None:
    address, budget = settings.runtime.host_address, settings.timeouts.startup
    deadline = time.monotonic() + budget
    delay, attempt = 0.1, 0
    while True:
        attempt += 1
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                await runtime.start()
            logger.info("connected to the gRPC host at %s (attempt %d)", address, attempt)
            return
        except Exception as exc:  # grpc.aio.AioRpcError (UNAVAILABLE) or our timeout
            if time.monotonic() + delay >= deadline:
                raise RuntimeUnavailable(
                    f"could not reach the gRPC host at {address} within {budget:g} s "
                    f"({attempt} attempts, last: {_short(exc)}); is `agenthost grpc-host` running there? "
                    "(AGENTHOST_RUNTIME__HOST_ADDRESS, AGENTHOST_TIMEOUTS__STARTUP)"
                ) from None
            logger.info("gRPC host at %s not up yet (%s); retrying in %.1f s", address, _short(exc), delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def _watch_host(runtime: GrpcWorkerAgentRuntime, settings: Settings, on_lost: Callable[[], None]) -> None:
    stream = _engine.host_connection_task(runtime)
    while not stream.done():
        await asyncio.wait({stream}, timeout=_WATCH_PERIOD)
        _engine.prune_pending_requests(runtime)
    cause = "end of stream" if stream.cancelled() or stream.exception() is None else _short(stream.exception())
    message = f"lost the connection to the gRPC host at {settings.runtime.host_address} ({cause})"
    failed = _engine.fail_pending_requests(runtime, RuntimeUnavailable(message))
    logger.critical("%s; failed %d pending requests; the engine never reconnects", message, failed)
    on_lost()


def _host_lost_action(settings: Settings) -> Callable[[], None]:
    if not settings.runtime.exit_on_host_loss:
        return lambda: None

    def exit_soon() -> None:
        # Give the callers just failed a moment to write their error responses, then let the supervisor restart us.
        asyncio.get_running_loop().call_later(0.5, _exit_now)

    return exit_soon


def _exit_now() -> None:
    logger.critical("exiting with code %d so that a supervisor restarts this process", EXIT_HOST_LOST)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_HOST_LOST)


async def _drain(runtime: GrpcWorkerAgentRuntime, seconds: float) -> None:
    """Let in-flight messages finish within ``seconds``, then cancel what is left."""
    deadline = time.monotonic() + seconds
    while (tasks := _engine.inflight_tasks(runtime)) and (left := deadline - time.monotonic()) > 0:
        logger.info("draining %d in-flight messages (up to %.1f s)", len(tasks), left)
        await asyncio.wait(tasks, timeout=left)
    for task in _engine.inflight_tasks(runtime):
        task.cancel()


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    details = getattr(exc, "details", None)
    text = details() if callable(details) else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
