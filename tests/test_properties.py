"""Properties of scoring over generated answer sheets (hypothesis): deterministic, independent of
the order of answers, records and child units, monotone in records, and within its bounds."""

from __future__ import annotations

import datetime as dt
import random

import msgspec
from conftest import attachment, attribute, kind, make_item, make_standard
from hypothesis import given, settings
from hypothesis import strategies as st

from checklists.model import (
    Answer,
    AnswerSheet,
    AtLeast,
    ChildFacts,
    ChildShare,
    Condition,
    Evidence,
    IncludesAll,
    OptionRequirement,
    Present,
    Record,
    RecordCount,
    RecordsCover,
    Result,
    WithinMonths,
    Yes,
)
from checklists.scoring import required_quarters, score

PLANS = ["防汛", "地质灾害", "森林防火"]
TYPES = ["桌面推演", "实战演练"]
COUNTED_KINDS = ["party_meeting", "leadership_meeting", "drill"]

STANDARD = make_standard(
    make_item("TS-BZ-01", Yes()),
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
    make_item("TS-DW-01", AtLeast(value=15), "count", unit="人", evidence=Evidence(photos=1)),
    make_item("TS-WZ-01", Yes(), when=[Condition(attr="forested", equals=True)]),
    make_item("TS-YA-02", Present(), "multi_select", options=PLANS, mandatory=False),
    make_item(
        "TS-YA-03", RecordsCover(kind="drill", field="plan", against_item="TS-YA-02", within_months=24), "records"
    ),
    make_item("TS-YA-04", ChildShare(item="VC-YA-01", where=Yes(), min_percent=80), "computed"),
    make_item("TS-YA-07", WithinMonths(months=24), "date", na_allowed=True, mandatory=False),
    make_item("TS-PX-01", RecordCount(kind="party_meeting", min=2, per="year"), "records"),
    make_item("TS-PX-02", RecordCount(kind="leadership_meeting", min=1, per="quarter"), "records", mandatory=False),
    make_item(
        "TS-PX-03",
        RecordCount(kind="drill", min=1, per="months", months=24, field="type", each_of=TYPES, with_documents=1),
        "records",
    ),
    attributes=[attribute("forested", "涉林")],
    record_kinds=[
        kind("party_meeting", "党委会议"),
        kind("leadership_meeting", "班子会议"),
        kind("drill", "应急演练", "plan", "type"),
        kind("inspection", "安全检查"),  # declared, but no rule counts it
    ],
)
FREQUENCY_ITEMS = {"TS-PX-01", "TS-PX-02", "TS-PX-03", "TS-YA-03"}

# ---------------------------------------------------------------------------------------------
# Strategies

as_ofs = st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2025, 12, 31))


def records(as_of: dt.date, kinds: list[str] = COUNTED_KINDS, after: int = 60) -> st.SearchStrategy[list[Record]]:
    """Records of the given kinds dated up to 900 days before and `after` days after as_of."""
    one = st.builds(
        lambda k, back, plan, typ, docs, rid: Record(
            id=f"r{rid}",
            kind=k,
            date=as_of - dt.timedelta(days=back),
            fields={"plan": plan, "type": typ} if k == "drill" else {},
            attachments=[attachment("document") for _ in range(docs)],
        ),
        st.sampled_from(kinds),
        st.integers(-after, 900),
        st.sampled_from(PLANS),
        st.sampled_from(TYPES),
        st.integers(0, 2),
        st.integers(0, 10**6),
    )
    return st.lists(one, max_size=25)


def evidence_answer(value) -> st.SearchStrategy[Answer]:
    return st.builds(
        lambda photos: Answer(value=value, evidence=[attachment("photo") for _ in range(photos)]),
        st.integers(0, 2),
    )


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


