"""Boundary tests of the shipped standards (checklists/standards/): every [S] threshold just below and at its
value, conditional items, N/A with and without a reason, and what each jurisdiction's overlay changes.

Sheets are built by `passing_sheet`, which satisfies every item of a standard from its own rules; each test then
breaks or moves one item to the edge of its threshold.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from functools import cache
from pathlib import Path

import pytest

from checklists.loader import build_catalog, load_catalog
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
    Present,
    Record,
    RecordCount,
    RecordsCover,
    Rule,
    Standard,
    WithinMonths,
    Yes,
)
from checklists.scoring import months_before, required_quarters, score

REPO = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2024, 11, 20)  # Q1–Q3 2024 have ended; Q4 has not

HUNAN_TS = "hunan.township.liuyou@2021"
KAIFU_TS = "changsha.kaifu.township.liuyou@2022"
PINGJIANG_TS = "yueyang.pingjiang.township.liuyou@2023"
JILIN_TS = "jilin.changyi.township.liuyou@2021"
HUNAN_VC = "hunan.village.sanyou@2021"
KAIFU_VC = "changsha.kaifu.village.sanyou@2022"
PINGJIANG_VC = "yueyang.pingjiang.village.siyou@2023"
TOWNSHIPS = [HUNAN_TS, KAIFU_TS, PINGJIANG_TS, JILIN_TS]
VILLAGES = [HUNAN_VC, KAIFU_VC, PINGJIANG_VC]
ALL = TOWNSHIPS + VILLAGES

# Attribute values under which every conditional item applies.
ALL_APPLY = {"forested": True, "in_city_fire_coverage": False, "remote_high_risk": True}


# ---------------------------------------------------------------------------------------------
# Factories


@cache
def catalog():
    return load_catalog()


def std(ref: str) -> Standard:
    return catalog().get(ref)


def attachment(kind: str, label: str) -> Attachment:
    return Attachment(sha256=hashlib.sha256(f"{kind}:{label}".encode()).hexdigest(), kind=kind, label=label)


def doc(label: str = "文件") -> Attachment:
    return attachment("document", label)


def photo(label: str = "照片") -> Attachment:
    return attachment("photo", label)


def evidence_for(item: Item) -> list[Attachment]:
    """Exactly the minimum evidence the item asks for."""
    return [photo(f"{item.id}-照片{i}") for i in range(item.evidence.photos)] + [
        doc(f"{item.id}-文件{i}") for i in range(item.evidence.documents)
    ]


def answer(value=None, *, docs: int = 0, photos: int = 0, na: bool = False, reason: str = "", **fields) -> Answer:
    return Answer(
        value=value,
        na=na,
        reason=reason,
        fields=fields,
        evidence=[doc(f"文件{i}") for i in range(docs)] + [photo(f"照片{i}") for i in range(photos)],
    )


def complete(item_id: str, standard: Standard, value=None, **fields) -> Answer:
    """An answer to `item_id` with `value`/fields and exactly the evidence the item asks for."""
    return Answer(value=value, fields=fields, evidence=evidence_for(standard.item(item_id)))


_serial = iter(range(10**9))


def record(kind: str, day: dt.date | str, *, docs: int = 1, **fields: str) -> Record:
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return Record(
        id=f"r{next(_serial)}",
        kind=kind,
        date=day,
        title=kind,
        fields=fields,
        attachments=[doc(f"{kind}-{day}-{i}") for i in range(docs)],
    )


def _satisfy(rule: Rule, item: Item, standard: Standard, as_of: dt.date, ans: dict, records: list, children: dict) -> None:
    """Fill `ans` (value, fields, evidence), `records` and `children` so that `rule` holds."""
    types = {f.key: f.type for f in item.fields}

    def put(field, value):
        if field is None:
            ans["value"] = value
        else:
            ans.setdefault("fields", {})[field] = value

    match rule:
        case Yes(field=field):
            put(field, True)
        case AtLeast(value=v, field=field) | AtMost(value=v, field=field):
            kind = types[field] if field else item.answer
            put(field, int(v) if kind == "count" else float(v))
        case OneOf(values=values, field=field):
            put(field, values[0])
        case IncludesAll():
            ans["value"] = list(item.options)
        case Present():
            ans["value"] = {"number": 30.0, "count": 0, "percent": 100.0, "text": "有"}.get(item.answer)
        case WithinMonths():
            ans["value"] = as_of.isoformat()
        case RecordCount(kind=kind, min=n, per=per, field=field, each_of=each_of, with_documents=docs):
            days = [start for _, start, _ in required_quarters(as_of)] if per == "quarter" else [as_of]
            for value in each_of or [None]:
                extra = {field: value} if field else {}
                records.extend(record(kind, day, docs=docs, **extra) for day in days for _ in range(n))
        case RecordsCover(kind=kind, field=field, against_item=against):
            records.extend(record(kind, as_of, **{field: plan}) for plan in standard.item(against).options)
        case ChildShare(item=child_item, where=where):
            for unit in ("甲村", "乙社区", "丙村"):
                child: dict = {}
                _satisfy(where, item, standard, as_of, child, [], {})
                children.setdefault(unit, {})[child_item] = Answer(**child)
        case LabelledEvidence(kind=kind, labels=labels):
            ans.setdefault("evidence", []).extend(attachment(kind, label) for label in labels)
        case AllOf(rules=rules):
            for sub in rules:
                _satisfy(sub, item, standard, as_of, ans, records, children)
        case _:
            raise AssertionError(f"no factory for {rule!r}")


def passing_sheet(standard: Standard, as_of: dt.date = AS_OF, attributes: dict | None = None) -> AnswerSheet:
    """A sheet that satisfies every item (and every condition applies unless `attributes` says otherwise)."""
    answers: dict[str, Answer] = {}
    records: list[Record] = []
    children: dict[str, dict[str, Answer]] = {}
    for item in standard.items:
        ans: dict = {}
        _satisfy(item.rule, item, standard, as_of, ans, records, children)
        if item.answer in ("records", "computed") and not ans and not evidence_for(item):
            continue
        ans["evidence"] = ans.get("evidence", []) + evidence_for(item)
        answers[item.id] = Answer(**ans)
    declared = {a.key for a in standard.attributes}
    return AnswerSheet(
        unit="测试单位",
        attributes={k: v for k, v in (attributes or ALL_APPLY).items() if k in declared},
        answers=answers,
        records=records,
        children=[ChildFacts(unit=u, answers=a) for u, a in sorted(children.items())],
    )


def changed(sheet: AnswerSheet, *, answers: dict | None = None, kind: str | None = None, records: list | None = None,
            attributes: dict | None = None, children: list | None = None) -> AnswerSheet:
    """The sheet with some answers replaced (None removes one), the records of one kind replaced, attributes
    updated or the children replaced."""
    merged = dict(sheet.answers)
    for item_id, value in (answers or {}).items():
        if value is None:
            merged.pop(item_id, None)
        else:
            merged[item_id] = value
    kept = sheet.records if kind is None else [r for r in sheet.records if r.kind != kind] + list(records or [])
    return AnswerSheet(
        unit=sheet.unit,
        attributes={**sheet.attributes, **(attributes or {})},
        answers=merged,
        records=kept,
        children=sheet.children if children is None else children,
    )


def item_status(ref: str, sheet: AnswerSheet, item_id: str, as_of: dt.date = AS_OF) -> str:
    result = score(std(ref), sheet, as_of)
    return next(i.status for i in result.items if i.id == item_id)


def dimension_passed(ref: str, sheet: AnswerSheet, code: str, as_of: dt.date = AS_OF) -> bool:
    result = score(std(ref), sheet, as_of)
    return next(d.passed for d in result.dimensions if d.code == code)


def base(ref: str, **kw) -> AnswerSheet:
    return passing_sheet(std(ref), **kw)


# ---------------------------------------------------------------------------------------------
# Every shipped standard can be met


@pytest.mark.parametrize("ref", ALL)
def test_a_complete_sheet_passes_every_shipped_standard(ref):
    result = score(std(ref), base(ref), AS_OF)
    assert [i.id for i in result.items if i.status != "pass"] == []
    assert result.passed and result.score == 100


@pytest.mark.parametrize("ref", ALL)
def test_an_empty_sheet_is_not_达标(ref):
    result = score(std(ref), AnswerSheet(), AS_OF)
    assert not result.passed
    assert all(not d.passed for d in result.dimensions)


# ---------------------------------------------------------------------------------------------
# 有队伍: TS-DW-01 不少于15人 (001 专栏7), a gate in every township standard


@pytest.mark.parametrize("ref", TOWNSHIPS)
@pytest.mark.parametrize(("members", "expected"), [(14, "fail"), (15, "pass"), (16, "pass")], ids=["14_fails", "15_passes", "16_passes"])
def test_team_of_at_least_15_TS_DW_01(ref, members, expected):
    sheet = changed(base(ref), answers={"TS-DW-01": complete("TS-DW-01", std(ref), members)})
    assert item_status(ref, sheet, "TS-DW-01") == expected
    assert dimension_passed(ref, sheet, "DW") is (expected == "pass")


def test_team_of_15_without_roster_fails_TS_DW_01():
    sheet = changed(base(HUNAN_TS), answers={"TS-DW-01": answer(15, photos=1)})
    assert item_status(HUNAN_TS, sheet, "TS-DW-01") == "fail"


# ---------------------------------------------------------------------------------------------
# 有班子: meeting frequencies (003 L38), scored in the base, gates in 平江


def party_meetings(*days: str, docs: int = 1) -> AnswerSheet:
    return changed(base(PINGJIANG_TS), kind="party_meeting", records=[record("party_meeting", d, docs=docs) for d in days])


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ((), "fail"),
        (("2024-03-14",), "fail"),
        (("2024-03-14", "2024-07-11"), "pass"),
        (("2023-12-28", "2024-07-11"), "fail"),  # last year's meeting does not count
        (("2024-03-14", "2024-11-21"), "fail"),  # a meeting after the as-of date does not count yet
        (("2024-01-01", "2024-11-20"), "pass"),  # both ends of the window count
    ],
    ids=["none_fails", "one_fails", "two_pass", "last_year_not_counted", "after_as_of_not_counted", "window_inclusive"],
)
def test_party_committee_meetings_at_least_2_per_year_TS_BZ_04(days, expected):
    sheet = party_meetings(*days)
    assert item_status(PINGJIANG_TS, sheet, "TS-BZ-04") == expected
    assert dimension_passed(PINGJIANG_TS, sheet, "BZ") is (expected == "pass")


def test_meeting_without_minutes_does_not_count_TS_BZ_04():
    assert item_status(PINGJIANG_TS, party_meetings("2024-03-14", "2024-07-11", docs=0), "TS-BZ-04") == "fail"


def test_one_party_meeting_is_a_scored_gap_in_the_hunan_base_but_a_gate_in_pingjiang_TS_BZ_04():
    hunan = changed(base(HUNAN_TS), kind="party_meeting", records=[record("party_meeting", "2024-03-14")])
    assert item_status(HUNAN_TS, hunan, "TS-BZ-04") == "fail"
    assert dimension_passed(HUNAN_TS, hunan, "BZ")
    assert not dimension_passed(PINGJIANG_TS, party_meetings("2024-03-14"), "BZ")


def leadership_meetings(*days: str) -> AnswerSheet:
    return changed(base(PINGJIANG_TS), kind="leadership_meeting", records=[record("leadership_meeting", d) for d in days])


@pytest.mark.parametrize(
    ("days", "as_of", "expected"),
    [
        (("2024-02-20", "2024-05-16", "2024-08-22"), AS_OF, "pass"),
        (("2024-02-20", "2024-05-16"), AS_OF, "fail"),  # no meeting in Q3
        (("2024-02-20", "2024-05-16", "2024-10-08"), AS_OF, "fail"),  # Q4 does not make up for Q3
        (("2024-01-05", "2024-03-30", "2024-08-22"), AS_OF, "fail"),  # two in Q1, none in Q2
        (("2024-03-31", "2024-04-01", "2024-09-30"), AS_OF, "pass"),  # quarter boundaries
        (("2024-02-20", "2024-05-16", "2024-08-22"), dt.date(2024, 12, 31), "fail"),  # Q4 has ended: it is required
        (("2024-01-10",), dt.date(2024, 2, 10), "pass"),  # no quarter ended yet: the current one counts
        ((), dt.date(2024, 2, 10), "fail"),
    ],
    ids=["every_quarter_passes", "no_meeting_in_Q3_fails", "Q4_does_not_cover_Q3", "none_in_Q2_fails",
         "quarter_edges", "Q4_required_at_year_end", "current_quarter_early", "none_early_in_year_fails"],
)
def test_leadership_meeting_at_least_once_every_quarter_TS_BZ_05(days, as_of, expected):
    sheet = leadership_meetings(*days)
    assert item_status(PINGJIANG_TS, sheet, "TS-BZ-05", as_of) == expected


def test_no_meeting_in_Q3_fails_the_pingjiang_BZ_dimension_TS_BZ_05():
    assert not dimension_passed(PINGJIANG_TS, leadership_meetings("2024-02-20", "2024-05-16"), "BZ")
    assert dimension_passed(HUNAN_TS, changed(base(HUNAN_TS), kind="leadership_meeting", records=[]), "BZ")


# ---------------------------------------------------------------------------------------------
# 有班子: TS-BZ-02 专业应急小组 (001 专栏7): 森林消防 only for 涉林 units


GROUPS3 = ["安全生产（消防安全）", "防汛抗旱", "地质灾害"]


@pytest.mark.parametrize(
    ("forested", "groups", "expected"),
    [
        (True, GROUPS3 + ["森林消防"], "pass"),
        (True, GROUPS3, "fail"),
        (False, GROUPS3, "pass"),
        (False, ["安全生产（消防安全）", "防汛抗旱"], "fail"),
    ],
    ids=["forested_all_four_pass", "forested_without_森林消防_fails", "not_forested_three_pass", "missing_地质灾害_fails"],
)
def test_specialist_groups_TS_BZ_02(forested, groups, expected):
    ref = HUNAN_TS
    sheet = changed(base(ref), answers={"TS-BZ-02": complete("TS-BZ-02", std(ref), groups)}, attributes={"forested": forested})
    assert item_status(ref, sheet, "TS-BZ-02") == expected
    assert dimension_passed(ref, sheet, "BZ") is (expected == "pass")


# ---------------------------------------------------------------------------------------------
# 有机制: TS-JZ-06 网格全面覆盖 (004 L219): scored in the base, a gate in 昌邑


@pytest.mark.parametrize(
    ("grids", "coverage", "expected"),
    [(40, 99.0, "fail"), (40, 100.0, "pass"), (0, 100.0, "fail")],
    ids=["coverage_99_fails", "coverage_100_passes", "no_grids_fails"],
)
def test_grid_coverage_100_percent_TS_JZ_06(grids, coverage, expected):
    for ref in (HUNAN_TS, JILIN_TS):
        sheet = changed(base(ref), answers={"TS-JZ-06": complete("TS-JZ-06", std(ref), grids, coverage=coverage)})
        assert item_status(ref, sheet, "TS-JZ-06") == expected
    jilin = changed(base(JILIN_TS), answers={"TS-JZ-06": complete("TS-JZ-06", std(JILIN_TS), grids, coverage=coverage)})
    hunan = changed(base(HUNAN_TS), answers={"TS-JZ-06": complete("TS-JZ-06", std(HUNAN_TS), grids, coverage=coverage)})
    assert dimension_passed(JILIN_TS, jilin, "JZ") is (expected == "pass")
    assert dimension_passed(HUNAN_TS, hunan, "JZ")


# ---------------------------------------------------------------------------------------------
# 有预案: TS-YA-04 一村一案 100% (003 L80), computed from the villages' VC-ZD-03


def villages(*answers: Answer) -> list[ChildFacts]:
    return [ChildFacts(unit=f"村{i}", answers={"VC-ZD-03": a}) for i, a in enumerate(answers)]


YES, NO = Answer(value=True), Answer(value=False)


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        (villages(YES, YES, YES), "pass"),
        (villages(YES, YES, NO), "fail"),
        (villages(YES, YES, Answer()), "fail"),  # a village that did not answer counts as not covered
        (villages(YES, YES, Answer(na=True, reason="已撤并入甲村")), "pass"),  # N/A with a reason: out of the denominator
        (villages(YES, YES, Answer(na=True)), "fail"),  # N/A without a reason is not covered
        ([], "missing"),
    ],
    ids=["3_of_3_pass", "2_of_3_fails", "unanswered_fails", "na_with_reason_excluded", "na_without_reason_fails", "no_villages_missing"],
)
def test_one_plan_per_village_100_percent_TS_YA_04(children, expected):
    sheet = changed(base(PINGJIANG_TS), children=children)
    assert item_status(PINGJIANG_TS, sheet, "TS-YA-04") == expected
    assert dimension_passed(PINGJIANG_TS, sheet, "YA") is (expected == "pass")


# ---------------------------------------------------------------------------------------------
# 有队伍: TS-DW-03 应急信息员队伍 [S] + every village has one [D]; TS-DW-04 乡镇消防队 (003 L52)


def test_information_officer_team_and_village_coverage_TS_DW_03():
    ref = HUNAN_TS
    team = complete("TS-DW-03", std(ref), team_established=True, members=12)
    covered = [ChildFacts(unit=u, answers={"VC-RY-01": Answer(value=n)}) for u, n in (("甲村", 2), ("乙村", 1))]
    gap = [ChildFacts(unit=u, answers={"VC-RY-01": Answer(value=n)}) for u, n in (("甲村", 2), ("乙村", 0))]
    assert item_status(ref, changed(base(ref), answers={"TS-DW-03": team}, children=covered), "TS-DW-03") == "pass"
    assert item_status(ref, changed(base(ref), answers={"TS-DW-03": team}, children=gap), "TS-DW-03") == "fail"
    no_team = complete("TS-DW-03", std(ref), team_established=False, members=0)
    assert item_status(ref, changed(base(ref), answers={"TS-DW-03": no_team}, children=covered), "TS-DW-03") == "fail"


@pytest.mark.parametrize(
    ("in_coverage", "value", "expected"),
    [(False, "建成", "pass"), (False, "未建", "fail"), (True, "未建", "na"), (True, None, "na")],
    ids=["outside_built_passes", "outside_not_built_fails", "inside_city_coverage_na", "inside_unanswered_na"],
)
def test_township_fire_team_unless_inside_city_fire_coverage_TS_DW_04(in_coverage, value, expected):
    ref = PINGJIANG_TS
    ans = complete("TS-DW-04", std(ref), value) if value else None
    sheet = changed(base(ref), answers={"TS-DW-04": ans}, attributes={"in_city_fire_coverage": in_coverage})
    assert item_status(ref, sheet, "TS-DW-04") == expected
    assert dimension_passed(ref, sheet, "DW") is (expected != "fail")


def test_township_fire_team_built_without_photo_fails_TS_DW_04():
    sheet = changed(base(PINGJIANG_TS), answers={"TS-DW-04": answer("建成")})
    assert item_status(PINGJIANG_TS, sheet, "TS-DW-04") == "fail"


# ---------------------------------------------------------------------------------------------
# 有物资: TS-WZ-05 用车 (SD), TS-WZ-11 森林防灭火物资 (涉林 only)


@pytest.mark.parametrize(
    ("has", "vehicles", "expected"),
    [(True, 0, "fail"), (True, 1, "pass"), (False, 2, "fail")],
    ids=["no_vehicle_fails", "one_vehicle_passes", "no_system_fails"],
)
def test_duty_vehicle_TS_WZ_05(has, vehicles, expected):
    sheet = changed(base(HUNAN_TS), answers={"TS-WZ-05": complete("TS-WZ-05", std(HUNAN_TS), has, vehicles=vehicles)})
    assert item_status(HUNAN_TS, sheet, "TS-WZ-05") == expected


@pytest.mark.parametrize(
    ("forested", "value", "expected"),
    [(True, True, "pass"), (True, False, "fail"), (True, None, "missing"), (False, None, "na"), (False, False, "na")],
    ids=["forested_yes_passes", "forested_no_fails", "forested_unanswered_missing", "not_forested_na", "not_forested_no_still_na"],
)
def test_forest_fire_supplies_only_for_forested_TS_WZ_11(forested, value, expected):
    ans = None if value is None else complete("TS-WZ-11", std(HUNAN_TS), value)
    sheet = changed(base(HUNAN_TS), answers={"TS-WZ-11": ans}, attributes={"forested": forested})
    assert item_status(HUNAN_TS, sheet, "TS-WZ-11") == expected
    assert dimension_passed(HUNAN_TS, sheet, "WZ") is (expected in ("pass", "na"))


# ---------------------------------------------------------------------------------------------
# 有培训演练: TS-PX-04 每两年至少一次专项预案演练 (001), TS-PX-07 县对乡村消防队培训 ≥1/年 (003 L52)

PLANS = ["安全生产（消防安全）", "防汛抗旱", "地质灾害", "森林火灾"]


def drills_with_one_plan_last_drilled(day: dt.date) -> AnswerSheet:
    recent = [record("drill", "2024-06-18", plan=p) for p in PLANS[:3]]
    return changed(base(HUNAN_TS), kind="drill", records=recent + [record("drill", day, plan="森林火灾")])


@pytest.mark.parametrize(
    ("last_drilled", "expected"),
    [
        (months_before(AS_OF, 25), "fail"),
        (months_before(AS_OF, 24), "pass"),
        (months_before(AS_OF, 24) - dt.timedelta(days=1), "fail"),
        (months_before(AS_OF, 23), "pass"),
    ],
    ids=["25_months_ago_fails", "24_months_ago_passes", "a_day_over_24_months_fails", "23_months_ago_passes"],
)
def test_every_special_plan_drilled_within_24_months_TS_PX_04(last_drilled, expected):
    sheet = drills_with_one_plan_last_drilled(last_drilled)
    for ref in TOWNSHIPS:
        assert item_status(ref, changed(sheet), "TS-PX-04") == expected
    assert dimension_passed(HUNAN_TS, sheet, "PX") is (expected == "pass")


def test_a_special_plan_never_drilled_fails_TS_PX_04():
    sheet = changed(base(HUNAN_TS), kind="drill", records=[record("drill", "2024-06-18", plan=p) for p in PLANS[:3]])
    assert item_status(HUNAN_TS, sheet, "TS-PX-04") == "fail"


@pytest.mark.parametrize(
    ("days", "expected"),
    [((), "fail"), (("2023-10-12",), "fail"), (("2024-09-12",), "pass")],
    ids=["none_fails", "last_year_fails", "one_this_year_passes"],
)
def test_county_fire_training_at_least_once_a_year_TS_PX_07(days, expected):
    sheet = changed(base(PINGJIANG_TS), kind="fire_training", records=[record("fire_training", d, docs=0) for d in days])
    assert item_status(PINGJIANG_TS, sheet, "TS-PX-07") == expected
    assert dimension_passed(PINGJIANG_TS, sheet, "PX") is (expected == "pass")
    assert item_status(HUNAN_TS, changed(base(HUNAN_TS), kind="fire_training", records=sheet.records), "TS-PX-07") == expected
    assert dimension_passed(HUNAN_TS, changed(base(HUNAN_TS), kind="fire_training", records=sheet.records), "PX")


# ---------------------------------------------------------------------------------------------
# Every [S]/[SD] yes-or-no requirement: 否 fails, 是 with its evidence passes, 是 without evidence fails


def yes_items():
    for ref in ALL:
        for item in std(ref).items:
            if item.basis in ("S", "SD") and item.answer == "yes_no" and isinstance(item.rule, Yes) and item.rule.field is None:
                yield pytest.param(ref, item.id, id=f"{ref.split('@')[0]}:{item.id}")


@pytest.mark.parametrize(("ref", "item_id"), list(yes_items()))
def test_every_S_yes_requirement(ref, item_id):
    standard, sheet = std(ref), base(ref)
    item = standard.item(item_id)
    keep = sheet.answers[item_id].fields
    assert item_status(ref, changed(sheet, answers={item_id: Answer(value=True, fields=keep, evidence=evidence_for(item))}), item_id) == "pass"
    no = changed(sheet, answers={item_id: Answer(value=False, fields=keep, evidence=evidence_for(item))})
    assert item_status(ref, no, item_id) == "fail"
    assert dimension_passed(ref, no, item.dimension) is (not item.mandatory)
    if item.evidence.photos or item.evidence.documents:
        bare = changed(sheet, answers={item_id: Answer(value=True, fields=keep)})
        assert item_status(ref, bare, item_id) == "fail"


# ---------------------------------------------------------------------------------------------
# Village thresholds


@pytest.mark.parametrize(
    ("days", "expected"),
    [((), "fail"), (("2023-12-01",), "fail"), (("2024-04-02",), "pass")],
    ids=["none_fails", "last_year_fails", "one_this_year_passes"],
)
def test_volunteer_fire_team_trained_at_least_once_a_year_VC_PX_03(days, expected):
    for ref in VILLAGES:
        sheet = changed(base(ref), kind="fire_training", records=[record("fire_training", d, docs=0) for d in days])
        assert item_status(ref, sheet, "VC-PX-03") == expected
        assert dimension_passed(ref, sheet, "WZ") is (expected == "pass" or ref != PINGJIANG_VC)


@pytest.mark.parametrize(
    ("remote", "value", "expected"),
    [(True, "建成", "pass"), (True, "未建", "fail"), (False, None, "na"), (False, "未建", "na")],
    ids=["remote_built_passes", "remote_not_built_fails", "not_remote_na", "not_remote_not_built_na"],
)
def test_supply_point_only_for_remote_high_risk_villages_VC_WZ_03(remote, value, expected):
    ans = None if value is None else complete("VC-WZ-03", std(HUNAN_VC), value)
    sheet = changed(base(HUNAN_VC), answers={"VC-WZ-03": ans}, attributes={"remote_high_risk": remote})
    assert item_status(HUNAN_VC, sheet, "VC-WZ-03") == expected
    assert dimension_passed(HUNAN_VC, sheet, "WZ") is (expected != "fail")


@pytest.mark.parametrize(
    ("forested", "value", "expected"),
    [(True, True, "pass"), (True, False, "fail"), (False, None, "na")],
    ids=["forested_yes_passes", "forested_no_fails", "not_forested_na"],
)
def test_village_forest_fire_supplies_only_for_forested_VC_WZ_05(forested, value, expected):
    ans = None if value is None else complete("VC-WZ-05", std(HUNAN_VC), value)
    sheet = changed(base(HUNAN_VC), answers={"VC-WZ-05": ans}, attributes={"forested": forested})
    assert item_status(HUNAN_VC, sheet, "VC-WZ-05") == expected


@pytest.mark.parametrize(
    ("ans", "expected"),
    [(answer(45.0, photos=1), "pass"), (answer(45.0), "fail"), (None, "missing")],
    ids=["area_with_photo_passes", "area_without_photo_fails", "unanswered_missing"],
)
def test_station_site_with_interior_photo_VC_CD_02(ans, expected):
    sheet = changed(base(HUNAN_VC), answers={"VC-CD-02": ans})
    assert item_status(HUNAN_VC, sheet, "VC-CD-02") == expected
    assert dimension_passed(HUNAN_VC, sheet, "CD") is (expected == "pass")


def test_risk_map_drawn_passes_even_if_not_posted_VC_ZD_04():
    sheet = changed(base(HUNAN_VC), answers={"VC-ZD-04": complete("VC-ZD-04", std(HUNAN_VC), True, posted=False)})
    assert item_status(HUNAN_VC, sheet, "VC-ZD-04") == "pass"


# ---------------------------------------------------------------------------------------------
# N/A with and without a reason


@pytest.mark.parametrize(
    ("ref", "item_id", "code"),
    [(HUNAN_TS, "TS-WZ-10", "WZ"), (HUNAN_VC, "VC-CD-05", "CD")],
    ids=["TS-WZ-10", "VC-CD-05"],
)
def test_na_with_a_reason_is_na_and_without_one_fails(ref, item_id, code):
    assert std(ref).item(item_id).na_allowed
    with_reason = changed(base(ref), answers={item_id: Answer(na=True, reason="辖区为平原老城区，由区级应急避难场所覆盖")})
    assert item_status(ref, with_reason, item_id) == "na"
    result = score(std(ref), with_reason, AS_OF)
    dim = next(d for d in result.dimensions if d.code == code)
    assert dim.score == 100 and dim.counts["na"] == 1  # an N/A item is out of the dimension score
    for blank in ("", "   "):
        assert item_status(ref, changed(base(ref), answers={item_id: Answer(na=True, reason=blank)}), item_id) == "fail"


@pytest.mark.parametrize(("ref", "item_id"), [(HUNAN_TS, "TS-DW-01"), (HUNAN_TS, "TS-WZ-11"), (HUNAN_VC, "VC-CD-01")])
def test_na_is_refused_where_the_standard_does_not_offer_it(ref, item_id):
    assert not std(ref).item(item_id).na_allowed
    sheet = changed(base(ref), answers={item_id: Answer(na=True, reason="理由")})
    assert item_status(ref, sheet, item_id) == "fail"
    assert not dimension_passed(ref, sheet, std(ref).item(item_id).dimension)


# ---------------------------------------------------------------------------------------------
# Overlays: 开福 (000), 平江 (003), 昌邑 (004)

RULES = ["值班值守", "信息报告", "隐患排查", "物资管理", "培训演练", "岗位职责"]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [(RULES, "pass"), (RULES[:5], "fail"), (RULES[:5] + ["值班值守"], "fail"), ([], "missing")],
    ids=["photo_per_rule_passes", "5_of_6_rules_fails", "duplicate_photo_does_not_cover_a_rule", "no_photo_missing"],
)
def test_kaifu_上墙_needs_one_photo_per_posted_rule_VC_ZD_02(labels, expected):
    ans = Answer(evidence=[photo(label) for label in labels])
    sheet = changed(base(KAIFU_VC), answers={"VC-ZD-02": ans})
    assert item_status(KAIFU_VC, sheet, "VC-ZD-02") == expected
    assert dimension_passed(KAIFU_VC, sheet, "ZD") is (expected == "pass")


def test_kaifu_上墙_is_mandatory_only_in_kaifu_VC_ZD_02():
    assert std(KAIFU_VC).item("VC-ZD-02").mandatory and not std(HUNAN_VC).item("VC-ZD-02").mandatory
    one_photo = Answer(evidence=[photo("制度墙")])
    assert item_status(HUNAN_VC, changed(base(HUNAN_VC), answers={"VC-ZD-02": one_photo}), "VC-ZD-02") == "pass"
    assert item_status(KAIFU_VC, changed(base(KAIFU_VC), answers={"VC-ZD-02": one_photo}), "VC-ZD-02") == "fail"
    assert dimension_passed(HUNAN_VC, changed(base(HUNAN_VC), answers={"VC-ZD-02": None}), "ZD")


def test_kaifu_rules_established_is_a_gate_with_the_same_list_VC_ZD_01():
    kaifu, hunan = std(KAIFU_VC).item("VC-ZD-01"), std(HUNAN_VC).item("VC-ZD-01")
    assert [o.value for o in kaifu.rule.options] == RULES == std(KAIFU_VC).item("VC-ZD-02").rule.labels
    assert kaifu.mandatory and not hunan.mandatory
    five = {"VC-ZD-01": complete("VC-ZD-01", std(KAIFU_VC), RULES[:5])}
    assert not dimension_passed(KAIFU_VC, changed(base(KAIFU_VC), answers=five), "ZD")
    assert dimension_passed(HUNAN_VC, changed(base(HUNAN_VC), answers=five), "ZD")


@pytest.mark.parametrize(("item_id", "code"), [("TS-BZ-03", "BZ"), ("TS-BZ-08", "BZ"), ("TS-DW-02", "DW")])
def test_kaifu_makes_its_own_000_requirements_gates(item_id, code):
    for ref, gate in ((KAIFU_TS, True), (HUNAN_TS, False)):
        sheet = changed(base(ref), answers={item_id: complete(item_id, std(ref), False)})
        assert item_status(ref, sheet, item_id) == "fail"
        assert dimension_passed(ref, sheet, code) is (not gate)


PINGJIANG_GATES = ["TS-BZ-03", "TS-BZ-04", "TS-BZ-05", "TS-BZ-06", "TS-BZ-08", "TS-JZ-07", "TS-YA-01", "TS-YA-04",
                   "TS-DW-04", "TS-WZ-06", "TS-PX-07", "TS-PX-08"]


def test_pingjiang_gates_are_exactly_its_003_requirements():
    pingjiang, hunan = std(PINGJIANG_TS), std(HUNAN_TS)
    added = sorted(i.id for i in pingjiang.items if i.mandatory and not hunan.item(i.id).mandatory)
    assert added == sorted(PINGJIANG_GATES)
    for item_id in added:
        assert any(c.source.startswith("003_") for c in pingjiang.item(item_id).provenance), item_id


@pytest.mark.parametrize("ref", [PINGJIANG_TS, PINGJIANG_VC])
def test_pingjiang_deadline_is_end_of_2023(ref):
    assert std(ref).deadline == dt.date(2023, 12, 31)
    assert std(ref).jurisdiction == "湖南省岳阳市平江县"


def test_pingjiang_四有_has_a_fourth_dimension():
    siyou, sanyou = std(PINGJIANG_VC), std(HUNAN_VC)
    assert siyou.label == "四有" and sanyou.label == "三有"
    assert [d.code for d in siyou.dimensions] == ["CD", "WZ", "ZD", "RY"]
    assert [d.code for d in sanyou.dimensions] == ["CD", "WZ", "ZD"]
    assert sorted(i.id for i in siyou.items if i.dimension == "RY") == ["VC-RY-01", "VC-RY-02", "VC-RY-03", "VC-RY-04"]
    result = score(siyou, base(PINGJIANG_VC), AS_OF)
    assert len(result.dimensions) == 4 and result.passed


@pytest.mark.parametrize(("item_id", "code"), [("VC-WZ-04", "WZ"), ("VC-ZD-03", "ZD"), ("VC-RY-04", "RY")])
def test_pingjiang_village_gates(item_id, code):
    sheet = changed(base(PINGJIANG_VC), answers={item_id: complete(item_id, std(PINGJIANG_VC), False)})
    assert not dimension_passed(PINGJIANG_VC, sheet, code)
    if code != "RY":
        hunan = changed(base(HUNAN_VC), answers={item_id: complete(item_id, std(HUNAN_VC), False)})
        assert dimension_passed(HUNAN_VC, hunan, code)


def test_pingjiang_village_needs_its_fire_team_trained_VC_PX_03():
    assert std(PINGJIANG_VC).item("VC-PX-03").mandatory and not std(HUNAN_VC).item("VC-PX-03").mandatory
    assert std(PINGJIANG_VC).item("VC-PX-03").dimension == "WZ"


def test_jilin_has_the_command_post_TS_BZ_09_and_the_hunan_base_has_not():
    assert std(JILIN_TS).item("TS-BZ-09").mandatory
    with pytest.raises(KeyError):
        std(HUNAN_TS).item("TS-BZ-09")
    for ref in (HUNAN_TS, KAIFU_TS, PINGJIANG_TS):
        assert "TS-BZ-09" not in {i.id for i in std(ref).items}
    no = changed(base(JILIN_TS), answers={"TS-BZ-09": complete("TS-BZ-09", std(JILIN_TS), False)})
    assert not dimension_passed(JILIN_TS, no, "BZ")
    unanswered = changed(base(JILIN_TS), answers={"TS-BZ-09": None})
    assert item_status(JILIN_TS, unanswered, "TS-BZ-09") == "missing"
    assert not score(std(JILIN_TS), unanswered, AS_OF).passed


def test_jilin_grid_coverage_is_a_gate_TS_JZ_06():
    assert std(JILIN_TS).item("TS-JZ-06").mandatory and not std(HUNAN_TS).item("TS-JZ-06").mandatory
    assert std(JILIN_TS).jurisdiction == "吉林省吉林市昌邑区"


# ---------------------------------------------------------------------------------------------
# Option A for 四有 (有灾害风险图), built from the overlay documented in docs/standards.md


def option_a_overlay() -> str:
    text = (REPO / "docs" / "standards.md").read_text("utf-8")
    m = re.search(r"<!-- option-a:begin -->\s*```toml\n(.*?)```\s*<!-- option-a:end -->", text, re.S)
    assert m, "docs/standards.md must contain the Option A overlay between option-a markers"
    return m.group(1)


def test_option_A_overlay_from_the_docs_resolves_and_scores(tmp_path):
    path = tmp_path / "2024.toml"
    path.write_text(option_a_overlay(), "utf-8")
    built = build_catalog([path], lock={}, known=dict(catalog().standards))
    assert [str(p) for p in built.problems] == []
    (standard,) = built.standards.values()
    assert standard.extends == HUNAN_VC and standard.label == "四有"
    assert [d.code for d in standard.dimensions] == ["CD", "WZ", "ZD", "FX"]
    assert standard.item("VC-ZD-04").dimension == "FX" and standard.item("VC-ZD-04").mandatory
    assert not any(i.id.startswith("VC-RY-") for i in standard.items)

    sheet = passing_sheet(standard)
    result = score(standard, sheet, AS_OF)
    assert result.passed and len(result.dimensions) == 4
    no_map = changed(sheet, answers={"VC-ZD-04": Answer(value=False, evidence=evidence_for(standard.item("VC-ZD-04")))})
    dims = {d.code: d.passed for d in score(standard, no_map, AS_OF).dimensions}
    assert dims == {"CD": True, "WZ": True, "ZD": True, "FX": False}
