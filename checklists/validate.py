"""Semantic checks of a resolved standard: what msgspec's type checks cannot see.

Each check returns Problems naming the file, line and item, so `dabiao standards lint` can list
them all at once.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from checklists.model import (
    AllOf,
    AtLeast,
    AtMost,
    ChildShare,
    IncludesAll,
    Item,
    LabelledEvidence,
    OneOf,
    Present,
    RecordCount,
    RecordsCover,
    Rule,
    Standard,
    WithinMonths,
    Yes,
)

if TYPE_CHECKING:
    from checklists.loader import Parsed, Problem, Sources

NUMERIC = {"count", "number", "percent"}
ID_PREFIX = {"township": "TS-", "village": "VC-"}


def check(standard: Standard, parsed: Parsed, sources: Sources) -> list[Problem]:
    """Every semantic problem of `standard`, attributed to lines of `parsed`'s file."""
    out: list[Problem] = []
    head = parsed.spec.standard
    if head.deadline and head.effective and head.deadline < head.effective:
        out.append(parsed.problem("deadline is before effective date", line=1))

    for code, n in Counter(d.code for d in parsed.spec.dimensions).items():
        if n > 1:
            out.append(parsed.problem(f"dimension {code} is defined {n} times"))
    for item_id, n in Counter(i.id for i in parsed.spec.items).items():
        if n > 1:
            out.append(parsed.problem(f"item id is used {n} times; ids must be unique", item_id))

    dims = {d.code for d in standard.dimensions}
    if not dims:
        out.append(parsed.problem("the standard has no dimensions", line=1))
    kinds = {k.key: k for k in standard.record_kinds}
    attrs = {a.key: a for a in standard.attributes}
    items = {i.id: i for i in standard.items}
    for code in dims:
        members = [i for i in standard.items if i.dimension == code]
        if not members:
            out.append(parsed.problem(f"dimension {code} has no items"))
        elif not any(i.mandatory for i in members):
            out.append(parsed.problem(f"dimension {code} has no mandatory item, so it would pass vacuously"))

    for item in standard.items:
        def bad(message: str, item: Item = item) -> None:
            out.append(parsed.problem(message, item.id))

        prefix = ID_PREFIX[standard.level]
        if not item.id.startswith(prefix):
            bad(f"a {standard.level} standard's item ids start with {prefix}")
        if item.dimension not in dims:
            bad(f"unknown dimension {item.dimension!r} (defined: {', '.join(sorted(dims))})")
        if item.answer in ("enum", "multi_select") and not item.options:
            bad(f"answer type {item.answer} needs options")
        for option, n in Counter(item.options).items():
            if n > 1:
                bad(f"option {option!r} is listed {n} times")
        for key, n in Counter(f.key for f in item.fields).items():
            if n > 1:
                bad(f"field {key!r} is defined {n} times")
        for cond in item.when:
            _check_condition(cond.attr, cond.equals, attrs, bad)
        for clause in item.provenance:
            if not sources.exists(clause.source):
                bad(f"provenance source {clause.source!r} is not a file in checklists/sources/")
            elif sources.locate(clause.source, clause.quote) is None:
                bad(f"provenance quote not found in {clause.source}: {clause.quote[:40]!r}")
        for message in _rule_problems(item.rule, item, items, kinds, attrs, standard):
            bad(message)
    return out


def _check_condition(attr: str, equals: object, attrs: dict, bad) -> None:
    definition = attrs.get(attr)
    if definition is None:
        bad(f"condition on undeclared unit attribute {attr!r}")
    elif definition.type == "bool" and not isinstance(equals, bool):
        bad(f"condition on {attr!r} compares a bool attribute with {equals!r}")
    elif definition.type == "enum" and equals not in definition.options:
        bad(f"condition on {attr!r}: {equals!r} is not one of {definition.options}")


def _rule_problems(rule: Rule, item: Item, items: dict, kinds: dict, attrs: dict, standard: Standard) -> list[str]:
    """Why `rule` cannot be evaluated on `item` (empty when it can)."""
    fields = {f.key: f.type for f in item.fields}

    def target(field: str | None, allowed: set[str], what: str) -> list[str]:
        if field is not None:
            if field not in fields:
                return [f"rule {what} refers to undefined field {field!r}"]
            kind: str = fields[field]
        else:
            kind = item.answer
        return [] if kind in allowed else [f"rule {what} cannot apply to a {kind} answer"]

    match rule:
        case Yes(field=field):
            return target(field, {"yes_no"}, "yes")
        case AtLeast(field=field) | AtMost(field=field):
            op = "gte" if isinstance(rule, AtLeast) else "lte"
            problems = target(field, NUMERIC, op)
            if not problems and ((field is None and item.answer == "percent") or fields.get(field or "") == "percent"):
                if not 0 <= rule.value <= 100:
                    problems.append(f"rule {op}: a percentage threshold must be within 0-100, got {rule.value}")
            return problems
        case OneOf(values=values, field=field):
            problems = target(field, {"enum"}, "in")
            return problems + [f"rule in: {v!r} is not an option" for v in values if v not in item.options]
        case IncludesAll(options=options):
            problems = target(None, {"multi_select"}, "includes")
            for opt in options:
                if opt.value not in item.options:
                    problems.append(f"rule includes: {opt.value!r} is not an option")
                problems += [
                    f"condition on undeclared unit attribute {c.attr!r}" for c in opt.when if c.attr not in attrs
                ]
            return problems
        case Present():
            return []
        case WithinMonths():
            return target(None, {"date"}, "within_months")
        case RecordCount(kind=kind, per=per, months=months, field=field, each_of=each_of):
            problems = target(None, {"records"}, "records")
            if kind not in kinds:
                return problems + [f"rule records: undeclared record kind {kind!r}"]
            if per == "months" and months is None:
                problems.append("rule records: per = \"months\" needs months")
            if bool(each_of) != (field is not None):
                problems.append("rule records: each_of and field go together")
            elif field is not None and field not in {f.key for f in kinds[kind].fields}:
                problems.append(f"rule records: record kind {kind!r} has no field {field!r}")
            return problems
        case RecordsCover(kind=kind, field=field, against_item=against):
            problems = target(None, {"records"}, "records_cover")
            if kind not in kinds:
                problems.append(f"rule records_cover: undeclared record kind {kind!r}")
            elif field not in {f.key for f in kinds[kind].fields}:
                problems.append(f"rule records_cover: record kind {kind!r} has no field {field!r}")
            other = items.get(against)
            if other is None:
                problems.append(f"rule records_cover: no item {against}")
            elif other.answer != "multi_select":
                problems.append(f"rule records_cover: {against} is not a multi_select item")
            return problems
        case ChildShare(item=child_item, where=where):
            problems = target(None, {"computed"}, "child_share")
            if standard.level != "township":
                problems.append("rule child_share needs child units: only a township standard has them")
            if not child_item.startswith("VC-"):
                problems.append(f"rule child_share: {child_item} is not a village item")
            if isinstance(where, (ChildShare, RecordCount, RecordsCover, LabelledEvidence)):
                problems.append("rule child_share: `where` must test a value (yes, gte, lte, in, present)")
            return problems
        case LabelledEvidence():
            return target(None, {"photo", "document"}, "labelled_evidence")
        case AllOf(rules=rules):
            return [p for sub in rules for p in _rule_problems(sub, item, items, kinds, attrs, standard)]
    return [f"unknown rule {rule!r}"]
