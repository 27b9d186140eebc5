"""The scoring engine rule by rule: each op of checklists/model.py, evidence, N/A, conditions,
dimension and overall verdicts, the 0-100 score, date windows and answer-sheet checking."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import ans, attachment, attribute, child, d, kind, make_item, make_standard, rec, sheet

from checklists.model import (
    AllOf,
    AtLeast,
    AtMost,
    AttributeDef,
    ChildShare,
    Condition,
    Dimension,
    Evidence,
    FieldDef,
    GeoPoint,
    IncludesAll,
    LabelledEvidence,
    OneOf,
    OptionRequirement,
    Present,
    RecordCount,
    RecordsCover,
    Result,
    WithinMonths,
    Yes,
)
from checklists.scoring import InvalidAnswers, check_sheet, months_before, required_quarters, score

AS_OF = d("2024-06-30")


def result_of(standard, answers=None, records=None, attributes=None, children=None, as_of=AS_OF) -> Result:
    return score(standard, sheet(answers, records, attributes, children), as_of)


def item_result(standard, item_id: str, **kw):
    return {r.id: r for r in result_of(standard, **kw).items}[item_id]


# ---------------------------------------------------------------------------------------------
# yes / gte / lte / in


YES = make_standard(make_item("TS-BZ-01", Yes()))


def test_yes_passes_on_yes():
    r = item_result(YES, "TS-BZ-01", answers={"TS-BZ-01": ans(True)})
    assert (r.status, r.observed) == ("pass", "是")
    assert "须为“是”" in r.reason


def test_yes_fails_on_no_and_says_so():
    r = item_result(YES, "TS-BZ-01", answers={"TS-BZ-01": ans(False)})
    assert r.status == "fail"
    assert "须为“是”" in r.reason and "实际：否" in r.reason


def test_yes_on_a_field():
    item = make_item(
        "TS-WZ-01",
        Yes(field="has_car"),
        "count",
        fields=[FieldDef(key="has_car", label="是否落实用车", type="yes_no")],
    )
    standard = make_standard(item)
    r = item_result(standard, "TS-WZ-01", answers={"TS-WZ-01": ans(2, fields={"has_car": False})})
    assert r.status == "fail" and "是否落实用车须为“是”" in r.reason and "否" in r.observed
    r = item_result(standard, "TS-WZ-01", answers={"TS-WZ-01": ans(2, fields={"has_car": True})})
    assert r.status == "pass"
    r = item_result(standard, "TS-WZ-01", answers={"TS-WZ-01": ans(2)})
    assert r.status == "missing"


TEAM = make_standard(make_item("TS-DW-01", AtLeast(value=15), "count", unit="人"))


@pytest.mark.parametrize(("members", "status"), [(0, "fail"), (14, "fail"), (15, "pass"), (40, "pass")])
def test_team_size_threshold_15(members, status):
    assert item_result(TEAM, "TS-DW-01", answers={"TS-DW-01": ans(members)}).status == status


def test_team_of_14_fails_TS_DW_01_with_rule_and_observed_value():
    r = item_result(TEAM, "TS-DW-01", answers={"TS-DW-01": ans(14)})
    assert r.status == "fail"
    assert "不少于 15" in r.reason and "14" in r.reason
    assert r.rule == "不少于 15人" and r.observed == "14人"


def test_gte_on_a_number_field():
    item = make_item(
        "TS-WZ-02",
        AtLeast(value=2.5, field="area"),
        "yes_no",
        fields=[FieldDef(key="area", label="储备库面积", type="number", unit="平方米")],
    )
    standard = make_standard(item)
    r = item_result(standard, "TS-WZ-02", answers={"TS-WZ-02": ans(True, fields={"area": 2.25})})
    assert r.status == "fail" and "储备库面积不少于 2.5平方米" in r.reason and "2.25平方米" in r.reason
    assert item_result(standard, "TS-WZ-02", answers={"TS-WZ-02": ans(True, fields={"area": 2.5})}).status == "pass"


RESPONSE = make_standard(make_item("TS-DW-05", AtMost(value=30), "number", unit="分钟"))


@pytest.mark.parametrize(("minutes", "status"), [(0, "pass"), (29.5, "pass"), (30, "pass"), (30.5, "fail"), (31, "fail")])
def test_lte_threshold(minutes, status):
    assert item_result(RESPONSE, "TS-DW-05", answers={"TS-DW-05": ans(minutes)}).status == status


def test_lte_reason_names_rule_and_value():
    r = item_result(RESPONSE, "TS-DW-05", answers={"TS-DW-05": ans(31)})
    assert "不超过 30分钟" in r.reason and "31分钟" in r.reason


ENUM = make_standard(
    make_item("TS-JZ-01", OneOf(values=["24小时值班", "汛期24小时值班"]), "enum", options=["24小时值班", "汛期24小时值班", "无"])
)


def test_in_passes_on_a_listed_value():
    assert item_result(ENUM, "TS-JZ-01", answers={"TS-JZ-01": ans("汛期24小时值班")}).status == "pass"


def test_in_fails_on_another_option():
    r = item_result(ENUM, "TS-JZ-01", answers={"TS-JZ-01": ans("无")})
    assert r.status == "fail" and "须为：24小时值班 / 汛期24小时值班" in r.reason and "实际：无" in r.reason


# ---------------------------------------------------------------------------------------------
# includes, with conditional options

GROUPS = make_standard(
    make_item(
        "TS-BZ-02",
        IncludesAll(
            options=[
                OptionRequirement(value="防汛抗旱"),
                OptionRequirement(value="森林消防", when=[Condition(attr="forested", equals=True)]),
            ]
        ),
        "multi_select",
        options=["防汛抗旱", "森林消防", "地质灾害"],
    ),
    attributes=[attribute("forested", "涉林")],
)


def test_includes_needs_only_unconditional_options_when_not_forested():
    r = item_result(GROUPS, "TS-BZ-02", answers={"TS-BZ-02": ans(["防汛抗旱"])})
    assert r.status == "pass"
    assert "森林消防" not in r.rule  # the rule in words lists only what applies to this unit


def test_includes_needs_forest_group_when_forested():
    r = item_result(GROUPS, "TS-BZ-02", answers={"TS-BZ-02": ans(["防汛抗旱", "地质灾害"])}, attributes={"forested": True})
    assert r.status == "fail"
    assert "须包含：防汛抗旱、森林消防" in r.reason and "缺少：森林消防" in r.reason


def test_includes_passes_when_forested_unit_has_all_groups():
    answers = {"TS-BZ-02": ans(["森林消防", "防汛抗旱"])}
    assert item_result(GROUPS, "TS-BZ-02", answers=answers, attributes={"forested": True}).status == "pass"


def test_includes_with_nothing_chosen_fails():
    r = item_result(GROUPS, "TS-BZ-02", answers={"TS-BZ-02": ans([])})
    assert r.status == "fail" and "缺少：防汛抗旱" in r.reason


# ---------------------------------------------------------------------------------------------
# present

PRESENT = make_standard(
    make_item("TS-YA-01", Present(), "text"),
    make_item("TS-YA-05", Present(), "photo"),
    make_item("TS-YA-06", Present(), "gps"),
)


def test_present_text():
    assert item_result(PRESENT, "TS-YA-01", answers={"TS-YA-01": ans("总体预案已印发")}).status == "pass"
    assert item_result(PRESENT, "TS-YA-01", answers={"TS-YA-01": ans("")}).status == "missing"
    assert item_result(PRESENT, "TS-YA-01").status == "missing"


def test_present_photo_by_evidence_only():
    r = item_result(PRESENT, "TS-YA-05", answers={"TS-YA-05": ans(photos=1)})
    assert r.status == "pass" and r.observed == "已提供材料"
    assert item_result(PRESENT, "TS-YA-05", answers={"TS-YA-05": ans()}).status == "missing"


def test_present_gps():
    r = item_result(PRESENT, "TS-YA-06", answers={"TS-YA-06": ans(GeoPoint(lat=28.2, lon=112.9))})
    assert r.status == "pass" and r.observed == "28.200000,112.900000"


# ---------------------------------------------------------------------------------------------
# within_months

REVISED = make_standard(make_item("TS-YA-07", WithinMonths(months=24), "date"))


@pytest.mark.parametrize(
    ("day", "status"),
    [
        ("2022-06-29", "fail"),  # 24 months and a day: too old
        ("2022-06-30", "pass"),  # exactly 24 months: counts
        ("2023-01-01", "pass"),
        ("2024-06-30", "pass"),  # the as-of day itself
        ("2024-07-01", "fail"),  # after the as-of date
    ],
)
def test_within_24_months(day, status):
    assert item_result(REVISED, "TS-YA-07", answers={"TS-YA-07": ans(day)}).status == status


def test_within_months_reason():
    r = item_result(REVISED, "TS-YA-07", answers={"TS-YA-07": ans("2021-05-01")})
    assert "须在近 24 个月内" in r.reason and "2021-05-01" in r.reason


def test_24_vs_25_months():
    item25 = make_item("TS-YA-08", WithinMonths(months=25), "date")
    standard = make_standard(make_item("TS-YA-07", WithinMonths(months=24), "date"), item25)
    answers = {"TS-YA-07": ans("2022-05-31"), "TS-YA-08": ans("2022-05-31")}
    statuses = {r.id: r.status for r in result_of(standard, answers=answers).items}
    assert statuses == {"TS-YA-07": "fail", "TS-YA-08": "pass"}


# ---------------------------------------------------------------------------------------------
# records: per year, per quarter, per months, each_of, with_documents

KINDS = [
    kind("party_meeting", "党委会议"),
    kind("leadership_meeting", "班子会议"),
    kind("drill", "应急演练", "plan", "type"),
    kind("training", "应急培训"),
]


def records_standard(rule: RecordCount):
    return make_standard(make_item("TS-PX-01", rule, "records"), record_kinds=KINDS)


PER_YEAR = records_standard(RecordCount(kind="party_meeting", min=2, per="year"))


def test_two_meetings_this_year_pass():
    records = [rec("party_meeting", "2024-01-05"), rec("party_meeting", "2024-06-30")]
    assert item_result(PER_YEAR, "TS-PX-01", records=records).status == "pass"


def test_last_years_meeting_does_not_count():
    records = [rec("party_meeting", "2023-12-31"), rec("party_meeting", "2024-03-01")]
    r = item_result(PER_YEAR, "TS-PX-01", records=records)
    assert r.status == "fail"
    assert "2024年度党委会议不少于 2 次" in r.reason and "实际：1 次" in r.reason


def test_records_dated_after_as_of_are_ignored():
    records = [rec("party_meeting", "2024-03-01"), rec("party_meeting", "2024-07-01")]
    assert item_result(PER_YEAR, "TS-PX-01", records=records).status == "fail"
    assert item_result(PER_YEAR, "TS-PX-01", records=records, as_of=d("2024-07-01")).status == "pass"


def test_records_of_another_kind_do_not_count():
    records = [rec("party_meeting", "2024-03-01"), rec("leadership_meeting", "2024-04-01")]
    assert item_result(PER_YEAR, "TS-PX-01", records=records).status == "fail"


def test_no_records_fails_rather_than_missing():
    r = item_result(PER_YEAR, "TS-PX-01")
    assert r.status == "fail" and "0 次" in r.observed


PER_QUARTER = records_standard(RecordCount(kind="leadership_meeting", min=1, per="quarter"))


def meetings(*days: str):
    return [rec("leadership_meeting", day) for day in days]


def test_every_ended_quarter_needs_a_meeting():
    records = meetings("2024-02-01", "2024-05-01", "2024-08-01")
    assert item_result(PER_QUARTER, "TS-PX-01", records=records, as_of=d("2024-09-30")).status == "pass"


def test_a_quarter_without_meeting_fails_and_is_named():
    records = meetings("2024-02-01", "2024-02-15", "2024-08-01")
    r = item_result(PER_QUARTER, "TS-PX-01", records=records, as_of=d("2024-09-30"))
    assert r.status == "fail"
    assert r.observed == "一季度 2 次、二季度 0 次、三季度 1 次"
    assert "每季度班子会议不少于 1 次" in r.reason


def test_in_the_first_quarter_only_the_current_quarter_counts():
    assert item_result(PER_QUARTER, "TS-PX-01", records=meetings("2024-01-10"), as_of=d("2024-02-15")).status == "pass"
    r = item_result(PER_QUARTER, "TS-PX-01", records=meetings("2023-12-20"), as_of=d("2024-02-15"))
    assert r.status == "fail" and r.observed == "一季度 0 次"


def test_the_running_quarter_is_not_yet_required():
    # 2024-05-10: Q1 has ended, Q2 has not; a Q1 meeting suffices
    assert item_result(PER_QUARTER, "TS-PX-01", records=meetings("2024-03-31"), as_of=d("2024-05-10")).status == "pass"


def test_quarter_boundaries_are_inclusive():
    records = meetings("2024-03-31", "2024-04-01", "2024-09-30", "2024-12-31")
    r = item_result(PER_QUARTER, "TS-PX-01", records=records, as_of=d("2024-12-31"))
    assert r.status == "pass" and r.observed == "一季度 1 次、二季度 1 次、三季度 1 次、四季度 1 次"


PER_MONTHS = records_standard(RecordCount(kind="training", min=2, per="months", months=12))


def test_per_months_window_counts_back_from_as_of():
    records = [rec("training", "2023-06-30"), rec("training", "2024-01-01")]
    assert item_result(PER_MONTHS, "TS-PX-01", records=records).status == "pass"
    records = [rec("training", "2023-06-29"), rec("training", "2024-01-01")]
    r = item_result(PER_MONTHS, "TS-PX-01", records=records)
    assert r.status == "fail" and "近 12 个月内应急培训不少于 2 次" in r.reason and "1 次" in r.observed


EACH_OF = records_standard(
    RecordCount(kind="drill", min=1, per="year", field="type", each_of=["桌面推演", "实战演练"])
)


def test_each_of_counts_every_value_separately():
    both = [rec("drill", "2024-03-01", type="桌面推演"), rec("drill", "2024-05-01", type="实战演练")]
    assert item_result(EACH_OF, "TS-PX-01", records=both).status == "pass"
    two_tabletop = [rec("drill", "2024-03-01", type="桌面推演"), rec("drill", "2024-05-01", type="桌面推演")]
    r = item_result(EACH_OF, "TS-PX-01", records=two_tabletop)
    assert r.status == "fail"
    assert r.observed == "桌面推演：2 次；实战演练：0 次"
    assert "桌面推演、实战演练各" in r.rule


WITH_DOCS = records_standard(RecordCount(kind="party_meeting", min=2, per="year", with_documents=1))


def test_only_records_with_enough_documents_count():
    records = [rec("party_meeting", "2024-01-05", documents=1), rec("party_meeting", "2024-03-05")]
    r = item_result(WITH_DOCS, "TS-PX-01", records=records)
    assert r.status == "fail" and r.observed == "1 次" and "每次须附文件 1 份" in r.rule
    records.append(rec("party_meeting", "2024-04-05", documents=2))
    assert item_result(WITH_DOCS, "TS-PX-01", records=records).status == "pass"


# ---------------------------------------------------------------------------------------------
# records_cover

PLANS = ["防汛", "地质灾害", "森林防火"]


def cover_standard(min_percent: float = 100):
    return make_standard(
        make_item("TS-YA-02", Present(), "multi_select", options=PLANS, mandatory=False),
        make_item(
            "TS-YA-03",
            RecordsCover(kind="drill", field="plan", against_item="TS-YA-02", within_months=24, min_percent=min_percent),
            "records",
        ),
        record_kinds=KINDS,
    )


def test_every_listed_plan_drilled_within_24_months_passes():
    records = [rec("drill", "2023-05-01", plan="防汛"), rec("drill", "2022-06-30", plan="地质灾害")]
    r = item_result(cover_standard(), "TS-YA-03", answers={"TS-YA-02": ans(["防汛", "地质灾害"])}, records=records)
    assert r.status == "pass" and r.observed == "2/2（100%）"


def test_a_plan_drilled_too_long_ago_fails_and_is_named():
    records = [rec("drill", "2023-05-01", plan="防汛"), rec("drill", "2022-06-29", plan="地质灾害")]
    r = item_result(cover_standard(), "TS-YA-03", answers={"TS-YA-02": ans(["防汛", "地质灾害"])}, records=records)
    assert r.status == "fail"
    assert "1/2（50%）" in r.reason and "未演练：地质灾害" in r.reason and "不低于 100%" in r.reason


def test_records_cover_with_a_lower_threshold():
    records = [rec("drill", "2023-05-01", plan="防汛")]
    answers = {"TS-YA-02": ans(["防汛", "地质灾害"])}
    assert item_result(cover_standard(50), "TS-YA-03", answers=answers, records=records).status == "pass"
    assert item_result(cover_standard(51), "TS-YA-03", answers=answers, records=records).status == "fail"


def test_records_cover_ignores_other_kinds_and_future_drills():
    records = [rec("training", "2023-05-01"), rec("drill", "2024-07-01", plan="防汛")]
    r = item_result(cover_standard(), "TS-YA-03", answers={"TS-YA-02": ans(["防汛"])}, records=records)
    assert r.status == "fail" and "未演练：防汛" in r.observed


def test_records_cover_without_the_plan_list_is_missing():
    assert item_result(cover_standard(), "TS-YA-03").status == "missing"


def test_records_cover_with_no_plans_listed_fails():
    r = item_result(cover_standard(), "TS-YA-03", answers={"TS-YA-02": ans([])})
    assert r.status == "fail" and "未列出任何专项预案" in r.observed


# ---------------------------------------------------------------------------------------------
# child_share

def share_standard(min_percent: float = 100):
    return make_standard(
        make_item("TS-YA-04", ChildShare(item="VC-YA-01", where=Yes(), min_percent=min_percent), "computed")
    )


def test_all_villages_with_a_plan_pass():
    children = [child(f"村{i}", VC_YA_01=ans(True)) for i in range(3)]
    r = item_result(share_standard(), "TS-YA-04", children=children)
    assert r.status == "pass" and r.observed == "3/3（100%）"


def test_a_village_without_a_plan_fails_and_is_named():
    children = [child("甲村", VC_YA_01=ans(True)), child("乙村", VC_YA_01=ans(False)), child("丙村", VC_YA_01=ans(True))]
    r = item_result(share_standard(), "TS-YA-04", children=children)
    assert r.status == "fail"
    assert "2/3（66.67%）" in r.reason and "未满足：乙村" in r.reason and "VC-YA-01" in r.reason


def test_a_village_that_did_not_answer_counts_against():
    children = [child("甲村", VC_YA_01=ans(True)), child("乙村")]
    assert item_result(share_standard(), "TS-YA-04", children=children).observed == "1/2（50%），未满足：乙村"


def test_child_share_threshold():
    children = [child("甲村", VC_YA_01=ans(True)), child("乙村", VC_YA_01=ans(False)), child("丙村", VC_YA_01=ans(True))]
    assert item_result(share_standard(66), "TS-YA-04", children=children).status == "pass"
    assert item_result(share_standard(67), "TS-YA-04", children=children).status == "fail"


def test_na_villages_with_a_reason_are_left_out_of_the_share():
    children = [
        child("甲村", VC_YA_01=ans(True)),
        child("乙村", VC_YA_01=ans(na=True, reason="已整体搬迁")),
    ]
    r = item_result(share_standard(), "TS-YA-04", children=children)
    assert r.status == "pass" and r.observed == "1/1（100%）"


def test_na_villages_without_a_reason_still_count():
    children = [child("甲村", VC_YA_01=ans(True)), child("乙村", VC_YA_01=ans(na=True, reason="  "))]
    r = item_result(share_standard(), "TS-YA-04", children=children)
    assert r.status == "fail" and "1/2" in r.observed


def test_no_children_is_missing():
    r = item_result(share_standard(), "TS-YA-04")
    assert r.status == "missing" and "无下辖村（社区）数据" in r.observed


def test_only_na_children_is_missing():
    children = [child("乙村", VC_YA_01=ans(na=True, reason="已整体搬迁"))]
    assert item_result(share_standard(), "TS-YA-04", children=children).status == "missing"


def test_child_share_with_a_numeric_where():
    standard = make_standard(
        make_item("TS-DW-06", ChildShare(item="VC-DW-01", where=AtLeast(value=10), min_percent=100), "computed")
    )
    children = [child("甲村", VC_DW_01=ans(12)), child("乙村", VC_DW_01=ans(9))]
    r = item_result(standard, "TS-DW-06", children=children)
    assert r.status == "fail" and "不少于 10" in r.rule and "未满足：乙村" in r.observed


# ---------------------------------------------------------------------------------------------
# labelled_evidence and all

POSTED = make_standard(
    make_item("VC-ZD-01", LabelledEvidence(kind="photo", labels=["值班值守制度", "应急响应制度"]), "photo"),
    level="village",
)


def test_a_photo_for_each_posted_rule_passes():
    evidence = [attachment("photo", "值班值守制度"), attachment("photo", "应急响应制度")]
    r = item_result(POSTED, "VC-ZD-01", answers={"VC-ZD-01": ans(evidence=evidence)})
    assert r.status == "pass" and r.observed == "已有 2/2 项"


def test_a_missing_label_fails_and_is_named():
    evidence = [attachment("photo", "值班值守制度"), attachment("document", "应急响应制度")]
    r = item_result(POSTED, "VC-ZD-01", answers={"VC-ZD-01": ans(evidence=evidence)})
    assert r.status == "fail"
    assert "每项须有照片：值班值守制度、应急响应制度" in r.reason and "已有 1/2 项（缺少：应急响应制度）" in r.reason


def test_labelled_evidence_without_attachments_is_missing():
    assert item_result(POSTED, "VC-ZD-01", answers={"VC-ZD-01": ans()}).status == "missing"
    assert item_result(POSTED, "VC-ZD-01").status == "missing"


VEHICLES = make_standard(
    make_item(
        "TS-WZ-03",
        AllOf(rules=[Yes(), AtLeast(value=2, field="cars")]),
        "yes_no",
        fields=[FieldDef(key="cars", label="车辆数", type="count", unit="辆")],
    )
)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (ans(True, fields={"cars": 2}), "pass"),
        (ans(True, fields={"cars": 1}), "fail"),
        (ans(False, fields={"cars": 3}), "fail"),
        (ans(False), "fail"),  # a failing part decides even when another part is unanswered
        (ans(True), "missing"),
    ],
)
def test_all_of(answer, status):
    assert item_result(VEHICLES, "TS-WZ-03", answers={"TS-WZ-03": answer}).status == status


def test_all_of_reason_lists_every_part():
    r = item_result(VEHICLES, "TS-WZ-03", answers={"TS-WZ-03": ans(True, fields={"cars": 1})})
    assert "须为“是”；车辆数不少于 2辆" in r.reason and "是；1辆" in r.reason


# ---------------------------------------------------------------------------------------------
# Evidence, N/A, conditions, missing

EVIDENCED = make_standard(make_item("TS-BZ-01", Yes(), evidence=Evidence(photos=1, documents=1)))


def test_answer_that_passes_but_lacks_a_photo_fails_naming_the_shortfall():
    r = item_result(EVIDENCED, "TS-BZ-01", answers={"TS-BZ-01": ans(True, documents=1)})
    assert r.status == "fail"
    assert "证明材料不足" in r.reason and "需照片 1 张" in r.reason and "实有照片 0 张、文件 1 份" in r.reason


def test_answer_with_its_evidence_passes():
    assert item_result(EVIDENCED, "TS-BZ-01", answers={"TS-BZ-01": ans(True, photos=1, documents=1)}).status == "pass"


def test_a_failing_answer_reports_the_rule_not_the_evidence():
    r = item_result(EVIDENCED, "TS-BZ-01", answers={"TS-BZ-01": ans(False)})
    assert r.status == "fail" and "证明材料" not in r.reason and "须为“是”" in r.reason


def test_a_document_does_not_stand_in_for_a_photo():
    r = item_result(EVIDENCED, "TS-BZ-01", answers={"TS-BZ-01": ans(True, documents=2)})
    assert r.status == "fail"


NA = make_standard(
    make_item("TS-WZ-04", Yes(), na_allowed=True),
    make_item("TS-WZ-05", Yes()),
)


def test_na_allowed_with_a_reason_is_na():
    r = item_result(NA, "TS-WZ-04", answers={"TS-WZ-04": ans(na=True, reason="无森林资源")})
    assert r.status == "na" and "无森林资源" in r.reason


def test_na_allowed_without_a_reason_fails():
    r = item_result(NA, "TS-WZ-04", answers={"TS-WZ-04": ans(na=True, reason=" ")})
    assert r.status == "fail" and "须说明理由" in r.reason


def test_na_where_not_allowed_fails():
    r = item_result(NA, "TS-WZ-05", answers={"TS-WZ-05": ans(na=True, reason="不需要")})
    assert r.status == "fail" and "不允许" in r.reason


def test_unanswered_item_is_missing():
    r = item_result(NA, "TS-WZ-05")
    assert r.status == "missing" and r.observed == "未填写" and "未填写" in r.reason and "须为“是”" in r.reason


CONDITIONAL = make_standard(
    make_item("TS-DW-01", AtLeast(value=15), "count"),
    make_item("TS-DW-07", Yes(), when=[Condition(attr="forested", equals=True)]),
    make_item("TS-DW-08", Yes(), when=[Condition(attr="terrain", equals="山区")]),
    attributes=[
        AttributeDef(key="forested", name="涉林"),
        AttributeDef(key="terrain", name="地形", type="enum", default="平原", options=["平原", "山区"]),
    ],
)


def test_conditional_item_not_applicable_is_na():
    result = result_of(CONDITIONAL, answers={"TS-DW-01": ans(20)})
    statuses = {r.id: r.status for r in result.items}
    assert statuses == {"TS-DW-01": "pass", "TS-DW-07": "na", "TS-DW-08": "na"}
    assert result.passed  # not-applicable mandatory items do not block
    assert "涉林=是" in {r.id: r for r in result.items}["TS-DW-07"].reason  # the attribute by its Chinese name


def test_conditional_item_applies_when_the_attribute_matches():
    result = result_of(CONDITIONAL, answers={"TS-DW-01": ans(20)}, attributes={"forested": True, "terrain": "山区"})
    statuses = {r.id: r.status for r in result.items}
    assert statuses == {"TS-DW-01": "pass", "TS-DW-07": "missing", "TS-DW-08": "missing"}
    assert not result.passed


def test_conditional_na_wins_over_an_answer():
    r = item_result(CONDITIONAL, "TS-DW-07", answers={"TS-DW-07": ans(False)})
    assert r.status == "na"


# ---------------------------------------------------------------------------------------------
# Dimensions, overall verdict and score

TWO_DIMS = make_standard(
    make_item("TS-BZ-01", Yes()),
    make_item("TS-BZ-02", Yes(), mandatory=False),
    make_item("TS-DW-01", AtLeast(value=15), "count"),
    make_item("TS-DW-02", Yes(), mandatory=False, weight=3),
)


def test_dimension_passes_when_mandatory_items_pass_even_if_scored_items_fail():
    result = result_of(
        TWO_DIMS,
        answers={"TS-BZ-01": ans(True), "TS-BZ-02": ans(False), "TS-DW-01": ans(15), "TS-DW-02": ans(False)},
    )
    assert [(dim.code, dim.passed, dim.failing) for dim in result.dimensions] == [("BZ", True, []), ("DW", True, [])]
    assert result.passed
    assert result.score == pytest.approx((50 + 25) / 2)


def test_dimension_fails_on_a_failing_or_missing_mandatory_item():
    result = result_of(TWO_DIMS, answers={"TS-BZ-01": ans(True), "TS-DW-01": ans(14)})
    dims = {dim.code: dim for dim in result.dimensions}
    assert dims["BZ"].passed and not dims["DW"].passed and dims["DW"].failing == ["TS-DW-01"]
    assert not result.passed
    result = result_of(TWO_DIMS, answers={"TS-DW-01": ans(15)})
    dims = {dim.code: dim for dim in result.dimensions}
    assert not dims["BZ"].passed and dims["BZ"].failing == ["TS-BZ-01"] and dims["DW"].passed
    assert not result.passed


def test_dimension_counts():
    result = result_of(TWO_DIMS, answers={"TS-BZ-01": ans(True), "TS-DW-01": ans(3)})
    dims = {dim.code: dim for dim in result.dimensions}
    assert dims["BZ"].counts == {"pass": 1, "fail": 0, "na": 0, "missing": 1}
    assert dims["DW"].counts == {"pass": 0, "fail": 1, "na": 0, "missing": 1}


def test_score_with_equal_dimension_weights():
    # BZ: 1 of 2 equal items = 50; DW: TS-DW-02 (weight 3) of 4 = 75
    answers = {"TS-BZ-01": ans(True), "TS-BZ-02": ans(False), "TS-DW-01": ans(3), "TS-DW-02": ans(True)}
    result = result_of(TWO_DIMS, answers=answers)
    assert [dim.score for dim in result.dimensions] == [50.0, 75.0]
    assert result.score == 62.5


def test_score_with_custom_dimension_weights():
    answers = {"TS-BZ-01": ans(True), "TS-BZ-02": ans(False), "TS-DW-01": ans(3), "TS-DW-02": ans(True)}
    result = score(TWO_DIMS, sheet(answers), AS_OF, weights={"BZ": 3})
    assert result.score == pytest.approx((3 * 50 + 75) / 4)
    result = score(TWO_DIMS, sheet(answers), AS_OF, weights={"BZ": 1, "DW": 4})
    assert result.score == pytest.approx((50 + 4 * 75) / 5)


def test_dimension_weights_from_the_standard():
    weighted = make_standard(
        *TWO_DIMS.items,
        dimensions=[Dimension(code="BZ", name="有领导班子", short="有班子", weight=3), Dimension(code="DW", name="有应急队伍", short="有队伍")],
    )
    answers = {"TS-BZ-01": ans(True), "TS-BZ-02": ans(False), "TS-DW-01": ans(3), "TS-DW-02": ans(True)}
    assert result_of(weighted, answers=answers).score == pytest.approx((3 * 50 + 75) / 4)


def test_score_bounds():
    nothing = result_of(TWO_DIMS)
    assert nothing.score == 0 and not nothing.passed
    answers = {"TS-BZ-01": ans(True), "TS-BZ-02": ans(True), "TS-DW-01": ans(99), "TS-DW-02": ans(True)}
    everything = result_of(TWO_DIMS, answers=answers)
    assert everything.score == 100 and everything.passed


def test_a_dimension_with_only_na_items_does_not_weigh_in_the_score():
    standard = make_standard(
        make_item("TS-BZ-01", Yes()),
        make_item("TS-DW-07", Yes(), when=[Condition(attr="forested", equals=True)]),
        attributes=[attribute("forested")],
    )
    result = result_of(standard, answers={"TS-BZ-01": ans(False)})
    assert result.score == 0.0
    dims = {dim.code: dim for dim in result.dimensions}
    assert dims["DW"].passed and dims["DW"].score == 100.0
    assert not result.passed


def test_result_carries_standard_and_as_of():
    result = result_of(TWO_DIMS)
    assert (result.standard, result.version, result.as_of) == ("test.township.py", "2024", AS_OF)
    assert result.content_hash == TWO_DIMS.content_hash
    assert [r.id for r in result.items] == [i.id for i in TWO_DIMS.items]


# ---------------------------------------------------------------------------------------------
# Date arithmetic


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2024-03-31", 1, "2024-02-29"),  # leap year: clamped to the 29th
        ("2023-03-31", 1, "2023-02-28"),
        ("2024-05-31", 1, "2024-04-30"),
        ("2024-01-15", 1, "2023-12-15"),  # across a year
        ("2024-01-31", 13, "2022-12-31"),
        ("2024-06-30", 24, "2022-06-30"),
        ("2024-06-30", 25, "2022-05-30"),
        ("2024-02-29", 12, "2023-02-28"),
        ("2024-02-29", 48, "2020-02-29"),
        ("2024-12-31", 10, "2024-02-29"),
        ("2024-07-15", 0, "2024-07-15"),
    ],
)
def test_months_before(day, months, expected):
    assert months_before(d(day), months) == d(expected)


def Q(q: int, start: str, end: str) -> tuple[int, dt.date, dt.date]:
    return (q, d(start), d(end))


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2024-01-01", [Q(0, "2024-01-01", "2024-01-01")]),
        ("2024-02-15", [Q(0, "2024-01-01", "2024-02-15")]),  # in Q1: the current quarter so far
        ("2024-03-31", [Q(0, "2024-01-01", "2024-03-31")]),
        ("2024-04-01", [Q(0, "2024-01-01", "2024-03-31")]),
        ("2024-06-29", [Q(0, "2024-01-01", "2024-03-31")]),
        ("2024-06-30", [Q(0, "2024-01-01", "2024-03-31"), Q(1, "2024-04-01", "2024-06-30")]),
        (
            "2024-09-30",
            [Q(0, "2024-01-01", "2024-03-31"), Q(1, "2024-04-01", "2024-06-30"), Q(2, "2024-07-01", "2024-09-30")],
        ),
        (
            "2024-12-31",
            [
                Q(0, "2024-01-01", "2024-03-31"),
                Q(1, "2024-04-01", "2024-06-30"),
                Q(2, "2024-07-01", "2024-09-30"),
                Q(3, "2024-10-01", "2024-12-31"),
            ],
        ),
    ],
)
def test_required_quarters(as_of, expected):
    assert required_quarters(d(as_of)) == expected


# ---------------------------------------------------------------------------------------------
# Answer sheets that do not fit the standard

CHECKED = make_standard(
    make_item("TS-BZ-01", Yes(), fields=[FieldDef(key="cars", label="车辆数", type="count")]),
    make_item("TS-DW-01", AtLeast(value=15), "count"),
    make_item("TS-DW-02", AtLeast(value=1.5), "number"),
    make_item("TS-DW-03", AtLeast(value=90), "percent"),
    make_item("TS-YA-07", WithinMonths(months=24), "date"),
    make_item("TS-JZ-01", OneOf(values=["有"]), "enum", options=["有", "无"]),
    make_item("TS-BZ-02", IncludesAll(options=[OptionRequirement(value="防汛")]), "multi_select", options=["防汛", "地灾"]),
    make_item("TS-YA-05", Present(), "photo"),
    make_item("TS-YA-04", ChildShare(item="VC-YA-01", where=AtLeast(value=1), min_percent=100), "computed"),
    attributes=[attribute("forested"), AttributeDef(key="terrain", name="地形", type="enum", default="平原", options=["平原", "山区"])],
    record_kinds=KINDS,
)


@pytest.mark.parametrize(
    ("bad_sheet", "message"),
    [
        (sheet({"TS-XX-99": ans(True)}), "answers.TS-XX-99: no such item in test.township.py@2024"),
        (sheet({"TS-BZ-01": ans(1)}), "answers.TS-BZ-01: expected a yes_no value, got '1'"),
        (sheet({"TS-BZ-01": ans("是")}), "answers.TS-BZ-01: expected a yes_no value"),
        (sheet({"TS-DW-01": ans("十五")}), "answers.TS-DW-01: expected a count value, got '十五'"),
        (sheet({"TS-DW-01": ans(True)}), "answers.TS-DW-01: expected a count value, got '是'"),
        (sheet({"TS-DW-01": ans(15.5)}), "answers.TS-DW-01: expected a count value"),
        (sheet({"TS-DW-01": ans(-1)}), "answers.TS-DW-01: a count cannot be negative"),
        (sheet({"TS-DW-02": ans(False)}), "answers.TS-DW-02: expected a number value"),
        (sheet({"TS-DW-03": ans(120)}), "answers.TS-DW-03: a percentage must be within 0-100"),
        (sheet({"TS-YA-07": ans("2024-13-01")}), "answers.TS-YA-07: expected a date YYYY-MM-DD, got '2024-13-01'"),
        (sheet({"TS-YA-07": ans(20240101)}), "answers.TS-YA-07: expected a date value"),
        (sheet({"TS-JZ-01": ans("部分")}), "answers.TS-JZ-01: '部分' is not one of ['有', '无']"),
        (sheet({"TS-BZ-02": ans(["防汛", "森林"])}), "answers.TS-BZ-02: '森林' is not one of ['防汛', '地灾']"),
        (sheet({"TS-BZ-02": ans("防汛")}), "answers.TS-BZ-02: expected a multi_select value"),
        (sheet({"TS-YA-05": ans("照片")}), "answers.TS-YA-05: a photo item takes no value"),
        (sheet({"TS-BZ-01": ans(True, fields={"boats": 1})}), "answers.TS-BZ-01: fields.boats: no such field"),
        (sheet({"TS-BZ-01": ans(True, fields={"cars": "两"})}), "answers.TS-BZ-01: fields.cars: expected a number"),
        (sheet(attributes={"remote": True}), "attributes.remote: unknown unit attribute"),
        (sheet(attributes={"forested": "是"}), "attributes.forested: expected true or false"),
        (sheet(attributes={"terrain": "丘陵"}), "attributes.terrain: '丘陵' is not one of ['平原', '山区']"),
        (sheet(records=[rec("inspection", "2024-01-01", rid="r1")]), "records[r1]: unknown record kind 'inspection'"),
        (
            sheet(children=[child("甲村", VC_YA_01=ans("有"))]),
            "children[甲村].answers.VC-YA-01: expected a number, got '有'",
        ),
    ],
)
def test_sheet_that_does_not_fit_raises_invalid_answers(bad_sheet, message):
    assert any(message in p for p in check_sheet(CHECKED, bad_sheet)), check_sheet(CHECKED, bad_sheet)
    with pytest.raises(InvalidAnswers) as exc:
        score(CHECKED, bad_sheet, AS_OF)
    assert any(message in p for p in exc.value.problems)
    assert message in str(exc.value)


def test_a_fitting_sheet_has_no_problems():
    fitting = sheet(
        {
            "TS-BZ-01": ans(True, fields={"cars": 2}),
            "TS-DW-01": ans(15),
            "TS-DW-02": ans(2),
            "TS-DW-03": ans(95.5),
            "TS-YA-07": ans("2024-01-01"),
            "TS-JZ-01": ans("有"),
            "TS-BZ-02": ans(["防汛"]),
            "TS-YA-05": ans(photos=1),
        },
        records=[rec("drill", "2024-01-01", plan="防汛")],
        attributes={"forested": True, "terrain": "山区"},
        children=[child("甲村", VC_YA_01=ans(2)), child("乙村", VC_YA_01=ans(na=True, reason="搬迁"))],
    )
    assert check_sheet(CHECKED, fitting) == []
    assert score(CHECKED, fitting, AS_OF).passed


def test_all_problems_are_reported_together():
    bad = sheet({"TS-XX-99": ans(True), "TS-DW-01": ans("十五")}, attributes={"remote": True})
    assert len(check_sheet(CHECKED, bad)) == 3
