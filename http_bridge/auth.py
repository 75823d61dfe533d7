"""Optional API keys: bearer tokens guard ``/api/`` and ``/v1/``; health, readiness and docs stay open.

Keys come from ``settings.http.api_keys`` (``AGENTHOST_HTTP__API_KEYS='["k1","k2"]'``) and, for
Kubernetes secret volumes, from a file ``api_keys`` (one key per line, ``#`` comments) in the settings'
secrets directory (``AGENTHOST_SECRETS_DIR``). Auth cannot be off by accident: a blank key in the
settings, or a keys file that holds no key, stops the start (:class:`~agenthost.errors.ConfigError`).

Each key is an **owner**: the conversations a request starts belong to the key it came with
(:func:`owner_of`), and another key naming the same conversation id reaches a conversation of its own.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from aiohttp import web

from agenthost.errors import ConfigError
from agenthost.settings import Settings, api_key_problem

from .errors import ApiError, Handler
from .keys import API_KEYS, OWNER

__all__ = ["GUARDED_PREFIXES", "auth_middleware", "check_auth", "load_api_keys", "owner_of", "owner_of_key"]

GUARDED_PREFIXES = ("/api/", "/v1/")
KEYS_FILE = "api_keys"


def load_api_keys(settings: Settings) -> frozenset[str]:
    """Every accepted key: from the settings and from ``<secrets_dir>/api_keys``.

    Raises:
        ConfigError: the keys file exists but holds no valid key, or a line of it is not a valid key.
    """
    keys = {key.get_secret_value() for key in settings.http.api_keys}  # blank ones are refused by Settings
    secrets_dir = settings.secrets_path
    if secrets_dir is not None and (secrets_dir / KEYS_FILE).is_file():
        keys.update(_keys_file(secrets_dir / KEYS_FILE))
    return frozenset(keys)


def _keys_file(path: Path) -> set[str]:
    found = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        problem = api_key_problem(key)
        if problem is not None:
            raise ConfigError(f"{path}, line {number}: the API key {problem}")
        found.add(key)
    if not found:
        raise ConfigError(f"{path} holds no API key; add keys (one per line) or remove the file to turn auth off")
    return found


def owner_of_key(key: str) -> str:
    """The owner of what a key creates: 16 hex digits of the key's SHA-256 (the key itself is never stored)."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def owner_of(request: web.Request) -> str | None:
    """The owner of ``request``'s conversations: its key's, or None when auth is off (one shared space)."""
    return request.get(OWNER)


def _bearer(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _matches(token: str, keys: frozenset[str]) -> bool:
    # Header bytes that are not UTF-8 arrive as surrogates: encode them back, so they simply do not match.
    given = token.encode("utf-8", "surrogateescape")
    # compare against every key, in constant time per key, so timing tells nothing about which matched
    return sum(hmac.compare_digest(given, key.encode()) for key in keys) > 0


def check_auth(request: web.Request) -> None:
    """Raise a 401 :class:`ApiError` unless ``request`` may pass; remember its owner when it may."""
    keys: frozenset[str] = request.app[API_KEYS]
    if not keys or not request.path.startswith(GUARDED_PREFIXES) or request.method == "OPTIONS":
        return
    token = _bearer(request.headers.get("Authorization", ""))
    if token is None or not _matches(token, keys):
        raise ApiError(401, "invalid_api_key", "send a valid API key as 'Authorization: Bearer <key>'")
    request[OWNER] = owner_of_key(token)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    check_auth(request)
    return await handler(request)
