"""What one edit may carry: the checks the server makes on the way in (REST and sync alike) and a
phone can make before it queues an edit.

First the scoring engine's own check (checklists.scoring.sheet_problems: the item exists, the
value has its answer type's type, options are the item's); then each answer type's and field's
real range, and the sizes of texts and lists (sync/limits.py `Limits`):

- count: a whole number, 0 to max_count (not a bool, not 1.5);
- number: finite, 0 to max_number; percent: finite, 0 to 100 (NaN and ±Infinity never pass:
  JSON would store them as null, MessagePack pulls could not carry 10^30);
- date: exactly YYYY-MM-DD (not 20240501, not a week date), first_date to last_date;
- text: at most max_text_chars; multi_select: at most max_choices options, each once;
- secondary fields: the same by their declared type (a text field takes text);
- a record: a safe id (record_id_pattern), a title and field values of at most max_label_chars,
  a date in range; answers and records: at most max_attachments, labels of max_label_chars.

Stored values are not re-checked: an answer accepted before these checks still scores and syncs
(server/store/migrations.py repaired the ones no pull could carry). Messages never repeat a
value that is too long to show.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from checklists.model import Answer, AnswerSheet, Attachment, FieldDef, Item, Record, Standard
from checklists.scoring import SheetProblem, sheet_problems
from sync.limits import LIMITS, Limits

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def value_problem(kind: str, value: object, limits: Limits = LIMITS) -> str | None:
    """Why `value` is outside the real range of an answer or field of type `kind` (None when it
    is inside, or when the type has no range); the type itself is the engine's check."""
    if kind == "count":
        if not isinstance(value, int) or isinstance(value, bool):
            return "a count is a whole number"
        if not 0 <= value <= limits.max_count:
            return f"a count must be within 0-{limits.max_count}"
    elif kind in ("number", "percent"):
        if not _is_number(value):
            return "expected a number"
        assert isinstance(value, (int, float))
        top = 100 if kind == "percent" else limits.max_number
        if isinstance(value, float) and not math.isfinite(value):
            return "a number must be finite (not NaN or Infinity)"
        if not 0 <= value <= top:
            return f"a {kind} must be within 0-{top:g}"
    elif kind == "date":
        return date_problem(value, limits)
    elif kind == "text":
        if not isinstance(value, str):
            return "expected text"
        if len(value) > limits.max_text_chars:
            return f"text longer than {limits.max_text_chars} characters"
    elif kind == "yes_no" and not isinstance(value, bool):
        return "expected true or false"
    return None


def date_problem(value: object, limits: Limits = LIMITS) -> str | None:
    """Why `value` is not a canonical ISO date (YYYY-MM-DD) between first_date and last_date."""
    day = value if isinstance(value, dt.date) else None
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            day = None
    if day is None:
        shown = repr(value) if isinstance(value, str) and len(value) <= 40 else "this value"
        return f"expected a date YYYY-MM-DD, got {shown}"
    if not limits.first_date <= day <= limits.last_date:
        return f"a date must be within {limits.first_date} to {limits.last_date}"
    return None


def answer_problems(standard: Standard, item_id: str, answer: Answer, limits: Limits = LIMITS) -> list[SheetProblem]:
    """Why this answer to `item_id` may not be stored (empty when it may)."""
    problems = sheet_problems(standard, AnswerSheet(answers={item_id: answer}))
    if problems:
        return problems  # unknown item or wrong types: the ranges below assume the types
    item = standard.item(item_id)
    found: list[tuple[str, str]] = []  # (where under the answer, what is wrong)
    if len(answer.reason) > limits.max_text_chars:
        found.append(("reason", f"longer than {limits.max_text_chars} characters"))
    if answer.value is not None:
        found += [("value", p) for p in _value_problems(item, answer.value, limits)]
    if len(answer.fields) > limits.max_fields:
        found.append(("fields", f"more than {limits.max_fields} fields"))
    declared: dict[str, FieldDef] = {f.key: f for f in item.fields}
    for key, v in answer.fields.items():
        wrong = value_problem(declared[key].type, v, limits)  # the engine refused unknown keys
        if wrong:
            found.append((f"fields.{key}", wrong))
    found += [("evidence", p) for p in _attachments_problems(answer.evidence, limits)]
    return [SheetProblem(path=f"answers.{item_id}.{where}", item=item_id, message=m) for where, m in found]


def _value_problems(item: Item, value: object, limits: Limits) -> list[str]:
    if item.answer in ("count", "number", "percent", "date", "text"):
        wrong = value_problem(item.answer, value, limits)
        return [wrong] if wrong else []
    if item.answer == "multi_select" and isinstance(value, list):
        if len(value) > limits.max_choices:
            return [f"more than {limits.max_choices} options"]
        if len(set(value)) != len(value):
            return ["an option is chosen more than once"]
    return []


def _attachments_problems(attachments: list[Attachment], limits: Limits) -> list[str]:
    problems = []
    if len(attachments) > limits.max_attachments:
        problems.append(f"more than {limits.max_attachments} attachments")
    if any(len(a.label) > limits.max_label_chars for a in attachments):
        problems.append(f"a label longer than {limits.max_label_chars} characters")
    return problems


def record_problems(standard: Standard, record: Record, limits: Limits = LIMITS) -> list[SheetProblem]:
    """Why this dated record may not be stored (empty when it may). A bad id is reported alone,
    and never repeated back."""
    if not re.fullmatch(limits.record_id_pattern, record.id):
        return [SheetProblem(path="record.id", message="a record id is 1-128 letters, digits and . _ : - "
                             "(starting with a letter or digit), e.g. a UUID")]
    found: list[tuple[str, str]] = []
    if len(record.title) > limits.max_label_chars:
        found.append(("title", f"longer than {limits.max_label_chars} characters"))
    wrong_date = date_problem(record.date, limits)
    if wrong_date:
        found.append(("date", wrong_date))
    if len(record.fields) > limits.max_fields:
        found.append(("fields", f"more than {limits.max_fields} fields"))
    for key, v in record.fields.items():
        if not _KEY.fullmatch(key):
            found.append(("fields", "a field name is a-z, 0-9 and _ (at most 64, starting with a letter)"))
        elif len(v) > limits.max_label_chars:
            found.append((f"fields.{key}", f"longer than {limits.max_label_chars} characters"))
    found += [("attachments", p) for p in _attachments_problems(record.attachments, limits)]
    if found:
        return [SheetProblem(path=f"records[{record.id}].{where}", message=m) for where, m in found]
    return sheet_problems(standard, AnswerSheet(records=[record]))
