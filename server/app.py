"""The Litestar app factory. Nothing happens at import time; tests build their own app."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from checklists.loader import shipped_catalog
from server.api.admin import AdminController
from server.api.assessments import AssessmentController
from server.api.attachments import AttachmentController
from server.api.auth import AuthController
from server.api.codec import BodyRequest
from server.api.deps import Runtime, account_check, providers, session_lookup
from server.api.guards import PUBLIC, authenticated
from server.api.headers import security_headers
from server.api.health import health_check, ready
from server.api.orgs import OrgController
from server.api.problems import EXCEPTION_HANDLERS
from server.api.reports import CertificateController, ReportController
from server.api.standards import StandardController
from server.api.sync import SyncController, sync_history
from server.logs import request_log
from server.pages.apidocs import VENDOR_DIR, SwaggerPage
from server.pages.common import PAGE_ERRORS
from server.pages.dashboard import dashboard_router
from server.pages.desk import desk_router
from server.pages.session import SessionController
from server.pages.verify import VERIFY_LIMIT, VerifyController
from server.services.assessments import Assessments
from server.services.auth import TokenService, load_or_create_key, load_or_create_secret
from server.services.backup import RESTORED_MARKER
from server.services.limits import RateLimiter
from server.services.sync import clock_seed, new_epoch
from server.settings import Settings
from server.store.blobs import UploadArea, open_blob_store
from server.store.migrations import open_database
from sync.hlc import Clock

APP_DIR = Path(__file__).parent / "static" / "app"  # the field app (PWA), served at /app/
PAGES_STATIC = Path(__file__).parent / "static" / "pages"  # the desk's and verify page's CSS and JS
TEMPLATES = Path(__file__).parent / "pages" / "templates"
# Forms of the browser pages carry a CSRF token; the API (bearer tokens, never the cookie) does not.
PAGE_PATHS = ("login", "logout", "desk", "dashboard")
mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("text/javascript", ".js")

API_DESCRIPTION = """\
基层应急能力达标（六有 / 三有 / 四有）: standards, assessments and their review, certificates,
compliance rates and reports, and the offline phones' sync protocol.

- **Authentication**: `POST /auth/login` answers a short-lived bearer access token and a rotating
  refresh token; every other route needs `Authorization: Bearer <access token>`.
- **Errors** are RFC 9457 `application/problem+json` (the `Problem` schema) with a stable `type`
  (`urn:dabiao:problem:<slug>`), a Chinese / English `title`, and `field` / `item` where one is
  concerned.
- **Files**: PDFs (`application/pdf`) and attachments are binary bodies; rates are JSON or, with
  `format=csv`, CSV.
"""

# Any request body, unless its route allows more (pushes 8 MiB, uploads 20 MB; see sync/limits.py).
MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None) -> Litestar:
    """Wire routes, dependencies, the authentication guard and error handlers over a migrated database."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    conn = open_database(settings.db_path)  # create or upgrade the schema before serving
    restored = settings.data_dir / RESTORED_MARKER
    if restored.exists():  # restored from a backup or a Litestream replica: phones re-sync
        new_epoch(conn)
        restored.unlink()
    seed = clock_seed(conn)
    catalog = shipped_catalog()
    Assessments(conn, catalog, settings.today()).rescore_unscored()  # after a migration repaired values
    conn.close()
    blobs = open_blob_store(settings)
    runtime = Runtime(
        settings=settings,
        catalog=catalog,
        tokens=TokenService(settings, load_or_create_key(settings.key_path, settings.jwt_key_pem)),
        cert_key=load_or_create_key(settings.cert_key_path, settings.cert_key_pem),
        blobs=blobs,
        uploads=UploadArea(settings.data_dir / "uploads", blobs, max_age_s=settings.partial_upload_days * 86400),
        push_limiter=RateLimiter(settings.push_per_minute),
        verify_limiter=RateLimiter(settings.verify_per_minute),
        upload_limiter=RateLimiter(settings.upload_per_minute),
        login_limiter=RateLimiter(settings.login_per_minute_per_client),
        clock=Clock(seed),
    )
    runtime.uploads.expire()  # partial uploads abandoned while the server was down
    app = Litestar(
        route_handlers=[
            health_check,
            ready,
            AuthController,
            OrgController,
            StandardController,
            AssessmentController,
            AttachmentController,
            AdminController,
            ReportController,
            CertificateController,
            VerifyController,
            SyncController,
            sync_history,
            create_static_files_router(path="/app", directories=[APP_DIR], html_mode=True, name="app",
                                       include_in_schema=False, tags=["app"], opt=PUBLIC),
            create_static_files_router(path="/static/pages", directories=[PAGES_STATIC], name="pages-static",
                                       include_in_schema=False, opt=PUBLIC),
            Router(path="/", route_handlers=[SessionController], exception_handlers=PAGE_ERRORS,
                   include_in_schema=False),
            desk_router,
            dashboard_router,
            # Vendored browser libraries (scripts/vendor.py); a folder's name carries its version,
            # so its files never change and browsers may keep them.
            create_static_files_router(path="/vendor", directories=[VENDOR_DIR], name="vendor", include_in_schema=False,
                                       opt=PUBLIC, cache_control=CacheControlHeader(max_age=31_536_000, public=True,
                                                                                    immutable=True)),
        ],
        dependencies=providers(runtime),
        guards=[authenticated(runtime.tokens, account_check(runtime),
                              {"同步": runtime.push_limiter, "上传": runtime.upload_limiter, "登录": runtime.login_limiter,
                               VERIFY_LIMIT: runtime.verify_limiter},
                              session_lookup(runtime), settings.client_ip_header)],
        on_shutdown=[runtime.readers.close],
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        csrf_config=CSRFConfig(
            secret=settings.csrf_secret or load_or_create_secret(settings.data_dir / "keys" / "csrf.secret"),
            cookie_name="dabiao_csrf", cookie_httponly=True, cookie_secure=settings.https, cookie_samesite="lax",
            exclude=[rf"^/(?!(?:{'|'.join(PAGE_PATHS)})(?:/|$)|$)"],
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="Dabiao 达标 API",
            version="1.0.0",
            description=API_DESCRIPTION,
            use_handler_docstrings=True,
            # /schema and /schema/swagger: Swagger UI from vendored files (no CDN, no inline script);
            # /schema/openapi.json: the document.
            render_plugins=[SwaggerPage(), JsonRenderPlugin()],
            openapi_router=Router(path="/schema", route_handlers=[], opt=PUBLIC, include_in_schema=False),
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
            security=[{"BearerToken": []}],
        ),
        # Level 6 (zlib's default) instead of litestar's 9: a 500-result push answer compresses in
        # 0.5 ms instead of 0.9 ms and grows by 1% (13,338 bytes instead of 13,207).
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024, gzip_compress_level=6),
        middleware=[request_log],
        before_send=[security_headers(settings.https)],
        request_max_body_size=MAX_BODY_BYTES,
        request_class=BodyRequest,
        logging_config=None,
        debug=False,
        # The runtime's parts, for operators and tests to look at; the app itself reads them only
        # through the typed providers above.
        state=State(dict(vars(runtime))),
    )
    logging.getLogger("dabiao").setLevel(logging.INFO)
    return app
