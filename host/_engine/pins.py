"""Every upstream function or class an engine patch forks, wraps or relies on, pinned by a hash of its source.

If the engine changes any of them (a new autogen release, even a patch one), the
test that compares these hashes fails and names what to re-read before the new
version is pinned. :func:`changed` lists the pins whose source no longer matches.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect

__all__ = ["PINS", "changed", "source_hash"]

_CORE = "autogen_core._single_threaded_agent_runtime.SingleThreadedAgentRuntime"
_WORKER = "autogen_ext.runtimes.grpc._worker_runtime"
_HOST = "autogen_ext.runtimes.grpc._worker_runtime_host_servicer"
_SERVICER = f"{_HOST}.GrpcWorkerAgentRuntimeHostServicer"

PINS: dict[str, str] = {
    # subscriptions.BoundedSubscriptionManager subclasses it and relies on _subscriptions
    "autogen_core._runtime_impl_helpers.SubscriptionManager": "6f8d197954318aee",
    # local.dispatch_in_batches: the one asyncio.sleep(0) and the MessageEvent records of the dispatch loop
    f"{_CORE}._process_next": "5052e05f41399576",
    f"{_CORE}._process_send": "8486a78fe07f93ef",
    f"{_CORE}._process_publish": "e85d67a90f534bf5",
    # local.lean_delivery forks send_message, _process_send, publish_message and _process_publish, builds the same
    # envelopes, resolves answers as _process_response does and, when nothing is queued, starts the task
    # _process_next would, counting it as the queue does (put_nowait: the queue is unbounded)
    f"{_CORE}.send_message": "a06b49e8d60b1e43",
    f"{_CORE}.publish_message": "0a60d866ab0e0fb3",
    "autogen_core._single_threaded_agent_runtime.SendMessageEnvelope": "f3c173a74a15bcbd",
    "autogen_core._single_threaded_agent_runtime.ResponseMessageEnvelope": "46ad9b7c563f0823",
    "autogen_core._single_threaded_agent_runtime.PublishMessageEnvelope": "b2f73e2e14e44d73",
    "autogen_core._queue.Queue.put": "6c34b1e1a201ba35",
    "autogen_core._queue.Queue.put_nowait": "fb3a2c36b1288ce0",
    "autogen_core._queue.Queue.task_done": "c835af4a3035a79f",
    "autogen_core._queue.Queue.__init__": "afa93a585eabb818",
    f"{_CORE}._process_response": "c1ee4b3e00ef6ded",
    # local.untraced / serialize_only_when_logged / evict_instance: attribute names set in __init__
    f"{_CORE}.__init__": "f2c60792afd083af",
    f"{_CORE}._try_serialize": "7fbddadea4f8681e",
    f"{_CORE}._create_otel_attributes": "1763d158669abce5",
    f"{_CORE}._get_agent": "40a33e2933368f88",
    # grpc_worker: the host connection (its channel, client id, metadata), pending requests, background tasks,
    # _process_request (wrapped twice: always answer, count requests)
    f"{_WORKER}.GrpcWorkerAgentRuntime.__init__": "aa121ee2623acd3f",
    f"{_WORKER}.GrpcWorkerAgentRuntime._process_request": "da0fddce7e5ed210",
    f"{_WORKER}.GrpcWorkerAgentRuntime.stop": "6aecddd4a62345d0",
    f"{_WORKER}.HostConnection": "3ff55a20d2cf809e",
    # grpc_host.RoutingHostServicer subclasses it: RegisterAgent, Add/RemoveSubscription, _process_request,
    # _process_event and _on_client_disconnect replaced; OpenChannel's cleanup order (connection deleted, pending
    # futures cancelled, then _on_client_disconnect) and _process_response relied on
    _SERVICER: "224fb19c22ea99e3",
    f"{_HOST}.ChannelConnection": "8642eb665d420d84",
    f"{_HOST}.get_client_id_or_abort": "1e49236403941751",
    "autogen_ext.runtimes.grpc._utils.subscription_from_proto": "aed5abb1a32b2103",
    # grpc_host.add_to_server: the methods are bound when the servicer is added, not looked up per call
    "autogen_ext.runtimes.grpc.protos.agent_worker_pb2_grpc.add_AgentRpcServicer_to_server": "baf5eb58dc730323",
    # grpc_host._SharedSubscriptions: equal subscriptions from two workers are one (same types, any id)
    "autogen_core._type_subscription.TypeSubscription.__eq__": "2c5d224b6a2d1f1a",
    "autogen_core._type_prefix_subscription.TypePrefixSubscription.__eq__": "559525af7f7d81fb",
    # spans.spans_only_when_traced wraps them: context managers whose span the callers do not use
    "autogen_core._telemetry._genai.trace_create_agent_span": "aca5dfec0081a941",
    "autogen_core._telemetry._genai.trace_invoke_agent_span": "303214ea4bdf21d0",
    "autogen_core._telemetry._genai.trace_tool_span": "64bfd190effa8a55",
    # openai.stream_chunks replaces it
    "autogen_ext.models.openai._openai_client.BaseOpenAIChatCompletionClient._create_stream_chunks": "3c5bc590390ed89c",
    # openai._post repeats the request create() makes (its _post call and the streaming wrapper's header)
    "openai.resources.chat.completions.completions.AsyncCompletions.create": "2fe3a6d9a31a93c8",
    "openai._response.async_to_streamed_response_wrapper": "b521e64560e457e6",
    # openai_wire.Wire sends what these build and send, retries and fails as they do, and skips the two hooks
    "openai._base_client.AsyncAPIClient.request": "52506e6c8ba17cff",
    "openai._base_client.AsyncAPIClient._sleep_for_retry": "83c05fe88b48acd9",
    "openai._base_client.BaseClient._build_request": "23cad049a0154f76",
    "openai._base_client.BaseClient._build_headers": "c5876332cda1627e",
    "openai._vendor.httpx_aiohttp.transport.AiohttpTransport.handle_async_request": "685989131a3a46dc",
    "openai._vendor.httpx_aiohttp.transport.map_aiohttp_exceptions": "e98820cc04b9b076",
    "openai.lib._client_auth.async_prepare_options": "29662896c76abba7",
    "openai.lib._client_auth.async_prepare_request": "6ce092fc19bacbf8",
}
"""Dotted path of each pinned object -> the first 16 hex digits of the SHA-256 of its source."""


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            target = getattr(target, name)
        return target
    raise ImportError(dotted)


def source_hash(dotted: str) -> str:
    """The hash of the object's current source."""
    return hashlib.sha256(inspect.getsource(_resolve(dotted)).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def changed() -> dict[str, str]:
    """The pins whose source changed: dotted path -> the hash it has now."""
    current = {name: source_hash(name) for name in PINS}
    return {name: digest for name, digest in current.items() if digest != PINS[name]}
