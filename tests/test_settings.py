"""Settings come from the environment, a .env file and a secrets directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agenthost import ModelNotConfigured, Settings
from agenthost.http_bridge.auth import load_api_keys
from agenthost.models.provider import ModelProvider, resolve_provider
from agenthost.models.scoped import ScopedModelClient


def test_environment_with_prefix_and_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTHOST_MODEL__BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("AGENTHOST_MODEL__NAME", "llama3.2")
    monkeypatch.setenv("AGENTHOST_MODEL__INFO__FUNCTION_CALLING", "false")
    monkeypatch.setenv("AGENTHOST_HTTP__PORT", "9001")
    monkeypatch.setenv("AGENTHOST_TIMEOUTS__REQUEST", "12.5")
    settings = Settings()
    assert settings.model.base_url == "http://127.0.0.1:11434/v1"
    assert settings.model.info is not None
    assert settings.model.info.function_calling is False
    assert (settings.http.port, settings.timeouts.request) == (9001, 12.5)
    assert resolve_provider(settings.model) == "openai"


def test_dotenv_file_and_openai_key_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AGENTHOST_DEFAULT_AGENT=echo\nAGENTHOST_STATE__STORE=sqlite\n")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    settings = Settings()
    assert settings.default_agent == "echo"
    assert settings.state.store == "sqlite"
    assert settings.model.api_key is not None
    assert settings.model.api_key.get_secret_value() == "sk-from-env"
    assert "sk-from-env" not in repr(settings)


def test_own_key_wins_over_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-conventional")
    monkeypatch.setenv("AGENTHOST_MODEL__API_KEY", "sk-ours")
    assert Settings().model.api_key.get_secret_value() == "sk-ours"  # type: ignore[union-attr]


def test_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "agenthost_model__api_key").write_text("sk-from-secret-volume")
    (tmp_path / "api_keys").write_text("# bearer keys, one per line\nk-from-file\n")
    settings = Settings(_secrets_dir=tmp_path)
    assert settings.model.api_key is not None
    assert settings.model.api_key.get_secret_value() == "sk-from-secret-volume"
    assert settings.secrets_path == tmp_path  # _secrets_dir= reaches the HTTP keys file too
    assert load_api_keys(settings) == frozenset({"k-from-file"})


def test_settings_are_frozen_and_validated() -> None:
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.default_agent = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="port"):
        Settings(http={"port": 70000})


def test_component_config_backend(tmp_path: Path) -> None:
    config = tmp_path / "model.json"
    config.write_text(
        '{"provider": "autogen_ext.models.replay.ReplayChatCompletionClient",'
        ' "config": {"chat_completions": ["hello from a component"]}}'
    )
    provider = ModelProvider(Settings(model={"component_config": str(config)}).model)
    assert provider.provider == "component"
    client = provider.get()
    assert isinstance(client, ScopedModelClient)  # every backend is wrapped to apply per-turn options
    assert type(client.inner).__name__ == "ReplayChatCompletionClient"


def test_no_backend_names_the_setting() -> None:
    provider = ModelProvider(Settings(model={"provider": "none"}).model)
    assert not provider.configured
    with pytest.raises(ModelNotConfigured, match="AGENTHOST_MODEL__BASE_URL"):
        provider.get()
