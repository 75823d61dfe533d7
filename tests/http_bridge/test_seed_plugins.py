"""Plugin files written for the seed agent server, unchanged, through the OpenAI facade and the ``openai`` SDK.

The files in ``tests/core/seed_plugins`` follow that server's contract: ``from registry import
add_agent, get_default_model``, ``create_agent(user_message, context)`` with ``context`` an AutoGen
``ChatCompletionContext`` passed straight on as ``model_context=context``, and ``from config import
settings``. The fake backend records what the model was sent.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openai import AsyncOpenAI

from agenthost import Settings
from agenthost.http_bridge import create_app
from tests.fakes import FakeOpenAI, FakeReply, ToolCall

SEED_PLUGINS = Path(__file__).resolve().parents[1] / "core" / "seed_plugins"
HISTORY: list[Any] = [
    {"role": "user", "content": "My name is Ada."},
    {"role": "assistant", "content": "Hello Ada!"},
    {"role": "user", "content": "What is my name?"},
]

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def seed_sdk(
    aiohttp_client: Callable[..., Awaitable[Client]],
    make_settings: Callable[..., Settings],
    fake_openai: FakeOpenAI,
) -> AsyncIterator[AsyncOpenAI]:
    # titler answers "### Task:" prompts itself, as on the seed server: the setting hands them to the agent.
    settings = make_settings(
        fake_openai, plugin_dirs=[str(SEED_PLUGINS)], builtin_agents=False, openai={"task_prompts": "agent"}
    )
    client = await aiohttp_client(create_app(settings))
    async with AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key="x", max_retries=0, timeout=20) as sdk:
        yield sdk


def sent(fake: FakeOpenAI, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of each message the model got in request ``index``."""
    return [(m["role"], m.get("content") or "") for m in fake.requests[index]["messages"]]


async def test_seed_plugins_are_the_models(seed_sdk: AsyncOpenAI) -> None:
    names = sorted([model.id async for model in seed_sdk.models.list()])
    assert names == ["historian", "titler", "vault"]


async def test_the_prior_history_reaches_the_model_through_the_context(
    seed_sdk: AsyncOpenAI, fake_openai: FakeOpenAI
) -> None:
    reply = await seed_sdk.chat.completions.create(model="historian", messages=HISTORY)
    assert reply.choices[0].message.content == "You said: What is my name?"
    assert sent(fake_openai) == [
        ("system", "You remember everything the user told you."),
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada!"),
        ("user", "What is my name?"),
    ]


async def test_streaming_a_seed_plugin(seed_sdk: AsyncOpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.add(FakeReply(content="Your name is Ada.", chunk_size=3, chunk_delay=0.02))  # a model paces tokens
    stream = await seed_sdk.chat.completions.create(model="historian", messages=HISTORY, stream=True)
    pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert len([piece for piece in pieces if piece]) >= 5  # token by token, not one blob
    assert "".join(piece or "" for piece in pieces) == "Your name is Ada."
    assert fake_openai.requests[-1]["stream"] is True


@pytest.mark.parametrize(
    ("password", "tool_says"), [("kumquat!", "The vault holds 'a brass key'"), ("fig", "Wrong password")]
)
async def test_tool_use_with_reflection(
    seed_sdk: AsyncOpenAI, fake_openai: FakeOpenAI, password: str, tool_says: str
) -> None:
    fake_openai.add(
        FakeReply(tool_calls=(ToolCall("open_vault", {"password": password}),)),
        FakeReply(content="Here is what happened."),
    )
    stream = await seed_sdk.chat.completions.create(
        model="vault", messages=[{"role": "user", "content": f"Try {password}"}], stream=True
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == "Here is what happened."
    assert [tool["function"]["name"] for tool in fake_openai.requests[0]["tools"]] == ["open_vault"]
    reflection = fake_openai.requests[1]["messages"]
    assert reflection[-1]["role"] == "tool"
    assert tool_says in reflection[-1]["content"]


# The plugin builds a model client per request and never closes it, as the seed server's web surfer does.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_config_settings_and_list_agents(seed_sdk: AsyncOpenAI, fake_openai: FakeOpenAI) -> None:
    reply = await seed_sdk.chat.completions.create(model="titler", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "You said: hi"
    system = sent(fake_openai)[0]
    assert system == ("system", "Model fake-model; agents: historian, titler, vault")
    assert fake_openai.requests[-1]["model"] == fake_openai.model
    await seed_sdk.chat.completions.create(
        model="titler", messages=[{"role": "user", "content": "### Task: a title for this chat"}]
    )
    assert sent(fake_openai)[0][0] == "system"  # AssistantAgent's default system message
    assert sent(fake_openai)[-1] == ("user", "### Task: a title for this chat")
    gc.collect()  # the plugin's unclosed client is reported here, under this test's filter


async def test_no_registry_or_config_module_is_left_behind(
    make_settings: Callable[..., Settings], fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agenthost import AgentHost

    mine = ModuleType("registry")
    monkeypatch.setitem(sys.modules, "registry", mine)
    monkeypatch.delitem(sys.modules, "config", raising=False)
    settings = make_settings(fake_openai, plugin_dirs=[str(SEED_PLUGINS)], builtin_agents=False)
    async with AgentHost(settings) as host:
        assert [spec.name for spec in host.agents()] == ["historian", "titler", "vault"]
    assert sys.modules["registry"] is mine  # the user's own module named registry is back
    assert "config" not in sys.modules


async def test_a_broken_plugin_file_does_not_take_the_server_down(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    (tmp_path / "broken.py").write_text("from registry import add_agent\nraise RuntimeError('half-written plugin')\n")
    settings = make_settings(plugin_dirs=[str(SEED_PLUGINS), str(tmp_path)], builtin_agents=False)
    client = await aiohttp_client(create_app(settings))
    listing = await (await client.get("/api/agents")).json()
    assert [agent["name"] for agent in listing["agents"]] == ["historian", "titler", "vault"]
