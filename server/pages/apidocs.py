"""The API docs at /schema (and /schema/swagger): Swagger UI served from Dabiao's own files, so
it works on an intranet that cannot reach a CDN, under a CSP without 'unsafe-inline'
(`default-src 'self'`). Litestar's own Swagger page loads its scripts from a CDN and starts
them with an inline <script>; this page links the vendored swagger-ui-dist (see
scripts/vendor.py) and starts it from a static file, server/static/docs/swagger-init.js, which
reads the document's address from the page."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

from server.api.guards import PUBLIC

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR_DIR = STATIC / "vendor"  # served at /vendor by server/app.py
DOCS_DIR = STATIC / "docs"  # this page's own script and stylesheet, served at /schema/assets
SWAGGER_UI = "swagger-ui-dist"


@cache
def vendored(package: str) -> str:
    """The folder under /vendor of a package pinned in vendor.lock.json (`swagger-ui-dist-5.36.0`),
    named as scripts/vendor.py names it."""
    lock = json.loads((VENDOR_DIR / "vendor.lock.json").read_text("utf-8"))
    return f"{package.lstrip('@').replace('/', '-')}-{lock['packages'][package]['version']}"


_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 接口文档</title>
<link rel="icon" href="{icon}">
<link rel="stylesheet" href="{swagger_css}">
<link rel="stylesheet" href="{page_css}">
<script src="{swagger_js}" defer></script>
<script src="{init_js}" defer></script>
</head>
<body>
<header class="docs-head">
<h1>{title} · 接口文档</h1>
<p>先用 <code>POST /auth/login</code> 取得访问令牌，再点 “Authorize” 填入；错误均为
<code>application/problem+json</code>（见 <code>Problem</code>）。OpenAPI 文档：<a href="{spec}">{spec}</a></p>
</header>
<main id="swagger-ui" data-spec="{spec}">
<noscript><p>本页需要启用 JavaScript。OpenAPI 文档（JSON）：<a href="{spec}">{spec}</a></p></noscript>
</main>
</body>
</html>
"""


class SwaggerPage(OpenAPIRenderPlugin):
    """Swagger UI from vendored files, with no inline script or style."""

    def __init__(self, path: Sequence[str] = ("/", "/swagger")) -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        e = html.escape
        app = request.app
        swagger = vendored(SWAGGER_UI)
        return _PAGE.format(
            title=e(str(openapi_schema["info"]["title"])),
            icon=e(app.route_reverse("app", file_path="/icon-192.png")),
            swagger_css=e(app.route_reverse("vendor", file_path=f"/{swagger}/swagger-ui.css")),
            swagger_js=e(app.route_reverse("vendor", file_path=f"/{swagger}/swagger-ui-bundle.js")),
            page_css=e(app.route_reverse("apidocs-assets", file_path="/docs.css")),
            init_js=e(app.route_reverse("apidocs-assets", file_path="/swagger-init.js")),
            spec=e(self.get_openapi_json_route(request)),
        ).encode()

    def receive_router(self, router: Router) -> None:
        """The page's own script and stylesheet, beside it under /schema/assets."""
        router.register(create_static_files_router(
            path="/assets", directories=[DOCS_DIR], name="apidocs-assets", opt=PUBLIC, include_in_schema=False,
            cache_control=CacheControlHeader(max_age=300, public=True)))
