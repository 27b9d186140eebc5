"""The database file as a whole, for backups: an online copy of one instant, and what a copy
holds (integrity, migrations, row counts)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import sqlite_utils


def _uri(path: Path) -> str:
    """A URI opening an existing file read-write (never creating one)."""
    return f"file:{quote(str(path.absolute()))}?mode=rw"


def copy(src: Path, dst: Path) -> None:
    """Copy the live database with SQLite's backup API, in one step (one read transaction: a
    consistent instant; WAL lets writers go on). The copy is left in rollback-journal mode so it
    is a single self-contained file. sqlite3.Error when the source cannot be read."""
    source = sqlite3.connect(_uri(src), uri=True, timeout=30)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        target = sqlite3.connect(str(dst))
        try:
            source.backup(target)  # pages=-1: everything in one step
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()


class Contents:
    """What a database file holds: its integrity check, migrations applied and row counts."""

    def __init__(self, integrity: list[str], migrations: list[tuple[str, str]], row_counts: dict[str, int]):
        self.integrity = integrity
        self.migrations = migrations
        self.row_counts = row_counts


def contents(path: Path, *, counts: bool = True) -> Contents:
    """Read a database file (not a live one: no WAL is expected); sqlite3.DatabaseError when it
    is not a usable SQLite database. Row counts only when `counts`."""
    conn = sqlite3.connect(_uri(path), uri=True)
    try:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        tables = sorted(t for t in db.table_names() if not t.startswith("sqlite_"))
        migrations = [(n, at) for n, at in conn.execute("SELECT name, applied_at FROM migrations ORDER BY name")] \
            if "migrations" in tables else []
        row_counts = {t: db.table(t).count for t in tables} if counts and integrity == ["ok"] else {}
        return Contents(integrity, migrations, row_counts)
    finally:
        conn.close()
