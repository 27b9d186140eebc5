"""The schema: migrations in order, each recorded in the `migrations` table when applied, so an
existing database file is upgraded in place without loss. Never edit an applied migration:
append a new one.

A migration is an SQL script, or a Python function over the connection where the data needs
more than SQL (010: numbers inside stored JSON); either runs in one transaction with its record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from server.store.db import connect

__all__ = ["MIGRATIONS", "applied", "connect", "latest", "migrate", "open_database", "pending"]

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

def _change_triggers(table: str, entity: str, key: str) -> str:
    """Triggers that record the latest change of each row of `table` in `changes` (the pull feed).

    Every write path (REST, sync, demo loader, future code) is covered because the database does it.
    """
    path = "(SELECT o.path FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.id = {r}.assessment_id)"
    out = []
    for event, ref, deleted in (("INSERT", "NEW", 0), ("UPDATE", "NEW", 0), ("DELETE", "OLD", 1)):
        out.append(
            f"CREATE TRIGGER {table}_changes_{event.lower()} AFTER {event} ON {table} BEGIN "
            f"DELETE FROM changes WHERE entity = '{entity}' AND assessment_id = {ref}.assessment_id "
            f"AND key = {ref}.{key}; "
            f"INSERT INTO changes (org_path, assessment_id, entity, key, deleted) VALUES "
            f"({path.format(r=ref)}, {ref}.assessment_id, '{entity}', {ref}.{key}, {deleted}); END;"
        )
    return "\n".join(out)


_M004_SYNC = (
    """
        -- Every mutation a phone pushed, with the result it got, written in the transaction that
        -- applied it: a replay returns this row. Append-only like the audit log.
        CREATE TABLE sync_mutations (
            id TEXT PRIMARY KEY,
            device TEXT NOT NULL,
            user_id INTEGER NOT NULL REFERENCES users(id),
            hlc TEXT NOT NULL,
            op TEXT NOT NULL,
            assessment_id TEXT,
            payload TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('applied','conflict','rejected')),
            outcome TEXT,
            problem TEXT,
            reason TEXT,
            winner TEXT,
            received_at TEXT NOT NULL
        );
        CREATE INDEX sync_mutations_assessment ON sync_mutations(assessment_id, status);
        CREATE TRIGGER sync_mutations_no_update BEFORE UPDATE ON sync_mutations
            BEGIN SELECT RAISE(ABORT, 'sync_mutations is append-only'); END;
        CREATE TRIGGER sync_mutations_no_delete BEFORE DELETE ON sync_mutations
            BEGIN SELECT RAISE(ABORT, 'sync_mutations is append-only'); END;

        -- The version (HLC stamp + device) of every answer and record; deleted ones stay as tombstones
        -- so an older write arriving late cannot bring them back.
        CREATE TABLE field_clock (
            assessment_id TEXT NOT NULL REFERENCES assessments(id),
            field TEXT NOT NULL,
            hlc TEXT NOT NULL,
            device TEXT NOT NULL,
            mutation_id TEXT,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (assessment_id, field)
        ) WITHOUT ROWID;

        -- Concurrent writes to one field: the value kept and the value that lost.
        CREATE TABLE sync_conflicts (
            id INTEGER PRIMARY KEY,
            assessment_id TEXT NOT NULL REFERENCES assessments(id),
            field TEXT NOT NULL,
            winner TEXT NOT NULL,
            winner_value TEXT,
            loser TEXT NOT NULL,
            loser_value TEXT,
            loser_mutation TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX sync_conflicts_assessment ON sync_conflicts(assessment_id);

        -- The pull feed: one row per entity, holding the sequence number of its latest change.
        -- The sequence only grows (AUTOINCREMENT never reuses); deletions stay as tombstones until
        -- compaction moves the horizon (sync_meta 'tombstone_horizon').
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            org_path TEXT NOT NULL,
            assessment_id TEXT NOT NULL,
            entity TEXT NOT NULL,
            key TEXT NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            UNIQUE (entity, assessment_id, key)
        );
        CREATE TABLE sync_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- A refresh retried after a lost response (see TokenService.refresh).
        ALTER TABLE refresh_tokens ADD COLUMN retry_key_hash TEXT;

        -- Assessments themselves (status, score): key '' (one row each).
        CREATE TRIGGER assessments_changes_insert AFTER INSERT ON assessments BEGIN
            INSERT INTO changes (org_path, assessment_id, entity, key, deleted)
            VALUES ((SELECT path FROM orgs WHERE id = NEW.org_id), NEW.id, 'assessment', '', 0); END;
        CREATE TRIGGER assessments_changes_update AFTER UPDATE ON assessments BEGIN
            DELETE FROM changes WHERE entity = 'assessment' AND assessment_id = NEW.id AND key = '';
            INSERT INTO changes (org_path, assessment_id, entity, key, deleted)
            VALUES ((SELECT path FROM orgs WHERE id = NEW.org_id), NEW.id, 'assessment', '', 0); END;
        CREATE TRIGGER comments_changes_insert AFTER INSERT ON comments BEGIN
            INSERT INTO changes (org_path, assessment_id, entity, key, deleted) VALUES
            ((SELECT o.path FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.id = NEW.assessment_id),
             NEW.assessment_id, 'comment', CAST(NEW.id AS TEXT), 0); END;
        CREATE TRIGGER conflicts_changes_insert AFTER INSERT ON sync_conflicts BEGIN
            INSERT INTO changes (org_path, assessment_id, entity, key, deleted) VALUES
            ((SELECT o.path FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.id = NEW.assessment_id),
             NEW.assessment_id, 'conflict', CAST(NEW.id AS TEXT), 0); END;
