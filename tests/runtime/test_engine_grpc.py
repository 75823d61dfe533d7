"""``host._engine``'s gRPC helpers against the pinned engine: these fail loudly if autogen-ext moves them."""

from __future__ import annotations

import asyncio

import pytest
from autogen_core import try_get_known_serializers_for_type
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

from agenthost import _engine
from agenthost.messages import ChatRequest
from agenthost.runtime.grpc_worker_runtime import check_serializers
from agenthost.serialization import WIRE_TYPES, register_wire_types


def test_serializer_self_check_names_the_missing_type() -> None:
    runtime = GrpcWorkerAgentRuntime("127.0.0.1:1")
    runtime.add_message_serializer(try_get_known_serializers_for_type(ChatRequest))
    with pytest.raises(RuntimeError, match=r"no serializer for wire types \['ChatReply'"):
        check_serializers(runtime)
    register_wire_types(runtime)
    check_serializers(runtime)
    assert _engine.missing_serializers(runtime, WIRE_TYPES) == []


async def test_pending_requests_are_failed_and_pruned() -> None:
    runtime = GrpcWorkerAgentRuntime("127.0.0.1:1")
    loop = asyncio.get_running_loop()
    waiting, timed_out = loop.create_future(), loop.create_future()
    timed_out.cancel()
    runtime._pending_requests.update({"1": waiting, "2": timed_out})
    assert _engine.prune_pending_requests(runtime) == 1
    assert _engine.fail_pending_requests(runtime, RuntimeError("host gone")) == 1
    with pytest.raises(RuntimeError, match="host gone"):
        await waiting
    assert _engine.inflight_tasks(runtime) == set()


def test_unstarted_worker_has_no_host_stream() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _engine.host_connection_task(GrpcWorkerAgentRuntime("127.0.0.1:1"))


def test_moved_internals_fail_loudly() -> None:
    with pytest.raises(RuntimeError, match="agenthost expects autogen-core"):
        _engine.host_connection_task(object())


def test_request_counts_and_host_calls_need_a_started_runtime() -> None:
    runtime = GrpcWorkerAgentRuntime("127.0.0.1:1")
    assert _engine.request_counts(runtime).served == {}
    counts = _engine.count_requests(runtime, "ChatRequest")
    assert _engine.request_counts(runtime) is counts
    with pytest.raises(RuntimeError, match="not started"):
        _engine.host_client_id(runtime)
