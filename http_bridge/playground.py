"""The playground: a page for browsers at ``/`` to chat with the agents, shipped as plain files in ``static/``.

A browser asking for ``/`` (``Accept`` preferring ``text/html``) gets ``playground.html``; every other client
keeps the JSON service info. The page is plain HTML, CSS and JavaScript (no framework, no CDN, no build step)
and talks to the native API like any client: ``GET /api/agents``, then ``POST /api/chat/stream``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

__all__ = ["STATIC", "asset", "page", "wants_html"]

STATIC = Path(__file__).parent / "static"
_TYPES = {  # not guessed: the system's MIME table varies (application/javascript or text/javascript)
    "playground.html": "text/html; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}
# The page runs only its own files and talks only to this server: nothing inline, nothing from elsewhere.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidate (ETag), so an upgraded server is seen at once
}


def _quality(accept: str, media_type: str) -> float:
    """The ``q`` that ``accept`` gives ``media_type``: from its most specific matching range, else 0."""
    best, level = 0.0, -1
    for part in accept.split(","):
        kind, *params = (piece.strip() for piece in part.split(";"))
        match = {media_type: 2, media_type.split("/")[0] + "/*": 1, "*/*": 0}.get(kind.lower(), -1)
        if match > level:
            best, level = _q(params), match
    return best


def _q(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def wants_html(accept: str) -> bool:
    """Whether an ``Accept`` header prefers HTML to JSON: a browser's does; ``*/*``, JSON or none do not.

    Example:
        >>> wants_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        True
        >>> wants_html("*/*")
        False
    """
    return _quality(accept, "text/html") > _quality(accept, "application/json")


def page(request: web.Request) -> web.FileResponse:
    """The playground page (``/`` for browsers)."""
    headers = {**_HEADERS, "Content-Type": _TYPES["playground.html"], "Vary": "Accept"}
    return web.FileResponse(STATIC / "playground.html", headers=headers)


async def asset(request: web.Request) -> web.FileResponse:
    """``GET /playground/static/{name}``: the page's script and style sheet."""
    name = request.match_info["name"]
    if name not in _TYPES or name == "playground.html":
        raise web.HTTPNotFound(text=f"no playground asset named {name!r}")
    return web.FileResponse(STATIC / name, headers={**_HEADERS, "Content-Type": _TYPES[name]})