@st.composite
def sheets(draw: st.DrawFn, as_of: dt.date) -> AnswerSheet:
    """Any answer sheet that fits STANDARD: each answer may be absent, failing or passing."""
    date_answer = st.one_of(
        st.builds(lambda back: Answer(value=(as_of - dt.timedelta(days=back)).isoformat()), st.integers(-30, 900)),
        st.just(Answer(na=True, reason="新成立")),
        st.just(Answer(na=True, reason="")),
    )
    candidates = {
        "TS-BZ-01": st.builds(Answer, value=st.booleans()),
        "TS-BZ-02": st.builds(Answer, value=st.lists(st.sampled_from(["防汛抗旱", "森林消防", "地质灾害"]), unique=True)),
        "TS-DW-01": st.integers(0, 40).flatmap(evidence_answer),
        "TS-WZ-01": st.builds(Answer, value=st.booleans()),
        "TS-YA-02": st.builds(Answer, value=st.lists(st.sampled_from(PLANS), unique=True)),
        "TS-YA-07": date_answer,
    }
    answers = {k: a for k, s in candidates.items() if (a := draw(optional(s))) is not None}
    village_answer = st.one_of(
        st.builds(Answer, value=st.booleans()), st.just(Answer(na=True, reason="已搬迁")), st.just(Answer())
    )
    children = draw(
        st.lists(
            st.builds(
                lambda unit, a: ChildFacts(unit=unit, answers={} if a is None else {"VC-YA-01": a}),
                st.sampled_from([f"村{i}" for i in range(8)]),
                optional(village_answer),
            ),
            max_size=8,
        )
    )
    attributes = draw(st.one_of(st.just({}), st.builds(lambda f: {"forested": f}, st.booleans())))
    return AnswerSheet(
        unit="测试镇", attributes=attributes, answers=answers, records=draw(records(as_of)), children=children
    )