"""
    + _change_triggers("answers", "answer", "item_id")
    + "\n"
    + _change_triggers("records", "record", "id")
    + "\n"
    + _change_triggers("spot_checks", "spot_check", "item_id")
    + """
        -- Backfill the feed for a database that had data before this migration.
        INSERT INTO changes (org_path, assessment_id, entity, key)
            SELECT o.path, a.id, 'assessment', '' FROM assessments a JOIN orgs o ON o.id = a.org_id;
        INSERT INTO changes (org_path, assessment_id, entity, key)
            SELECT o.path, x.assessment_id, 'answer', x.item_id FROM answers x
            JOIN assessments a ON a.id = x.assessment_id JOIN orgs o ON o.id = a.org_id;
        INSERT INTO changes (org_path, assessment_id, entity, key)
            SELECT o.path, x.assessment_id, 'record', x.id FROM records x
            JOIN assessments a ON a.id = x.assessment_id JOIN orgs o ON o.id = a.org_id;
        INSERT INTO changes (org_path, assessment_id, entity, key)
            SELECT o.path, x.assessment_id, 'comment', CAST(x.id AS TEXT) FROM comments x
            JOIN assessments a ON a.id = x.assessment_id JOIN orgs o ON o.id = a.org_id;
        INSERT INTO changes (org_path, assessment_id, entity, key)
            SELECT o.path, x.assessment_id, 'spot_check', x.item_id FROM spot_checks x
            JOIN assessments a ON a.id = x.assessment_id JOIN orgs o ON o.id = a.org_id;
"""
)

_M005_REPORT_INDEXES = """
        -- The rates query joins certificates by assessment (without this, SQLite builds an
        -- automatic index on every query) and records by assessment for the drills count.
        CREATE INDEX certificates_assessment ON certificates(assessment_id);
"""

# The per-dimension passes of the stored result, small, so the rates query need not read
# (and decode) every full result: at province scale that was half its time.
DIMS_OF_RESULT = (
    "(SELECT json_group_object(json_extract(value, '$.code'), "
    "json(CASE WHEN json_extract(value, '$.passed') THEN 'true' ELSE 'false' END)) "
    "FROM json_each(result, '$.dimensions'))"
)
_M006_DIMENSION_PASSES = f"""
        ALTER TABLE assessments ADD COLUMN dims TEXT;
        UPDATE assessments SET dims = {DIMS_OF_RESULT} WHERE result IS NOT NULL;
"""

# The rates query at province scale (Hunan: 31,000 orgs, 200,000 records):
# - it counts each township's drills of the year: the partial index holds only drills, by date,
#   so the JSON of every other record is no longer read (a quarter of a second);
# - it reads status, pass, score and dimension passes of every assessment: stored after the full
#   result (4 KB, often on overflow pages), they are now read from a covering index instead;
# - likewise each assessment's valid certificate (its token comes before serial and issue date).
_M007_RATES_INDEXES = """
        CREATE INDEX records_drill_dates ON records(assessment_id, json_extract(record, '$.date'))
            WHERE json_extract(record, '$.kind') = 'drill';
        DROP INDEX assessments_org;
        CREATE INDEX assessments_org ON assessments(org_id, period, id, status, passed, score, dims);
        DROP INDEX certificates_assessment;
        CREATE INDEX certificates_assessment ON certificates(assessment_id, revoked_at, issued_on, serial);
