"""What a request gets: the database connection, the caller, and one typed provider per service,
all built over the process's `Runtime` (settings, catalog, keys, stores, clock) that the app
factory makes once. Handlers name what they need in their signature."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Generator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Request
from litestar.di import Provide

from checklists.loader import Catalog
from server.api.guards import client_address
from server.errors import Unauthenticated
from server.services.acceptance import Acceptance
from server.services.access import Principal
from server.services.assessments import Assessments
from server.services.auth import Sessions, TokenService
from server.services.dashboard import Dashboard
from server.services.desk import Desk
from server.services.evidence import Evidence
from server.services.health import Probes
from server.services.limits import RateLimiter
from server.services.orgs import Orgs
from server.services.reports import Reports
from server.services.standards import Standards
from server.services.sync import SyncEngine
from server.services.uploads import Uploads
from server.services.users import Profile, Users
from server.services.web_sessions import WebSessions
from server.settings import Settings
from server.store.blobs import BlobStore, UploadArea
from server.store.db import Readers, connect
from sync.hlc import Clock


class Runtime:
    """Everything a process holds for its whole life, made once by create_app. (A plain class, not
    a dataclass: Litestar then checks a dependency of this type by isinstance instead of converting
    it field by field on every request.)"""

    def __init__(self, *, settings: Settings, catalog: Catalog, tokens: TokenService, cert_key: Ed25519PrivateKey,
                 blobs: BlobStore, uploads: UploadArea, push_limiter: RateLimiter, verify_limiter: RateLimiter,
                 upload_limiter: RateLimiter, login_limiter: RateLimiter, clock: Clock):
        self.settings = settings
        self.catalog = catalog
        self.tokens = tokens
        self.cert_key = cert_key
        self.blobs = blobs
        self.uploads = uploads
        self.push_limiter = push_limiter
        self.verify_limiter = verify_limiter  # public certificate checks, per client address
        self.upload_limiter = upload_limiter
        self.login_limiter = login_limiter  # per client address
        self.clock = clock  # the server's hybrid logical clock (stamps browser edits)
        self.readers = Readers(settings.db_path)  # for the per-request account check


def account_check(rt: Runtime) -> Callable[[Principal], Principal]:
    """The per-request check of the account behind a credential (`Sessions.current`), over the
    runtime's read connections: what the authentication guard calls for every request."""

    def current(claimed: Principal) -> Principal:
        with rt.readers.borrow() as conn:
            return Sessions(conn, rt.tokens).current(claimed)

    return current


def client_of(request: Request, runtime: Runtime) -> str:
    """The address of the request's client (through the trusted proxy's header when configured)."""
    return client_address(request, runtime.settings.client_ip_header)


def principal_of(request: Request) -> Principal:
    """The caller the authentication guard (server/api/guards.py) found for this request."""
    found = request.state.get("principal")
    if not isinstance(found, Principal):  # a public route that asks for a caller
        raise Unauthenticated("需要登录 / login required")
    return found


def providers(rt: Runtime) -> dict[str, Provide]:
    """The app's dependencies, each a typed function over the runtime."""

    def conn() -> Generator[sqlite3.Connection, None, None]:
        c = connect(rt.settings.db_path)
        try:
            yield c
        finally:
            c.close()

    def runtime() -> Runtime:
        return rt

    def acceptance(conn: sqlite3.Connection) -> Acceptance:
        s = rt.settings
        return Acceptance(conn, rt.catalog, rt.cert_key, rt.blobs, s.today(), s.base_url, s.cert_validity_years)

    def assessments(conn: sqlite3.Connection, acceptance: Acceptance) -> Assessments:
        return Assessments(conn, rt.catalog, rt.settings.today(), clock=rt.clock, acceptance=acceptance)

    def sync_engine(assessments: Assessments) -> SyncEngine:
        return SyncEngine(assessments, rt.catalog, rt.settings.rejected_kept_per_device)

    def reports(assessments: Assessments) -> Reports:
        return Reports(assessments)

    def uploads(conn: sqlite3.Connection) -> Uploads:
        s = rt.settings
        return Uploads(conn, rt.blobs, rt.uploads, s.max_image_pixels, s.upload_bytes_per_day, s.max_open_uploads)

    def users(conn: sqlite3.Connection) -> Users:
        return Users(conn)

    def orgs(conn: sqlite3.Connection) -> Orgs:
        return Orgs(conn)

    def sessions(conn: sqlite3.Connection) -> Sessions:
        return Sessions(conn, rt.tokens)

    def standards() -> Standards:
        return Standards(rt.catalog)

    def probes(conn: sqlite3.Connection) -> Probes:
        return Probes(conn, rt.catalog, rt.blobs, rt.settings.data_dir)

    def web_sessions(conn: sqlite3.Connection) -> WebSessions:
        return WebSessions(conn, rt.tokens)

    def desk(assessments: Assessments, uploads: Uploads) -> Desk:
        return Desk(assessments, uploads, Evidence(rt.blobs, rt.settings.data_dir / "thumbs"))

    def dashboard(reports: Reports) -> Dashboard:
        return Dashboard(reports)

    def me(users: Users, principal: Principal) -> Profile:
        return users.profile(principal)

    return {
        "conn": Provide(conn),
        "runtime": Provide(runtime, sync_to_thread=False),
        "principal": Provide(principal_of, sync_to_thread=False),
        "client_address": Provide(client_of, sync_to_thread=False),
        "acceptance": Provide(acceptance, sync_to_thread=False),
        "assessments": Provide(assessments, sync_to_thread=False),
        "sync_engine": Provide(sync_engine, sync_to_thread=False),
        "reports": Provide(reports, sync_to_thread=False),
        "uploads": Provide(uploads, sync_to_thread=False),
        "users": Provide(users, sync_to_thread=False),
        "orgs": Provide(orgs, sync_to_thread=False),
        "sessions": Provide(sessions, sync_to_thread=False),
        "standards": Provide(standards, sync_to_thread=False),
        "probes": Provide(probes, sync_to_thread=False),
        "web_sessions": Provide(web_sessions, sync_to_thread=False),
        "desk": Provide(desk, sync_to_thread=False),
        "me": Provide(me, sync_to_thread=False),
        "dashboard": Provide(dashboard, sync_to_thread=False),
    }


def session_lookup(rt: Runtime) -> Callable[[str], Principal | None]:
    """The guard's view of a session cookie: who it belongs to now, or None. The guard runs
    before the request's own connection exists, so each worker thread keeps one connection for
    these lookups (a page view then opens no extra connection)."""
    local = threading.local()

    def lookup(token: str) -> Principal | None:
        if not token:
            return None
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = connect(rt.settings.db_path)
        return WebSessions(conn, rt.tokens).principal(token)

    return lookup
