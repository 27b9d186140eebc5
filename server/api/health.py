"""Liveness (`/health`: the process and its database answer) and readiness (`/ready`: the schema
is current, the attachment store and the data directory are usable, the PDF font is there)."""

from __future__ import annotations

import sqlite3

import msgspec
from litestar import Response, get
from litestar.datastructures import State


class Health(msgspec.Struct, frozen=True):
    status: str
    standards: int
    schema: str


@get("/health", sync_to_thread=True, tags=["health"])
def health(conn: sqlite3.Connection, state: State) -> Health:
    """The database answers and the standards loaded."""
    row = conn.execute("SELECT name FROM migrations ORDER BY name DESC LIMIT 1").fetchone()
    return Health(status="ok", standards=len(state.catalog.standards), schema=row[0] if row else "none")


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str]


@get("/ready", sync_to_thread=True, tags=["health"])
def ready(conn: sqlite3.Connection, state: State) -> Response[Readiness]:
    """200 when every check passes, 503 (with the failing checks) otherwise."""
    from pdfgen.fonts import FontMissing, cjk_font
    from server.db import MIGRATIONS

    checks: dict[str, str] = {}
    done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
    missing = [name for name, _ in MIGRATIONS if name not in done]
    checks["schema"] = "ok" if not missing else f"missing migrations: {', '.join(missing)}"
    try:
        state.blobs.has("0" * 64)
        checks["attachments"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report, do not crash the probe
        checks["attachments"] = f"unavailable: {type(exc).__name__}: {exc}"
    probe = state.settings.data_dir / ".ready-probe"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
        checks["data_dir"] = "ok"
    except OSError as exc:
        checks["data_dir"] = f"not writable: {exc.strerror}"
    try:
        cjk_font()
        checks["font"] = "ok"
    except FontMissing as exc:
        checks["font"] = str(exc)
    ok = all(v == "ok" for v in checks.values())
    return Response(Readiness("ready" if ok else "not ready", checks), status_code=200 if ok else 503)
