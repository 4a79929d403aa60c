"""The interactive API docs (Swagger UI) at `/docs` and `/schema`, from assets shipped in the
package (`docs_assets/`, a pinned `swagger-ui-dist`), never a CDN.

The page holds no inline script or style of ours, so its Content-Security-Policy lets the
browser load scripts, styles and fonts from this server only and talk to this server only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.datastructures import ResponseHeader
from litestar.enums import MediaType
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

from tessera.shared.http.query_parameters import QUERY_OPT

SWAGGER_UI_VERSION = "5.36.0"
ASSETS = Path(__file__).parent / "docs_assets"
SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/assets"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css?v={SWAGGER_UI_VERSION}">
</head>
<body>
<div id="docs"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}"></script>
<script src="{ASSETS_PATH}/tessera-docs.js?v={SWAGGER_UI_VERSION}"></script>
</body>
</html>
""".encode()
_HEADERS = [ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY)]


class DocsPage(OpenAPIRenderPlugin):
    """`/schema` (and `/schema/swagger`): the page; `/schema/assets/*`: what it loads."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"], media_type=MediaType.HTML)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:  # noqa: ARG002 - one page for every request
        return PAGE

    def receive_router(self, router: Router) -> None:
        # the page asks for its assets with `?v=` (a new version is a new URL to caches)
        router.register(
            create_static_files_router(
                path="/assets", directories=[ASSETS], name="docs-assets", opt={QUERY_OPT: ("v",)}
            )
        )


def schema_router() -> Router:
    """The router Litestar serves `/schema` from, with the page's policy on its answers."""
    return Router(
        SCHEMA_PATH, route_handlers=[], include_in_schema=False, response_headers=_HEADERS
    )


@get(
    "/docs",
    media_type=MediaType.HTML,
    include_in_schema=False,
    response_headers=_HEADERS,
    sync_to_thread=False,
)
def docs() -> bytes:
    """`/docs`, the seed's address of the docs: the same page as `/schema`."""
    return PAGE
