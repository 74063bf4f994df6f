"""The phone web client: the page at `/` and its assets under `/static/...`.

The files live in `clients/web/` (package data of the `clients` package) and are
read through `importlib.resources`, so an installed wheel serves them as well as a
source checkout. Every asset is local: the page loads nothing from another origin.

Wire it with `mount_web(app)` (or `app.include_router(rtc.web.router)`).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.exceptions import HTTPException

router = APIRouter()

#: Asset names are flat (package data is `web/*`): letters, digits, `._-`, no leading dot.
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
#: The page must always be fresh after an upgrade; assets are small, so revalidate too.
_CACHE = "no-cache"
# The page talks only to its own origin; media capture is allowed for this origin only.
_PAGE_HEADERS = {
    "Cache-Control": _CACHE,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(self), screen-wake-lock=(self)",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


def web_root() -> Traversable:
    """The directory of the page's files (`clients/web`)."""
    return resources.files("clients") / "web"


def _load(name: str) -> bytes | None:
    entry = web_root() / name
    if not entry.is_file():
        return None
    return entry.read_bytes()


def _media_type(name: str) -> str:
    for suffix, media_type in _TYPES.items():
        if name.endswith(suffix):
            return media_type
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _serve(name: str, request: Request) -> Response:
    if not _ASSET_NAME.fullmatch(name) or ".." in name:
        raise HTTPException(404, f"no such asset: {name}")
    body = _load(name)
    if body is None:
        raise HTTPException(404, f"no such asset: {name}")
    etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
    headers = dict(_PAGE_HEADERS, ETag=etag)
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=_media_type(name))
    return Response(content=body, media_type=_media_type(name), headers=headers)


@router.api_route("/", methods=["GET", "HEAD"], name="omnilive_web_page", include_in_schema=False)
def page(request: Request) -> Response:
    return _serve("index.html", request)


@router.api_route(
    "/static/{name}", methods=["GET", "HEAD"], name="omnilive_web_static", include_in_schema=False
)
def static(name: str, request: Request) -> Response:
    return _serve(name, request)


def mount_web(app: FastAPI) -> FastAPI:
    """Serve the phone page on `app` (idempotent: a second call does nothing)."""
    if not any(getattr(r, "name", None) == "omnilive_web_page" for r in app.router.routes):
        app.include_router(router)
    return app
