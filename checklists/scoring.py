"""The pure scoring engine: (standard, answer sheet, as-of date) -> Result.

No I/O and no clock: the as-of date is an argument, records dated after it are ignored, and
results do not depend on the order of answers, records or child units.

Frequency windows (a decision the sources leave open, see docs/standards.md):
- "per year" counts records in the calendar year of the as-of date, up to the as-of date;
- "per quarter" requires every quarter of that year that has ended by the as-of date (or the
  current quarter when none has ended yet);
- "within N months" counts back N calendar months from the as-of date, inclusive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from checklists.model import (
    AllOf,
    Answer,
    AnswerSheet,
    AtLeast,
    AtMost,
    Attachment,
    AttributeDef,
    ChildShare,
    Condition,
    DimensionResult,
    GeoPoint,
    IncludesAll,
    Item,
    ItemResult,
    LabelledEvidence,
    OneOf,
    Present,
    Record,
    RecordCount,
    RecordsCover,
    Result,
    Rule,
    Standard,
    Status,
    WithinMonths,
    Yes,
)


class InvalidAnswers(ValueError):
    """The answer sheet does not fit the standard (unknown item, wrong value type, ...)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


# ---------------------------------------------------------------------------------------------
# Dates


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (clamped to the month's last day)."""
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, d))
        except ValueError:
            continue
    raise AssertionError("unreachable")


QUARTER_NAMES = ("一季度", "二季度", "三季度", "四季度")


def required_quarters(as_of: dt.date) -> list[tuple[int, dt.date, dt.date]]:
    """(index, first day, last day counted) of each quarter a per-quarter rule checks."""
    quarters = []
    for q in range(4):
        start = dt.date(as_of.year, 3 * q + 1, 1)
        end = dt.date(as_of.year + (q == 3), (3 * q + 3) % 12 + 1, 1) - dt.timedelta(days=1)
        if end <= as_of:
            quarters.append((q, start, end))
    if not quarters:
        quarters.append((0, dt.date(as_of.year, 1, 1), as_of))
    return quarters


# ---------------------------------------------------------------------------------------------
# Formatting what was observed, in the user's language


def fmt_number(x: float | int) -> str:
    if isinstance(x, bool):
        return "是" if x else "否"
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def fmt_value(value: object, unit: str = "") -> str:
    match value:
        case None:
            return "未填写"
        case bool():
            return "是" if value else "否"
        case int() | float():
            return fmt_number(value) + unit
        case list():
            return "、".join(value) if value else "（无）"
        case GeoPoint(lat=lat, lon=lon):
            return f"{lat:.6f},{lon:.6f}"
    return str(value)


# ---------------------------------------------------------------------------------------------
# Evaluation context


@dataclass(frozen=True)
class Context:
    """Everything a rule may look at, prepared once per scoring."""

    standard: Standard
    sheet: AnswerSheet
    attributes: dict[str, bool | str]
    records: tuple[Record, ...]  # sorted, none after as_of
    as_of: dt.date

    def kind_name(self, kind: str) -> str:
        for k in self.standard.record_kinds:
            if k.key == kind:
                return k.name
        return kind

    def applies(self, conditions: list[Condition]) -> bool:
        return all(self.attributes.get(c.attr) == c.equals for c in conditions)


@dataclass(frozen=True)
class Verdict:
    """ok is None when the rule has nothing to judge (not answered)."""

    ok: bool | None
    observed: str


MISSING = Verdict(None, "未填写")


def _field_label(item: Item, field: str | None) -> tuple[str, str]:
    if field is None:
        return "", item.unit
    for f in item.fields:
        if f.key == field:
            return f.label, f.unit
    return field, ""


def _value(answer: Answer | None, field: str | None) -> Any:
    """The answer's value or one of its fields, of the type check_sheet has checked it to have."""
    if answer is None:
        return None
    return answer.value if field is None else answer.fields.get(field)