"""

# The rates count a unit as 达标 on a date when it holds a certificate in force then (issued by the
# date, valid until it or later, not revoked by it), whichever assessment (year) it came from: the
# certificates of a unit, by issue date, with what that test reads. The unit's current assessment
# is its latest period's, the one created last if there are two (a new standard version):
# assessments by unit and period, in creation order (rowid).
_M008_CERTIFICATES_IN_FORCE = """
        CREATE INDEX certificates_in_force ON certificates(org_id, issued_on, valid_until, revoked_at, serial);
        CREATE INDEX assessments_latest ON assessments(org_id, period);
"""

# A certificate's PDF is filed once, as issued, in the blob store; its sha256 identifies an
# uploaded file as that original (server/acceptance.py).
_M009_CERTIFICATE_ORIGINALS = """
        ALTER TABLE certificates ADD COLUMN pdf_sha256 TEXT;
        CREATE INDEX certificates_pdf ON certificates(pdf_sha256) WHERE pdf_sha256 IS NOT NULL;
"""

# Browser sessions of the desk and the dashboard (an opaque cookie, stored hashed; idle and absolute
# timeouts are checked against seen_at and created_at), and the photos a reviewer takes on site
# for a spot check.
_M010_DESK = """
        CREATE TABLE web_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            created_at REAL NOT NULL,
            seen_at REAL NOT NULL,
            revoked_at REAL
        );
        CREATE INDEX web_sessions_user ON web_sessions(user_id);

        CREATE TABLE spot_check_photos (
            assessment_id TEXT NOT NULL REFERENCES assessments(id),
            item_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            added_by INTEGER REFERENCES users(id),
            added_at TEXT NOT NULL,
            PRIMARY KEY (assessment_id, item_id, sha256)
        );
        CREATE INDEX audit_assessment_action ON audit_log(assessment_id, action);
"""

# The largest integer a stored value may hold: JavaScript (the field app) holds integers exactly up
# to 2**53 - 1, MessagePack (pull pages) up to 64 bits. The checks on the way in (sync/inputs.py)
# keep every number far inside; values stored before them may not be.
SAFE_INTEGER = 2**53 - 1
_LONG_NUMBER = "*" + "[0-9]" * 16 + "*"  # GLOB: a run of 16 digits, as every integer past SAFE_INTEGER has


def _unsafe_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER


def _safe(value: Any, unsafe: list[Any]) -> Any:
    """`value` (decoded JSON) with every integer past ±SAFE_INTEGER replaced by None, or dropped
    from an object of secondary `fields`; what was taken out is appended to `unsafe`."""
    if _unsafe_integer(value):
        unsafe.append(value)
        return None
    if isinstance(value, list):
        return [_safe(v, unsafe) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if key == "fields" and isinstance(v, dict):
            unsafe += [x for x in v.values() if _unsafe_integer(x)]
            out[key] = {k: _safe(x, unsafe) for k, x in v.items() if not _unsafe_integer(x)}
        else:
            out[key] = _safe(v, unsafe)
    return out


def _repaired(text: str | None) -> str | None:
    """The JSON text with unsafe integers taken out, or None when it holds none."""
    if text is None:
        return None
    unsafe: list[Any] = []
    fixed = _safe(msgspec.json.decode(text), unsafe)
    return msgspec.json.encode(fixed).decode() if unsafe else None


def _m011_unsafe_numbers(conn: sqlite3.Connection) -> None:
    """Answers and kept conflicts stored with an integer no pull can carry (10**30 broke every
    MessagePack pull page of a scope, and a conflict kept it after the answer was corrected): the
    value becomes null (unanswered), a secondary field with one is dropped. The value as it was
    stays in the audit log (`repair_value`); the assessments concerned lose their stored result,
    which the server recomputes when it starts (server/app.py)."""
    at = "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')"
    rows = conn.execute("SELECT assessment_id, item_id, answer FROM answers WHERE answer GLOB ?", (_LONG_NUMBER,))
    touched = set()
    for assessment_id, item_id, text in rows.fetchall():
        fixed = _repaired(text)
        if fixed is None:
            continue
        conn.execute("UPDATE answers SET answer = ? WHERE assessment_id = ? AND item_id = ?", (fixed, assessment_id, item_id))
        conn.execute(f"INSERT INTO audit_log (at, actor_id, action, entity, entity_id, assessment_id, before, after) "
                     f"VALUES ({at}, NULL, 'repair_value', 'answer', ?, ?, ?, ?)", (item_id, assessment_id, text, fixed))
        touched.add(assessment_id)
    rows = conn.execute("SELECT id, assessment_id, winner_value, loser_value FROM sync_conflicts "
                        "WHERE winner_value GLOB ? OR loser_value GLOB ?", (_LONG_NUMBER, _LONG_NUMBER))
    for conflict_id, assessment_id, winner, loser in rows.fetchall():
        fixed_winner, fixed_loser = _repaired(winner), _repaired(loser)
        if fixed_winner is None and fixed_loser is None:
            continue
        conn.execute("UPDATE sync_conflicts SET winner_value = ?, loser_value = ? WHERE id = ?",
                     (fixed_winner or winner, fixed_loser or loser, conflict_id))
        conn.execute(f"INSERT INTO audit_log (at, actor_id, action, entity, entity_id, assessment_id, before, after) "
                     f"VALUES ({at}, NULL, 'repair_value', 'conflict', ?, ?, json_object('winner', json(?), "
                     f"'loser', json(?)), json_object('winner', json(?), 'loser', json(?)))",
                     (str(conflict_id), assessment_id, winner, loser, fixed_winner or winner, fixed_loser or loser))
        # Back into the pull feed (conflicts enter it only when inserted), so phones get the repair.
        conn.execute("DELETE FROM changes WHERE entity = 'conflict' AND assessment_id = ? AND key = ?",
                     (assessment_id, str(conflict_id)))
        conn.execute("INSERT INTO changes (org_path, assessment_id, entity, key, deleted) SELECT o.path, a.id, "
                     "'conflict', ?, 0 FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.id = ?",
                     (str(conflict_id), assessment_id))
    for assessment_id in sorted(touched):
        conn.execute("UPDATE assessments SET result = NULL WHERE id = ?", (assessment_id,))


# Every access token names the account's token generation; a request whose token names another
# than the account's now is refused. Deactivation, a new password, a new role or unit move it on,
# so they end every access token of the account at once, not when it expires.
_M010_TOKEN_GENERATION = """
        ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
