"""Assessments: a unit + a pinned standard version + a period (year), its answers and dated
records, the stored scoring result, and the review workflow with its append-only audit log.

Workflow (server-authoritative):
    draft --submit--> submitted --return--> returned --submit--> resubmitted
    submitted | resubmitted --accept--> accepted,  --reject--> rejected
Answers and records change only in draft or returned. Every change and transition is audited.
Acceptance signs the certificate in the same transaction and files its PDF after the commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import msgspec

from checklists.loader import Catalog
from checklists.model import Answer, AnswerSheet, ChildFacts, Record, Result, Standard
from checklists.scoring import InvalidAnswers, SheetProblem, score
from server.errors import (
    Conflict,
    Forbidden,
    Incomplete,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPassed,
    Problem,
    StalePage,
    UnknownStandard,
)
from server.services.acceptance import Acceptance
from server.services.access import Action, Principal, require
from server.services.fields import FieldWrites
from server.services.orgs import unit
from server.services.uploads import may_read
from server.store import assessments as store
from server.store import attachments, audit, orgs
from server.store import fields as field_store
from server.store.assessments import AssessmentRow, AssessmentSummary, Comment, SpotCheck, Status
from server.store.audit import AuditEntry
from server.store.db import now_iso, transaction
from sync import inputs
from sync.conflict import Version
from sync.hlc import Clock
from sync.limits import LIMITS
from sync.wire import assessment_id as derived_id

__all__ = [
    "WEB_DEVICE",
    "AssessmentSummary",
    "AssessmentView",
    "Assessments",
    "AuditEntry",
    "Comment",
    "SpotCheck",
    "Status",
]

log = logging.getLogger("dabiao.assessments")
WEB_DEVICE = "web"  # the device id of edits made through the REST API (the bureau's browsers)

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
Decision = Literal["return", "accept", "reject"]
_DECIDED: dict[str, Status] = {"return": "returned", "accept": "accepted", "reject": "rejected"}
_DECISION_NAMES = {"return": "退回", "accept": "验收", "reject": "否决"}


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
        clock: Clock | None = None,
        acceptance: Acceptance | None = None,
    ):
        self.conn = conn
        self.catalog = catalog
        self.today = today
        self.clock = clock or Clock()
        # Issues the certificate of an accepted assessment; without it (the demo loader's own
        # service, tests) acceptance is recorded without a certificate.
        self.acceptance = acceptance
        self._deferred: set[str] | None = None  # inside batch(): assessments to rescore at its end

    # -- reading ------------------------------------------------------------------------------

    def _row(self, assessment_id: str) -> AssessmentRow:
        row = store.get(self.conn, assessment_id)
        if row is None:
            raise NotFound(f"评估不存在 / no such assessment: {assessment_id}")
        return row

    def row_for(self, who: Principal, action: Action, assessment_id: str) -> AssessmentRow:
        """The assessment, if the caller may do `action` on its unit (Forbidden, NotFound otherwise)."""
        row = self._row(assessment_id)
        require(who, action, row.org_path)
        return row

    def standard(self, ref: str) -> Standard:
        """A standard version of the catalog; UnknownStandard when there is none."""
        try:
            return self.catalog.get(ref)
        except KeyError:
            raise UnknownStandard(f"标准版本不存在 / unknown standard version {ref!r}", field="standard_ref") from None

    def answers(self, assessment_id: str) -> dict[str, Answer]:
        """The assessment's answers by item id."""
        return {k: msgspec.json.decode(v, type=Answer) for k, v in field_store.answers(self.conn, assessment_id).items()}

    def records(self, assessment_id: str) -> list[Record]:
        """The assessment's dated records, by record id."""
        return [msgspec.json.decode(r, type=Record) for r in field_store.records(self.conn, assessment_id)]

    def view(self, who: Principal, assessment_id: str) -> AssessmentView:
        """Everything of an assessment the caller may read."""
        row = self.row_for(who, "read", assessment_id)
        return AssessmentView(
            id=row.id,
            org_id=row.org_id,
            org_name=row.org_name,
            standard_ref=row.standard_ref,
            period=row.period,
            status=row.status,
            status_name=STATUS_NAMES[row.status],
            passed=row.passed,
            score=row.score,
            created_at=row.created_at,
            updated_at=row.updated_at,
            submitted_at=row.submitted_at,
            decided_at=row.decided_at,
            answers=self.answers(assessment_id),
            records=self.records(assessment_id),
            comments=store.comments(self.conn, assessment_id),
            spot_checks=store.spot_checks(self.conn, assessment_id),
            result=None if row.result is None else msgspec.json.decode(row.result, type=Result),
        )

    def summaries(
        self, who: Principal, org_id: str | None, status: str | None, period: int | None, limit: int, offset: int
    ) -> list[AssessmentSummary]:
        """Assessments in the caller's subtree (or under `org_id`), by unit and year."""
        require(who, "read", who.org_path)
        root = who.org_path
        if org_id is not None:
            root = unit(self.conn, org_id).path
            require(who, "read", root)
        return store.summaries(self.conn, root, status, period, limit, offset)

    def audit_log(self, who: Principal, assessment_id: str) -> list[AuditEntry]:
        """Every change and transition of an assessment, oldest first."""
        self.row_for(who, "read", assessment_id)
        return audit.of_assessment(self.conn, assessment_id)

    # -- creating and editing -----------------------------------------------------------------

    def create(self, who: Principal, org_id: str, period: int, standard_ref: str | None,
               assessment_id: str | None = None) -> str:
        """Create the assessment; returns its id. The id is derived from unit, standard version and
        year (a phone computes the same id offline, see sync/wire.py); a phone may only create that
        id, given as `assessment_id`. The standard is the unit's configured one, in any version."""
        org = orgs.get(self.conn, org_id)
        if org is None:
            raise NotFound(f"单位不存在 / no such unit: {org_id}", field="org_id")
        require(who, "write", org.path)
        if org.standard_ref is None:
            raise InvalidInput("该单位未配置适用标准，请联系管理员配置 / no standard is configured for this unit",
                               field="standard_ref")
        standard = self.standard(standard_ref or org.standard_ref)
        configured = org.standard_ref.partition("@")[0]
        if standard.id != configured:
            # A unit is held to its own jurisdiction's standard (a newer version of it is fine):
            # not another district's overlay, not the base its overlay builds on.
            raise InvalidInput(
                f"{org.name}适用的标准是 {configured}，不能按 {standard.ref} 评估 / this unit is assessed on "
                f"{configured} (any version), not {standard.ref}", field="standard_ref")
        if standard.level != org.level:
            raise InvalidInput(
                f"标准 {standard.ref} 适用于{standard.level}，该单位为{org.level} / standard level mismatch",
                field="standard_ref",
            )
        if not LIMITS.first_period <= period <= self.today.year:
            raise InvalidInput(
                f"评估年度须在 {LIMITS.first_period} 至 {self.today.year} 年之间 / the period must be a year from "
                f"{LIMITS.first_period} to the current year, {self.today.year}", field="period")
        expected = derived_id(org_id, standard.ref, period)
        if assessment_id is not None and assessment_id != expected:
            raise InvalidInput(
                f"评估编号应为 {expected} / assessment id must be derived from unit, standard and year",
                field="assessment_id",
            )
        with transaction(self.conn):
            try:
                store.insert(self.conn, expected, org_id, standard.ref, period, "draft", who.user_id, now_iso())
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"该单位 {period} 年度已有此标准的评估 / assessment already exists", field="period"
                ) from None
            audit.append(self.conn, who.user_id, "create", "assessment", expected, expected, None,
                         {"org_id": org_id, "standard_ref": standard.ref, "period": period})
            self.rescore(expected)
        return expected

    def editable(self, who: Principal, assessment_id: str) -> AssessmentRow:
        """The assessment, if the caller may write to it and its state allows edits."""
        row = self.row_for(who, "write", assessment_id)
        if row.status not in EDITABLE:
            raise InvalidTransition(
                f"评估状态为“{STATUS_NAMES[row.status]}”，不能修改 / assessment is {row.status}; edits are refused",
                status_now=row.status,
            )
        return row

    def set_answer(self, who: Principal, assessment_id: str, item_id: str, answer: Answer) -> Result:
        """Answer one item from a browser; returns the new result."""
        self.check_answer(who, self.editable(who, assessment_id), item_id, answer)
        return self._web_write(who, assessment_id, f"answer:{item_id}", answer)

    def delete_answer(self, who: Principal, assessment_id: str, item_id: str) -> Result:
        """Clear one item's answer from a browser; returns the new result."""
        self.editable(who, assessment_id)
        if field_store.value(self.conn, assessment_id, f"answer:{item_id}") is None:
            raise NotFound(f"该项尚未填写 / no answer for {item_id}", item=item_id)
        return self._web_write(who, assessment_id, f"answer:{item_id}", None)

    def put_record(self, who: Principal, assessment_id: str, record: Record) -> Result:
        """Add or replace a dated record from a browser; returns the new result."""
        self.check_record(who, self.editable(who, assessment_id), record)
        return self._web_write(who, assessment_id, f"record:{record.id}", record)

    def delete_record(self, who: Principal, assessment_id: str, record_id: str) -> Result:
        """Remove a dated record from a browser; returns the new result."""
        self.editable(who, assessment_id)
        if field_store.value(self.conn, assessment_id, f"record:{record_id}") is None:
            raise NotFound(f"记录不存在 / no such record: {record_id}")
        return self._web_write(who, assessment_id, f"record:{record_id}", None)

    def check_answer(self, who: Principal, row: AssessmentRow, item_id: str, answer: Answer) -> None:
        """InvalidInput unless the answer fits its item in the assessment's standard, within its
        answer type's range and the size limits (sync/inputs.py); Forbidden when it cites an
        attachment its author may not read."""
        self._refuse(inputs.answer_problems(self.standard(row.standard_ref), item_id, answer))
        self._check_citations(who, [a.sha256 for a in answer.evidence], f"answers.{item_id}.evidence")

    def check_item(self, row: AssessmentRow, item_id: str) -> None:
        """InvalidInput unless the assessment's standard has the item."""
        _known_item(self.standard(row.standard_ref), item_id, "item_id")

    def check_record(self, who: Principal, row: AssessmentRow, record: Record) -> None:
        """InvalidInput unless the record fits the assessment's standard, with a safe id, within
        the size limits and a date in range (sync/inputs.py); Forbidden when it cites an attachment
        its author may not read."""
        self._refuse(inputs.record_problems(self.standard(row.standard_ref), record))
        self._check_citations(who, [a.sha256 for a in record.attachments], "record.attachments")

    def _check_citations(self, who: Principal, shas: list[str], field: str) -> None:
        """An answer or record may cite a blob not uploaded yet (the phone uploads it later), or
        one its author may read (uploads.may_read); citing another unit's stored photo would make
        it readable to the citing unit."""
        for sha in dict.fromkeys(shas):
            if attachments.is_stored(self.conn, sha) and not may_read(self.conn, who, sha):
                raise Forbidden(f"不能引用无权查看的附件 / cannot cite attachment {sha[:12]}…, which you may not read",
                                field=field)

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
            return self.rescore(assessment_id)

    def field_writes(self) -> FieldWrites:
        """A run of answer/record writes in the caller's transaction (see server/services/fields.py);
        every applied write marks its assessment for rescoring."""
        return FieldWrites(self.conn, on_apply=self._rescore_later)

    @staticmethod
    def _refuse(problems: list[SheetProblem]) -> None:
        if problems:
            first = problems[0]
            raise InvalidInput(
                "答案与标准不符 / answer does not fit the standard: " + "; ".join(p.text for p in problems),
                field=first.path,
                item=first.item,
                errors=[p.text for p in problems],
            )

    # -- scoring ------------------------------------------------------------------------------

    def as_of(self, period: int) -> dt.date:
        """The date an assessment of `period` is scored as of: today, or the year's end once past."""
        return min(self.today, dt.date(period, 12, 31))

    def sheet(self, assessment_id: str) -> tuple[Standard, AnswerSheet, dt.date]:
        """What the engine scores: the standard, the answer sheet (with a township's villages) and the date."""
        row = self._row(assessment_id)
        standard = self.standard(row.standard_ref)
        known = {a.key for a in standard.attributes}
        attributes = {k: v for k, v in orgs.attributes(self.conn, row.org_id).items() if k in known}
        children = []
        if standard.level == "township":
            for child_id, name in store.of_children(self.conn, row.org_id, row.period):
                children.append(ChildFacts(unit=name, answers=self.answers(child_id)))
        sheet = AnswerSheet(
            unit=row.org_name,
            attributes=attributes,
            answers=self.answers(assessment_id),
            records=self.records(assessment_id),
            children=children,
        )
        return standard, sheet, self.as_of(row.period)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Defer rescoring to the end of the block (inside the caller's transaction): every
        assessment an edit touched in it is rescored once there, not after each edit. Nothing is
        rescored when the block fails (its transaction is rolled back)."""
        outer = self._deferred
        self._deferred = set()
        try:
            yield
            pending, self._deferred = self._deferred, outer
            for assessment_id in sorted(pending):
                self.rescore(assessment_id)
        finally:
            self._deferred = outer

    def _rescore_later(self, assessment_id: str) -> None:
        if self._deferred is not None:
            self._deferred.add(assessment_id)

    def rescore(self, assessment_id: str) -> Result:
        """Recompute and store the result inside the caller's transaction; then, for a village,
        its township's (whose computed items, 一村一案 ..., count the villages)."""
        standard, sheet, as_of = self.sheet(assessment_id)
        try:
            result = score(standard, sheet, as_of)
        except InvalidAnswers as exc:  # stored data no longer fits: a bug, not user input
            raise Conflict("已存储的答案与标准不符 / stored answers do not fit the standard", errors=exc.problems) from None
        dims = {d.code: d.passed for d in result.dimensions}
        store.store_result(self.conn, assessment_id, msgspec.json.encode(result).decode(), result.passed, result.score,
                           msgspec.json.encode(dims).decode(), now_iso())
        if standard.level == "village":
            for parent_id in store.township_of(self.conn, assessment_id):
                self.rescore(parent_id)
        return result

    def rescore_unscored(self) -> list[str]:
        """Score every assessment that has no stored result (server/store/migrations.py clears
        the results whose values it repaired); returns their ids. Run at start-up, before serving.
        One that cannot be scored (its standard gone from the catalog) is logged and left."""
        done = []
        for assessment_id in store.unscored(self.conn):
            try:
                with transaction(self.conn):
                    self.rescore(assessment_id)
            except Problem as exc:
                log.error("assessment %s cannot be scored: %s", assessment_id, exc.detail)
                continue
            done.append(assessment_id)
        return done

    def result(self, who: Principal, assessment_id: str) -> Result:
        """The stored scoring result (scored now if it has none yet)."""
        row = self.row_for(who, "read", assessment_id)
        if row.result is None:
            with transaction(self.conn):
                return self.rescore(assessment_id)
        return msgspec.json.decode(row.result, type=Result)

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
            present = attachments.present(self.conn, sorted({s for s, _ in refs}))
            for sha, where in sorted(refs):
                if sha not in present:
                    missing.append({"item": where, "reason": f"证明材料尚未上传 / attachment {sha[:12]}… not uploaded"})
        return missing

    def submit(self, who: Principal, assessment_id: str) -> None:
        """Submit (or resubmit after a return); Incomplete with the list of what is missing."""
        row = self.row_for(who, "write", assessment_id)
        if row.status not in EDITABLE:
            raise InvalidTransition(
                f"评估状态为“{STATUS_NAMES[row.status]}”，不能提交 / cannot submit from {row.status}"
            )
        missing = self.missing_for_submission(assessment_id)
        if missing:
            raise Incomplete(
                f"尚有 {len(missing)} 项未完成，不能提交 / {len(missing)} thing(s) missing", missing=missing
            )
        new: Status = "submitted" if row.status == "draft" else "resubmitted"
        self._transition(who, row, new, "submit", None, [])

    def decide(
        self,
        who: Principal,
        assessment_id: str,
        decision: Decision,
        comment: str,
        item_comments: list[tuple[str, str]],
        seen: str | None = None,
    ) -> None:
        """Return for rework, accept (issuing the certificate) or reject a submitted assessment.
        `seen` is the version (`version_of`) the reviewer's page showed: StalePage when the
        assessment changed since, so nobody decides on what they have not seen."""
        row = self.row_for(who, "review", assessment_id)
        self.check_seen(row, seen)
        if row.status not in UNDER_REVIEW:
            raise InvalidTransition(
                f"评估状态为“{STATUS_NAMES[row.status]}”，不能{_DECISION_NAMES[decision]} "
                f"/ cannot {decision} an assessment that is {row.status}"
            )
        if decision == "return" and not (comment.strip() or item_comments):
            raise InvalidInput("退回须说明整改意见 / a return needs a comment", field="comment")
        standard = self.standard(row.standard_ref)
        for item_id, _ in item_comments:
            _known_item(standard, item_id, "items")
        if decision == "accept":
            if row.period > self.today.year:  # created before periods were checked
                raise InvalidInput(f"评估年度 {row.period} 尚未到来，不能验收 / an assessment of a future period "
                                   f"({row.period}) cannot be accepted", field="period")
            self._check_acceptable(row)
        serial = self._transition(who, row, _DECIDED[decision], decision, comment, item_comments)
        if serial is not None and self.acceptance is not None:
            self.acceptance.file_original(serial)  # the PDF, rendered and filed after the commit

    @staticmethod
    def version_of(row: AssessmentRow) -> str:
        """What a page shows an assessment at: its state and when it last changed."""
        return f"{row.status}@{row.updated_at}"

    def check_seen(self, row: AssessmentRow, seen: str | None) -> None:
        """StalePage unless `seen` (when given) is still the assessment's version."""
        if seen is not None and seen != self.version_of(row):
            raise StalePage(
                f"该评估在您打开页面后已有变化（现为“{STATUS_NAMES[row.status]}”），请刷新页面查看后再操作 / "
                f"the assessment changed after the page was loaded (now {row.status}); reload it", status_now=row.status)

    def _check_acceptable(self, row: AssessmentRow) -> None:
        """Acceptance certifies 达标: refused while the stored result does not pass (every
        dimension's mandatory items), or while an on-site spot check disputes an item; the reviewer
        returns such an assessment for rework or rejects it."""
        result = msgspec.json.decode(row.result, type=Result) if row.result else None
        if result is None or not result.passed:
            failing = [i for d in (result.dimensions if result else []) for i in d.failing]
            dims = "、".join(d.name for d in (result.dimensions if result else []) if not d.passed)
            raise NotPassed(
                f"评估结果未达标（{dims or '尚无结果'}），请退回整改或否决 / the result does not pass: "
                f"return it for rework or reject it", failing=failing)
        disputed = store.disputed(self.conn, row.id)
        if disputed:
            raise NotPassed(
                f"现场抽查有异议的条目：{'、'.join(disputed)}，请退回整改或否决 / on-site spot checks dispute "
                f"{', '.join(disputed)}", item=disputed[0], failing=disputed)

    def _transition(
        self,
        who: Principal,
        row: AssessmentRow,
        new: Status,
        action: str,
        comment: str | None,
        item_comments: list[tuple[str, str]],
    ) -> str | None:
        """One compare-and-set transition with its comments and audit entry; on acceptance the
        certificate is signed and stored in the same transaction. Returns its serial, if any."""
        at = now_iso()
        serial = None
        with transaction(self.conn):
            if not store.move(self.conn, row.id, row.status, new, action, at):
                raise Conflict("评估状态已被他人更改，请刷新 / status changed concurrently; reload")
            if comment and comment.strip():
                store.add_comment(self.conn, row.id, None, who.user_id, action, comment.strip(), at)
            for item_id, body in item_comments:
                store.add_comment(self.conn, row.id, item_id, who.user_id, action, body, at)
            audit.append(self.conn, who.user_id, action, "assessment", row.id, row.id, {"status": row.status},
                         {"status": new, "comment": comment, "items": dict(item_comments)})
            if new == "accepted" and self.acceptance is not None:
                issued = self.acceptance.issue(self.conn, row.id, who.user_id)
                audit.append(self.conn, who.user_id, "issue_certificate", "certificate", issued.serial, row.id,
                             None, issued)
                serial = issued.serial
        return serial

    def comment(self, who: Principal, assessment_id: str, item_id: str | None, body: str) -> None:
        """Reviewers comment at any time; field staff may answer comments while editing."""
        row = self._row(assessment_id)
        action: Action = "review" if who.role == "reviewer" else "write"
        require(who, action, row.org_path)
        if item_id is not None:
            _known_item(self.standard(row.standard_ref), item_id, "item_id")
        with transaction(self.conn):
            store.add_comment(self.conn, assessment_id, item_id, who.user_id, "comment", body, now_iso())
            audit.append(self.conn, who.user_id, "comment", "comment", item_id or "-", assessment_id, None,
                         {"body": body})

    def spot_check(self, who: Principal, assessment_id: str, item_id: str, result: str, note: str) -> None:
        """An on-site spot-check mark by the reviewer on one item (confirmed or disputed)."""
        row = self.row_for(who, "review", assessment_id)
        _known_item(self.standard(row.standard_ref), item_id, None)
        before = store.spot_check(self.conn, assessment_id, item_id)
        with transaction(self.conn):
            store.put_spot_check(self.conn, assessment_id, item_id, result, note, who.user_id, now_iso())
            audit.append(self.conn, who.user_id, "spot_check", "spot_check", item_id, assessment_id,
                         {"result": before.result, "note": before.note} if before else None,
                         {"result": result, "note": note})
