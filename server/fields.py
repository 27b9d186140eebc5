"""Answers and records as last-writer-wins registers, decided and written set-wise.

Each answer (field `answer:<item id>`) and record (`record:<record id>`) of an assessment is a
register: its value lives in `answers` / `records`, its version (HLC stamp + device) in
`field_clock`, where a deletion stays as a tombstone. Which write wins is sync/conflict.py's
`decide`; a concurrent write that loses is kept in `sync_conflicts`, and every applied write and
every conflict is in the audit log.

`FieldWrites` handles a run of writes inside the caller's transaction. It reads the stored
versions and values of the whole run in a few queries (`load`), decides each write in order
against what the run has written so far (an overlay in memory, so a second edit of a field in
the same batch sees the first), and writes everything with one executemany per table and
statement (`flush`). A push of 500 edits thus costs a handful of statements instead of four per
edit, with the same rows, in the same order per table, as writing them one by one.

Nothing reaches the database before `flush`. After an error the caller rolls back its
transaction and drops the object (its overlay describes writes that no longer exist).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable

import msgspec

from checklists.model import Answer, Record
from server.audit import AUDIT_INSERT, audit_row, now_iso
from server.auth import Principal
from server.db import select_in
from sync.conflict import Version, decide

# kind -> (table, value column, id column)
TABLES = {"answer": ("answers", "answer", "item_id"), "record": ("records", "record", "id")}
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


class FieldWrite(msgspec.Struct, frozen=True):
    """What happened to one write of an answer or record (see sync/conflict.py)."""

    applied: bool
    conflict: bool
    winner: str  # the version token now stored


class FieldWrites:
    """A run of answer and record writes, decided one by one and written together at flush()."""

    def __init__(self, conn: sqlite3.Connection, on_apply: Callable[[str], None] | None = None):
        self.conn = conn
        self.on_apply = on_apply  # called with the assessment id of every applied write
        # (assessment id, field) -> (stored or written version, its value as JSON)
        self._state: dict[tuple[str, str], tuple[Version | None, str | None]] = {}
        self._values: dict[str, list[tuple[str, tuple]]] = {table: [] for table, _, _ in TABLES.values()}
        self._clocks: list[tuple] = []
        self._conflicts: list[tuple] = []
        self._audit: list[tuple] = []

    def load(self, fields: Iterable[tuple[str, str]]) -> None:
        """Read the stored version and value of these (assessment id, field) pairs: three
        queries per assessment for up to 500 fields."""
        wanted: dict[str, list[str]] = {}
        for assessment_id, field in fields:
            if (assessment_id, field) not in self._state:
                wanted.setdefault(assessment_id, []).append(field)
        for assessment_id, names in wanted.items():
            versions: dict[str, Version] = {}
            for field, stamp, device in select_in(
                self.conn, "SELECT field, hlc, device FROM field_clock WHERE assessment_id = ? AND field IN",
                names, assessment_id,
            ):
                versions[field] = Version(stamp, device)
            values: dict[str, str] = {}
            for kind, (table, column, id_column) in TABLES.items():
                keys = [f[len(kind) + 1 :] for f in names if f.startswith(kind + ":")]
                for key, value in select_in(
                    self.conn, f"SELECT {id_column}, {column} FROM {table} WHERE assessment_id = ? AND {id_column} IN",
                    keys, assessment_id,
                ):
                    values[f"{kind}:{key}"] = value
            for field in names:
                self._state[(assessment_id, field)] = (versions.get(field), values.get(field))

    def _slot(self, assessment_id: str, field: str) -> tuple[Version | None, str | None]:
        """The field's version and value (JSON) as the run stands: stored, or written earlier in the run."""
        slot = (assessment_id, field)
        if slot not in self._state:
            self.load([slot])
        return self._state[slot]

    def version(self, assessment_id: str, field: str) -> Version | None:
        """The field's version as the run stands (stored, or written earlier in the run)."""
        return self._slot(assessment_id, field)[0]

    def write(
        self,
        who: Principal,
        assessment_id: str,
        field: str,
        value: Answer | Record | None,
        version: Version,
        base: str | None,
        mutation_id: str | None,
    ) -> FieldWrite:
        """Write (or, with None, delete) one answer or record under the conflict rule. The caller
        has checked role, scope, status and the value itself."""
        kind, _, key = field.partition(":")
        table = TABLES[kind][0]
        current, stored = self._slot(assessment_id, field)
        before = None if stored is None else msgspec.Raw(stored.encode())  # stored JSON, passed through as is
        decision = decide(current, version, base)
        if decision.apply:
            written = None if value is None else msgspec.json.encode(value).decode()
            if written is None:
                self._values[table].append((_DELETE[table], (assessment_id, key)))
            else:
                self._values[table].append((_UPSERT[table], (assessment_id, key, written, who.user_id, now_iso())))
            self._clocks.append((assessment_id, field, version.hlc, version.device, mutation_id, int(value is None)))
            action = ("delete_" if value is None else ("set_" if kind == "answer" else "put_")) + kind
            self._audit.append(audit_row(who, action, kind, key, assessment_id, before, value))
            self._state[(assessment_id, field)] = (version, written)
            if self.on_apply is not None:
                self.on_apply(assessment_id)
        winner = version if decision.apply else current
        assert winner is not None
        if decision.conflict:
            loser = current if decision.apply else version
            assert loser is not None
            enc = msgspec.json.encode
            winner_value, loser_value = (value, before) if decision.apply else (before, value)
            self._conflicts.append(
                (assessment_id, field, winner.token, enc(winner_value).decode(), loser.token, enc(loser_value).decode(),
                 None if decision.apply else mutation_id, now_iso())
            )
            self._audit.append(audit_row(who, "conflict", kind, key, assessment_id,
                                         {"version": loser.token, "value": loser_value},
                                         {"version": winner.token, "value": winner_value}))
        return FieldWrite(decision.apply, decision.conflict, winner.token)

    def flush(self) -> None:
        """Write what the run decided: per table, consecutive rows of one statement go in one
        executemany, so each table receives its rows in the order they were decided."""
        for ops in self._values.values():
            for sql, rows in itertools.groupby(ops, key=lambda op: op[0]):
                self.conn.executemany(sql, [row for _, row in rows])
            ops.clear()
        for sql, rows in ((_CLOCK_UPSERT, self._clocks), (_CONFLICT_INSERT, self._conflicts), (AUDIT_INSERT, self._audit)):
            if rows:
                self.conn.executemany(sql, rows)
                rows.clear()
