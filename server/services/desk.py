"""The district bureau's review desk: what its pages show and the actions they take, over the
assessments service (the same roles, scope and compare-and-set transitions as the API).

- the queue: submitted and resubmitted assessments of the reviewer's county, oldest waiting first;
- an assessment as a reviewer reads it: every item by 有 with the answer in words, the verdict,
  the quoted clause, the evidence, records, villages, kept sync conflicts, comments, spot checks,
  and what changed since the last return;
- the audit trail as a timeline; the county's certificates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from checklists.model import Answer, Attachment, FieldDef, Item, ItemResult, Record, Result, Standard
from checklists.scoring import fmt_value
from server.errors import InvalidInput
from server.services.access import Principal, require
from server.services.assessments import STATUS_NAMES, Assessments, Decision
from server.services.evidence import Evidence, EvidenceFile
from server.services.uploads import Uploads
from server.store import assessments as store
from server.store import attachments, audit, certificates
from server.store import fields as field_store
from server.store.assessments import ChildStation, Comment, QueueRow, SpotCheck
from server.store.certificates import CertificateListed
from server.store.db import now_iso, transaction
from server.store.fields import Conflict

WAITING = ("submitted", "resubmitted")
ITEM_STATUS_NAMES = {"pass": "符合", "fail": "不符合", "na": "不适用", "missing": "未填写"}
SPOT_NAMES = {"confirmed": "现场核实无误", "disputed": "现场核实有异议"}
ACTION_NAMES = {
    "create": "创建评估", "set_answer": "填写", "delete_answer": "清除填写", "put_record": "登记台账",
    "delete_record": "删除台账", "submit": "提交审核", "return": "退回整改", "accept": "验收通过",
    "reject": "否决", "comment": "发表意见", "spot_check": "现场抽查", "issue_certificate": "签发证书",
    "revoke_certificate": "撤销证书", "conflict": "同步冲突（保留双方数值）", "demo_load": "导入演示数据",
}


# -- the queue --------------------------------------------------------------------------------


class QueueEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    unit: str
    township: str | None
    standard_title: str
    standard_ref: str
    period: int
    status: str
    status_name: str
    submitted_on: str
    waiting_days: int
    score: float | None
    passed: bool | None
    failing_mandatory: int
    returned_before: bool
    overdue: bool
    deadline: str | None


class QueuePage(msgspec.Struct, frozen=True, kw_only=True):
    county: str
    entries: list[QueueEntry]
    counts: dict[str, int]
    townships: list[tuple[str, str]]
    standards: list[tuple[str, str]]
    periods: list[int]


class _Items(msgspec.Struct):
    items: list[_ItemGate]


class _ItemGate(msgspec.Struct):
    mandatory: bool
    status: str


_gates = msgspec.json.Decoder(_Items).decode


# -- an assessment ----------------------------------------------------------------------------


class EvidenceView(msgspec.Struct, frozen=True, kw_only=True):
    sha256: str
    kind: str
    label: str
    arrived: bool
    image: bool


class ItemView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    question: str
    mandatory: bool
    status: str
    status_name: str
    rule: str
    reason: str
    answer: str
    na_reason: str
    fields: list[tuple[str, str]]
    evidence: list[EvidenceView]
    clauses: list[tuple[str, str]]
    basis: str
    comments: list[Comment]
    spot_check: SpotCheck | None
    spot_photos: list[str]
    changed: bool


class DimensionView(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    passed: bool | None
    score: float | None
    items: list[ItemView]


class RecordView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    date: str
    title: str
    fields: list[tuple[str, str]]
    attachments: list[EvidenceView]
    changed: bool


class ChangeView(msgspec.Struct, frozen=True, kw_only=True):
    what: str
    action: str
    actor: str | None
    at: str
    before: str
    after: str


class ConflictView(msgspec.Struct, frozen=True, kw_only=True):
    what: str
    kept: str
    kept_by: str
    lost: str
    lost_by: str
    at: str


class AssessmentPage(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    version: str
    unit: str
    unit_path: str
    level: str
    org_id: str
    standard_title: str
    standard_ref: str
    label: str
    period: int
    status: str
    status_name: str
    passed: bool | None
    score: float | None
    as_of: str | None
    dimensions: list[DimensionView]
    records: list[RecordView]
    villages: list[ChildStation]
    conflicts: list[ConflictView]
    general_comments: list[Comment]
    returns: int
    changes: list[ChangeView] | None  # since the last return; None when never returned
    failing: list[tuple[str, str]]  # mandatory items that keep it from acceptance: (id, question)
    disputed: list[tuple[str, str]]
    can_review: bool
    can_accept: bool
    has_certificate: bool


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    at: str
    actor: str
    action: str
    what: str
    before: str
    after: str


def _words(value: Any) -> str:
    """A stored value as an official reads it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict):
        if "value" in value or "na" in value or "evidence" in value:  # an answer
            if value.get("na"):
                return f"不适用（{value.get('reason') or '未说明理由'}）"
            shown = _words(value.get("value"))
            n = len(value.get("evidence") or [])
            return shown + (f"（附证明材料 {n} 份）" if n else "")
        if "date" in value and "kind" in value:  # a record
            return f"{value['date']} {value.get('title') or ''}".strip()
        if "status" in value:
            return STATUS_NAMES.get(str(value["status"]), str(value["status"]))
        if "lat" in value and "lon" in value:
            return f"北纬 {value['lat']}，东经 {value['lon']}"
        return "；".join(f"{k}：{_words(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list):
        return "、".join(_words(v) for v in value) or "—"
    return fmt_value(value)


def _field_rows(defs: list[FieldDef], values: dict[str, Any]) -> list[tuple[str, str]]:
    labels = {f.key: (f.label, f.unit) for f in defs}
    out = []
    for key, value in values.items():
        label, unit = labels.get(key, (key, ""))
        out.append((label, fmt_value(value, unit) if not isinstance(value, bool) else _words(value)))
    return out


class Desk:
    """The desk's reads and actions for one request."""

    def __init__(self, assessments: Assessments, uploads: Uploads, evidence: Evidence):
        self.assessments = assessments
        self.conn = assessments.conn
        self.catalog = assessments.catalog
        self.today = assessments.today
        self.uploads = uploads
        self.evidence = evidence

    # -- the queue ----------------------------------------------------------------------------

    def queue(self, who: Principal, township: str | None = None, standard_ref: str | None = None,
              period: int | None = None, status: str | None = None) -> QueuePage:
        """What waits for the caller's review (or, with `status`, assessments in that state),
        oldest submission first."""
        require(who, "review", who.org_path)
        under = None
        townships = [(o.id, o.name) for o in self._townships(who)]
        if township:
            match = [o for o in self._townships(who) if o.id == township]
            if not match:
                raise InvalidInput("该乡镇（街道）不在本辖区 / township outside your county", field="township")
            under = match[0].path
        if status is not None and status not in STATUS_NAMES:
            raise InvalidInput(f"未知的状态 / unknown status {status}", field="status")
        rows = store.queue(self.conn, who.org_path, (status,) if status else WAITING, period, standard_ref, under)
        periods, refs = store.periods_and_standards(self.conn, who.org_path)
        return QueuePage(
            county=self._unit_name(who),
            entries=[self._entry(r) for r in rows],
            counts=store.status_counts(self.conn, who.org_path),
            townships=townships,
            standards=[(ref, self._title(ref)) for ref in refs],
            periods=periods,
        )

    def _townships(self, who: Principal) -> list[Any]:
        from server.store import orgs

        return orgs.below(self.conn, who.org_path, "township", 10_000, 0)

    def _unit_name(self, who: Principal) -> str:
        from server.services.orgs import unit

        return unit(self.conn, who.org_id).name

    def _title(self, ref: str) -> str:
        try:
            return self.catalog.get(ref).title
        except KeyError:
            return ref

    def _entry(self, r: QueueRow) -> QueueEntry:
        try:
            standard: Standard | None = self.catalog.get(r.standard_ref)
        except KeyError:
            standard = None
        submitted = (r.submitted_at or r.updated_at)[:10]
        gates = _gates(r.result).items if r.result else []
        deadline = standard.deadline if standard else None
        return QueueEntry(
            id=r.id,
            unit=r.org_name,
            township=r.parent_name if r.org_level == "village" else None,
            standard_title=standard.title if standard else r.standard_ref,
            standard_ref=r.standard_ref,
            period=r.period,
            status=r.status,
            status_name=STATUS_NAMES[r.status],
            submitted_on=submitted,
            waiting_days=max(0, (self.today - dt.date.fromisoformat(submitted)).days),
            score=r.score,
            passed=r.passed,
            failing_mandatory=sum(1 for g in gates if g.mandatory and g.status in ("fail", "missing")),
            returned_before=r.returns > 0,
            overdue=deadline is not None and deadline < self.today and r.status != "accepted",
            deadline=deadline.isoformat() if deadline else None,
        )

    # -- an assessment ------------------------------------------------------------------------

    def cited(self, assessment_id: str, answers: dict[str, Answer] | None = None,
              records: list[Record] | None = None) -> dict[str, Attachment]:
        """Every file an assessment cites, by sha256: answers' evidence, records' attachments and
        the photos of its spot checks (`answers` and `records` when the caller has them already)."""
        out: dict[str, Attachment] = {}
        if answers is None:
            answers = self.assessments.answers(assessment_id)
        if records is None:
            records = self.assessments.records(assessment_id)
        for answer in answers.values():
            for a in answer.evidence:
                out.setdefault(a.sha256, a)
        for record in records:
            for a in record.attachments:
                out.setdefault(a.sha256, Attachment(sha256=a.sha256, kind=a.kind, label=a.label or record.title))
        for item_id, shas in store.spot_check_photos(self.conn, assessment_id).items():
            for sha in shas:
                out.setdefault(sha, Attachment(sha256=sha, kind="photo", label=f"现场抽查-{item_id}"))
        return out

    def page(self, who: Principal, assessment_id: str) -> AssessmentPage:
        """An assessment as a reviewer reads it."""
        view = self.assessments.view(who, assessment_id)
        row = self.assessments.row_for(who, "read", assessment_id)
        standard = self.assessments.standard(row.standard_ref)
        result: Result | None = view.result
        by_id: dict[str, ItemResult] = {r.id: r for r in result.items} if result else {}
        cited = self.cited(assessment_id, view.answers, view.records)
        types = attachments.media_types(self.conn, sorted(cited))
        spot = {s.item_id: s for s in view.spot_checks}
        photos = store.spot_check_photos(self.conn, assessment_id)
        log = audit.of_assessment(self.conn, assessment_id)
        returns = [e.seq for e in log if e.action == "return"]
        since = [e for e in log if returns and e.seq > returns[-1]]
        changed_items = {e.entity_id for e in since if e.entity == "answer"}
        changed_records = {e.entity_id for e in since if e.entity == "record"}

        def ev(a: Attachment) -> EvidenceView:
            kind = types.get(a.sha256, "")
            return EvidenceView(sha256=a.sha256, kind=a.kind, label=a.label, arrived=a.sha256 in types,
                                image=kind.startswith("image/"))

        dims = {d.code: d for d in result.dimensions} if result else {}
        dimensions = []
        for dim in standard.dimensions:
            items = []
            for item in (i for i in standard.items if i.dimension == dim.code):
                items.append(self._item(item, by_id.get(item.id), view.answers.get(item.id), ev, view.comments,
                                        spot.get(item.id), photos.get(item.id, []), item.id in changed_items))
            d = dims.get(dim.code)
            dimensions.append(DimensionView(code=dim.code, name=dim.name, passed=d.passed if d else None,
                                            score=d.score if d else None, items=items))
        kinds = {k.key: k for k in standard.record_kinds}
        records = [
            RecordView(id=r.id, kind=kinds[r.kind].name if r.kind in kinds else r.kind, date=r.date.isoformat(),
                       title=r.title, fields=_field_rows(kinds[r.kind].fields if r.kind in kinds else [], r.fields),
                       attachments=[ev(a) for a in r.attachments], changed=r.id in changed_records)
            for r in sorted(view.records, key=lambda r: (r.date, r.id), reverse=True)
        ]
        questions = {i.id: i.question for i in standard.items}
        failing = [(i, questions.get(i, i)) for d in (result.dimensions if result else []) for i in d.failing]
        disputed = [(s.item_id, questions.get(s.item_id, s.item_id)) for s in view.spot_checks
                    if s.result == "disputed"]
        can_review = who.role == "reviewer" and row.status in WAITING
        return AssessmentPage(
            id=row.id,
            version=self.assessments.version_of(row),
            unit=row.org_name,
            unit_path=self._path_names(row.org_path),
            level=standard.level,
            org_id=row.org_id,
            standard_title=standard.title,
            standard_ref=standard.ref,
            label=standard.label,
            period=row.period,
            status=row.status,
            status_name=STATUS_NAMES[row.status],
            passed=row.passed,
            score=row.score,
            as_of=result.as_of.isoformat() if result else None,
            dimensions=dimensions,
            records=records,
            villages=store.child_stations(self.conn, row.org_id, row.period) if standard.level == "township" else [],
            conflicts=[self._conflict(c, questions) for c in field_store.conflicts_of(self.conn, assessment_id)],
            general_comments=[c for c in view.comments if c.item_id is None],
            returns=len(returns),
            changes=[self._change(e, questions) for e in since if e.entity in ("answer", "record")] if returns else None,
            failing=failing,
            disputed=disputed,
            can_review=can_review,
            can_accept=can_review and bool(result and result.passed) and not disputed,
            has_certificate=certificates.latest_of(self.conn, assessment_id) is not None,
        )

    def _path_names(self, path: str) -> str:
        from server.services.orgs import chain

        return " · ".join(o.name for o in chain(self.conn, path))

    @staticmethod
    def _item(item: Item, res: ItemResult | None, answer: Any, ev: Any, comments: list[Comment],
              spot: SpotCheck | None, photos: list[str], changed: bool) -> ItemView:
        status = res.status if res else "missing"
        return ItemView(
            id=item.id,
            question=item.question,
            mandatory=item.mandatory,
            status=status,
            status_name=ITEM_STATUS_NAMES.get(status, status),
            rule=res.rule if res else "",
            reason=res.reason if res else "",
            answer="—" if answer is None or answer.na else _words(answer.value) + (item.unit if item.unit and
                                                                                   not isinstance(answer.value, bool) else ""),
            na_reason=answer.reason if answer is not None and answer.na else "",
            fields=_field_rows(item.fields, answer.fields) if answer is not None else [],
            evidence=[ev(a) for a in answer.evidence] if answer is not None else [],
            clauses=[(c.source, c.quote) for c in item.provenance],
            basis="来源文件明确规定" if item.basis == "S" else "推定标准（可配置）" if item.basis == "D" else "部分明确规定、部分推定",
            comments=[c for c in comments if c.item_id == item.id],
            spot_check=spot,
            spot_photos=photos,
            changed=changed,
        )

    @staticmethod
    def _what(entity: str, entity_id: str, questions: dict[str, str]) -> str:
        if entity in ("answer", "spot_check") or (entity == "comment" and entity_id in questions):
            return questions.get(entity_id, entity_id)
        if entity == "record":
            return "台账记录"
        if entity == "certificate":
            return f"证书 {entity_id}"
        return "评估"

    def _change(self, e: audit.AuditEntry, questions: dict[str, str]) -> ChangeView:
        return ChangeView(what=self._what(e.entity, e.entity_id, questions), action=ACTION_NAMES.get(e.action, e.action),
                          actor=e.actor, at=e.at, before=_words(e.before), after=_words(e.after))

    def _conflict(self, c: Conflict, questions: dict[str, str]) -> ConflictView:
        kind, _, key = c.field.partition(":")
        what = questions.get(key, key) if kind == "answer" else "台账记录"
        return ConflictView(what=what, kept=_words(c.winner_value), kept_by=c.winner, lost=_words(c.loser_value),
                            lost_by=c.loser, at=c.at)

    def timeline(self, who: Principal, assessment_id: str) -> tuple[AssessmentPage, list[TimelineEntry]]:
        """The audit trail of an assessment, oldest first, in words."""
        page = self.page(who, assessment_id)
        standard = self.assessments.standard(page.standard_ref)
        questions = {i.id: i.question for i in standard.items}
        entries = [
            TimelineEntry(at=e.at.replace("T", " ")[:19], actor=e.actor or "系统", action=ACTION_NAMES.get(e.action, e.action),
                          what=self._what(e.entity, e.entity_id, questions), before=_words(e.before),
                          after=_words(e.after))
            for e in self.assessments.audit_log(who, assessment_id)
        ]
        return page, entries

    # -- files --------------------------------------------------------------------------------

    def file(self, who: Principal, assessment_id: str, sha256: str) -> EvidenceFile:
        """A file the assessment cites, for a caller who may read the assessment."""
        self.assessments.row_for(who, "read", assessment_id)
        cited = self.cited(assessment_id)
        return self.evidence.file(cited, attachments.media_types(self.conn, [sha256]), sha256)

    def thumbnail(self, who: Principal, assessment_id: str, sha256: str) -> bytes:
        """The thumbnail of a photo the assessment cites."""
        self.assessments.row_for(who, "read", assessment_id)
        cited = self.cited(assessment_id)
        return self.evidence.thumbnail(cited, attachments.media_types(self.conn, [sha256]), sha256)

    # -- actions ------------------------------------------------------------------------------

    def decide(self, who: Principal, assessment_id: str, decision: Decision, comment: str,
               item_comments: list[tuple[str, str]], due: dt.date | None, seen: str) -> None:
        """退回整改 (with a 整改时限), 验收通过 or 否决, on the version the page showed."""
        if decision == "return":
            if due is None:
                raise InvalidInput("退回整改须填写整改时限 / a return needs a deadline", field="due")
            if due < self.today:
                raise InvalidInput("整改时限不能早于今天 / the deadline is in the past", field="due")
            comment = f"{comment.strip()}\n整改时限：{due.year}年{due.month}月{due.day}日".strip()
        if decision == "reject" and not comment.strip():
            raise InvalidInput("否决须说明理由 / a rejection needs a reason", field="comment")
        self.assessments.decide(who, assessment_id, decision, comment, item_comments, seen=seen)

    def spot_check(self, who: Principal, assessment_id: str, item_id: str, result: str, note: str,
                   photos: list[bytes], seen: str) -> None:
        """An on-site spot check of one item, with photos taken there."""
        row = self.assessments.row_for(who, "review", assessment_id)
        self.assessments.check_seen(row, seen)
        import hashlib

        shas = []
        for data in photos:
            sha = hashlib.sha256(data).hexdigest()
            stored = self.uploads.put(who, sha, data, action="review")
            if not stored.media_type.startswith("image/"):
                raise InvalidInput("现场照片须为图片（JPEG、PNG 或 WebP） / photos must be images", field="photos")
            shas.append(sha)
        self.assessments.spot_check(who, assessment_id, item_id, result, note)
        if shas:
            with transaction(self.conn):
                store.add_spot_check_photos(self.conn, assessment_id, item_id, shas, who.user_id, now_iso())

    def certificates(self, who: Principal) -> list[CertificateListed]:
        """Every certificate of the caller's area, newest first."""
        require(who, "read", who.org_path)
        return certificates.under(self.conn, who.org_path)