def describe(rule: Rule, item: Item, ctx: Context) -> str:
    """The rule in words (Chinese), as shown to officials and reviewers."""
    match rule:
        case Yes(field=field):
            label, _ = _field_label(item, field)
            return f"{label}须为“是”"
        case AtLeast(value=v, field=field):
            label, unit = _field_label(item, field)
            return f"{label}不少于 {fmt_number(v)}{unit}"
        case AtMost(value=v, field=field):
            label, unit = _field_label(item, field)
            return f"{label}不超过 {fmt_number(v)}{unit}"
        case OneOf(values=values, field=field):
            label, _ = _field_label(item, field)
            return f"{label}须为：" + " / ".join(values)
        case IncludesAll(options=options):
            return "须包含：" + "、".join(o.value for o in options if ctx.applies(o.when))
        case Present():
            return "须填报并提供材料"
        case WithinMonths(months=m):
            return f"须在近 {m} 个月内"
        case RecordCount(kind=kind, min=n, per=per, months=m, each_of=each, with_documents=docs):
            name = ctx.kind_name(kind)
            window = {
                "year": f"{ctx.as_of.year}年度",
                "quarter": "每季度",
                "months": f"近 {m} 个月内",
            }[per]
            each_text = ("（" + "、".join(each) + "各）") if each else ""
            docs_text = f"（每次须附文件 {docs} 份）" if docs else ""
            return f"{window}{name}{each_text}不少于 {n} 次{docs_text}"
        case RecordsCover(kind=kind, against_item=against, within_months=m, min_percent=p):
            return f"{against} 所列专项预案在近 {m} 个月内开展过{ctx.kind_name(kind)}的比例不低于 {fmt_number(p)}%"
        case ChildShare(item=child, where=where, min_percent=p):
            return f"下辖村（社区）{child}“{describe(where, item, ctx)}”的比例不低于 {fmt_number(p)}%"
        case LabelledEvidence(kind=kind, labels=labels):
            noun = "照片" if kind == "photo" else "文件"
            return f"每项须有{noun}：" + "、".join(labels)
        case AllOf(rules=rules):
            return "；".join(describe(r, item, ctx) for r in rules)
    raise TypeError(rule)


def evaluate(rule: Rule, item: Item, answer: Answer | None, ctx: Context) -> Verdict:
    """Judge one rule against the answer (or the records / child units it looks at)."""
    match rule:
        case Yes(field=field):
            value = _value(answer, field)
            return MISSING if value is None else Verdict(value is True, fmt_value(value))
        case AtLeast(value=threshold, field=field) | AtMost(value=threshold, field=field):
            value = _value(answer, field)
            if value is None:
                return MISSING
            _, unit = _field_label(item, field)
            return Verdict(value >= threshold if isinstance(rule, AtLeast) else value <= threshold,
                           fmt_value(value, unit))
        case OneOf(values=values, field=field):
            value = _value(answer, field)
            return MISSING if value is None else Verdict(value in values, fmt_value(value))
        case IncludesAll(options=options):
            value = _value(answer, None)
            if value is None:
                return MISSING
            lacking = [o.value for o in options if ctx.applies(o.when) and o.value not in value]
            observed = fmt_value(value) + (f"（缺少：{'、'.join(lacking)}）" if lacking else "")
            return Verdict(not lacking, observed)
        case Present():
            if answer is None or (answer.value in (None, "", []) and not answer.evidence):
                return MISSING
            return Verdict(True, fmt_value(answer.value) if answer.value not in (None, "") else "已提供材料")
        case WithinMonths(months=months):
            value = _value(answer, None)
            if value is None:
                return MISSING
            day = dt.date.fromisoformat(value)
            return Verdict(months_before(ctx.as_of, months) <= day <= ctx.as_of, value)
        case RecordCount():
            return _record_count(rule, ctx)
        case RecordsCover():
            return _records_cover(rule, ctx)
        case ChildShare():
            return _child_share(rule, item, ctx)
        case LabelledEvidence(kind=kind, labels=labels):
            if answer is None or not answer.evidence:
                return MISSING
            have = {a.label for a in answer.evidence if a.kind == kind}
            lacking = [label for label in labels if label not in have]
            observed = f"已有 {len(labels) - len(lacking)}/{len(labels)} 项" + (
                f"（缺少：{'、'.join(lacking)}）" if lacking else ""
            )
            return Verdict(not lacking, observed)
        case AllOf(rules=rules):
            verdicts = [evaluate(r, item, answer, ctx) for r in rules]
            if any(v.ok is False for v in verdicts):
                ok: bool | None = False
            elif any(v.ok is None for v in verdicts):
                ok = None
            else:
                ok = True
            return Verdict(ok, "；".join(v.observed for v in verdicts))
    raise TypeError(rule)


def distinct(attachments: Sequence[Attachment], kind: str) -> int:
    """How many different files (by sha256) of `kind` are listed: a file listed twice is one."""
    return len({a.sha256 for a in attachments if a.kind == kind})


def _counting(rule: RecordCount, ctx: Context) -> list[Record]:
    return [
        r
        for r in ctx.records
        if r.kind == rule.kind and distinct(r.attachments, "document") >= rule.with_documents
    ]


