"""Answers and records as last-writer-wins registers, decided in memory and written set-wise.

Each answer (field `answer:<item id>`) and record (`record:<record id>`) of an assessment is a
register: its value and version are stored by server/store/fields.py, where a deletion stays as
a tombstone. Which write wins is decided by sync/registers.py (pure); a concurrent write that
loses is kept as a conflict, and every applied write and every conflict is in the audit log.

`FieldWrites` handles a run of writes inside the caller's transaction: load → decide → flush. It
reads the stored versions and values of the whole run in a few queries (`load`), decides each
write in order against the overlay of what the run has written so far, and writes everything
with one executemany per table and statement (`flush`). A push of 500 edits thus costs a handful
of statements instead of four per edit, with the same rows, in the same order per table, as
writing them one by one.

Nothing reaches the database before `flush`. After an error the caller rolls back its
transaction and drops the object (its overlay describes writes that no longer exist).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

import msgspec

from checklists.model import Answer, Record
from server.errors import InvalidInput
from server.services.access import Principal
from server.store import audit
from server.store import fields as store
from server.store.db import now_iso
from sync.conflict import Version
from sync.registers import Overlay, Slot


def _storable(value: Answer | Record | None) -> None:
    """InvalidInput unless every pull page can carry the value: MessagePack holds integers of 64
    bits and UTF-8 text only. The checks of sync/inputs.py keep values far inside this; here it
    holds for every write, whoever checked what before."""
    try:
        msgspec.msgpack.encode(value)
    except (OverflowError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"值无法存储与同步 / the value cannot be stored or synced: {exc}") from None


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
        self._overlay = Overlay()
        self._values: dict[str, list[store.ValueOp]] = {table: [] for table, _, _ in store.TABLES.values()}
        self._clocks: list[store.ClockRow] = []
        self._conflicts: list[store.ConflictRow] = []
        self._audit: list[audit.Row] = []

    def load(self, fields: Iterable[Slot]) -> None:
        """Read the stored version and value of these (assessment id, field) pairs: three
        queries per assessment for up to 500 fields."""
        for assessment_id, names in self._overlay.unknown(fields).items():
            versions, values = store.versions_and_values(self.conn, assessment_id, names)
            for field in names:
                stamp = versions.get(field)
                self._overlay.know((assessment_id, field), Version(*stamp) if stamp else None, values.get(field))

    def _slot(self, assessment_id: str, field: str) -> tuple[Version | None, str | None]:
        """The field's version and value (JSON) as the run stands: stored, or written earlier in the run."""
        slot = (assessment_id, field)
        if slot not in self._overlay:
            self.load([slot])
        return self._overlay.get(slot)

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
        _storable(value)
        kind, _, key = field.partition(":")
        table = store.TABLES[kind][0]
        self._slot(assessment_id, field)
        written = None if value is None else msgspec.json.encode(value).decode()
        done = self._overlay.write((assessment_id, field), version, base, written)
        before = None if done.before is None else msgspec.Raw(done.before.encode())  # stored JSON, passed through
        if done.applied:
            if written is None:
                self._values[table].append(("delete", (assessment_id, key)))
            else:
                self._values[table].append(("upsert", (assessment_id, key, written, who.user_id, now_iso())))
            self._clocks.append((assessment_id, field, version.hlc, version.device, mutation_id, int(value is None)))
            action = ("delete_" if value is None else ("set_" if kind == "answer" else "put_")) + kind
            self._audit.append(audit.row(who.user_id, action, kind, key, assessment_id, before, value))
            if self.on_apply is not None:
                self.on_apply(assessment_id)
        if done.conflict:
            assert done.loser is not None
            enc = msgspec.json.encode
            winner_value, loser_value = (value, before) if done.applied else (before, value)
            self._conflicts.append(
                (assessment_id, field, done.winner.token, enc(winner_value).decode(), done.loser.token,
                 enc(loser_value).decode(), None if done.applied else mutation_id, now_iso())
            )
            self._audit.append(audit.row(who.user_id, "conflict", kind, key, assessment_id,
                                         {"version": done.loser.token, "value": loser_value},
                                         {"version": done.winner.token, "value": winner_value}))
        return FieldWrite(done.applied, done.conflict, done.winner.token)

    def flush(self) -> None:
        """Write what the run decided (see store.fields.write), then its audit entries."""
        store.write(self.conn, self._values, self._clocks, self._conflicts)
        audit.append_many(self.conn, self._audit)
        for ops in self._values.values():
            ops.clear()
        self._clocks.clear()
        self._conflicts.clear()
        self._audit.clear()
