"""SQLite storage: connections (WAL, foreign keys) and schema migrations.

Migrations are an ordered list of small functions; each applied one is recorded in the
`migrations` table, so an existing database file is upgraded in place without loss.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path



def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in WAL mode with foreign keys enforced and a busy timeout for writers."""
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class transaction:
    """`with transaction(conn):` — BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


# ---------------------------------------------------------------------------------------------
# Migrations


_M001_CORE = """
        CREATE TABLE orgs (
            id TEXT PRIMARY KEY,
            parent_id TEXT REFERENCES orgs(id),
            name TEXT NOT NULL,
            level TEXT NOT NULL CHECK (level IN ('province','city','county','township','village')),
            kind TEXT NOT NULL,
            path TEXT NOT NULL UNIQUE,
            attributes TEXT NOT NULL DEFAULT '{}',
            standard_ref TEXT
        );
        CREATE INDEX orgs_parent ON orgs(parent_id);

        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('field','village','reviewer','viewer','admin')),
            org_id TEXT NOT NULL REFERENCES orgs(id),
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        );

        CREATE TABLE refresh_tokens (
            token_hash TEXT PRIMARY KEY,
            family_id TEXT NOT NULL,
            user_id INTEGER NOT NULL REFERENCES users(id),
            issued_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            revoked_at TEXT
        );
        CREATE INDEX refresh_family ON refresh_tokens(family_id);

        CREATE TABLE login_failures (
            username TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX login_failures_user ON login_failures(username, at);

        CREATE TABLE assessments (
            id TEXT PRIMARY KEY,
            org_id TEXT NOT NULL REFERENCES orgs(id),
            standard_ref TEXT NOT NULL,
            period INTEGER NOT NULL,
            status TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            result TEXT,
            passed INTEGER,
            score REAL,
            UNIQUE (org_id, standard_ref, period)
        );
        CREATE INDEX assessments_org ON assessments(org_id, period);

        CREATE TABLE answers (
            assessment_id TEXT NOT NULL REFERENCES assessments(id),
            item_id TEXT NOT NULL,
            answer TEXT NOT NULL,
            updated_by INTEGER REFERENCES users(id),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (assessment_id, item_id)
        );

        CREATE TABLE records (
            assessment_id TEXT NOT NULL REFERENCES assessments(id),
            id TEXT NOT NULL,
            record TEXT NOT NULL,
            updated_by INTEGER REFERENCES users(id),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (assessment_id, id)
        );

        CREATE TABLE attachments (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            media_type TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE TABLE comments (
            id INTEGER PRIMARY KEY,
            assessment_id TEXT NOT NULL REFERENCES assessments(id),
            item_id TEXT,
            author_id INTEGER NOT NULL REFERENCES users(id),
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX comments_assessment ON comments(assessment_id);

        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor_id INTEGER,
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            assessment_id TEXT,
            before TEXT,
            after TEXT
        );
        CREATE INDEX audit_assessment ON audit_log(assessment_id, seq);
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""

_M002_SPOT_CHECKS = """
        CREATE TABLE spot_checks (
            assessment_id TEXT NOT NULL REFERENCES assessments(id),
            item_id TEXT NOT NULL,
            result TEXT NOT NULL CHECK (result IN ('confirmed','disputed')),
            note TEXT NOT NULL DEFAULT '',
            checked_by INTEGER NOT NULL REFERENCES users(id),
            checked_at TEXT NOT NULL,
            PRIMARY KEY (assessment_id, item_id)
        );
        ALTER TABLE assessments ADD COLUMN submitted_at TEXT;
        ALTER TABLE assessments ADD COLUMN decided_at TEXT;
"""

_M003_CERTIFICATES = """
        CREATE TABLE certificates (
            serial TEXT PRIMARY KEY,
            assessment_id TEXT NOT NULL REFERENCES assessments(id),
            org_id TEXT NOT NULL REFERENCES orgs(id),
            token TEXT NOT NULL,
            issued_on TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            issued_by INTEGER REFERENCES users(id),
            revoked_at TEXT,
            revoke_reason TEXT
        );
        CREATE INDEX certificates_org ON certificates(org_id);
"""

# (name, SQL) in order. Never edit an applied migration: append a new one.
MIGRATIONS: list[tuple[str, str]] = [
    ("001_core", _M001_CORE),
    ("002_spot_checks", _M002_SPOT_CHECKS),
    ("003_certificates", _M003_CERTIFICATES),
]


def migrate(conn: sqlite3.Connection, upto: int | None = None) -> list[str]:
    """Apply the migrations not yet recorded (the first `upto` only, for tests); returns their names."""
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied = []
    for name, sql in MIGRATIONS[:upto]:
        if name in done:
            continue
        # One script, one transaction: a failing migration leaves the file as it was.
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nINSERT INTO migrations VALUES ('{name}', datetime('now'));\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def open_database(path: str | Path) -> sqlite3.Connection:
    """Connect and bring the schema up to date."""
    conn = connect(path)
    migrate(conn)
    return conn
