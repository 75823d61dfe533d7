"""The OpenAI client's streamed path sends what the SDK would, with or without the SDK's parameter transform."""

from __future__ import annotations

from typing import Any

import pytest
from autogen_core import FunctionCall
from autogen_core.models import AssistantMessage, CreateResult, FunctionExecutionResult, FunctionExecutionResultMessage
from autogen_core.models import SystemMessage, UserMessage
from autogen_core.tools import FunctionTool

from agenthost import _engine
from agenthost.models.openai_client import UsageStreamingOpenAIClient
from tests.fakes import FakeOpenAI, FakeReply

MODEL_INFO = {"vision": True, "function_calling": True, "json_output": True, "family": "unknown", "structured_output": True}

# Headers that differ between any two requests, whichever path sent them.
VOLATILE = {"x-stainless-retry-count", "x-stainless-read-timeout", "content-length", "x-stainless-async"}


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


MESSAGES = [
    SystemMessage(content="You are terse."),
    UserMessage(content="What is the weather in Paris?", source="user"),
    AssistantMessage(content=[FunctionCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')], source="a"),
    FunctionExecutionResultMessage(
        content=[FunctionExecutionResult(call_id="call_1", content="sunny", name="get_weather", is_error=False)]
    ),
    UserMessage(content="And now, in one word?", source="user"),
]


async def _stream(fake: FakeOpenAI, **create: Any) -> tuple[dict[str, Any], dict[str, str], CreateResult]:
    client = UsageStreamingOpenAIClient(model="fake-model", base_url=fake.base_url, api_key="k", model_info=MODEL_INFO)
    fake.add(FakeReply(content="Sunny."))
    try:
        items = [item async for item in client.create_stream(MESSAGES, **create)]
    finally:
        await client.close()
    result = items[-1]
    assert isinstance(result, CreateResult)
    headers = {k.lower(): v for k, v in fake.headers[-1].items() if k.lower() not in VOLATILE}
    return fake.requests[-1], headers, result


@pytest.mark.parametrize(
    ("create", "fast"),
    [
        ({}, True),
        ({"tools": [FunctionTool(get_weather, description="The weather in a city.")], "tool_choice": "auto"}, True),
        ({"json_output": True, "extra_create_args": {"temperature": 0.2, "max_tokens": 40, "seed": 7, "stop": ["x"]}}, True),
        ({"extra_create_args": {"timeout": 9.0, "extra_body": {"x": 1}}}, True),
        ({"extra_create_args": {"stop": ("a", "b"), "user": "u1"}}, False),  # a tuple is not plain JSON: the SDK path
    ],
    ids=["plain", "tools", "json-and-options", "request-options", "tuple"],
)
async def test_the_fast_body_is_the_sdk_body(create: dict[str, Any], fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = []
    post = _engine.openai._post
    monkeypatch.setattr(_engine.openai, "_post", lambda *args: sent.append(1) or post(*args))
    async with FakeOpenAI() as fake:
        fast_body, fast_headers, ours = await _stream(fake, **create)
        assert len(sent) == int(fast)
        monkeypatch.setattr(_engine.openai, "_body_keys", lambda: None)  # as if a key were aliased: the SDK path
        sdk_body, sdk_headers, sdk = await _stream(fake, **create)
        assert len(sent) == int(fast)
    assert fast_body == sdk_body
    assert fast_headers == sdk_headers
    assert (ours.content, ours.usage, ours.finish_reason) == (sdk.content, sdk.usage, sdk.finish_reason)
    assert (ours.content, ours.finish_reason, ours.usage.completion_tokens) == ("Sunny.", "stop", 7)
    assert fast_body["stream_options"] == {"include_usage": True}
    if "extra_create_args" in create and "timeout" in create["extra_create_args"]:
        assert fast_body["x"] == 1
        assert "timeout" not in fast_body
    if "tools" in create:
        assert fast_body["tools"][0]["function"]["name"] == "get_weather"


def test_the_streamed_create_params_have_no_aliased_or_formatted_key() -> None:
    """If an SDK release aliases a key, every request takes the SDK's transform (correct, slower): this says so."""
    keys = _engine.openai._body_keys()
    assert keys is not None and {"messages", "model", "stream", "tools", "stream_options"} <= keys
