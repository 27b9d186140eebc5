"""Small factories shared by the engine tests: standard files written to tmp_path, standards built
in Python, answers, attachments and records.

Nothing here reads the shipped standards under checklists/standards/; every test builds its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from pathlib import Path

import msgspec
import pytest

from checklists.loader import Catalog, Problem, Sources, build_catalog
from checklists.model import (
    Answer,
    AnswerSheet,
    Attachment,
    AttributeDef,
    ChildFacts,
    Clause,
    Dimension,
    FieldDef,
    Item,
    Record,
    RecordKindDef,
    Rule,
    Standard,
)

# ---------------------------------------------------------------------------------------------
# Standard files (TOML text) and the source document their quotes come from

SOURCE_NAME = "src.txt"
# Line numbers matter: tests check that a clause is located on the line it starts on.
SOURCE_TEXT = """\
测试规划
第一条 乡镇（街道）设立应急管理议事协调机构，
下设防汛抗旱、森林消防专业应急小组。
第二条 综合应急救援队伍
人数不少于 15 人。
第三条 每年开展应急演练不少于 2 次。
"""

# A small valid township standard. Line 1 is the [standard] table: the loader reports header-level
# problems (file name, lock, extends) on line 1.
BASE_TOML = """\
[standard]
id = "test.township.mini"
version = "2021"
title = "测试乡镇标准"
label = "测试"
level = "township"
jurisdiction = "测试省"
status = "draft"

[[attributes]]
key = "forested"
name = "涉林"

[[record_kinds]]
key = "drill"
name = "应急演练"
fields = [{ key = "plan", label = "演练的专项预案", type = "text" }]

[[dimensions]]
code = "BZ"
name = "有领导班子"
short = "有班子"

[[dimensions]]
code = "DW"
name = "有应急队伍"
short = "有队伍"

[[items]]
id = "TS-BZ-01"
dimension = "BZ"
question = "是否设立应急管理议事协调机构？"
answer = "yes_no"
mandatory = true
basis = "S"
rule = { op = "yes" }

[[items.provenance]]
source = "src.txt"
quote = "设立应急管理议事协调机构"

[[items]]
id = "TS-BZ-02"
dimension = "BZ"
question = "下设哪些专业应急小组？"
answer = "multi_select"
options = ["防汛抗旱", "森林消防"]
basis = "SD"
rule = { op = "includes", options = [{ value = "防汛抗旱" }, { value = "森林消防", when = [{ attr = "forested", equals = true }] }] }

[[items.provenance]]
source = "src.txt"
quote = "下设防汛抗旱、森林消防专业应急小组"

[[items]]
id = "TS-DW-01"
dimension = "DW"
question = "综合应急救援队伍人数"
answer = "count"
unit = "人"
mandatory = true
basis = "S"
rule = { op = "gte", value = 15 }

[[items.provenance]]
source = "src.txt"
quote = "综合应急救援队伍……人数不少于 15 人"

[[items]]
id = "TS-DW-02"
dimension = "DW"
question = "本年度应急演练次数"
answer = "records"
basis = "S"
rule = { op = "records", kind = "drill", min = 2, per = "year" }

[[items.provenance]]
source = "src.txt"
quote = "每年开展应急演练不少于 2 次"
"""

BASE_REF = "test.township.mini@2021"

# An overlay of BASE_TOML; tests mutate it like the base.
OVERLAY_TOML = """\
[standard]
id = "test.township.overlay"
version = "2022"
title = "测试区县标准"
label = "测试"
level = "township"
jurisdiction = "测试县"
extends = "test.township.mini@2021"

[[override]]
id = "TS-DW-02"
mandatory = true

[[items]]
id = "TS-DW-03"
dimension = "DW"
question = "是否落实应急车辆？"
answer = "yes_no"
basis = "D"
rule = { op = "yes" }