def _record_count(rule: RecordCount, ctx: Context) -> Verdict:
    records = _counting(rule, ctx)
    groups: list[tuple[str, list[Record]]] = (
        [(v, [r for r in records if r.fields.get(rule.field or "") == v]) for v in rule.each_of]
        if rule.each_of
        else [("", records)]
    )
    parts, ok = [], True
    for label, rs in groups:
        prefix = f"{label}：" if label else ""
        if rule.per == "quarter":
            counts = []
            for q, start, end in required_quarters(ctx.as_of):
                n = sum(start <= r.date <= end for r in rs)
                ok &= n >= rule.min
                counts.append(f"{QUARTER_NAMES[q]} {n} 次")
            parts.append(prefix + "、".join(counts))
        else:
            if rule.per == "year":
                start = dt.date(ctx.as_of.year, 1, 1)
            else:
                start = months_before(ctx.as_of, rule.months or 0)
            n = sum(start <= r.date <= ctx.as_of for r in rs)
            ok &= n >= rule.min
            parts.append(f"{prefix}{n} 次")
    return Verdict(ok, "；".join(parts))


def _records_cover(rule: RecordsCover, ctx: Context) -> Verdict:
    chosen = _value(ctx.sheet.answers.get(rule.against_item), None)
    if chosen is None:
        return MISSING
    if not chosen:
        return Verdict(False, f"{rule.against_item} 未列出任何专项预案")
    since = months_before(ctx.as_of, rule.within_months)
    drilled = {
        r.fields.get(rule.field)
        for r in ctx.records
        if r.kind == rule.kind and since <= r.date <= ctx.as_of
    }
    lacking = [p for p in chosen if p not in drilled]
    share = 100 * (len(chosen) - len(lacking)) / len(chosen)
    observed = f"{len(chosen) - len(lacking)}/{len(chosen)}（{fmt_number(share)}%）" + (
        f"，未演练：{'、'.join(lacking)}" if lacking else ""
    )
    return Verdict(share >= rule.min_percent, observed)


def _child_share(rule: ChildShare, item: Item, ctx: Context) -> Verdict:
    counted, lacking = 0, []
    for child in sorted(ctx.sheet.children, key=lambda c: c.unit):
        answer = child.answers.get(rule.item)
        if answer is not None and answer.na and answer.reason.strip():
            continue  # not applicable to this village, with a reason: out of the denominator
        counted += 1
        if evaluate(rule.where, item, answer, ctx).ok is not True:
            lacking.append(child.unit)
    if counted == 0:
        return Verdict(None, "无下辖村（社区）数据")
    share = 100 * (counted - len(lacking)) / counted
    shown = "、".join(lacking[:5]) + ("等" if len(lacking) > 5 else "")
    observed = f"{counted - len(lacking)}/{counted}（{fmt_number(share)}%）" + (f"，未满足：{shown}" if lacking else "")
    return Verdict(share >= rule.min_percent, observed)


# ---------------------------------------------------------------------------------------------
# Answer checking


_LOOKUPS: dict[int, tuple[Standard, dict[str, Item], dict[str, AttributeDef], set[str]]] = {}


def _lookups(standard: Standard) -> tuple[dict[str, Item], dict[str, AttributeDef], set[str]]:
    """Items, attributes and record kinds by key, built once per standard object (they are
    immutable); a sync batch checks hundreds of answers against the same one."""
    entry = _LOOKUPS.get(id(standard))
    if entry is None or entry[0] is not standard:
        if len(_LOOKUPS) > 256:
            _LOOKUPS.clear()
        entry = (standard, {i.id: i for i in standard.items}, {a.key: a for a in standard.attributes},
                 {k.key for k in standard.record_kinds})
        _LOOKUPS[id(standard)] = entry
    return entry[1], entry[2], entry[3]


class SheetProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One way a sheet does not fit its standard: where (`path`, e.g. `answers.TS-DW-01`), the
    item concerned when there is one, and what is wrong."""

    path: str
    message: str
    item: str | None = None

    @property
    def text(self) -> str:
        """`path: message`, as check_sheet and rules.js report it."""
        return f"{self.path}: {self.message}"


def sheet_problems(standard: Standard, sheet: AnswerSheet) -> list[SheetProblem]:
    """Why the sheet does not fit the standard (empty when it does)."""
    problems: list[SheetProblem] = []
    items, attrs, kinds = _lookups(standard)
    for key, value in sheet.attributes.items():
        definition = attrs.get(key)
        where = f"attributes.{key}"
        if definition is None:
            problems.append(SheetProblem(path=where, message=f"unknown unit attribute (declared: {', '.join(sorted(attrs))})"))
        elif definition.type == "bool" and not isinstance(value, bool):
            problems.append(SheetProblem(path=where, message="expected true or false"))
        elif definition.type == "enum" and value not in definition.options:
            problems.append(SheetProblem(path=where, message=f"{value!r} is not one of {definition.options}"))
    for item_id, answer in sheet.answers.items():
        item = items.get(item_id)
        where = f"answers.{item_id}"
        if item is None:
            problems.append(SheetProblem(path=where, item=item_id, message=f"no such item in {standard.ref}"))
            continue
        problems += [SheetProblem(path=where, item=item_id, message=p) for p in _answer_problems(item, answer)]
    for record in sheet.records:
        if record.kind not in kinds:
            problems.append(SheetProblem(path=f"records[{record.id}]", message=f"unknown record kind {record.kind!r}"))
    problems += _children_problems(standard, sheet)
    return problems


def check_sheet(standard: Standard, sheet: AnswerSheet) -> list[str]:
    """Why the sheet does not fit the standard, as text (`path: message`; empty when it fits)."""
    return [p.text for p in sheet_problems(standard, sheet)]


def _flat(rule: Rule) -> list[Rule]:
    return [r for sub in rule.rules for r in _flat(sub)] if isinstance(rule, AllOf) else [rule]


def _children_problems(standard: Standard, sheet: AnswerSheet) -> list[SheetProblem]:
    """Child answers a child_share rule would compare with a value of the wrong type.

    The village items themselves belong to another standard, so only what the rule looks at is
    checked; without this a text where a number is expected would crash the comparison.
    """
    if not sheet.children:
        return []
    shares = [r for item in standard.items for r in _flat(item.rule) if isinstance(r, ChildShare)]
    problems: list[SheetProblem] = []
    for c in sheet.children:
        for share in shares:
            answer = c.answers.get(share.item)
            if answer is None or (answer.na and answer.reason.strip()):
                continue  # the same answers _child_share leaves out of the comparison
            for rule in _flat(share.where):
                field = getattr(rule, "field", None)
                value = _value(answer, field)
                if value is None:
                    continue
                where = f"children[{c.unit}].answers.{share.item}" + (f".fields.{field}" if field else "")
                match rule:
                    case Yes() if not isinstance(value, bool):
                        problems.append(SheetProblem(path=where, message=f"expected true or false, got {fmt_value(value)!r}"))
                    case AtLeast() | AtMost() if isinstance(value, bool) or not isinstance(value, (int, float)):
                        problems.append(SheetProblem(path=where, message=f"expected a number, got {fmt_value(value)!r}"))
                    case OneOf() if not isinstance(value, str):
                        problems.append(SheetProblem(path=where, message=f"expected one of {rule.values}, got {fmt_value(value)!r}"))
                    case IncludesAll() if not isinstance(value, list):
                        problems.append(SheetProblem(path=where, message=f"expected a list of options, got {fmt_value(value)!r}"))
                    case WithinMonths() if not _is_date(value):
                        problems.append(SheetProblem(path=where, message=f"expected a date YYYY-MM-DD, got {fmt_value(value)!r}"))
    return problems


def _is_date(value: object) -> bool:
    try:
        dt.date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _is_a(value: object, kinds: tuple[type, ...]) -> bool:
    """isinstance, as a plain bool (the checks after it read `value` as the type it was found to be)."""
    return isinstance(value, kinds)


def _answer_problems(item: Item, answer: Answer) -> list[str]:
    if answer.na:  # not applicable: nothing to check, but nothing may hide behind it either
        return [] if answer.value is None else ["an N/A answer takes no value"]
    value: Any = answer.value  # narrowed by the checks below, in order
    problems: list[str] = []
    expected = {
        "yes_no": (bool,),
        "count": (int,),
        "number": (int, float),
        "percent": (int, float),
        "date": (str,),
        "enum": (str,),
        "multi_select": (list,),
        "text": (str,),
        "gps": (GeoPoint,),
    }.get(item.answer)
    if value is not None:
        if expected is None:
            problems.append(f"a {item.answer} item takes no value")
        elif not _is_a(value, expected) or (isinstance(value, bool) and bool not in expected):
            problems.append(f"expected a {item.answer} value, got {fmt_value(value)!r}")
        elif item.answer == "count" and value < 0:
            problems.append("a count cannot be negative")
        elif item.answer == "percent" and not 0 <= value <= 100:
            problems.append("a percentage must be within 0-100")
        elif item.answer == "date":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                problems.append(f"expected a date YYYY-MM-DD, got {value!r}")
        elif item.answer == "enum" and value not in item.options:
            problems.append(f"{value!r} is not one of {item.options}")
        elif item.answer == "multi_select":
            problems += [f"{v!r} is not one of {item.options}" for v in value if v not in item.options]
    fields = {f.key: f for f in item.fields}
    for key, v in answer.fields.items():
        if key not in fields:
            problems.append(f"fields.{key}: no such field")
        elif fields[key].type == "yes_no" and not isinstance(v, bool):
            problems.append(f"fields.{key}: expected true or false")
        elif fields[key].type in ("count", "number", "percent") and (isinstance(v, bool) or not isinstance(v, (int, float))):
            problems.append(f"fields.{key}: expected a number")
    return problems


# ---------------------------------------------------------------------------------------------
# Scoring


def _item_result(item: Item, ctx: Context) -> ItemResult:
    rule_text = describe(item.rule, item, ctx)

    def result(status: Status, observed: str, reason: str) -> ItemResult:
        return ItemResult(
            id=item.id,
            dimension=item.dimension,
            status=status,
            mandatory=item.mandatory,
            rule=rule_text,
            observed=observed,
            reason=reason,
        )

    if not ctx.applies(item.when):
        names = {a.key: a.name for a in ctx.standard.attributes}
        conds = "、".join(f"{names.get(c.attr, c.attr)}={fmt_value(c.equals)}" for c in item.when)
        return result("na", "", f"不适用：本单位不满足适用条件（{conds}）")
    answer = ctx.sheet.answers.get(item.id)
    if answer is not None and answer.na:
        if not item.na_allowed:
            return result("fail", "不适用", "本项不允许填报“不适用”")
        if not answer.reason.strip():
            return result("fail", "不适用", "填报“不适用”须说明理由")
        return result("na", "不适用", f"不适用：{answer.reason.strip()}")
    verdict = evaluate(item.rule, item, answer, ctx)
    if verdict.ok is None:
        return result("missing", verdict.observed, f"未填写：{rule_text}")
    if not verdict.ok:
        return result("fail", verdict.observed, f"不符合：要求{rule_text}；实际：{verdict.observed}")
    photos = distinct(answer.evidence, "photo") if answer else 0
    docs = distinct(answer.evidence, "document") if answer else 0
    need = item.evidence
    if photos < need.photos or docs < need.documents:
        return result(
            "fail",
            verdict.observed,
            f"证明材料不足：需照片 {need.photos} 张、文件 {need.documents} 份，实有照片 {photos} 张、文件 {docs} 份",
        )
    return result("pass", verdict.observed, f"符合：{rule_text}；实际：{verdict.observed}")


def score(
    standard: Standard,
    sheet: AnswerSheet,
    as_of: dt.date,
    weights: dict[str, float] | None = None,
) -> Result:
    """Score one unit. `weights` overrides dimension weights by code (equal by default)."""
    problems = check_sheet(standard, sheet)
    if problems:
        raise InvalidAnswers(problems)
    attributes: dict[str, bool | str] = {a.key: a.default for a in standard.attributes}
    attributes.update(sheet.attributes)
    records = tuple(sorted((r for r in sheet.records if r.date <= as_of), key=lambda r: (r.date, r.id, r.kind)))
    ctx = Context(standard, sheet, attributes, records, as_of)
    items = [_item_result(item, ctx) for item in standard.items]
    weight_of = {i.id: i.weight for i in standard.items}

    dimensions, weighted, total_weight = [], 0.0, 0.0
    for dim in standard.dimensions:
        members = [r for r in items if r.dimension == dim.code]
        applicable = [r for r in members if r.status != "na"]
        failing = [r.id for r in applicable if r.mandatory and r.status != "pass"]
        possible = sum(weight_of[r.id] for r in applicable)
        earned = sum(weight_of[r.id] for r in applicable if r.status == "pass")
        dim_score = round(100 * earned / possible, 2) if possible else 100.0
        if possible:
            w = (weights or {}).get(dim.code, dim.weight)
            weighted += w * dim_score
            total_weight += w
        counts = {s: sum(r.status == s for r in members) for s in ("pass", "fail", "na", "missing")}
        dimensions.append(
            DimensionResult(
                code=dim.code, name=dim.name, passed=not failing, score=dim_score, failing=failing, counts=counts
            )
        )
    return Result(
        standard=standard.id,
        version=standard.version,
        content_hash=standard.content_hash,
        as_of=as_of,
        passed=all(d.passed for d in dimensions),
        score=round(weighted / total_weight, 2) if total_weight else 100.0,
        dimensions=dimensions,
        items=items,
    )
