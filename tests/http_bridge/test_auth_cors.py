"""Optional API keys guard both APIs (health and readiness stay open); CORS with an allowlist."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
from pydantic import ValidationError

from agenthost import Settings
from agenthost.errors import ConfigError
from agenthost.http_bridge.auth import load_api_keys
from tests.cluster import Cluster, free_port

from .conftest import MakeClient, openai_for

ORIGIN = "https://app.example"


async def test_api_keys_guard_both_apis(make_client: MakeClient) -> None:
    client = await make_client(http={"api_keys": ["k1", "k2"]})
    for path in ("/health", "/ready", "/openapi.json", "/docs"):
        assert (await client.get(path)).status == 200, path
    denied = await client.get("/api/agents")
    assert denied.status == 401
    assert denied.headers["WWW-Authenticate"] == "Bearer"
    assert (await denied.json())["error"]["code"] == "invalid_api_key"
    wrong = await client.post(
        "/api/chat", json={"message": "hi", "agent": "echo"}, headers={"Authorization": "Bearer k3"}
    )
    assert wrong.status == 401
    ok = await client.post("/api/chat", json={"message": "hi", "agent": "echo"}, headers={"Authorization": "Bearer k2"})
    assert ok.status == 200


async def test_the_sdk_sees_authentication_errors(make_client: MakeClient) -> None:
    client = await make_client(http={"api_keys": ["k1"]})
    async with openai_for(client, api_key="wrong") as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.models.list()
    assert caught.value.code == "invalid_api_key"
    async with openai_for(client, api_key="k1") as sdk:
        completion = await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "hi"


def test_api_keys_from_a_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "api_keys").write_text("# bridge keys\nfile-key\n\n", encoding="utf-8")
    monkeypatch.setitem(Settings.model_config, "secrets_dir", str(tmp_path))
    keys = load_api_keys(Settings(http={"api_keys": ["env-key"]}))
    assert keys == {"file-key", "env-key"}


async def test_cors_preflight_and_actual_request(make_client: MakeClient) -> None:
    client = await make_client(http={"cors_origins": [ORIGIN], "api_keys": ["k1"]})
    preflight = await client.options(
        "/api/chat",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    headers = {"Origin": ORIGIN, "Authorization": "Bearer k1"}
    actual = await client.post("/api/chat/stream", json={"message": "hi", "agent": "echo"}, headers=headers)
    assert actual.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Request-ID" in actual.headers["Access-Control-Expose-Headers"]
    await actual.read()
    error = await client.get("/api/agents", headers={"Origin": ORIGIN})
    assert error.status == 401
    assert error.headers["Access-Control-Allow-Origin"] == ORIGIN  # browsers can read the error


async def test_cors_refuses_other_origins(make_client: MakeClient) -> None:
    client = await make_client(http={"cors_origins": [ORIGIN]})
    evil = "https://evil.example"
    preflight = await client.options("/api/chat", headers={"Origin": evil, "Access-Control-Request-Method": "POST"})
    assert preflight.status == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    actual = await client.get("/api/agents", headers={"Origin": evil})
    assert actual.status == 200
    assert "Access-Control-Allow-Origin" not in actual.headers


async def test_cors_wildcard_and_disabled(make_client: MakeClient) -> None:
    anyone = await make_client(http={"cors_origins": ["*"]})
    response = await anyone.get("/v1/models", headers={"Origin": "https://x.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://x.example"
    closed = await make_client()
    assert "Access-Control-Allow-Origin" not in (await closed.get("/v1/models", headers={"Origin": ORIGIN})).headers


def test_a_keys_file_without_keys_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "api_keys").write_text("# the keys go here\n\n   \n", encoding="utf-8")
    monkeypatch.setitem(Settings.model_config, "secrets_dir", str(tmp_path))
    with pytest.raises(ConfigError, match="holds no API key"):
        load_api_keys(Settings())


@pytest.mark.parametrize("keys", [[""], ["  "], ["good-key", ""], ["with space"]])
def test_a_blank_key_is_a_configuration_error(keys: list[str]) -> None:
    with pytest.raises(ValidationError, match="api_keys"):
        Settings(http={"api_keys": keys})


@pytest.mark.slow
async def test_auth_cannot_be_silently_off(cluster: Cluster, tmp_path: Path) -> None:
    blank = await cluster.spawn("blank", "serve", "--port", str(free_port()), env={"AGENTHOST_HTTP__API_KEYS": '[""]'})
    assert await blank.wait(30) == 2
    assert "AGENTHOST_HTTP__API_KEYS" in blank.text()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "api_keys").write_text("# nothing yet\n", encoding="utf-8")
    empty_file = await cluster.spawn(
        "empty-file", "serve", "--port", str(free_port()), env={"AGENTHOST_SECRETS_DIR": str(secrets)}
    )
    assert await empty_file.wait(30) == 2
    assert "holds no API key" in empty_file.text()

    local = await cluster.start_server(free_port())
    assert "API keys: off" in local.text()
    assert "WARNING" not in local.text()
    everywhere = await cluster.spawn("everywhere", "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    await everywhere.wait_for_log("agenthost listening on")
    await everywhere.wait_for_log("with API keys off")
    assert re.search(r"WARNING .* listening on 0\.0\.0\.0 with API keys off", everywhere.text())
    keyed = await cluster.start_server(free_port(), {"AGENTHOST_HTTP__API_KEYS": '["k-0123456789"]'})
    assert "API keys: on (1 keys)" in keyed.text()
