"""The web client's static files and the HTTP answers for them, without I/O.

Files ship inside the package and are read once, at start: each is served
with its content type, an ETag (so a browser revalidates with a 304 instead
of downloading again) and the security headers every page of ours carries.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Final

from .http1 import HttpResponse

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["StaticFile", "load_static", "respond", "security_headers"]

CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
#: Revalidate every time (cheap with the ETag), so an upgraded server never
#: runs next to an old cached client.
CACHE_CONTROL: Final = "no-cache"
#: What a Host header may hold to be echoed into the CSP (no spaces or ``;``).
_HOST: Final = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str
    #: A strong validator: the quoted start of the body's SHA-256.
    etag: str


def load_static(package: str = "triochat._web", folder: str = "static") -> dict[str, StaticFile]:
    """Every file of the web client by its URL path (``/`` is ``index.html``)."""
    files: dict[str, StaticFile] = {}
    root = resources.files(package).joinpath(folder)
    for entry in root.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if not entry.is_file() or suffix not in CONTENT_TYPES:
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        files["/" + entry.name] = StaticFile(body, CONTENT_TYPES[suffix], etag)
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    return files


def security_headers(host: str | None) -> list[tuple[str, str]]:
    """Headers for every response: a strict CSP, no sniffing, no framing, no referrer.

    ``connect-src`` names the WebSocket of this very host as well as
    ``'self'``, since browsers older than CSP 3 do not count ws: as self.
    """
    connect = "'self'"
    if host is not None and _HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        f" connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'none';"
        " frame-ancestors 'none'"
    )
    return [
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ]


def _plain(status: int, text: str, host: str | None) -> HttpResponse:
    body = text.encode() + b"\n"
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *security_headers(host),
    ]
    return HttpResponse(status, headers, body)


def error_response(status: int, text: str, host: str | None = None) -> HttpResponse:
    """A short plain-text answer for an error status."""
    return _plain(status, text, host)


def respond(
    files: Mapping[str, StaticFile], method: str, target: str, headers: Mapping[str, str]
) -> HttpResponse:
    """The answer to a plain HTTP request (not a WebSocket upgrade).

    ``headers`` have lower-case names. Only GET and HEAD exist here; a path
    is looked up as a whole among the packaged files, so nothing outside them
    can ever be reached.
    """
    host = headers.get("host")
    response = _respond(files, method, target, host, headers)
    if method == "HEAD" and response.body:
        return HttpResponse(response.status, response.headers)
    return response


def _respond(
    files: Mapping[str, StaticFile],
    method: str,
    target: str,
    host: str | None,
    headers: Mapping[str, str],
) -> HttpResponse:
    path = target.split("?", 1)[0].split("#", 1)[0]
    found = files.get(path)
    if method not in ("GET", "HEAD"):
        response = _plain(405, "Method Not Allowed", host)
        response.headers.append(("Allow", "GET, HEAD"))
        return response
    if found is None:
        return _plain(404, "Not Found", host)
    common = [
        ("Cache-Control", CACHE_CONTROL),
        ("ETag", found.etag),
        *security_headers(host),
    ]
    validators = headers.get("if-none-match", "")
    if found.etag in (v.strip().removeprefix("W/") for v in validators.split(",")) or (
        validators.strip() == "*"
    ):
        return HttpResponse(304, common)
    response_headers = [
        ("Content-Type", found.content_type),
        ("Content-Length", str(len(found.body))),
        *common,
    ]
    return HttpResponse(200, response_headers, found.body)
