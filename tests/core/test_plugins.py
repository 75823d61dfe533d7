"""Plugin sources: the built-in package, plugin folders (add_agent at import), entry points."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core.model_context import ChatCompletionContext
from autogen_ext.models.replay import ReplayChatCompletionClient

from agenthost import AgentHost, AgentRegistry, Settings, get_default_model
from agenthost.core.plugins import ENTRY_POINT_GROUP
from agenthost.errors import AgentNotFound, ModelNotConfigured
from tests.fakes import FakeOpenAI

PLUGIN = '''
from autogen_agentchat.agents import AssistantAgent
from agenthost import add_agent, get_default_model, model_context

def create_agent(user_message, context):
    """Answers like a pirate."""
    return AssistantAgent("pirate", model_client=get_default_model(), model_context=model_context(context),
                          system_message="Talk like a pirate.", model_client_stream=True)

add_agent("pirate", create_agent)
'''


async def test_folder_plugin_with_add_agent(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "pirate.py").write_text(PLUGIN)
    (folder / "_private.py").write_text("raise RuntimeError('not loaded')")
    settings = make_settings(fake_openai, plugin_dirs=[str(folder)])
    for _ in range(2):  # a second host loads the same file afresh
        async with AgentHost(settings) as host:
            assert host.registry.get("pirate") is not None
            assert host.registry.get("pirate").description == "Answers like a pirate."  # type: ignore[union-attr]
            reply = await host.chat("pirate", "ahoy")
    assert reply.content == "You said: ahoy"
    assert fake_openai.requests[-1]["messages"][0] == {"role": "system", "content": "Talk like a pirate."}


def test_missing_plugin_folder_is_a_clear_error(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    from agenthost.core.plugins import load_plugins
    from agenthost.errors import ConfigError
    from agenthost.models.provider import ModelProvider

    settings = make_settings(plugin_dirs=[str(tmp_path / "nope")])
    with pytest.raises(ConfigError, match=r"AGENTHOST_PLUGIN_DIRS: the plugin folder .*nope does not exist"):
        load_plugins(AgentRegistry(), settings, ModelProvider(settings.model))


async def test_entry_point_plugins(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "ep_plugin").mkdir(parents=True)
    (site / "ep_plugin" / "__init__.py").write_text(
        "from agents.echo import EchoAgent\n"
        "def setup(registry):\n    registry.add_hosted('ep-echo', EchoAgent, 'echo from an entry point')\n"
    )
    dist = site / "ep_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nep = ep_plugin:setup\n")
    monkeypatch.syspath_prepend(str(site))
    async with AgentHost(make_settings(entry_points=True)) as host:
        assert (await host.chat("ep-echo", "via entry point")).content == "via entry point"


async def test_agents_setting_selects_and_unknown_agent_is_not_found(make_settings: Callable[..., Settings]) -> None:
    async with AgentHost(make_settings(agents=["echo"])) as host:
        assert [spec.name for spec in host.agents()] == ["echo"]
        with pytest.raises(AgentNotFound, match="known agents: echo"):
            await host.chat("assistant", "hi")


async def test_replay_client_through_the_generic_adapter(make_settings: Callable[..., Settings]) -> None:
    replay = ReplayChatCompletionClient(["first scripted answer", "second scripted answer"])

    def create_agent(user_message: str, context: ChatCompletionContext) -> AssistantAgent:
        return AssistantAgent("scripted", model_client=replay, model_client_stream=True)

    registry = AgentRegistry()
    registry.add_agent("scripted", create_agent, "replays a script")
    async with AgentHost(make_settings(), registry=registry) as host:
        events = [e async for e in host.stream("scripted", "go", conversation_id="r-1")]
        second = await host.chat("scripted", "again", conversation_id="r-1")
    assert "".join(e.data["content"] for e in events if e.kind == "chunk") == "first scripted answer"
    assert events[-1].data["message"] == "first scripted answer"
    assert second.content == "second scripted answer"


async def test_get_default_model_is_one_shared_client(
    fake_openai: FakeOpenAI, make_settings: Callable[..., Settings]
) -> None:
    async with AgentHost(make_settings(fake_openai)) as host:
        assert get_default_model() is get_default_model() is host.models.get()
    with pytest.raises(ModelNotConfigured):
        get_default_model()
