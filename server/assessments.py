"""Assessments: a unit + a pinned standard version + a period (year), its answers and dated
records, the stored scoring result, and the review workflow with its append-only audit log.

Workflow (server-authoritative):
    draft --submit--> submitted --return--> returned --submit--> resubmitted
    submitted | resubmitted --accept--> accepted,  --reject--> rejected
Answers and records change only in draft or returned. Every change and transition is audited.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from checklists.loader import Catalog
from checklists.model import Answer, AnswerSheet, ChildFacts, Record, Result, Standard
from checklists.scoring import InvalidAnswers, check_sheet, score
from server.access import org_path, require
from server.audit import audit, now_iso
from server.auth import Principal
from server.db import select_in, transaction
from server.fields import FieldWrites
from server.problems import (
    Conflict,
    Incomplete,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPassed,
    UnknownStandard,
)
from sync.conflict import Version
from sync.hlc import Clock
from sync.wire import assessment_id as derived_id

WEB_DEVICE = "web"  # the device id of edits made through the REST API (the bureau's browsers)

Status = Literal["draft", "submitted", "returned", "resubmitted", "accepted", "rejected"]
EDITABLE = frozenset({"draft", "returned"})
UNDER_REVIEW = frozenset({"submitted", "resubmitted"})
STATUS_NAMES = {
    "draft": "填报中",
    "submitted": "待审核",
    "returned": "已退回整改",
    "resubmitted": "整改后重新提交",
    "accepted": "已验收",
    "rejected": "未通过验收",
}


class Comment(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    item_id: str | None
    author: str
    kind: str
    body: str
    created_at: str


class SpotCheck(msgspec.Struct, frozen=True, kw_only=True):
    item_id: str
    result: Literal["confirmed", "disputed"]
    note: str
    checked_by: str
    checked_at: str


class AssessmentSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    org_id: str
    org_name: str
    standard_ref: str
    period: int
    status: Status
    passed: bool | None
    score: float | None
    updated_at: str


class AssessmentView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    org_id: str
    org_name: str
    standard_ref: str
    period: int
    status: Status
    status_name: str
    passed: bool | None
    score: float | None
    created_at: str
    updated_at: str
    submitted_at: str | None
    decided_at: str | None
    answers: dict[str, Answer]
    records: list[Record]
    comments: list[Comment]
    spot_checks: list[SpotCheck]
    result: Result | None


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: str
    actor: str | None
    action: str
    entity: str
    entity_id: str
    before: Any
    after: Any


def _known_item(standard: Standard, item_id: str, field: str | None) -> None:
    """InvalidInput naming the item when the pinned standard has no such item."""
    try:
        standard.item(item_id)
    except KeyError:
        raise InvalidInput(f"无此检查项 / no item {item_id}", item=item_id, field=field) from None


class Assessments:
    """Operations on assessments; every one checks the caller's role and scope first."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        catalog: Catalog,
        today: dt.date,
        on_accept: Callable[[sqlite3.Connection, Principal, str], object] | None = None,
        clock: Clock | None = None,
    ):
        self.conn = conn
        self.catalog = catalog
        self.today = today
        self.clock = clock or Clock()
        # When a set, rescoring is deferred: ids are collected and the caller calls rescore_pending()
        # once (the sync engine does, at the end of a batch, inside its transaction).
        self.deferred: set[str] | None = None
        # Called inside the acceptance transaction (issues the certificate): both happen or neither.
        self.on_accept = on_accept

    # -- reading ------------------------------------------------------------------------------

    def _row(self, assessment_id: str) -> sqlite3.Row:
        row = self.conn.execute(
            "SELECT a.*, o.path AS org_path, o.name AS org_name FROM assessments a JOIN orgs o ON o.id = a.org_id "
            "WHERE a.id = ?",
            (assessment_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"评估不存在 / no such assessment: {assessment_id}")
        return row

    def _guard(self, who: Principal, action: str, assessment_id: str) -> sqlite3.Row:
        row = self._row(assessment_id)
        require(who, action, row["org_path"])  # type: ignore[arg-type]
        return row

    def standard(self, ref: str) -> Standard:
        try:
            return self.catalog.get(ref)
        except KeyError:
            raise UnknownStandard(f"标准版本不存在 / unknown standard version {ref!r}", field="standard_ref") from None

    def answers(self, assessment_id: str) -> dict[str, Answer]:
        rows = self.conn.execute("SELECT item_id, answer FROM answers WHERE assessment_id = ?", (assessment_id,))
        return {r[0]: msgspec.json.decode(r[1], type=Answer) for r in rows}

    def records(self, assessment_id: str) -> list[Record]:
        rows = self.conn.execute("SELECT record FROM records WHERE assessment_id = ? ORDER BY id", (assessment_id,))
        return [msgspec.json.decode(r[0], type=Record) for r in rows]

    def view(self, who: Principal, assessment_id: str) -> AssessmentView:
        row = self._guard(who, "read", assessment_id)
        comments = [
            Comment(id=r[0], item_id=r[1], author=r[2], kind=r[3], body=r[4], created_at=r[5])
            for r in self.conn.execute(
                "SELECT c.id, c.item_id, u.display_name, c.kind, c.body, c.created_at FROM comments c "
                "JOIN users u ON u.id = c.author_id WHERE c.assessment_id = ? ORDER BY c.id",
                (assessment_id,),
            )
        ]
        checks = [
            SpotCheck(item_id=r[0], result=r[1], note=r[2], checked_by=r[3], checked_at=r[4])
            for r in self.conn.execute(
                "SELECT s.item_id, s.result, s.note, u.display_name, s.checked_at FROM spot_checks s "
                "JOIN users u ON u.id = s.checked_by WHERE s.assessment_id = ? ORDER BY s.item_id",
                (assessment_id,),
            )
        ]
        return AssessmentView(
            id=row["id"],
            org_id=row["org_id"],
            org_name=row["org_name"],
            standard_ref=row["standard_ref"],
            period=row["period"],
            status=row["status"],
            status_name=STATUS_NAMES[row["status"]],
            passed=None if row["passed"] is None else bool(row["passed"]),
            score=row["score"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            submitted_at=row["submitted_at"],
            decided_at=row["decided_at"],
            answers=self.answers(assessment_id),
            records=self.records(assessment_id),
            comments=comments,
            spot_checks=checks,
            result=None if row["result"] is None else msgspec.json.decode(row["result"], type=Result),
        )

    def list(
        self, who: Principal, org_id: str | None, status: str | None, period: int | None, limit: int, offset: int
    ) -> list[AssessmentSummary]:
        require(who, "read", who.org_path)
        root = who.org_path
        if org_id is not None:
            root = org_path(self.conn, org_id)
            require(who, "read", root)
        sql = (
            "SELECT a.id, a.org_id, o.name, a.standard_ref, a.period, a.status, a.passed, a.score, a.updated_at "
            "FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE o.path LIKE ? || '%'"
        )
        args: list[object] = [root]
        if status is not None:
            sql += " AND a.status = ?"
            args.append(status)
        if period is not None:
            sql += " AND a.period = ?"
            args.append(period)
        sql += " ORDER BY o.path, a.period LIMIT ? OFFSET ?"
        args += [limit, offset]
        return [
            AssessmentSummary(
                id=r[0],
                org_id=r[1],
                org_name=r[2],
                standard_ref=r[3],
                period=r[4],
                status=r[5],
                passed=None if r[6] is None else bool(r[6]),
                score=r[7],
                updated_at=r[8],
            )
            for r in self.conn.execute(sql, args)
        ]

    def audit_log(self, who: Principal, assessment_id: str) -> list[AuditEntry]:
        self._guard(who, "read", assessment_id)
        return [
            AuditEntry(
                seq=r[0],
                at=r[1],
                actor=r[2],
                action=r[3],
                entity=r[4],
                entity_id=r[5],
                before=None if r[6] is None else msgspec.json.decode(r[6]),
                after=None if r[7] is None else msgspec.json.decode(r[7]),
            )
            for r in self.conn.execute(
                "SELECT l.seq, l.at, u.username, l.action, l.entity, l.entity_id, l.before, l.after FROM audit_log l "
                "LEFT JOIN users u ON u.id = l.actor_id WHERE l.assessment_id = ? ORDER BY l.seq",
                (assessment_id,),
            )
        ]

    # -- creating and editing -----------------------------------------------------------------

    def create(self, who: Principal, org_id: str, period: int, standard_ref: str | None) -> AssessmentView:
        assessment_id = self.create_with_id(who, None, org_id, period, standard_ref)
        return self.view(who, assessment_id)

    def create_with_id(
        self, who: Principal, assessment_id: str | None, org_id: str, period: int, standard_ref: str | None
    ) -> str:
        """Create the assessment. Its id is derived from unit, standard version and year (a phone
        computes the same id offline, see sync/wire.py); a phone may only create that id."""
        org = self.conn.execute("SELECT path, level, standard_ref FROM orgs WHERE id = ?", (org_id,)).fetchone()
        if org is None:
            raise NotFound(f"单位不存在 / no such unit: {org_id}", field="org_id")
        require(who, "write", org["path"])
        ref = standard_ref or org["standard_ref"]
        if ref is None:
            raise InvalidInput("该单位未配置适用标准，请指定 standard_ref / no standard configured", field="standard_ref")
        standard = self.standard(ref)
        if standard.level != org["level"]:
            raise InvalidInput(
                f"标准 {ref} 适用于{standard.level}，该单位为{org['level']} / standard level mismatch",
                field="standard_ref",
            )
        expected = derived_id(org_id, standard.ref, period)
        if assessment_id is not None and assessment_id != expected:
            raise InvalidInput(
                f"评估编号应为 {expected} / assessment id must be derived from unit, standard and year",
                field="assessment_id",
            )
        at = now_iso()
        with transaction(self.conn):
            try:
                self.conn.execute(
                    "INSERT INTO assessments (id, org_id, standard_ref, period, status, created_by, created_at, updated_at) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (expected, org_id, standard.ref, period, "draft", who.user_id, at, at),
                )
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"该单位 {period} 年度已有此标准的评估 / assessment already exists", field="period"
                ) from None
            audit(self.conn, who, "create", "assessment", expected, expected, None,
                  {"org_id": org_id, "standard_ref": standard.ref, "period": period})
            self._rescore(expected)
        return expected

    def _editable(self, who: Principal, assessment_id: str) -> sqlite3.Row:
        row = self._guard(who, "write", assessment_id)
        if row["status"] not in EDITABLE:
            raise InvalidTransition(
                f"评估状态为“{STATUS_NAMES[row['status']]}”，不能修改 / assessment is {row['status']}; edits are refused",
                status_now=row["status"],
            )
        return row

    def set_answer(self, who: Principal, assessment_id: str, item_id: str, answer: Answer) -> Result:
        self._validate_answer(self._editable(who, assessment_id), item_id, answer)
        return self._web_write(who, assessment_id, f"answer:{item_id}", answer)

    def delete_answer(self, who: Principal, assessment_id: str, item_id: str) -> Result:
        self._editable(who, assessment_id)
        if self.answers(assessment_id).get(item_id) is None:
            raise NotFound(f"该项尚未填写 / no answer for {item_id}", item=item_id)
        return self._web_write(who, assessment_id, f"answer:{item_id}", None)

    def put_record(self, who: Principal, assessment_id: str, record: Record) -> Result:
        self._validate_record(self._editable(who, assessment_id), record)
        return self._web_write(who, assessment_id, f"record:{record.id}", record)

    def delete_record(self, who: Principal, assessment_id: str, record_id: str) -> Result:
        self._editable(who, assessment_id)
        if self._current(assessment_id, f"record:{record_id}") is None:
            raise NotFound(f"记录不存在 / no such record: {record_id}")
        return self._web_write(who, assessment_id, f"record:{record_id}", None)

    def _validate_answer(self, row: sqlite3.Row, item_id: str, answer: Answer) -> None:
        self._check(self.standard(row["standard_ref"]), AnswerSheet(answers={item_id: answer}))

    def _validate_item(self, row: sqlite3.Row, item_id: str) -> None:
        _known_item(self.standard(row["standard_ref"]), item_id, "item_id")

    def _validate_record(self, row: sqlite3.Row, record: Record) -> None:
        self._check(self.standard(row["standard_ref"]), AnswerSheet(records=[record]))

    def _web_write(self, who: Principal, assessment_id: str, field: str, value: Answer | Record | None) -> Result:
        """A browser edit: it has seen the current value, so it is never a conflict."""
        with transaction(self.conn):
            writes = self.field_writes()
            base = writes.version(assessment_id, field)
            if base is not None:
                self.clock.receive(base.hlc)  # the new stamp orders after the value it replaces
            writes.write(who, assessment_id, field, value, Version(self.clock.now(), WEB_DEVICE),
                         base.token if base else None, None)
            writes.flush()
            return self._rescore(assessment_id)

    # -- fields: answers and records as last-writer-wins registers -----------------------------

    def version(self, assessment_id: str, field: str) -> Version | None:
        row = self.conn.execute(
            "SELECT hlc, device FROM field_clock WHERE assessment_id = ? AND field = ?", (assessment_id, field)
        ).fetchone()
        return None if row is None else Version(row[0], row[1])

    def _current(self, assessment_id: str, field: str) -> Answer | Record | None:
        kind, _, key = field.partition(":")
        if kind == "answer":
            row = self.conn.execute(
                "SELECT answer FROM answers WHERE assessment_id = ? AND item_id = ?", (assessment_id, key)
            ).fetchone()
            return None if row is None else msgspec.json.decode(row[0], type=Answer)
        row = self.conn.execute(
            "SELECT record FROM records WHERE assessment_id = ? AND id = ?", (assessment_id, key)
        ).fetchone()
        return None if row is None else msgspec.json.decode(row[0], type=Record)

    def field_writes(self) -> FieldWrites:
        """A run of answer/record writes in the caller's transaction (see server/fields.py);
        every applied write marks its assessment for rescoring."""
        return FieldWrites(self.conn, on_apply=self._rescore_later)

    @staticmethod
    def _check(standard: Standard, sheet: AnswerSheet) -> None:
        problems = check_sheet(standard, sheet)
        if problems:
            first = problems[0].split(":", 1)[0]
            item = first.split(".", 1)[1] if first.startswith("answers.") else None
            raise InvalidInput(
                "答案与标准不符 / answer does not fit the standard: " + "; ".join(problems),
                field=first,
                item=item,
                errors=problems,
            )

    # -- scoring ------------------------------------------------------------------------------

    def as_of(self, period: int) -> dt.date:
        return min(self.today, dt.date(period, 12, 31))

    def sheet(self, assessment_id: str) -> tuple[Standard, AnswerSheet, dt.date]:
        row = self._row(assessment_id)
        org = self.conn.execute("SELECT attributes FROM orgs WHERE id = ?", (row["org_id"],)).fetchone()
        standard = self.standard(row["standard_ref"])
        known = {a.key for a in standard.attributes}
        attributes = {k: v for k, v in msgspec.json.decode(org[0]).items() if k in known}
        children = []
        if standard.level == "township":
            for child in self.conn.execute(
                "SELECT a.id, o.name FROM assessments a JOIN orgs o ON o.id = a.org_id "
                "WHERE o.parent_id = ? AND a.period = ? ORDER BY o.id",
                (row["org_id"], row["period"]),
            ):
                children.append(ChildFacts(unit=child[1], answers=self.answers(child[0])))
        sheet = AnswerSheet(
            unit=row["org_name"],
            attributes=attributes,
            answers=self.answers(assessment_id),
            records=self.records(assessment_id),
            children=children,
        )
        return standard, sheet, self.as_of(row["period"])

    def _rescore_later(self, assessment_id: str) -> None:
        if self.deferred is not None:
            self.deferred.add(assessment_id)

    def rescore_pending(self) -> None:
        """Rescore every assessment a deferred batch touched (and, through them, their townships)."""
        pending, self.deferred = self.deferred or set(), set()
        for assessment_id in sorted(pending):
            self._rescore(assessment_id)

    def _rescore(self, assessment_id: str) -> Result:
        """Recompute and store the result (inside the caller's transaction); then the parent's."""
        standard, sheet, as_of = self.sheet(assessment_id)
        try:
            result = score(standard, sheet, as_of)
        except InvalidAnswers as exc:  # stored data no longer fits: a bug, not user input
            raise Conflict("已存储的答案与标准不符 / stored answers do not fit the standard", errors=exc.problems) from None
        dims = {d.code: d.passed for d in result.dimensions}
        self.conn.execute(
            "UPDATE assessments SET result = ?, passed = ?, score = ?, dims = ?, updated_at = ? WHERE id = ?",
            (msgspec.json.encode(result).decode(), int(result.passed), result.score, msgspec.json.encode(dims).decode(),
             now_iso(), assessment_id),
        )
        if standard.level == "village":  # the township's computed items (一村一案 ...) depend on it
            parents = self.conn.execute(
                "SELECT p.id FROM assessments a JOIN orgs o ON o.id = a.org_id "
                "JOIN assessments p ON p.org_id = o.parent_id AND p.period = a.period WHERE a.id = ?",
                (assessment_id,),
            ).fetchall()
            for (parent_id,) in parents:
                self._rescore(parent_id)
        return result

    def result(self, who: Principal, assessment_id: str) -> Result:
        row = self._guard(who, "read", assessment_id)
        if row["result"] is None:
            with transaction(self.conn):
                return self._rescore(assessment_id)
        return msgspec.json.decode(row["result"], type=Result)

    # -- workflow -----------------------------------------------------------------------------

    def missing_for_submission(self, assessment_id: str) -> list[dict[str, str]]:
        """Mandatory items not answered, and referenced attachments that have not arrived."""
        standard, sheet, as_of = self.sheet(assessment_id)
        result = score(standard, sheet, as_of)
        missing = [
            {"item": r.id, "reason": r.reason} for r in result.items if r.mandatory and r.status == "missing"
        ]
        refs = {(a.sha256, item_id) for item_id, ans in sheet.answers.items() for a in ans.evidence}
        refs |= {(a.sha256, f"record:{rec.id}") for rec in sheet.records for a in rec.attachments}
        if refs:
            shas = sorted({s for s, _ in refs})
            present = {r[0] for r in select_in(self.conn, "SELECT sha256 FROM attachments WHERE sha256 IN", shas)}
            for sha, where in sorted(refs):
                if sha not in present:
                    missing.append({"item": where, "reason": f"证明材料尚未上传 / attachment {sha[:12]}… not uploaded"})
        return missing

    def submit(self, who: Principal, assessment_id: str) -> AssessmentView:
        self.submit_now(who, assessment_id)
        return self.view(who, assessment_id)

    def submit_now(self, who: Principal, assessment_id: str) -> None:
        row = self._guard(who, "write", assessment_id)
        if row["status"] not in EDITABLE:
            raise InvalidTransition(
                f"评估状态为“{STATUS_NAMES[row['status']]}”，不能提交 / cannot submit from {row['status']}"
            )
        missing = self.missing_for_submission(assessment_id)
        if missing:
            raise Incomplete(
                f"尚有 {len(missing)} 项未完成，不能提交 / {len(missing)} thing(s) missing", missing=missing
            )
        new = "submitted" if row["status"] == "draft" else "resubmitted"
        self._transition(who, row, new, "submit", None, [])

    def decide(
        self,
        who: Principal,
        assessment_id: str,
        decision: Literal["return", "accept", "reject"],
        comment: str,
        item_comments: list[tuple[str, str]],
    ) -> AssessmentView:
        row = self._guard(who, "review", assessment_id)
        if row["status"] not in UNDER_REVIEW:
            raise InvalidTransition(
                f"评估状态为“{STATUS_NAMES[row['status']]}”，不能{ {'return': '退回', 'accept': '验收', 'reject': '否决'}[decision]} "
                f"/ cannot {decision} an assessment that is {row['status']}"
            )
        if decision == "return" and not (comment.strip() or item_comments):
            raise InvalidInput("退回须说明整改意见 / a return needs a comment", field="comment")
        standard = self.standard(row["standard_ref"])
        for item_id, _ in item_comments:
            _known_item(standard, item_id, "items")
        if decision == "accept":
            self._check_acceptable(row)
        new = {"return": "returned", "accept": "accepted", "reject": "rejected"}[decision]
        self._transition(who, row, new, decision, comment, item_comments)
        return self.view(who, assessment_id)

    def _check_acceptable(self, row: sqlite3.Row) -> None:
        """Acceptance certifies 达标: refused while the stored result does not pass (every
        dimension's mandatory items), or while an on-site spot check disputes an item; the reviewer
        returns such an assessment for rework or rejects it."""
        result = msgspec.json.decode(row["result"], type=Result) if row["result"] else None
        if result is None or not result.passed:
            failing = [i for d in (result.dimensions if result else []) for i in d.failing]
            dims = "、".join(d.name for d in (result.dimensions if result else []) if not d.passed)
            raise NotPassed(
                f"评估结果未达标（{dims or '尚无结果'}），请退回整改或否决 / the result does not pass: "
                f"return it for rework or reject it", failing=failing)
        disputed = [r[0] for r in self.conn.execute(
            "SELECT item_id FROM spot_checks WHERE assessment_id = ? AND result = 'disputed' ORDER BY item_id",
            (row["id"],))]
        if disputed:
            raise NotPassed(
                f"现场抽查有异议的条目：{'、'.join(disputed)}，请退回整改或否决 / on-site spot checks dispute "
                f"{', '.join(disputed)}", item=disputed[0], failing=disputed)

    def _transition(
        self,
        who: Principal,
        row: sqlite3.Row,
        new: Status,
        action: str,
        comment: str | None,
        item_comments: list[tuple[str, str]],
    ) -> None:
        at = now_iso()
        with transaction(self.conn):
            # Compare-and-set: a concurrent transition makes this one fail rather than both apply.
            changed = self.conn.execute(
                "UPDATE assessments SET status = ?, updated_at = ?, "
                "submitted_at = CASE WHEN ? = 'submit' THEN ? ELSE submitted_at END, "
                "decided_at = CASE WHEN ? IN ('accept','reject') THEN ? ELSE decided_at END "
                "WHERE id = ? AND status = ?",
                (new, at, action, at, action, at, row["id"], row["status"]),
            ).rowcount
            if not changed:
                raise Conflict("评估状态已被他人更改，请刷新 / status changed concurrently; reload")
            if comment and comment.strip():
                self._comment(who, row["id"], None, action, comment.strip(), at)
            for item_id, body in item_comments:
                self._comment(who, row["id"], item_id, action, body, at)
            audit(self.conn, who, action, "assessment", row["id"], row["id"], {"status": row["status"]},
                  {"status": new, "comment": comment, "items": dict(item_comments)})
            if new == "accepted" and self.on_accept is not None:
                issued = self.on_accept(self.conn, who, row["id"])
                audit(self.conn, who, "issue_certificate", "certificate", getattr(issued, "serial", "-"), row["id"],
                      None, issued)

    def _comment(self, who: Principal, assessment_id: str, item_id: str | None, kind: str, body: str, at: str) -> None:
        self.conn.execute(
            "INSERT INTO comments (assessment_id, item_id, author_id, kind, body, created_at) VALUES (?,?,?,?,?,?)",
            (assessment_id, item_id, who.user_id, kind, body, at),
        )

    def comment(self, who: Principal, assessment_id: str, item_id: str | None, body: str) -> AssessmentView:
        self.add_comment(who, assessment_id, item_id, body)
        return self.view(who, assessment_id)

    def add_comment(self, who: Principal, assessment_id: str, item_id: str | None, body: str) -> None:
        """Reviewers comment at any time; field staff may answer comments while editing."""
        row = self._row(assessment_id)
        action = "review" if who.role == "reviewer" else "write"
        require(who, action, row["org_path"])
        if item_id is not None:
            _known_item(self.standard(row["standard_ref"]), item_id, "item_id")
        with transaction(self.conn):
            self._comment(who, assessment_id, item_id, "comment", body, now_iso())
            audit(self.conn, who, "comment", "comment", item_id or "-", assessment_id, None, {"body": body})

    def spot_check(self, who: Principal, assessment_id: str, item_id: str, result: str, note: str) -> AssessmentView:
        """An on-site spot-check mark by the reviewer on one item (confirmed or disputed)."""
        row = self._guard(who, "review", assessment_id)
        _known_item(self.standard(row["standard_ref"]), item_id, None)
        before = self.conn.execute(
            "SELECT result, note FROM spot_checks WHERE assessment_id = ? AND item_id = ?", (assessment_id, item_id)
        ).fetchone()
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO spot_checks VALUES (?,?,?,?,?,?) ON CONFLICT (assessment_id, item_id) DO UPDATE SET "
                "result = excluded.result, note = excluded.note, checked_by = excluded.checked_by, "
                "checked_at = excluded.checked_at",
                (assessment_id, item_id, result, note, who.user_id, now_iso()),
            )
            audit(self.conn, who, "spot_check", "spot_check", item_id, assessment_id,
                  dict(before) if before else None, {"result": result, "note": note})
        return self.view(who, assessment_id)
