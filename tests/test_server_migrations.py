"""Schema migrations upgrade an existing database file without loss."""

from __future__ import annotations

import sqlite3

import pytest

from server.store import migrations as db


def test_database_from_the_previous_schema_is_upgraded_with_data_intact(tmp_path):
    path = tmp_path / "old.db"
    conn = db.connect(path)
    assert db.migrate(conn, upto=len(db.MIGRATIONS) - 1) == [name for name, _ in db.MIGRATIONS[:-1]]
    conn.execute("INSERT INTO orgs (id, parent_id, name, level, kind, path) VALUES ('hn', NULL, '湖南省', 'province', '省', '/hn/')")
    conn.execute("INSERT INTO orgs (id, parent_id, name, level, kind, path, standard_ref) VALUES "
                 "('t', 'hn', '望麓园街道', 'township', '街道', '/hn/t/', 'hunan.township.liuyou@2021')")
    conn.execute("INSERT INTO users (username, display_name, password_hash, role, org_id, created_at) "
                 "VALUES ('u', '用户', 'x', 'field', 't', '2024-01-01')")
    conn.execute("INSERT INTO assessments (id, org_id, standard_ref, period, status, created_at, updated_at) "
                 "VALUES ('a1', 't', 'hunan.township.liuyou@2021', 2024, 'draft', '2024-01-01', '2024-01-01')")
    conn.execute("INSERT INTO answers VALUES ('a1', 'TS-DW-01', '{\"value\":18}', 1, '2024-01-01')")
    before = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("orgs", "users", "assessments", "answers")}
    before = {t: [tuple(r) for r in rows] for t, rows in before.items()}
    conn.close()

    conn = db.open_database(path)  # what the server does at start
    applied = {r[0] for r in conn.execute("SELECT name FROM migrations")}
    assert applied == {name for name, _ in db.MIGRATIONS}
    for table, rows in before.items():
        after = [tuple(r)[: len(rows[0])] for r in conn.execute(f"SELECT * FROM {table}")]
        assert after == rows, table
    columns = {r[1] for r in conn.execute("PRAGMA table_info(assessments)")}
    assert {"submitted_at", "decided_at"} <= columns
    assert db.migrate(conn) == []  # idempotent


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "x.db"
    conn = db.connect(path)
    db.migrate(conn, upto=1)
    broken = db.MIGRATIONS[:1] + [("002_broken", "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;")]
    monkeypatch.setattr(db, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        db.migrate(conn)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables
    assert [r[0] for r in conn.execute("SELECT name FROM migrations")] == ["001_core"]


def test_connections_use_wal_and_foreign_keys(tmp_path):
    conn = db.open_database(tmp_path / "y.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO orgs (id, parent_id, name, level, kind, path) VALUES ('x', 'nope', 'x', 'city', '市', '/x/')")
