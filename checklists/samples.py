"""Realistic answer sheets generated from any standard, for demo data and benchmarks.

`quality` is the chance that each item is answered well; the rest are answered short of the
rule, left blank, or (where allowed) marked N/A. Deterministic for a given random.Random.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from checklists.model import (
    AllOf,
    Answer,
    AnswerSheet,
    AtLeast,
    AtMost,
    Attachment,
    ChildFacts,
    ChildShare,
    IncludesAll,
    Item,
    LabelledEvidence,
    OneOf,
    Record,
    RecordCount,
    RecordsCover,
    Rule,
    Standard,
    WithinMonths,
    Yes,
)
from checklists.scoring import months_before


def fake_sha(*parts: object) -> str:
    """A stable sha256-looking id for generated attachments."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _evidence(item: Item, seed: str) -> list[Attachment]:
    photos = [Attachment(sha256=fake_sha(seed, "p", i), kind="photo") for i in range(item.evidence.photos)]
    docs = [Attachment(sha256=fake_sha(seed, "d", i), kind="document") for i in range(item.evidence.documents)]
    return photos + docs


def _value_for(rule: Rule, item: Item, good: bool, rng: random.Random, as_of: dt.date):
    """(value, fields) that satisfy the rule when good, and fall short otherwise."""
    match rule:
        case Yes(field=None):
            return good, {}
        case Yes(field=f):
            return None, {f: good}
        case AtLeast(value=v, field=field) | AtMost(value=v, field=field):
            up = isinstance(rule, AtLeast)
            kind = next((x.type for x in item.fields if x.key == field), item.answer)
            if kind == "percent":
                n = (v if good else max(0.0, v - rng.randint(5, 40))) if up else (v if good else min(100.0, v + 10))
            elif up:
                n = v + rng.randint(0, 10) if good else max(0, v - rng.randint(1, 3))
            else:
                n = v if good else v + rng.randint(1, 5)
            n = int(n) if kind == "count" or float(n).is_integer() else n
            return (n, {}) if field is None else (None, {field: n})
        case OneOf(values=values, field=None):
            bad = [o for o in item.options if o not in values]
            return (rng.choice(values) if good or not bad else rng.choice(bad)), {}
        case IncludesAll():
            chosen = list(item.options) if good else item.options[: max(0, len(item.options) - 2)]
            return chosen, {}
        case WithinMonths(months=m):
            back = rng.randint(1, m - 1 if m > 1 else 1) if good else m + rng.randint(1, 12)
            return months_before(as_of, back).isoformat(), {}
        case AllOf(rules=rules):
            value, fields = None, {}
            for sub in rules:
                v, f = _value_for(sub, item, good, rng, as_of)
                value = v if v is not None else value
                fields.update(f)
            return value, fields
    # present, labelled evidence, text/photo/document/gps items
    if item.answer == "text":
        return "已建立并落实", {}
    if item.answer == "gps":
        return None, {}
    if item.answer in ("enum",) and item.options:
        return item.options[0], {}
    return None, {}


def record_id(*parts: object) -> str:
    """A record id made from what names the record (unit, item, kind, ...): the same parts give
    the same id, and it is what a phone could have sent (letters, digits and '-' only)."""
    return "rec-" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]


def _records_for(rule: Rule, standard: Standard, good: bool, rng: random.Random, as_of: dt.date, seed: str):
    match rule:
        case RecordCount(kind=kind, min=n, per=per, months=months, field=field, each_of=each, with_documents=docs):
            groups: list[str | None] = list(each) if each else [None]
            out = []
            for g in groups:
                if per == "quarter":
                    days = [dt.date(as_of.year, 3 * q + 2, 15) for q in range(4)]
                    days = [d for d in days if d <= as_of] or [as_of]
                    if not good:
                        days = days[:-1]
                else:
                    span = (as_of - dt.date(as_of.year, 1, 1)).days if per == "year" else 28 * (months or 12)
                    count = n if good else n - 1
                    days = [as_of - dt.timedelta(days=rng.randint(0, max(0, span))) for _ in range(count)]
                for i, day in enumerate(days):
                    out.append(
                        Record(
                            id=record_id(seed, kind, g, i),
                            kind=kind,
                            date=day,
                            title=standard.ref,
                            fields={field: g} if field and g else {},
                            attachments=[
                                Attachment(sha256=fake_sha(seed, kind, g, i, d), kind="document") for d in range(docs)
                            ],
                        )
                    )
            return out
        case AllOf(rules=rules):
            return [r for sub in rules for r in _records_for(sub, standard, good, rng, as_of, seed)]
    return []


def sample_sheet(
    standard: Standard,
    rng: random.Random,
    *,
    quality: float = 0.85,
    as_of: dt.date,
    unit: str = "",
    attributes: dict[str, bool | str] | None = None,
    children: list[ChildFacts] | None = None,
) -> AnswerSheet:
    """An answer sheet where each item is done well with probability `quality`."""
    answers: dict[str, Answer] = {}
    records: list[Record] = []
    covers: list[tuple[RecordsCover, bool]] = []
    for item in standard.items:
        good = rng.random() < quality
        seed = f"{unit}/{item.id}"
        if not good and item.na_allowed and rng.random() < 0.2:
            answers[item.id] = Answer(na=True, reason="本单位不涉及")
            continue
        if not good and rng.random() < 0.25:
            continue  # left blank
        rule = item.rule
        if isinstance(rule, RecordsCover):
            covers.append((rule, good))
            continue
        if isinstance(rule, (RecordCount, AllOf)) and item.answer == "records":
            records += _records_for(rule, standard, good, rng, as_of, seed)
            continue
        if isinstance(rule, ChildShare):
            continue
        value, fields = _value_for(rule, item, good, rng, as_of)
        evidence = _evidence(item, seed) if good or rng.random() < 0.5 else []
        if isinstance(rule, LabelledEvidence):
            evidence += [Attachment(sha256=fake_sha(seed, label), kind=rule.kind, label=label) for label in rule.labels]
        answers[item.id] = Answer(value=value, fields=fields, evidence=evidence)
    for rule, good in covers:
        plans = answers.get(rule.against_item)
        chosen = plans.value if plans is not None and isinstance(plans.value, list) else []
        for i, plan in enumerate(chosen):
            if good or i > 0:
                back = rng.randint(1, rule.within_months - 1)
                records.append(
                    Record(
                        id=record_id(unit, "cover", i),
                        kind=rule.kind,
                        date=months_before(as_of, back),
                        title=f"{plan}专项预案演练",
                        fields={rule.field: plan},
                    )
                )
    return AnswerSheet(
        unit=unit, attributes=attributes or {}, answers=answers, records=records, children=children or []
    )