[[items.provenance]]
source = "src.txt"
quote = "综合应急救援队伍"
"""


def mutate(text: str, old: str, new: str) -> str:
    """`text` with the one occurrence of `old` replaced (fails loudly if the fixture drifted)."""
    assert text.count(old) == 1, f"fixture text does not contain exactly one {old!r}"
    return text.replace(old, new)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the `occurrence`-th line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} not in text"
    return hits[occurrence - 1]


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    """A sources folder holding SOURCE_TEXT as src.txt."""
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / SOURCE_NAME).write_text(SOURCE_TEXT, "utf-8")
    return Sources(folder)


@pytest.fixture
def write_standard(tmp_path: Path):
    """write_standard(text, rel="mini/2021.toml") -> Path of the file under tmp_path/standards."""

    def write(text: str, rel: str = "mini/2021.toml") -> Path:
        path = tmp_path / "standards" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        return path

    return write


@pytest.fixture
def catalog_of(write_standard, sources):
    """catalog_of({rel: text, ...}, lock={}) -> Catalog built with the tmp sources."""

    def build(files: dict[str, str], lock: dict[str, str] | None = None) -> Catalog:
        paths = [write_standard(text, rel) for rel, text in files.items()]
        return build_catalog(paths, lock=lock or {}, sources=sources)

    return build


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def only_problem(problems: list[Problem], contains: str) -> Problem:
    """The single problem whose message contains `contains` (with all problems in the failure)."""
    hits = [p for p in problems if contains in p.message]
    assert len(hits) == 1, f"expected one problem containing {contains!r}, got:\n" + "\n".join(map(str, problems))
    return hits[0]


# ---------------------------------------------------------------------------------------------
# Standards built in Python, for scoring tests

CLAUSE = Clause(source=SOURCE_NAME, quote="设立应急管理议事协调机构")


def make_item(
    item_id: str,
    rule: Rule,
    answer: str = "yes_no",
    *,
    dimension: str | None = None,
    mandatory: bool = True,
    **fields: object,
) -> Item:
    """An item of dimension `dimension` (default: the two letters in its id)."""
    return Item(
        id=item_id,
        dimension=dimension or item_id.split("-")[1],
        question=f"问题 {item_id}",
        answer=answer,  # type: ignore[arg-type]
        basis="S",
        provenance=[CLAUSE],
        rule=rule,
        mandatory=mandatory,
        **fields,  # type: ignore[arg-type]
    )


DIMENSION_NAMES = {"BZ": "有领导班子", "JZ": "有工作机制", "YA": "有应急预案", "DW": "有应急队伍", "WZ": "有应急物资", "PX": "有培训演练"}


def make_standard(
    *items: Item,
    dimensions: list[Dimension] | None = None,
    attributes: list[AttributeDef] | None = None,
    record_kinds: list[RecordKindDef] | None = None,
    level: str = "township",
) -> Standard:
    """A resolved standard with the given items; dimensions default to those the items use."""
    if dimensions is None:
        codes = list(dict.fromkeys(i.dimension for i in items))
        dimensions = [Dimension(code=c, name=DIMENSION_NAMES.get(c, c), short=c) for c in codes]
    return Standard(
        id="test.township.py",
        version="2024",
        title="测试标准",
        level=level,  # type: ignore[arg-type]
        jurisdiction="测试省",
        label="测试",
        status="draft",
        effective=None,
        deadline=None,
        description="",
        extends=None,
        attributes=attributes or [],
        record_kinds=record_kinds or [],
        dimensions=dimensions,
        items=list(items),
        content_hash="0" * 64,
    )


def kind(key: str, name: str | None = None, *fields: str) -> RecordKindDef:
    """A record kind with text fields."""
    return RecordKindDef(
        key=key, name=name or key, fields=[FieldDef(key=f, label=f, type="text") for f in fields]
    )


def attribute(key: str, name: str | None = None) -> AttributeDef:
    return AttributeDef(key=key, name=name or key)


_counter = itertools.count()


def attachment(kind: str = "photo", label: str = "") -> Attachment:
    """A fresh attachment reference (distinct sha256 each call)."""
    digest = hashlib.sha256(str(next(_counter)).encode()).hexdigest()
    return Attachment(sha256=digest, kind=kind, label=label)  # type: ignore[arg-type]


def ans(
    value: object = None,
    *,
    photos: int = 0,
    documents: int = 0,
    na: bool = False,
    reason: str = "",
    fields: dict | None = None,
    evidence: list[Attachment] | None = None,
) -> Answer:
    """An answer with `photos` photo and `documents` document attachments."""
    ev = list(evidence or []) + [attachment("photo") for _ in range(photos)] + [
        attachment("document") for _ in range(documents)
    ]
    return Answer(value=value, na=na, reason=reason, fields=fields or {}, evidence=ev)  # type: ignore[arg-type]


def rec(kind: str, date: str | dt.date, rid: str | None = None, documents: int = 0, **fields: str) -> Record:
    """A dated record of `kind`."""
    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    return Record(
        id=rid or f"{kind}-{day.isoformat()}-{next(_counter)}",
        kind=kind,
        date=day,
        fields=fields,
        attachments=[attachment("document") for _ in range(documents)],
    )


def sheet(
    answers: dict[str, Answer] | None = None,
    records: list[Record] | None = None,
    attributes: dict | None = None,
    children: list[ChildFacts] | None = None,
) -> AnswerSheet:
    return AnswerSheet(
        unit="测试镇",
        attributes=attributes or {},
        answers=answers or {},
        records=records or [],
        children=children or [],
    )


def child(unit: str, **answers: Answer) -> ChildFacts:
    """A village's answers; keyword names use _ for - (VC_YA_01 -> VC-YA-01)."""
    return ChildFacts(unit=unit, answers={k.replace("_", "-"): v for k, v in answers.items()})


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def replace(obj, **changes):
    return msgspec.structs.replace(obj, **changes)
