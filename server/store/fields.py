"""Answers (`answers`) and dated records (`records`) of assessments, stored as JSON, with the
version of every one (`field_clock`, where a deletion stays as a tombstone) and the concurrent
writes that lost (`sync_conflicts`).

A field is `answer:<item id>` or `record:<record id>`; its version is (HLC stamp, device).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

from server.store.db import json_or_none, select_in

Kind = Literal["answer", "record"]
# kind -> (table, value column, id column)
TABLES: dict[str, tuple[str, str, str]] = {
    "answer": ("answers", "answer", "item_id"),
    "record": ("records", "record", "id"),
}
_UPSERT = {
    table: f"INSERT INTO {table} (assessment_id, {id_col}, {col}, updated_by, updated_at) VALUES (?,?,?,?,?) "
    f"ON CONFLICT (assessment_id, {id_col}) DO UPDATE SET {col} = excluded.{col}, "
    "updated_by = excluded.updated_by, updated_at = excluded.updated_at"
    for table, col, id_col in TABLES.values()
}
_DELETE = {table: f"DELETE FROM {table} WHERE assessment_id = ? AND {id_col} = ?" for table, _, id_col in TABLES.values()}
_CLOCK_UPSERT = (
    "INSERT INTO field_clock (assessment_id, field, hlc, device, mutation_id, deleted) VALUES (?,?,?,?,?,?) "
    "ON CONFLICT (assessment_id, field) DO UPDATE SET hlc = excluded.hlc, device = excluded.device, "
    "mutation_id = excluded.mutation_id, deleted = excluded.deleted"
)
_CONFLICT_INSERT = (
    "INSERT INTO sync_conflicts (assessment_id, field, winner, winner_value, loser, loser_value, loser_mutation, at) "
    "VALUES (?,?,?,?,?,?,?,?)"
)

# One change of a value table: ("upsert", (assessment, key, JSON, user, at)) or ("delete", (assessment, key)).
ValueOp = tuple[Literal["upsert", "delete"], tuple[Any, ...]]
ClockRow = tuple[str, str, str, str, str | None, int]  # assessment, field, hlc, device, mutation, deleted
ConflictRow = tuple[str, str, str, str, str, str, str | None, str]


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """Two concurrent writes to one field: the version and value kept, and those that lost."""

    assessment_id: str
    id: int
    field: str
    winner: str
    winner_value: Any
    loser: str
    loser_value: Any
    loser_mutation: str | None
    at: str


def answers(conn: sqlite3.Connection, assessment_id: str) -> dict[str, str]:
    """item id -> the answer's JSON."""
    return {r[0]: r[1] for r in conn.execute("SELECT item_id, answer FROM answers WHERE assessment_id = ?",
                                             (assessment_id,))}


def records(conn: sqlite3.Connection, assessment_id: str) -> list[str]:
    """The records' JSON, by record id."""
    return [r[0] for r in conn.execute("SELECT record FROM records WHERE assessment_id = ? ORDER BY id",
                                       (assessment_id,))]


def value(conn: sqlite3.Connection, assessment_id: str, field: str) -> str | None:
    """The JSON stored in a field, or None (never written, or deleted)."""
    kind, _, key = field.partition(":")
    table, column, id_column = TABLES[kind]
    row = conn.execute(f"SELECT {column} FROM {table} WHERE assessment_id = ? AND {id_column} = ?",
                       (assessment_id, key)).fetchone()
    return None if row is None else row[0]


def version(conn: sqlite3.Connection, assessment_id: str, field: str) -> tuple[str, str] | None:
    """(HLC stamp, device) of a field, tombstones included, or None."""
    row = conn.execute("SELECT hlc, device FROM field_clock WHERE assessment_id = ? AND field = ?",
                       (assessment_id, field)).fetchone()
    return None if row is None else (row[0], row[1])


def versions_and_values(conn: sqlite3.Connection, assessment_id: str,
                        fields: Sequence[str]) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """The stored versions and values of many fields of one assessment: three queries for up to
    500 fields (bound-parameter IN lists, so any record id matches exactly)."""
    versions = {f: (h, d) for f, h, d in select_in(
        conn, "SELECT field, hlc, device FROM field_clock WHERE assessment_id = ? AND field IN", fields, assessment_id)}
    values: dict[str, str] = {}
    for kind, (table, column, id_column) in TABLES.items():
        keys = [f[len(kind) + 1:] for f in fields if f.startswith(kind + ":")]
        for key, text in select_in(
                conn, f"SELECT {id_column}, {column} FROM {table} WHERE assessment_id = ? AND {id_column} IN",
                keys, assessment_id):
            values[f"{kind}:{key}"] = text
    return versions, values


def write(conn: sqlite3.Connection, ops: dict[str, list[ValueOp]], clocks: Sequence[ClockRow],
          conflicts: Sequence[ConflictRow]) -> None:
    """Write a run of decided field writes: per value table, consecutive rows of one statement go
    in one executemany, so each table receives its rows in the order they were decided; then the
    versions and the conflicts."""
    for table, table_ops in ops.items():
        for op, rows in itertools.groupby(table_ops, key=lambda o: o[0]):
            sql = _UPSERT[table] if op == "upsert" else _DELETE[table]
            conn.executemany(sql, [r for _, r in rows])
    if clocks:
        conn.executemany(_CLOCK_UPSERT, clocks)
    if conflicts:
        conn.executemany(_CONFLICT_INSERT, conflicts)


def insert_values(conn: sqlite3.Connection, kind: Kind, rows: Iterable[tuple[str, str, str, int | None, str]]) -> None:
    """Add many answers or records (assessment, key, JSON, user, at) without versions: the demo
    loader's data, which no phone has written."""
    table = TABLES[kind][0]
    conn.executemany(f"INSERT INTO {table} VALUES (?,?,?,?,?)", rows)


def _conflicts(conn: sqlite3.Connection, where: str, arg: object) -> list[Conflict]:
    return [
        Conflict(assessment_id=r[0], id=r[1], field=r[2], winner=r[3], winner_value=json_or_none(r[4]), loser=r[5],
                 loser_value=json_or_none(r[6]), loser_mutation=r[7], at=r[8])
        for r in conn.execute(
            "SELECT assessment_id, id, field, winner, winner_value, loser, loser_value, loser_mutation, at "
            f"FROM sync_conflicts WHERE {where} ORDER BY id",
            (arg,),
        )
    ]


def conflicts_of(conn: sqlite3.Connection, assessment_id: str) -> list[Conflict]:
    """Every conflict kept for an assessment, oldest first."""
    return _conflicts(conn, "assessment_id = ?", assessment_id)


def conflict(conn: sqlite3.Connection, conflict_id: int) -> Conflict | None:
    """One kept conflict, or None."""
    found = _conflicts(conn, "id = ?", conflict_id)
    return found[0] if found else None


def newest_stamp(conn: sqlite3.Connection, limit: str) -> str | None:
    """The highest HLC stamp stored in a version or a pushed mutation that is not past `limit`."""
    row = conn.execute(
        "SELECT MAX(h) FROM (SELECT MAX(hlc) AS h FROM field_clock WHERE hlc <= ?1 "
        "UNION ALL SELECT MAX(hlc) FROM sync_mutations WHERE hlc <= ?1)",
        (limit,),
    ).fetchone()
    return None if row is None else row[0]
