"""The web dashboard: a static page and its script, served by the API itself at ``/``.

Nothing is built and nothing loads from elsewhere: the HTML, CSS and JavaScript (plain ES modules, no
framework) ship inside the package, and a Content-Security-Policy keeps the page to its own origin.
The page asks for an API key, keeps it in the tab's sessionStorage (never in a URL or a cookie), and
talks to the same REST API and WebSocket feed as any other client, so it sees exactly what its key may.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import Response

STATIC = resources.files("serve_apps.dashboard").joinpath("static")
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _file(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    entry = STATIC.joinpath(name)
    if suffix not in MEDIA_TYPES or "/" in name or not entry.is_file():
        raise HTTPException(404)
    return Response(entry.read_bytes(), media_type=MEDIA_TYPES[suffix], headers=HEADERS)


@router.get("/")
def index() -> Response:
    return _file("index.html")


@router.get("/dashboard/{name}")
def asset(name: str) -> Response:
    return _file(name)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: the page at ``/``, its files under ``/dashboard/``."""
    app.include_router(router)
