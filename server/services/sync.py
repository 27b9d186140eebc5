"""The server side of sync: apply pushed mutations, serve pulls, the reviewer's sync history,
compaction of tombstones and the new epoch after a restore.

Atomicity (documented in docs/sync.md, tested in tests/test_sync_protocol.py):
- A push is applied in **one SQLite transaction per batch**, each mutation inside its own
  SAVEPOINT. A mutation the server refuses (wrong status, not allowed, invalid value) is rolled
  back alone and stored as rejected; the others apply. (Field edits skip the savepoint: they are
  refused only before they write. A run of them is decided one by one and written set-wise by
  server/services/fields.py's FieldWrites before the next other mutation; if a write fails
  unexpectedly, the whole batch is rolled back and applied again with savepoints.) Each result is
  written to `sync_mutations` in the same transaction as its effect, so the batch commits all its
  effects and all its results together, or (crash, power loss, error) none of them: a retry of
  the whole batch then applies it once.
- A replay of a stored mutation id returns the stored result (`duplicate`), never applies twice.

What is kept of refusals (issue 16): a mutation its caller could never have applied (a role that
does not write, a unit outside the caller's subtree, an assessment that does not exist) is
answered `rejected` and not stored: it belongs to no assessment's history, and an account that
cannot write cannot fill the disk with it. Every other refusal is kept with its reason, as DESIGN
asks; past `rejected_kept` refusals of one user's device, without its payload (the id, result
and reason stay, so a replay is still a duplicate).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import sqlite3

import msgspec

from checklists.loader import Catalog
from checklists.model import Answer, Record
from server.errors import Forbidden, InternalError, InvalidInput, NotFound, Problem
from server.services.access import Action, Principal, require
from server.services.assessments import WEB_DEVICE, Assessments
from server.services.fields import FieldWrite, FieldWrites
from server.store import assessments, fields, sync
from server.store import orgs as org_store
from server.store.assessments import AssessmentRow
from server.store.db import now_iso, snapshot, transaction
from server.store.sync import RejectedMutation
from sync import cursor, hlc, wire
from sync.conflict import Version
from sync.limits import LIMITS
from sync.media import MEDIA_TYPES
from sync.wire import (
    AddComment,
    CreateAssessment,
    DeleteAnswer,
    DeleteRecord,
    Mutation,
    MutationResult,
    PullPage,
    PushRequest,
    PushResponse,
    PutRecord,
    SetAnswer,
    Submit,
)

log = logging.getLogger("dabiao.sync")
HORIZON = "tombstone_horizon"  # sync_meta key: the feed's deletions up to here were compacted away


class SyncHistory(msgspec.Struct, frozen=True, kw_only=True):
    conflicts: list[wire.ConflictState]
    rejected: list[RejectedMutation]


class SyncEngine:
    """Push, pull and history for one request, over the assessments service of that request."""

    def __init__(self, service: Assessments, catalog: Catalog, rejected_kept: int = 1000):
        self.service = service
        self.conn: sqlite3.Connection = service.conn
        self.catalog = catalog
        self.clock = service.clock
        self.rejected_kept = rejected_kept  # refusals kept with their payload per user and device
        self._editable_rows: dict[str, AssessmentRow] = {}  # per batch; only create/submit change them
        self._paths: dict[str, str] = {}  # per batch: assessment id -> its unit's path

    def config(self) -> wire.SyncConfig:
        """The limits a phone checks before the official walks away from the site."""
        return wire.SyncConfig(
            max_batch=LIMITS.max_batch,
            max_request_bytes=LIMITS.max_request_bytes,
            max_blob_bytes=LIMITS.max_blob_bytes,
            chunk_bytes=LIMITS.chunk_bytes,
            media_types=list(MEDIA_TYPES),
            pull_page=LIMITS.pull_page,
            tombstone_days=LIMITS.tombstone_days,
            server_hlc=self.clock.now(),
            max_text_chars=LIMITS.max_text_chars,
            max_label_chars=LIMITS.max_label_chars,
            max_attachments=LIMITS.max_attachments,
            max_fields=LIMITS.max_fields,
            max_choices=LIMITS.max_choices,
            max_count=LIMITS.max_count,
            max_number=LIMITS.max_number,
            first_date=LIMITS.first_date.isoformat(),
            last_date=LIMITS.last_date.isoformat(),
            record_id_pattern=LIMITS.record_id_pattern,
            first_period=LIMITS.first_period,
        )

    # -- push ---------------------------------------------------------------------------------

    def push(self, who: Principal, request: PushRequest) -> PushResponse:
        """Apply a batch of mutations; one result per mutation, each stored with its effect."""
        if request.device == WEB_DEVICE:
            raise InvalidInput(f"设备编号 {WEB_DEVICE!r} 保留给网页端 / device id {WEB_DEVICE!r} is reserved", field="device")
        try:
            return self._push(who, request, safe=False)
        except _NeedsSavepoints:  # something unexpected inside a write: redo the batch the careful way
            return self._push(who, request, safe=True)

    def _push(self, who: Principal, request: PushRequest, safe: bool) -> PushResponse:
        ids = [m.id for m in request.mutations]
        results: list[MutationResult] = []
        with transaction(self.conn), self.service.batch():
            stored = {k: _result(v) for k, v in sync.stored_results(self.conn, ids).items()}
            self._editable_rows.clear()
            self._paths.clear()
            logged: list[sync.LogRow] = []
            kept: int | None = None  # refusals of this device kept so far (counted at the first one)
            unstored = 0
            ahead = hlc.fmt(hlc.wall_ms() + LIMITS.max_clock_skew_ms, 0)
            writes: FieldWrites | None = None  # the current run of field edits (fast path only)
            # The server's clock moves past every stamp it accepts: once, to the batch's newest.
            newest = max((m.hlc for m in request.mutations if m.id not in stored and m.hlc <= ahead), default=None)
            if newest is not None:
                self.clock.receive(newest)
            for i, m in enumerate(request.mutations):
                if m.id in stored:
                    results.append(_as_duplicate(stored[m.id]))
                    continue
                never = self._never_applicable(who, m)
                if never is not None:  # answered, not stored: see the module's docstring
                    results.append(_rejected(m, never))
                    unstored += 1
                    continue
                if m.hlc > ahead:  # never let one wrong clock drag the server's clock (and everyone's) along
                    result = _rejected(m, InvalidInput(
                        "手机时间比服务器快一天以上，请校正手机时间后重新发送 / the device clock is more than a day ahead; "
                        "fix it and send again", field="hlc"))
                elif safe or not isinstance(m, wire.FIELD_MUTATIONS):
                    self._flush(writes)  # what follows reads what the run wrote
                    writes = None
                    result = self._apply_one(who, request.device, m, None)
                else:
                    if writes is None:
                        writes = self._field_run(request.mutations, i)
                    result = self._apply_one(who, request.device, m, writes)
                whole = True
                if result.status == "rejected":
                    if kept is None:
                        kept = sync.rejected_count(self.conn, who.user_id, request.device)
                    whole = kept < self.rejected_kept
                    kept += 1
                logged.append(_log_row(m, request.device, who, result, whole))
                stored[m.id] = result
                results.append(result)
            self._flush(writes)
            sync.log(self.conn, logged)  # each result in the transaction that applied its mutation
        if unstored:
            log.info("push by %s (%s): %d mutation(s) it could never apply refused, not stored",
                     who.username, request.device, unstored)
        return PushResponse(results=results, server_hlc=self.clock.now())

    def _never_applicable(self, who: Principal, m: Mutation) -> Problem | None:
        """Why the caller could never apply `m` whatever its content or the assessment's state
        (a role that does not write, a unit outside the caller's subtree, no such assessment or
        unit), or None when it may."""
        if isinstance(m, CreateAssessment):
            path = self._paths.get(m.assessment_id)
            if path is None:
                org = org_store.ref(self.conn, m.org_id)
                if org is None:
                    return NotFound(f"单位不存在 / no such unit: {m.org_id}", field="org_id")
                path = org.path
        else:
            path = self._paths.get(m.assessment_id) or assessments.path_of(self.conn, m.assessment_id)
            if path is None:
                return NotFound(f"评估不存在 / no such assessment: {m.assessment_id}")
            self._paths[m.assessment_id] = path
        action: Action = "review" if isinstance(m, AddComment) and who.role == "reviewer" else "write"
        try:
            require(who, action, path)
        except Forbidden as exc:
            return exc
        return None

    def _field_run(self, mutations: list[Mutation], start: int) -> FieldWrites:
        """A FieldWrites for the field edits from `start` up to the next other mutation, with the
        stored versions and values of all their fields read at once."""
        writes = self.service.field_writes()
        run = itertools.takewhile(lambda m: isinstance(m, wire.FIELD_MUTATIONS), mutations[start:])
        writes.load((m.assessment_id, wire.field_of(m)) for m in run)  # type: ignore[misc]
        return writes

    @staticmethod
    def _flush(writes: FieldWrites | None) -> None:
        """Write a run of field edits. A failure here is unexpected (each edit was checked before
        it was decided): the batch is rolled back and applied again with savepoints."""
        if writes is None:
            return
        try:
            writes.flush()
        except sqlite3.OperationalError:
            raise
        except Exception as exc:
            raise _NeedsSavepoints from exc

    def _apply_one(self, who: Principal, device: str, m: Mutation, writes: FieldWrites | None) -> MutationResult:
        if writes is not None:
            # Fast path: a field edit is refused (Problem) only by checks made before it is
            # decided, and its rows are written with its run's at _flush, so it needs no
            # savepoint; anything else unexpected redoes the batch with savepoints.
            try:
                return self._apply(who, device, m, writes)
            except Problem as exc:
                return _rejected(m, exc)
            except sqlite3.OperationalError:
                raise
            except Exception as exc:
                raise _NeedsSavepoints from exc
        try:
            with transaction(self.conn):  # a savepoint: a refusal rolls back this mutation only
                result = self._apply(who, device, m, None)
        except Problem as exc:
            result = _rejected(m, exc)
        except sqlite3.OperationalError:
            raise  # locked, disk full, I/O: the whole batch fails and the phone retries it
        except Exception:  # a bug must not block the phone's queue: keep the mutation, refuse it
            log.exception("mutation %s (%s) failed", m.id, type(m).__name__)
            result = _rejected(m, InternalError("服务器处理此修改时出错，已记录 / internal error while applying; logged"))
        return result

    def _apply(self, who: Principal, device: str, m: Mutation, writes: FieldWrites | None) -> MutationResult:
        """Apply one mutation; a field edit goes to `writes` (written at its flush) or, without
        it, straight to the database."""
        svc = self.service
        if not isinstance(m, wire.FIELD_MUTATIONS):
            self._editable_rows.clear()
        if isinstance(m, CreateAssessment):
            if assessments.unit_of(self.conn, m.assessment_id) == m.org_id:
                svc.row_for(who, "write", m.assessment_id)
                return MutationResult(id=m.id, status="applied", reason="评估已存在（已由其他设备创建） / already created")
            svc.create(who, m.org_id, m.period, m.standard_ref, assessment_id=m.assessment_id)
            return MutationResult(id=m.id, status="applied")
        if isinstance(m, AddComment):
            svc.comment(who, m.assessment_id, m.item_id, m.body)
            return MutationResult(id=m.id, status="applied")
        if isinstance(m, Submit):
            svc.submit(who, m.assessment_id)
            return MutationResult(id=m.id, status="applied")
        row = self._editable_rows.get(m.assessment_id)
        if row is None:
            row = self._editable_rows[m.assessment_id] = svc.editable(who, m.assessment_id)
        value: Answer | Record | None = None
        if isinstance(m, SetAnswer):
            svc.check_answer(who, row, m.item_id, m.answer)
            value = m.answer
        elif isinstance(m, PutRecord):
            svc.check_record(who, row, m.record)
            value = m.record
        elif isinstance(m, DeleteAnswer):
            svc.check_item(row, m.item_id)
        elif not isinstance(m, DeleteRecord):  # pragma: no cover - the union is closed
            raise InvalidInput(f"unknown operation {type(m).__name__}")
        field = wire.field_of(m)
        assert field is not None
        run = writes if writes is not None else svc.field_writes()  # the careful path: written at once
        written = run.write(who, m.assessment_id, field, value, Version(m.hlc, device), m.base, m.id)
        if writes is None:
            run.flush()
        return _field_result(m.id, written)

    # -- pull ---------------------------------------------------------------------------------

    def pull(self, who: Principal, token: str | None, limit: int = LIMITS.pull_page,
             digests: bool = False) -> PullPage:
        """Everything in the caller's scope that changed since the cursor `token`, one page."""
        require(who, "read", who.org_path)
        scope = who.org_path
        try:
            start = cursor.decode(token, scope)
        except cursor.MalformedCursor:
            raise InvalidInput("同步游标无效，请不带 cursor 重新同步 / malformed cursor; pull without one",
                               field="cursor") from None
        after, reset = start.after, start.reset
        with snapshot(self.conn):  # one read snapshot for the whole page
            horizon = int(sync.meta(self.conn, HORIZON) or 0)
            # Tombstones this phone may be owed are gone (compaction, or a restore's new epoch): a
            # fresh snapshot. A cursor issued under this same horizon is that snapshot being paged.
            if after < horizon and start.horizon < horizon:
                after, reset = 0, True
            rows = sync.changes_after(self.conn, after, scope, limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            changes = [c for c in (self._hydrate(r) for r in rows) if c is not None]
            if more:
                last = rows[-1].seq
            else:
                last = max(after, sync.last_change(self.conn), horizon)  # never older than the horizon given
            standards = [] if more else [
                wire.StandardRef(ref=s.ref, content_hash=s.content_hash)
                for s in self.catalog.list() if s.status == "published"
            ]
            found = self._digests(scope) if digests and not more else None
        return PullPage(
            cursor=cursor.encode(last, scope, horizon),
            more=more,
            reset=reset,
            changes=changes,
            standards=standards,
            server_hlc=self.clock.now(),
            digests=found,
        )

    def _hydrate(self, change: sync.Change) -> wire.Change | None:
        aid, entity, key = change.assessment_id, change.entity, change.key
        if entity == "assessment":
            row = assessments.get(self.conn, aid)
            if row is None:
                return None
            org = self._org(row.org_id)
            return wire.AssessmentState(
                id=row.id, org_id=row.org_id, org_name=row.org_name, standard_ref=row.standard_ref, period=row.period,
                status=row.status, passed=row.passed, score=row.score, updated_at=row.updated_at,
                attributes=org.attributes, parent_org_id=org.parent_id,
            )
        if entity in ("answer", "record"):
            field = f"{entity}:{key}"
            stamp = fields.version(self.conn, aid, field)
            token = Version(*stamp).token if stamp else None
            text = None if change.deleted else fields.value(self.conn, aid, field)
            if entity == "answer":
                answer = None if text is None else msgspec.json.decode(text, type=Answer)
                return wire.AnswerState(assessment_id=aid, item_id=key, answer=answer, version=token)
            record = None if text is None else msgspec.json.decode(text, type=Record)
            return wire.RecordState(assessment_id=aid, record_id=key, record=record, version=token)
        if entity == "comment":
            c = assessments.comment(self.conn, int(key))
            if c is None:
                return None
            return wire.CommentState(assessment_id=aid, id=c.id, item_id=c.item_id, author=c.author, kind=c.kind,
                                     body=c.body, created_at=c.created_at)
        if entity == "spot_check":
            mark = assessments.spot_check(self.conn, aid, key)
            if mark is None:
                return None
            return wire.SpotCheckState(assessment_id=aid, item_id=key, result=mark.result, note=mark.note,
                                       checked_at=mark.checked_at)
        if entity == "conflict":
            kept = fields.conflict(self.conn, int(key))
            return None if kept is None else _conflict(kept)
        return None

    def _org(self, org_id: str) -> org_store.Org:
        found = org_store.get(self.conn, org_id)
        assert found is not None  # an assessment's unit exists (foreign key)
        return found

    def _digests(self, scope: str) -> list[wire.Digest]:
        out = []
        for aid in assessments.ids_under(self.conn, scope):
            answers = self.service.answers(aid)
            records = {r.id: r for r in self.service.records(aid)}
            out.append(wire.Digest(assessment_id=aid, answers=len(answers), records=len(records),
                                   checksum=wire.checksum(answers, records)))
        return out

    # -- history ------------------------------------------------------------------------------

    def history(self, who: Principal, assessment_id: str) -> SyncHistory:
        """What the reviewer sees: every conflict (both values) and every refused phone edit."""
        self.service.row_for(who, "read", assessment_id)
        return SyncHistory(conflicts=[_conflict(c) for c in fields.conflicts_of(self.conn, assessment_id)],
                           rejected=sync.refused(self.conn, assessment_id))


# -- housekeeping (the CLI and the app's start-up) --------------------------------------------


def compact(conn: sqlite3.Connection, now: dt.datetime, days: int = LIMITS.tombstone_days) -> int:
    """Drop tombstones older than `days` and move the horizon past them; returns how many.

    A phone whose cursor is older than the horizon gets a fresh snapshot (reset) on its next pull.
    """
    cutoff = (now - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with transaction(conn):
        dropped = sync.drop_tombstones(conn, cutoff)
        if dropped is None:
            return 0
        top, n = dropped
        sync.set_meta(conn, HORIZON, str(top))
    return n


def clock_seed(conn: sqlite3.Connection) -> str:
    """Where the server's clock starts: past every stamp it has stored (bounded by the skew limit),
    so an edit made after a restart still orders after what it replaced."""
    return fields.newest_stamp(conn, hlc.fmt(hlc.wall_ms() + LIMITS.max_clock_skew_ms, 0)) or hlc.ZERO


EPOCH_GAP = 1_000_000_000


def new_epoch(conn: sqlite3.Connection) -> int:
    """After a restore (from a backup or Litestream) phones may hold cursors past the restored
    change feed: jump the sequence far ahead and put the tombstone horizon there, so every cursor
    handed out before is older than the horizon and its next pull is a fresh snapshot."""
    with transaction(conn):
        horizon = sync.jump_sequence(conn, EPOCH_GAP)
        sync.set_meta(conn, HORIZON, str(horizon))
    return horizon


class _NeedsSavepoints(Exception):
    """Raised on the fast path when a field edit failed unexpectedly part-way through its writes."""


def _result(stored: sync.StoredResult) -> MutationResult:
    return msgspec.convert(msgspec.structs.asdict(stored), MutationResult)


def _rejected(m: Mutation, exc: Problem) -> MutationResult:
    return MutationResult(id=m.id, status="rejected", problem=exc.body()["type"], reason=exc.detail)


def _log_row(m: Mutation, device: str, who: Principal, r: MutationResult, whole: bool = True) -> sync.LogRow:
    """The row kept of a mutation and its result; without the payload (`whole` False) only what
    names the mutation: its operation, id, stamp and assessment."""
    op = type(m).__struct_config__.tag
    payload = msgspec.json.encode(m if whole else {"op": op, "id": m.id, "hlc": m.hlc, "assessment_id": m.assessment_id,
                                                   "omitted": "超出保留上限，内容未保存 / over the kept limit; payload not stored"})
    return (m.id, device, who.user_id, m.hlc, op, m.assessment_id,  # type: ignore[return-value]
            payload.decode(), r.status, r.outcome, r.problem, r.reason, r.winner, now_iso())


def _conflict(c: fields.Conflict) -> wire.ConflictState:
    return wire.ConflictState(assessment_id=c.assessment_id, id=c.id, field=c.field, winner=c.winner,
                              winner_value=c.winner_value, loser=c.loser, loser_value=c.loser_value,
                              loser_mutation=c.loser_mutation, at=c.at)


def _as_duplicate(stored: MutationResult) -> MutationResult:
    return msgspec.structs.replace(stored, status="duplicate", original=stored.status)


def _field_result(mutation_id: str, written: FieldWrite) -> MutationResult:
    return MutationResult(id=mutation_id, status="conflict" if written.conflict else "applied",
                          outcome="applied" if written.applied else "superseded", winner=written.winner)
