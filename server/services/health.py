"""Liveness (the process and its database answer) and readiness (the schema is current, the
attachment store and the data directory are usable, the PDF font is there)."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

import msgspec

from checklists.loader import Catalog
from server.store import migrations
from server.store.blobs import BlobStore

log = logging.getLogger("dabiao.health")
SQLITE_FULL, SQLITE_IOERR = 13, 10
NEARLY_FULL = 1024 * 1024  # free bytes under which an I/O error on the data volume counts as a full disk


def storage_full(exc: BaseException, data_dir: Path | None) -> bool:
    """Whether an error (or one it was raised from) means the storage is full: ENOSPC or EDQUOT,
    SQLite's SQLITE_FULL, or an SQLite I/O error (growing the WAL index, say) while the data volume
    has almost no space left."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        code = getattr(e, "sqlite_errorcode", None)
        if code == SQLITE_FULL:
            return True
        if isinstance(code, int) and code & 0xFF == SQLITE_IOERR and data_dir is not None and _free(data_dir) < NEARLY_FULL:
            return True
        todo += [e.__cause__, e.__context__]
    return False


def _free(path: Path) -> int:
    try:
        found = os.statvfs(path)
    except OSError:
        return NEARLY_FULL
    return found.f_bavail * found.f_frsize


class Health(msgspec.Struct, frozen=True):
    status: str
    standards: int
    schema: str


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return self.status == "ready"


def health(conn: sqlite3.Connection, catalog: Catalog) -> Health:
    """The database answers and the standards loaded."""
    return Health(status="ok", standards=len(catalog.standards), schema=migrations.latest(conn))


def readiness(conn: sqlite3.Connection, blobs: BlobStore, data_dir: Path) -> Readiness:
    """Every check by name: "ok" or "failed". The probe is public, so what is wrong (paths,
    exception text) goes to the log for the operator, never into the answer."""
    from pdfgen.fonts import FontMissing, cjk_font

    problems: dict[str, str] = {}
    missing = migrations.pending(conn)
    if missing:
        problems["schema"] = f"missing migrations: {', '.join(missing)}"
    try:
        blobs.has("0" * 64)
    except Exception as exc:
        problems["attachments"] = f"unavailable: {type(exc).__name__}: {exc}"
    probe = data_dir / ".ready-probe"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        problems["data_dir"] = f"{data_dir} not writable: {exc.strerror}"
    try:
        cjk_font()
    except FontMissing as exc:
        problems["font"] = str(exc)
    for name, detail in problems.items():
        log.error("readiness check %s failed: %s", name, detail)
    checks = {name: "failed" if name in problems else "ok" for name in ("schema", "attachments", "data_dir", "font")}
    return Readiness("not ready" if problems else "ready", checks)


class Probes:
    """The two probes over one request's connection and the process's stores."""

    def __init__(self, conn: sqlite3.Connection, catalog: Catalog, blobs: BlobStore, data_dir: Path):
        self.conn = conn
        self.catalog = catalog
        self.blobs = blobs
        self.data_dir = data_dir

    def health(self) -> Health:
        """See health()."""
        return health(self.conn, self.catalog)

    def readiness(self) -> Readiness:
        """See readiness()."""
        return readiness(self.conn, self.blobs, self.data_dir)