@st.composite
def passing_sheets(draw: st.DrawFn, as_of: dt.date) -> AnswerSheet:
    """A sheet built to pass every mandatory item as of `as_of`, plus random extra records."""
    forested = draw(st.booleans())
    plans = draw(st.lists(st.sampled_from(PLANS), min_size=1, unique=True))
    within_24 = st.dates(min_value=_months_ago(as_of, 24), max_value=as_of)
    this_year = st.dates(min_value=dt.date(as_of.year, 1, 1), max_value=as_of)
    made = [Record(id=f"p{i}", kind="party_meeting", date=draw(this_year)) for i in range(draw(st.integers(2, 4)))]
    made += [
        Record(id=f"q{q}", kind="leadership_meeting", date=draw(st.dates(min_value=start, max_value=end)))
        for q, start, end in required_quarters(as_of)
    ]
    made += [
        Record(id=f"d{i}", kind="drill", date=draw(within_24), fields={"plan": plan, "type": TYPES[i % 2]},
               attachments=[attachment("document")])
        for i, plan in enumerate(plans + plans)
    ]
    yes_villages = draw(st.integers(4, 8))
    no_villages = draw(st.integers(0, yes_villages // 4))  # at least 80% say yes
    children = [ChildFacts(unit=f"甲{i}", answers={"VC-YA-01": Answer(value=True)}) for i in range(yes_villages)]
    children += [ChildFacts(unit=f"乙{i}", answers={"VC-YA-01": Answer(value=False)}) for i in range(no_villages)]
    answers = {
        "TS-BZ-01": Answer(value=True),
        "TS-BZ-02": Answer(value=["防汛抗旱", "森林消防"] if forested else ["防汛抗旱"]),
        "TS-DW-01": Answer(value=draw(st.integers(15, 60)), evidence=[attachment("photo")]),
        "TS-YA-02": Answer(value=plans),
    }
    if forested:
        answers["TS-WZ-01"] = Answer(value=True)
    return AnswerSheet(
        unit="达标镇",
        attributes={"forested": forested},
        answers=answers,
        records=made + draw(records(as_of)),
        children=children,
    )


def _months_ago(day: dt.date, months: int) -> dt.date:
    # a safe lower bound (a few days inside the window), independent of the engine's months_before
    return day - dt.timedelta(days=months * 365 // 12 - 5)


def shuffled(sheet: AnswerSheet, rnd: random.Random) -> AnswerSheet:
    def mix(xs: list) -> list:
        xs = list(xs)
        rnd.shuffle(xs)
        return xs

    return msgspec.structs.replace(
        sheet,
        attributes=dict(mix(list(sheet.attributes.items()))),
        answers=dict(mix(list(sheet.answers.items()))),
        records=mix(sheet.records),
        children=[msgspec.structs.replace(c, answers=dict(mix(list(c.answers.items())))) for c in mix(sheet.children)],
    )


def with_record(sheet: AnswerSheet, record: Record) -> AnswerSheet:
    return msgspec.structs.replace(sheet, records=[*sheet.records, record])


def statuses(result: Result) -> dict[str, str]:
    return {r.id: r.status for r in result.items}


SETTINGS = settings(max_examples=150, deadline=None)

# ---------------------------------------------------------------------------------------------
# Properties


@SETTINGS
@given(data=st.data(), as_of=as_ofs)
def test_scoring_is_deterministic(data, as_of):
    sheet = data.draw(sheets(as_of))
    first = score(STANDARD, sheet, as_of)
    assert score(STANDARD, sheet, as_of) == first
    # the same sheet after a trip through JSON (as the CLI and sync receive it) scores the same
    decoded = msgspec.json.decode(msgspec.json.encode(sheet), type=AnswerSheet)
    assert score(STANDARD, decoded, as_of) == first


@SETTINGS
@given(data=st.data(), as_of=as_ofs, rnd=st.randoms(use_true_random=False))
def test_result_does_not_depend_on_order(data, as_of, rnd):
    sheet = data.draw(sheets(as_of))
    assert score(STANDARD, shuffled(sheet, rnd), as_of) == score(STANDARD, sheet, as_of)


@SETTINGS
@given(data=st.data(), as_of=as_ofs)
def test_record_order_by_permutation(data, as_of):
    sheet = data.draw(sheets(as_of))
    permuted = data.draw(st.permutations(sheet.records))
    children = data.draw(st.permutations(sheet.children))
    other = msgspec.structs.replace(sheet, records=permuted, children=children)
    assert score(STANDARD, other, as_of) == score(STANDARD, sheet, as_of)


@SETTINGS
@given(data=st.data(), as_of=as_ofs)
def test_unrelated_records_change_nothing(data, as_of):
    sheet = data.draw(sheets(as_of))
    before = score(STANDARD, sheet, as_of)
    # a kind no rule counts, dated anywhere
    inspections = data.draw(records(as_of, kinds=["inspection"], after=400))
    for r in inspections:
        sheet_plus = with_record(sheet, r)
        assert score(STANDARD, sheet_plus, as_of) == before
    # any kind, dated after the as-of date
    later = data.draw(records(as_of, after=400).map(lambda rs: [r for r in rs if r.date > as_of]))
    assert score(STANDARD, msgspec.structs.replace(sheet, records=sheet.records + later), as_of) == before


@SETTINGS
@given(data=st.data(), as_of=as_ofs)
def test_a_passing_sheet_still_passes_after_an_unrelated_record(data, as_of):
    sheet = data.draw(passing_sheets(as_of))
    result = score(STANDARD, sheet, as_of)
    assert result.passed, [(r.id, r.reason) for r in result.items if r.mandatory and r.status not in ("pass", "na")]
    extra = data.draw(
        st.one_of(
            records(as_of, kinds=["inspection"], after=400),
            records(as_of, after=400).map(lambda rs: [r for r in rs if r.date > as_of]),
        )
    )
    assert score(STANDARD, msgspec.structs.replace(sheet, records=sheet.records + extra), as_of).passed


@SETTINGS
@given(data=st.data(), as_of=as_ofs)
def test_adding_a_record_never_turns_a_pass_into_a_fail(data, as_of):
    sheet = data.draw(st.one_of(sheets(as_of), passing_sheets(as_of)))
    (record,) = data.draw(records(as_of, after=0).filter(len).map(lambda rs: rs[:1]))
    before = score(STANDARD, sheet, as_of)
    after = score(STANDARD, with_record(sheet, record), as_of)
    old, new = statuses(before), statuses(after)
    for item_id in FREQUENCY_ITEMS:
        if old[item_id] == "pass":
            assert new[item_id] == "pass", (item_id, record)
    # items that look at answers, not records, are untouched
    assert {k: v for k, v in old.items() if k not in FREQUENCY_ITEMS} == {
        k: v for k, v in new.items() if k not in FREQUENCY_ITEMS
    }
    assert after.passed or not before.passed
    assert after.score >= before.score


@SETTINGS
@given(data=st.data(), as_of=as_ofs)
def test_score_bounds_and_verdict_consistency(data, as_of):
    sheet = data.draw(st.one_of(sheets(as_of), passing_sheets(as_of)))
    result = score(STANDARD, sheet, as_of)
    assert 0 <= result.score <= 100
    assert all(0 <= dim.score <= 100 for dim in result.dimensions)
    if result.passed:
        assert all(dim.passed for dim in result.dimensions)
    assert result.passed == all(dim.passed for dim in result.dimensions)
    gate_ok = all(r.status in ("pass", "na") for r in result.items if r.mandatory)
    assert result.passed == gate_ok
    for dim in result.dimensions:
        members = [r for r in result.items if r.dimension == dim.code]
        assert sum(dim.counts.values()) == len(members)
        assert dim.failing == [r.id for r in members if r.mandatory and r.status not in ("pass", "na")]
    # every judged item says why, with the rule in words
    for r in result.items:
        assert r.reason
        if r.status in ("pass", "fail") and r.observed != "不适用" and "证明材料不足" not in r.reason:
            assert r.rule in r.reason