"""

def _blob_ref_triggers(table: str, column: str, key: str, entity: str, path: str) -> str:
    """Triggers that keep `blob_refs` equal to the attachments the rows of `table` cite (the
    sha256 of each element of the JSON array at `path`), on every write path."""
    # DISTINCT and NOT EXISTS rather than OR IGNORE: inside a trigger fired by an upsert, the outer
    # statement's conflict policy (abort) overrides the trigger's, and an answer may list one file
    # twice (as photo and as document, say).
    refs = (f"INSERT INTO blob_refs (sha256, assessment_id, field) "
            f"SELECT DISTINCT json_extract(e.value, '$.sha256'), NEW.assessment_id, '{entity}:' || NEW.{key} "
            f"FROM json_each(NEW.{column}, '{path}') e WHERE json_extract(e.value, '$.sha256') IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.sha256 = json_extract(e.value, '$.sha256') "
            f"AND r.assessment_id = NEW.assessment_id AND r.field = '{entity}:' || NEW.{key});")
    drop = "DELETE FROM blob_refs WHERE assessment_id = OLD.assessment_id AND field = '{entity}:' || OLD.{key};"
    drop = drop.format(entity=entity, key=key)
    return "\n".join([
        f"CREATE TRIGGER {table}_blob_refs_insert AFTER INSERT ON {table} BEGIN {refs} END;",
        f"CREATE TRIGGER {table}_blob_refs_update AFTER UPDATE ON {table} BEGIN {drop} {refs} END;",
        f"CREATE TRIGGER {table}_blob_refs_delete AFTER DELETE ON {table} BEGIN {drop} END;",
    ])


# Attachments are read by those who may read an assessment citing them, or who uploaded them (or
# whose subtree holds the uploader): `blob_refs` says which answers and records cite which blob
# (kept by triggers, backfilled here), `blob_uploads` who proved to hold a blob's bytes by
# uploading them, and how many bytes (the daily upload quota counts them).
_M011_BLOB_ACCESS = (
    """
        CREATE TABLE blob_refs (
            sha256 TEXT NOT NULL,
            assessment_id TEXT NOT NULL,
            field TEXT NOT NULL,
            PRIMARY KEY (sha256, assessment_id, field)
        ) WITHOUT ROWID;
        CREATE INDEX blob_refs_field ON blob_refs(assessment_id, field);
        CREATE TABLE blob_uploads (
            sha256 TEXT NOT NULL,
            user_id INTEGER NOT NULL REFERENCES users(id),
            size INTEGER NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (sha256, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX blob_uploads_user ON blob_uploads(user_id, at);
"""
    + _blob_ref_triggers("answers", "answer", "item_id", "answer", "$.evidence")
    + "\n"
    + _blob_ref_triggers("records", "record", "id", "record", "$.attachments")
    + """
        INSERT OR IGNORE INTO blob_refs (sha256, assessment_id, field)
            SELECT json_extract(e.value, '$.sha256'), x.assessment_id, 'answer:' || x.item_id
            FROM answers x, json_each(x.answer, '$.evidence') e WHERE json_extract(e.value, '$.sha256') IS NOT NULL;
        INSERT OR IGNORE INTO blob_refs (sha256, assessment_id, field)
            SELECT json_extract(e.value, '$.sha256'), x.assessment_id, 'record:' || x.id
            FROM records x, json_each(x.record, '$.attachments') e WHERE json_extract(e.value, '$.sha256') IS NOT NULL;
"""
)

# How many refused mutations a device has had kept with their payload (the bound on what one
# device's refusals store): counted per user and device, over the refused rows only.
_M012_REJECTED_PER_DEVICE = """
        CREATE INDEX sync_mutations_rejected_device ON sync_mutations(user_id, device) WHERE status = 'rejected';
"""

# Usernames are unique whatever their case (KF_FIELD_QZH beside kf_field_qzh misled reviewers).
# Of accounts already differing only in case, the first keeps its name; each later one is renamed
# `name~id` (a name the API cannot create) and deactivated, both audited. Failed logins are counted
# per client address too: the lock holds the address that guessed, not the account everywhere.
_M013_USERNAMES_ANY_CASE = """
        INSERT INTO audit_log (at, actor_id, action, entity, entity_id, assessment_id, before, after)
            SELECT strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), NULL, 'rename_duplicate_user', 'user',
                   CAST(u.id AS TEXT), NULL, json_object('username', u.username, 'active', u.active),
                   json_object('username', u.username || '~' || u.id, 'active', 0)
            FROM users u WHERE EXISTS (SELECT 1 FROM users f WHERE f.username = u.username COLLATE NOCASE AND f.id < u.id);
        UPDATE users SET username = username || '~' || id, active = 0, token_generation = token_generation + 1
            WHERE EXISTS (SELECT 1 FROM users f WHERE f.username = users.username COLLATE NOCASE AND f.id < users.id);
        CREATE UNIQUE INDEX users_username_any_case ON users(username COLLATE NOCASE);
        ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
"""

Migration = str | Callable[[sqlite3.Connection], None]

# (name, SQL or function) in order. Never edit an applied migration: append a new one.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_core", _M001_CORE),
    ("002_spot_checks", _M002_SPOT_CHECKS),
    ("003_certificates", _M003_CERTIFICATES),
    ("004_sync", _M004_SYNC),
    ("005_report_indexes", _M005_REPORT_INDEXES),
    ("006_dimension_passes", _M006_DIMENSION_PASSES),
    ("007_rates_indexes", _M007_RATES_INDEXES),
    ("008_certificates_in_force", _M008_CERTIFICATES_IN_FORCE),
    ("009_certificate_originals", _M009_CERTIFICATE_ORIGINALS),
    ("010_desk", _M010_DESK),
    ("011_unsafe_numbers", _m011_unsafe_numbers),
    ("012_token_generation", _M010_TOKEN_GENERATION),
    ("013_blob_access", _M011_BLOB_ACCESS),
    ("014_rejected_per_device", _M012_REJECTED_PER_DEVICE),
    ("015_usernames_any_case", _M013_USERNAMES_ANY_CASE),
]


def migrate(conn: sqlite3.Connection, upto: int | None = None) -> list[str]:
    """Apply the migrations not yet recorded (the first `upto` only, for tests); returns their names."""
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied = []
    for name, step in MIGRATIONS[:upto]:
        if name in done:
            continue
        # One script, one transaction: a failing migration leaves the file as it was.
        try:
            if callable(step):
                conn.execute("BEGIN IMMEDIATE")
                step(conn)
                conn.execute("INSERT INTO migrations VALUES (?, datetime('now'))", (name,))
                conn.execute("COMMIT")
            else:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{step}\nINSERT INTO migrations VALUES ('{name}', datetime('now'));\nCOMMIT;"
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


def applied(conn: sqlite3.Connection) -> set[str]:
    """The names of the migrations recorded in the database (none for a file without the table)."""
    known = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'").fetchone()
    return {row[0] for row in conn.execute("SELECT name FROM migrations")} if known else set()


def latest(conn: sqlite3.Connection) -> str:
    """The name of the newest migration applied, or "none"."""
    row = conn.execute("SELECT name FROM migrations ORDER BY name DESC LIMIT 1").fetchone()
    return row[0] if row else "none"


def pending(conn: sqlite3.Connection) -> list[str]:
    """Migrations this code knows that the database has not applied, in order."""
    done = applied(conn)
    return [name for name, _ in MIGRATIONS if name not in done]
