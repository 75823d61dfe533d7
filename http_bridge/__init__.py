"""The aiohttp bridge: native chat API, SSE, OpenAI-compatible facade, errors and docs.

Example:
    >>> from http_bridge import create_app, serve
    >>> serve(Settings())  # what ``agenthost serve`` runs
"""

from .app import create_app
from .errors import ApiError, error_middleware
from .routes import ROUTES, Route, setup_routes
from .server import make_runner, serve, start_site
from .sse import SSEWriter, StreamRegistry

__all__ = [
    "ROUTES",
    "ApiError",
    "Route",
    "SSEWriter",
    "StreamRegistry",
    "create_app",
    "error_middleware",
    "make_runner",
    "serve",
    "setup_routes",
    "start_site",
]
