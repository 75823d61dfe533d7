"""Optional API keys: bearer tokens guard ``/api/`` and ``/v1/``; health, readiness and docs stay open.

Keys come from ``settings.http.api_keys`` (``AGENTHOST_HTTP__API_KEYS='["k1","k2"]'``) and, for
Kubernetes secret volumes, from a file ``api_keys`` (one key per line) in the settings' secrets directory
(``AGENTHOST_SECRETS_DIR``).
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from agenthost.settings import Settings

from .errors import ApiError, Handler
from .keys import API_KEYS

__all__ = ["GUARDED_PREFIXES", "auth_middleware", "load_api_keys", "owner_of"]

GUARDED_PREFIXES = ("/api/", "/v1/")
KEYS_FILE = "api_keys"


def load_api_keys(settings: Settings) -> frozenset[str]:
    """Every accepted key: from the settings and from ``<secrets_dir>/api_keys``."""
    keys = {key.get_secret_value() for key in settings.http.api_keys}
    secrets_dir = settings.secrets_path
    if secrets_dir is not None and (secrets_dir / KEYS_FILE).is_file():
        lines = (secrets_dir / KEYS_FILE).read_text(encoding="utf-8").splitlines()
        keys.update(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    return frozenset(key for key in keys if key)


def owner_of(request: web.Request) -> str | None:
    """Who owns what this request starts: a hash of its API key (None when auth is off).

    Runs (and conversations) are reachable only by the key that started them.
    """
    if not request.app[API_KEYS]:
        return None
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    return hashlib.sha256(token.strip().encode()).hexdigest()[:16]


def _authorized(header: str, keys: frozenset[str]) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    given = token.strip().encode()
    # compare against every key, in constant time per key, so timing tells nothing about which matched
    return sum(hmac.compare_digest(given, key.encode()) for key in keys) > 0


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    keys: frozenset[str] = request.app[API_KEYS]
    guarded = keys and request.path.startswith(GUARDED_PREFIXES) and request.method != "OPTIONS"
    if guarded and not _authorized(request.headers.get("Authorization", ""), keys):
        raise ApiError(401, "invalid_api_key", "send a valid API key as 'Authorization: Bearer <key>'")
    return await handler(request)
