"""Static files the gateway serves from its own package (gateway/static/), never from a CDN.

One small module for every browser page the gateway hosts (the API docs: /openapi.json and
the Swagger UI at /docs; GraphiQL on GET /graphql with its assets under /graphql/assets and
/graphql/graphiql), so they share the rules:

  * a fixed table of mounts (URL prefix -> directory) and pages (exact URL -> file), read once
    and kept in memory; nothing outside those directories is reachable (no `..`, no listing);
  * GET and HEAD only (405 otherwise), 404 for an unknown file;
  * every answer carries a Content-Security-Policy that allows no third-party origin (scripts,
    styles, images, fonts and fetches from this origin only), `X-Content-Type-Options:
    nosniff` and `Referrer-Policy: no-referrer`.

Envoy routes /openapi.json and /docs to the gateway (envoy/envoy.yaml) with no API key, and
every /graphql path as GraphQL. The vendored builds (swagger-ui/, graphiql/) list their npm
origin and SHA-256 in their SOURCE file (scripts/vendor-swagger-ui.sh, scripts/vendor-graphiql.sh).
"""

from __future__ import annotations

import dataclasses
import mimetypes
from collections.abc import Mapping
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"

# 'unsafe-inline' for styles only: Swagger UI and GraphiQL (CodeMirror) set inline style
# attributes; data: for images and fonts: GraphiQL's stylesheet embeds its fonts as data: URLs.
# It names no origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = (("content-security-policy", CSP), ("x-content-type-options", "nosniff"),
                    ("referrer-policy", "no-referrer"))
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".html": "text/html; charset=utf-8", ".json": "application/json",
                 ".txt": "text/plain; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


@dataclasses.dataclass(frozen=True)
class StaticResponse:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]


def content_type_of(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class StaticFiles:
    """Answers GET/HEAD for the pages and mounts it was given; None for any other path."""

    def __init__(self, pages: Mapping[str, Path], mounts: Mapping[str, Path]) -> None:
        self.files: dict[str, Path] = dict(pages)
        for prefix, directory in mounts.items():
            for file in sorted(directory.iterdir()):
                if file.is_file():
                    self.files[f"{prefix.rstrip('/')}/{file.name}"] = file
        self._cache: dict[str, bytes] = {}

    def __or__(self, other: StaticFiles) -> StaticFiles:
        """Both tables in one (the app takes one StaticFiles); `other` wins on a shared path."""
        merged = StaticFiles({}, {})
        merged.files = {**self.files, **other.files}
        return merged

    def handles(self, path: str) -> bool:
        return path in self.files

    def respond(self, method: str, path: str) -> StaticResponse | None:
        file = self.files.get(path)
        if file is None:
            return None
        if method not in ("GET", "HEAD"):
            return StaticResponse(405, b'{"error":"use GET"}', "application/json",
                                  (("allow", "GET, HEAD"), *SECURITY_HEADERS))
        body = self._cache.get(path)
        if body is None:
            body = self._cache[path] = file.read_bytes()
        return StaticResponse(200, body, content_type_of(file),
                              (("cache-control", "public, max-age=300"), *SECURITY_HEADERS))


def api_docs() -> StaticFiles:
    """/openapi.json (generated from protos/) and the Swagger UI page at /docs."""
    docs = STATIC_DIR / "docs"
    return StaticFiles(
        pages={"/openapi.json": STATIC_DIR / "openapi.json", "/docs": docs / "index.html",
               "/docs/": docs / "index.html"},
        mounts={"/docs/assets": docs, "/docs/swagger-ui": STATIC_DIR / "swagger-ui"})


GRAPHIQL_PAGE = "/graphql"


def graphiql() -> StaticFiles:
    """GraphiQL: the page (answered on GET /graphql by the app) and the assets it loads."""
    return StaticFiles(
        pages={GRAPHIQL_PAGE: STATIC_DIR / "graphql" / "index.html"},
        mounts={"/graphql/assets": STATIC_DIR / "graphql", "/graphql/graphiql": STATIC_DIR / "graphiql"})
