"""Regenerates tests/golden/rules.json: the shared cases that keep the field app's scoring rules
(server/static/app/rules.js) identical to the Python engine (checklists/scoring.py).

    .venv/bin/python tests/golden/make_rules_golden.py

Run it after a change to checklists/scoring.py or to a shipped standard, then port the change to
rules.js until tests/test_rules_golden.py passes. The output is deterministic (seeded generators,
no clock), so an unchanged engine regenerates the same bytes.

The file holds the standards as JSON (`msgspec.to_builtins`, as GET /standards/{ref} returns
them: the shipped ones by ref, the small hand-built ones of tests/test_scoring_rules.py by a
`rules/...` key) and the cases, one per line:

    {"name", "kind", "standard_ref", "sheet", "as_of", ["weights"], "expected"}   score cases
    {"name", "kind": "check", "standard_ref", "sheet", "expected_problems"}      check_sheet cases

`expected` is `msgspec.to_builtins(score(standard, sheet, as_of, weights))`, computed from the
standard and sheet decoded back from the JSON stored here. Kinds of score cases: `sample`
(checklists.samples.sample_sheet over qualities, as-of dates, unit attributes and villages),
`boundary` (the thresholds of tests/test_standards_boundaries.py on the shipped standards),
`rule` (the rule-by-rule constructions of tests/test_scoring_rules.py) and `edge` (where
JavaScript and Python part ways: rounding ties, number formatting, string stripping, code-point
ordering, Python's date.fromisoformat, == between bool and int, sparse JSON).
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import conftest as cf  # noqa: E402  (the engine tests' factories)
import test_scoring_rules as tsr  # noqa: E402
import test_standards_boundaries as tsb  # noqa: E402

from checklists.loader import shipped_catalog  # noqa: E402
from checklists.model import (  # noqa: E402
    AllOf,
    Answer,
    AnswerSheet,
    AtLeast,
    AtMost,
    Attachment,
    AttributeDef,
    ChildFacts,
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
    Standard,
    WithinMonths,
    Yes,
)
from checklists.samples import sample_sheet  # noqa: E402
from checklists.scoring import _flat, check_sheet, months_before, score  # noqa: E402

OUT = HERE / "rules.json"
D = dt.date.fromisoformat
ans, rec, child, attachment = cf.ans, cf.rec, cf.child, cf.attachment


# ---------------------------------------------------------------------------------------------
# The JSON both engines read


def canonical(obj: object) -> object:
    """JSON builtins with every integral float written as an int.

    JavaScript has one number type: it reads 15.0 as 15 and JSON.stringify writes 15, which
    msgspec decodes as an int. Storing integral numbers as ints makes the Python engine see
    exactly what rules.js sees (a count answer of 15.0 would otherwise be a float to Python)."""
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2**53:
        return int(obj)
    if isinstance(obj, dict):
        return {k: canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


class Golden:
    def __init__(self) -> None:
        self.standards: dict[str, object] = {}
        self.decoded: dict[str, Standard] = {}
        self.cases: list[dict] = []
        self.names: set[str] = set()

    def standard_key(self, standard: Standard, key: str | None = None) -> str:
        key = key or standard.ref
        builtins = msgspec.to_builtins(standard)
        if key in self.standards:
            assert self.standards[key] == builtins, f"two different standards stored as {key}"
        else:
            self.standards[key] = builtins
            self.decoded[key] = msgspec.json.decode(msgspec.json.encode(builtins), type=Standard)
        return key

    def _name(self, name: str) -> str:
        assert name not in self.names, f"duplicate case name {name}"
        self.names.add(name)
        return name

    def score(
        self,
        kind: str,
        name: str,
        standard: Standard,
        sheet: AnswerSheet | dict,
        as_of: dt.date,
        *,
        key: str | None = None,
        weights: dict[str, float] | None = None,
    ) -> None:
        ref = self.standard_key(standard, key)
        data = canonical(sheet if isinstance(sheet, dict) else msgspec.to_builtins(sheet))
        decoded = msgspec.json.decode(msgspec.json.encode(data), type=AnswerSheet)
        case = {"name": self._name(f"{kind}/{name}"), "kind": kind, "standard_ref": ref, "sheet": data,
                "as_of": as_of.isoformat()}
        if weights is not None:
            case["weights"] = weights
        case["expected"] = msgspec.to_builtins(score(self.decoded[ref], decoded, as_of, weights))
        self.cases.append(case)

    def check(self, name: str, standard: Standard, sheet: AnswerSheet | dict, *, key: str | None = None) -> None:
        ref = self.standard_key(standard, key)
        data = canonical(sheet if isinstance(sheet, dict) else msgspec.to_builtins(sheet))
        decoded = msgspec.json.decode(msgspec.json.encode(data), type=AnswerSheet)
        problems = check_sheet(self.decoded[ref], decoded)
        self.cases.append({"name": self._name(f"check/{name}"), "kind": "check", "standard_ref": ref, "sheet": data,
                           "expected_problems": problems})

    def write(self, path: Path) -> None:
        enc = msgspec.json.encode
        lines = ['{"generator":"tests/golden/make_rules_golden.py",',
                 f'"python":"{sys.version_info.major}.{sys.version_info.minor}",', '"standards":{']
        keys = list(self.standards)
        lines += [enc(k).decode() + ":" + enc(self.standards[k]).decode() + ("," if i < len(keys) - 1 else "")
                  for i, k in enumerate(keys)]
        lines.append('},"cases":[')
        lines += [enc(c).decode() + ("," if i < len(self.cases) - 1 else "") for i, c in enumerate(self.cases)]
        lines.append("]}")
        path.write_text("\n".join(lines) + "\n", "utf-8")


# ---------------------------------------------------------------------------------------------
# sample: sample_sheet over qualities, dates, attributes, villages and N/A

QUALITIES = [0, 0.3, 0.6, 0.9, 1.0]
# (generated as of, scored as of): quarter and year boundaries, and sheets scored later than made
DATES = [
    (D("2024-11-20"), D("2024-11-20")),
    (D("2024-03-31"), D("2024-03-31")),
    (D("2024-04-01"), D("2024-04-01")),
    (D("2024-06-30"), D("2024-07-01")),
    (D("2024-09-30"), D("2024-09-30")),
    (D("2024-12-31"), D("2024-12-31")),
    (D("2024-12-15"), D("2025-01-01")),
    (D("2024-02-10"), D("2024-02-29")),
    (D("2023-12-31"), D("2024-01-01")),
    (D("2024-10-01"), D("2024-10-01")),
]
TOWNSHIP_ATTRIBUTES = [
    {},
    {"forested": True},
    {"in_city_fire_coverage": True},
    {"forested": True, "in_city_fire_coverage": False},
    {"forested": False, "in_city_fire_coverage": True},
]
VILLAGE_ATTRIBUTES = [
    {},
    {"forested": True},
    {"remote_high_risk": True},
    {"forested": True, "remote_high_risk": True},
    {"forested": False, "remote_high_risk": False},
]
# Village names: sorted by code point, an Extension B character (U+21336, a surrogate pair in
# UTF-16) comes after the full-width parenthesis U+FF08, unlike in a UTF-16 comparison.
VILLAGE_NAMES = ["甲村", "乙社区", "丙村", "丁村", "戊村", "己村", "庚村", "𡌶村", "（新）村", "Ａ村", "辛村", "壬村"]
CHILD_NA = [Answer(na=True, reason="已撤并入甲村"), Answer(na=True), Answer(na=True, reason="\u3000")]


def villages(rng: random.Random, township: Standard, as_of: dt.date, count: int, quality: float) -> list[ChildFacts]:
    """`count` villages sampled from the 平江 四有 standard (it has every item a township's child_share
    rules read: VC-ZD-03, VC-RY-01), keeping those answers; some are N/A, with or without a reason."""
    village = shipped_catalog().get("yueyang.pingjiang.village.siyou@2023")
    wanted = {r.item for i in township.items for r in _flat(i.rule) if isinstance(r, ChildShare)}
    children = []
    for name in rng.sample(VILLAGE_NAMES, count):
        sheet = sample_sheet(village, rng, quality=quality, as_of=as_of, unit=name)
        answers = {k: v for k, v in sheet.answers.items() if k in wanted}
        if rng.random() < 0.25:
            answers[rng.choice(sorted(wanted))] = rng.choice(CHILD_NA)
        children.append(ChildFacts(unit=name, answers=answers))
    return children


def samples(g: Golden) -> None:
    rng = random.Random(20241120)
    for si, standard in enumerate(shipped_catalog().list()):
        township = standard.level == "township"
        variants = TOWNSHIP_ATTRIBUTES if township else VILLAGE_ATTRIBUTES
        # every quality twice for villages; townships (larger) repeat only the middle ones
        qualities = QUALITIES * 2 if not township else QUALITIES + [0.6, 0.9, 0.3]
        for n, quality in enumerate(qualities):
            made, as_of = DATES[(3 * si + n) % len(DATES)]
            attributes = variants[(n + n // len(variants)) % len(variants)]
            children = villages(rng, standard, made, rng.choice([0, 1, 3, 6, 8]), rng.choice(QUALITIES)) if township else []
            sheet = sample_sheet(standard, rng, quality=quality, as_of=made, unit="测试乡镇" if township else "测试村",
                                 attributes=attributes, children=children)
            g.score("sample", f"{standard.ref}/q{quality}/{n}", standard, sheet, as_of)


# ---------------------------------------------------------------------------------------------
# boundary: the thresholds of tests/test_standards_boundaries.py on the shipped standards


def boundaries(g: Golden) -> None:
    t = tsb
    AS_OF, std, base, changed, complete = t.AS_OF, t.std, t.base, t.changed, t.complete

    def add(name: str, ref: str, sheet: AnswerSheet, as_of: dt.date = AS_OF) -> None:
        g.score("boundary", name, std(ref), sheet, as_of)

    for ref in t.ALL:
        add(f"complete/{ref}", ref, base(ref))
        add(f"empty/{ref}", ref, AnswerSheet())

    hunan, pingjiang, jilin, kaifu = t.HUNAN_TS, t.PINGJIANG_TS, t.JILIN_TS, t.KAIFU_TS
    for members in (14, 15):
        add(f"TS-DW-01/{members}", hunan, changed(base(hunan), answers={"TS-DW-01": complete("TS-DW-01", std(hunan), members)}))
    add("TS-DW-01/15_without_roster", hunan, changed(base(hunan), answers={"TS-DW-01": t.answer(15, photos=1)}))

    for days, label in [((), "none"), (("2023-12-28", "2024-07-11"), "last_year"), (("2024-01-01", "2024-11-20"), "window_edges")]:
        add(f"TS-BZ-04/{label}", pingjiang, t.party_meetings(*days))
    add("TS-BZ-04/without_minutes", pingjiang, t.party_meetings("2024-03-14", "2024-07-11", docs=0))

    for days, as_of, label in [
        (("2024-02-20", "2024-05-16", "2024-10-08"), AS_OF, "Q4_does_not_cover_Q3"),
        (("2024-03-31", "2024-04-01", "2024-09-30"), AS_OF, "quarter_edges"),
        (("2024-02-20", "2024-05-16", "2024-08-22"), D("2024-12-31"), "Q4_required_at_year_end"),
        (("2024-01-10",), D("2024-02-10"), "current_quarter_early"),
    ]:
        add(f"TS-BZ-05/{label}", pingjiang, t.leadership_meetings(*days), as_of)

    for forested, groups, label in [(True, t.GROUPS3, "forested_without_森林消防"), (False, t.GROUPS3[:2], "missing_地质灾害")]:
        sheet = changed(base(hunan), answers={"TS-BZ-02": complete("TS-BZ-02", std(hunan), groups)}, attributes={"forested": forested})
        add(f"TS-BZ-02/{label}", hunan, sheet)

    for grids, coverage, label in [(40, 99.0, "99"), (0, 100.0, "no_grids")]:
        add(f"TS-JZ-06/{label}", jilin, changed(base(jilin), answers={"TS-JZ-06": complete("TS-JZ-06", std(jilin), grids, coverage=coverage)}))
    add("TS-JZ-06/99.5_scored_in_hunan", hunan,
        changed(base(hunan), answers={"TS-JZ-06": complete("TS-JZ-06", std(hunan), 40, coverage=99.5)}))

    YES, NO = t.YES, t.NO
    for children, label in [(t.villages(YES, YES, NO), "2_of_3"),
                            (t.villages(YES, YES, Answer(na=True, reason="已撤并入甲村")), "na_with_reason"),
                            (t.villages(YES, YES, Answer(na=True)), "na_without_reason"), ([], "no_villages")]:
        add(f"TS-YA-04/{label}", pingjiang, changed(base(pingjiang), children=children))

    team = complete("TS-DW-03", std(hunan), team_established=True, members=12)
    covered = [ChildFacts(unit=u, answers={"VC-RY-01": Answer(value=n)}) for u, n in (("甲村", 2), ("乙村", 1))]
    gap = [ChildFacts(unit=u, answers={"VC-RY-01": Answer(value=n)}) for u, n in (("甲村", 2), ("乙村", 0))]
    add("TS-DW-03/covered", hunan, changed(base(hunan), answers={"TS-DW-03": team}, children=covered))
    add("TS-DW-03/gap", hunan, changed(base(hunan), answers={"TS-DW-03": team}, children=gap))
    no_team = complete("TS-DW-03", std(hunan), team_established=False, members=0)
    add("TS-DW-03/no_team", hunan, changed(base(hunan), answers={"TS-DW-03": no_team}, children=covered))

    for in_coverage, value, label in [(False, "未建", "outside_not_built"), (True, "未建", "inside_city_coverage")]:
        sheet = changed(base(pingjiang), answers={"TS-DW-04": complete("TS-DW-04", std(pingjiang), value)},
                        attributes={"in_city_fire_coverage": in_coverage})
        add(f"TS-DW-04/{label}", pingjiang, sheet)
    add("TS-DW-04/built_without_photo", pingjiang, changed(base(pingjiang), answers={"TS-DW-04": t.answer("建成")}))

    for has, vehicles, label in [(True, 0, "no_vehicle")]:
        add(f"TS-WZ-05/{label}", hunan, changed(base(hunan), answers={"TS-WZ-05": complete("TS-WZ-05", std(hunan), has, vehicles=vehicles)}))
    for forested, value, label in [(True, None, "forested_unanswered"), (False, False, "not_forested_no")]:
        ans_ = None if value is None else complete("TS-WZ-11", std(hunan), value)
        add(f"TS-WZ-11/{label}", hunan, changed(base(hunan), answers={"TS-WZ-11": ans_}, attributes={"forested": forested}))

    for months, extra, label in [(24, 0, "24_months"), (24, -1, "a_day_over_24_months")]:
        sheet = t.drills_with_one_plan_last_drilled(months_before(AS_OF, months) + dt.timedelta(days=extra))
        add(f"TS-PX-04/{label}", hunan, sheet)
    add("TS-PX-04/never_drilled", hunan, changed(base(hunan), kind="drill",
                                                 records=[t.record("drill", "2024-06-18", plan=p) for p in t.PLANS[:3]]))
    for days, label in [(("2023-10-12",), "last_year")]:
        add(f"TS-PX-07/{label}", pingjiang,
            changed(base(pingjiang), kind="fire_training", records=[t.record("fire_training", d, docs=0) for d in days]))

    add("TS-WZ-10/na_with_reason", hunan, changed(base(hunan), answers={"TS-WZ-10": Answer(na=True, reason="辖区为平原老城区，由区级应急避难场所覆盖")}))
    add("TS-WZ-10/na_blank_reason", hunan, changed(base(hunan), answers={"TS-WZ-10": Answer(na=True, reason="   ")}))
    add("TS-DW-01/na_refused", hunan, changed(base(hunan), answers={"TS-DW-01": Answer(na=True, reason="理由")}))
    for item_id in ("TS-BZ-03",):
        add(f"{item_id}/kaifu_gate", kaifu, changed(base(kaifu), answers={item_id: complete(item_id, std(kaifu), False)}))
    add("TS-BZ-09/jilin_unanswered", jilin, changed(base(jilin), answers={"TS-BZ-09": None}))

    hv, kv, pv = t.HUNAN_VC, t.KAIFU_VC, t.PINGJIANG_VC
    for days, label in [((), "none"), (("2023-12-01",), "last_year")]:
        add(f"VC-PX-03/{label}", pv, changed(base(pv), kind="fire_training", records=[t.record("fire_training", d, docs=0) for d in days]))
    for remote, value, label in [(True, "未建", "remote_not_built"), (False, "未建", "not_remote_not_built")]:
        add(f"VC-WZ-03/{label}", hv, changed(base(hv), answers={"VC-WZ-03": complete("VC-WZ-03", std(hv), value)}, attributes={"remote_high_risk": remote}))
    add("VC-WZ-05/forested_no", hv, changed(base(hv), answers={"VC-WZ-05": complete("VC-WZ-05", std(hv), False)}, attributes={"forested": True}))
    add("VC-WZ-05/not_forested", hv, changed(base(hv), answers={"VC-WZ-05": None}, attributes={"forested": False}))
    add("VC-CD-02/area_without_photo", hv, changed(base(hv), answers={"VC-CD-02": t.answer(45.0)}))
    add("VC-CD-02/unanswered", hv, changed(base(hv), answers={"VC-CD-02": None}))
    add("VC-ZD-04/drawn_not_posted", hv, changed(base(hv), answers={"VC-ZD-04": complete("VC-ZD-04", std(hv), True, posted=False)}))
    add("VC-CD-05/na_with_reason", hv, changed(base(hv), answers={"VC-CD-05": Answer(na=True, reason="辖区为平原老城区，由区级应急避难场所覆盖")}))
    add("VC-CD-05/na_empty_reason", hv, changed(base(hv), answers={"VC-CD-05": Answer(na=True, reason="")}))
    add("VC-CD-01/na_refused", hv, changed(base(hv), answers={"VC-CD-01": Answer(na=True, reason="理由")}))
    for labels, label in [(t.RULES[:5], "5_of_6_rules"), (t.RULES[:5] + ["值班值守"], "duplicate_photo"), ([], "no_photo")]:
        add(f"VC-ZD-02/kaifu_{label}", kv, changed(base(kv), answers={"VC-ZD-02": Answer(evidence=[t.photo(x) for x in labels])}))
    add("VC-ZD-02/hunan_one_photo", hv, changed(base(hv), answers={"VC-ZD-02": Answer(evidence=[t.photo("制度墙")])}))
    store = t.photo("应急物资储备库")  # issue 16, defect 7: one photo listed twice is one photo
    add("TS-WZ-02/kaifu_same_photo_twice", kaifu, changed(base(kaifu), answers={
        "TS-WZ-02": Answer(value=True, evidence=[store, store])}))
    add("VC-ZD-01/kaifu_five_rules", kv, changed(base(kv), answers={"VC-ZD-01": complete("VC-ZD-01", std(kv), t.RULES[:5])}))
    for item_id in ("VC-WZ-04", "VC-RY-04"):
        add(f"{item_id}/pingjiang_gate", pv, changed(base(pv), answers={item_id: complete(item_id, std(pv), False)}))


# ---------------------------------------------------------------------------------------------
# rule: the constructions of tests/test_scoring_rules.py, rule by rule


def rules(g: Golden) -> None:
    t = tsr
    AS_OF = t.AS_OF

    def add(name: str, key: str, standard: Standard, answers=None, records=None, attributes=None, children=None,
            as_of: dt.date = AS_OF, weights=None) -> None:
        g.score("rule", name, standard, cf.sheet(answers, records, attributes, children), as_of, key=f"rules/{key}", weights=weights)

    for value in (True, False, None):
        add(f"yes/{value}", "YES", t.YES, answers={} if value is None else {"TS-BZ-01": ans(value)})
    car = cf.make_standard(cf.make_item("TS-WZ-01", Yes(field="has_car"), "count",
                                        fields=[FieldDef(key="has_car", label="是否落实用车", type="yes_no")]))
    for fields, label in [({"has_car": False}, "no"), ({"has_car": True}, "yes"), ({}, "missing")]:
        add(f"yes_field/{label}", "YES_FIELD", car, answers={"TS-WZ-01": ans(2, fields=fields)})
    for members in (0, 14, 15, 40):
        add(f"gte_count/{members}", "TEAM", t.TEAM, answers={"TS-DW-01": ans(members)})
    area = cf.make_standard(cf.make_item("TS-WZ-02", AtLeast(value=2.5, field="area"), "yes_no",
                                         fields=[FieldDef(key="area", label="储备库面积", type="number", unit="平方米")]))
    for value in (2.25, 2.5):
        add(f"gte_field/{value}", "AREA", area, answers={"TS-WZ-02": ans(True, fields={"area": value})})
    for minutes in (0, 29.5, 30, 30.5, 31):
        add(f"lte/{minutes}", "RESPONSE", t.RESPONSE, answers={"TS-DW-05": ans(minutes)})
    for value in ("汛期24小时值班", "无"):
        add(f"in/{value}", "ENUM", t.ENUM, answers={"TS-JZ-01": ans(value)})
    for chosen, forested, label in [(["防汛抗旱"], False, "unconditional_only"), (["防汛抗旱", "地质灾害"], True, "forested_lacks"),
                                    (["森林消防", "防汛抗旱"], True, "forested_all"), ([], False, "nothing_chosen")]:
        add(f"includes/{label}", "GROUPS", t.GROUPS, answers={"TS-BZ-02": ans(chosen)}, attributes={"forested": forested})
    add("present/text", "PRESENT", t.PRESENT, answers={"TS-YA-01": ans("总体预案已印发"), "TS-YA-05": ans(photos=1),
                                                         "TS-YA-06": ans(GeoPoint(lat=28.2, lon=112.9))})
    add("present/empty", "PRESENT", t.PRESENT, answers={"TS-YA-01": ans(""), "TS-YA-05": ans()})
    for day in ("2022-06-29", "2022-06-30", "2023-01-01", "2024-06-30", "2024-07-01", "2021-05-01"):
        add(f"within_months/{day}", "REVISED", t.REVISED, answers={"TS-YA-07": ans(day)})
    two = cf.make_standard(cf.make_item("TS-YA-07", WithinMonths(months=24), "date"),
                           cf.make_item("TS-YA-08", WithinMonths(months=25), "date"))
    add("within_months/24_vs_25", "WITHIN_24_25", two, answers={"TS-YA-07": ans("2022-05-31"), "TS-YA-08": ans("2022-05-31")})

    def r(kind: str, day: str, **kw):
        return rec(kind, day, **kw)

    for days, as_of, label in [(("2024-01-05", "2024-06-30"), AS_OF, "two"), (("2023-12-31", "2024-03-01"), AS_OF, "last_year"),
                               (("2024-03-01", "2024-07-01"), AS_OF, "after_as_of"), (("2024-03-01", "2024-07-01"), D("2024-07-01"), "later_as_of"),
                               ((), AS_OF, "none")]:
        add(f"records_year/{label}", "PER_YEAR", t.PER_YEAR, records=[r("party_meeting", d) for d in days], as_of=as_of)
    add("records_year/other_kind", "PER_YEAR", t.PER_YEAR, records=[r("party_meeting", "2024-03-01"), r("leadership_meeting", "2024-04-01")])
    for days, as_of, label in [
        (("2024-02-01", "2024-05-01", "2024-08-01"), "2024-09-30", "every_quarter"),
        (("2024-02-01", "2024-02-15", "2024-08-01"), "2024-09-30", "no_Q2"),
        (("2024-01-10",), "2024-02-15", "Q1_current"),
        (("2023-12-20",), "2024-02-15", "Q1_last_year"),
        (("2024-03-31",), "2024-05-10", "running_Q2"),
        (("2024-03-31", "2024-04-01", "2024-09-30", "2024-12-31"), "2024-12-31", "edges"),
        (("2024-03-31", "2024-06-30"), "2024-06-29", "day_before_Q2_ends"),
        (("2023-10-01",), "2024-01-01", "new_year"),
    ]:
        add(f"records_quarter/{label}", "PER_QUARTER", t.PER_QUARTER, records=[r("leadership_meeting", d) for d in days], as_of=D(as_of))
    for days, label in [(("2023-06-30", "2024-01-01"), "window_start"), (("2023-06-29", "2024-01-01"), "day_before")]:
        add(f"records_months/{label}", "PER_MONTHS", t.PER_MONTHS, records=[r("training", d) for d in days])
    add("records_months/clamped_2024-03-31", "PER_MONTHS_1",
        t.records_standard(RecordCount(kind="training", min=1, per="months", months=1)),
        records=[r("training", "2024-02-29"), r("training", "2024-02-28")], as_of=D("2024-03-31"))
    add("records_each_of/both", "EACH_OF", t.EACH_OF, records=[r("drill", "2024-03-01", type="桌面推演"), r("drill", "2024-05-01", type="实战演练")])
    add("records_each_of/two_tabletop", "EACH_OF", t.EACH_OF, records=[r("drill", "2024-03-01", type="桌面推演"), r("drill", "2024-05-01", type="桌面推演")])
    each_quarter = t.records_standard(RecordCount(kind="drill", min=1, per="quarter", field="type", each_of=["桌面推演", "实战演练"], with_documents=2))
    add("records_each_of/quarterly_with_documents", "EACH_OF_QUARTER", each_quarter, as_of=D("2024-09-30"),
        records=[r("drill", "2024-02-01", type="桌面推演", documents=2), r("drill", "2024-05-01", type="实战演练", documents=3),
                 r("drill", "2024-08-01", type="实战演练", documents=1), r("drill", "2024-03-01", type="实战演练", documents=2)])
    with_docs = [r("party_meeting", "2024-01-05", documents=1), r("party_meeting", "2024-03-05")]
    add("records_with_documents/one_counts", "WITH_DOCS", t.WITH_DOCS, records=with_docs)
    add("records_with_documents/two_count", "WITH_DOCS", t.WITH_DOCS, records=with_docs + [r("party_meeting", "2024-04-05", documents=2)])

    plans = {"TS-YA-02": ans(["防汛", "地质灾害"])}
    add("records_cover/all_drilled", "COVER_100", t.cover_standard(), answers=plans,
        records=[r("drill", "2023-05-01", plan="防汛"), r("drill", "2022-06-30", plan="地质灾害")])
    add("records_cover/too_long_ago", "COVER_100", t.cover_standard(), answers=plans,
        records=[r("drill", "2023-05-01", plan="防汛"), r("drill", "2022-06-29", plan="地质灾害")])
    add("records_cover/50_percent_threshold", "COVER_50", t.cover_standard(50), answers=plans, records=[r("drill", "2023-05-01", plan="防汛")])
    add("records_cover/51_percent_threshold", "COVER_51", t.cover_standard(51), answers=plans, records=[r("drill", "2023-05-01", plan="防汛")])
    add("records_cover/other_kind_and_future", "COVER_100", t.cover_standard(), answers={"TS-YA-02": ans(["防汛"])},
        records=[r("training", "2023-05-01"), r("drill", "2024-07-01", plan="防汛")])
    add("records_cover/no_plan_list", "COVER_100", t.cover_standard())
    add("records_cover/empty_plan_list", "COVER_100", t.cover_standard(), answers={"TS-YA-02": ans([])})
    add("records_cover/one_of_three", "COVER_100", t.cover_standard(), answers={"TS-YA-02": ans(["防汛", "地质灾害", "森林防火"])},
        records=[r("drill", "2024-01-01", plan="森林防火")])

    for answers_, label in [
        ([True, True, True], "all"),
        ([True, False, True], "one_fails"),
        ([True, None], "unanswered"),
        ([True, "na:已整体搬迁"], "na_with_reason"),
        ([True, "na:  "], "na_blank_reason"),
        (["na:已整体搬迁"], "only_na"),
    ]:
        kids = []
        for i, a in enumerate(answers_):
            unit = ["甲村", "乙村", "丙村"][i]
            if a is None:
                kids.append(child(unit))
            elif isinstance(a, str):
                kids.append(child(unit, VC_YA_01=ans(na=True, reason=a[3:])))
            else:
                kids.append(child(unit, VC_YA_01=ans(a)))
        add(f"child_share/{label}", "SHARE_100", t.share_standard(), children=kids)
    add("child_share/none", "SHARE_100", t.share_standard())
    three = [child("甲村", VC_YA_01=ans(True)), child("乙村", VC_YA_01=ans(False)), child("丙村", VC_YA_01=ans(True))]
    add("child_share/66", "SHARE_66", t.share_standard(66), children=three)
    add("child_share/67", "SHARE_67", t.share_standard(67), children=three)
    numeric = cf.make_standard(cf.make_item("TS-DW-06", ChildShare(item="VC-DW-01", where=AtLeast(value=10), min_percent=100), "computed"))
    add("child_share/numeric_where", "SHARE_NUMERIC", numeric, children=[child("甲村", VC_DW_01=ans(12)), child("乙村", VC_DW_01=ans(9))])

    posted = [attachment("photo", "值班值守制度"), attachment("photo", "应急响应制度")]
    add("labelled_evidence/all", "POSTED", t.POSTED, answers={"VC-ZD-01": ans(evidence=posted)})
    add("labelled_evidence/document_is_not_a_photo", "POSTED", t.POSTED,
        answers={"VC-ZD-01": ans(evidence=[attachment("photo", "值班值守制度"), attachment("document", "应急响应制度")])})
    add("labelled_evidence/no_attachments", "POSTED", t.POSTED, answers={"VC-ZD-01": ans()})
    for i, (value, fields) in enumerate([(True, {"cars": 2}), (True, {"cars": 1}), (False, {"cars": 3}), (False, {}), (True, {})]):
        add(f"all/{i}", "VEHICLES", t.VEHICLES, answers={"TS-WZ-03": ans(value, fields=fields)})

    for kw, label in [(dict(documents=1), "no_photo"), (dict(photos=1, documents=1), "complete"), (dict(documents=2), "documents_only")]:
        add(f"evidence/{label}", "EVIDENCED", t.EVIDENCED, answers={"TS-BZ-01": ans(True, **kw)})
    add("evidence/failing_answer", "EVIDENCED", t.EVIDENCED, answers={"TS-BZ-01": ans(False)})
    # Evidence minimums count different files (sha256) of each kind (issue 16, defect 7).
    two_photos = cf.make_standard(cf.make_item("TS-WZ-02", Yes(), evidence=Evidence(photos=2)))
    one, other = attachment("photo"), attachment("photo")
    as_document = Attachment(sha256=one.sha256, kind="document", label="")
    for evidence, label in [([one, one], "same_photo_twice"), ([one, one, other], "same_photo_twice_and_another"),
                            ([one, as_document], "one_file_as_photo_and_document")]:
        add(f"evidence_distinct/{label}", "TWO_PHOTOS", two_photos, answers={"TS-WZ-02": ans(True, evidence=evidence)})
    drills = cf.make_standard(cf.make_item("TS-PX-03", RecordCount(kind="drill", min=1, per="year", with_documents=2), "records"),
                              record_kinds=[cf.kind("drill", "应急演练")])
    doc, doc2 = attachment("document"), attachment("document")
    for docs, label in [([doc, doc], "same_document_twice"), ([doc, doc2], "two_documents")]:
        add(f"records_distinct/{label}", "DRILL_TWO_DOCUMENTS", drills,
            records=[cf.replace(rec("drill", "2024-05-20"), attachments=docs)])
    add("na/with_reason", "NA", t.NA, answers={"TS-WZ-04": ans(na=True, reason="无森林资源")})
    add("na/blank_reason", "NA", t.NA, answers={"TS-WZ-04": ans(na=True, reason=" ")})
    add("na/not_allowed", "NA", t.NA, answers={"TS-WZ-05": ans(na=True, reason="不需要")})
    add("na/unanswered", "NA", t.NA)
    add("conditions/not_applicable", "CONDITIONAL", t.CONDITIONAL, answers={"TS-DW-01": ans(20)})
    add("conditions/applicable", "CONDITIONAL", t.CONDITIONAL, answers={"TS-DW-01": ans(20)}, attributes={"forested": True, "terrain": "山区"})
    add("conditions/na_wins", "CONDITIONAL", t.CONDITIONAL, answers={"TS-DW-07": ans(False)})

    two_dims = {"TS-BZ-01": ans(True), "TS-BZ-02": ans(False), "TS-DW-01": ans(3), "TS-DW-02": ans(True)}
    add("dimensions/scored_items_fail", "TWO_DIMS", t.TWO_DIMS,
        answers={"TS-BZ-01": ans(True), "TS-BZ-02": ans(False), "TS-DW-01": ans(15), "TS-DW-02": ans(False)})
    add("dimensions/mandatory_fails", "TWO_DIMS", t.TWO_DIMS, answers={"TS-BZ-01": ans(True), "TS-DW-01": ans(14)})
    add("dimensions/equal_weights", "TWO_DIMS", t.TWO_DIMS, answers=two_dims)
    add("dimensions/custom_weights_BZ3", "TWO_DIMS", t.TWO_DIMS, answers=two_dims, weights={"BZ": 3})
    add("dimensions/custom_weights_1_4", "TWO_DIMS", t.TWO_DIMS, answers=two_dims, weights={"BZ": 1, "DW": 4})
    weighted = cf.make_standard(*t.TWO_DIMS.items, dimensions=[Dimension(code="BZ", name="有领导班子", short="有班子", weight=3),
                                                               Dimension(code="DW", name="有应急队伍", short="有队伍")])
    add("dimensions/standard_weights", "WEIGHTED_DIMS", weighted, answers=two_dims)
    add("dimensions/nothing", "TWO_DIMS", t.TWO_DIMS)
    na_dim = cf.make_standard(cf.make_item("TS-BZ-01", Yes()), cf.make_item("TS-DW-07", Yes(), when=[Condition(attr="forested", equals=True)]),
                              attributes=[cf.attribute("forested")])
    add("dimensions/only_na_items", "NA_DIMENSION", na_dim, answers={"TS-BZ-01": ans(False)})


# ---------------------------------------------------------------------------------------------
# edge: where JavaScript and Python part ways


def edges(g: Golden) -> None:
    AS_OF = D("2024-06-30")

    def add(name: str, key: str, standard: Standard, answers=None, records=None, attributes=None, children=None,
            as_of: dt.date = AS_OF, weights=None) -> None:
        g.score("edge", name, standard, cf.sheet(answers, records, attributes, children), as_of, key=f"edge/{key}", weights=weights)

    # Numbers: "{:.2f}" and round() take the exact binary value half-to-even (toFixed rounds 0.125 up)
    numbers = cf.make_standard(
        cf.make_item("TS-WZ-01", AtLeast(value=2.125), "number", unit="平方米"),
        cf.make_item("TS-WZ-02", AtMost(value=0.375), "number", unit="吨"),
        cf.make_item("TS-WZ-03", AtLeast(value=33.335), "percent", unit="%"),
        cf.make_item("TS-WZ-04", AtLeast(value=1e-7), "number"),
        cf.make_item("TS-WZ-05", AtMost(value=1e21), "number"),
        cf.make_item("TS-WZ-06", AtLeast(value=2.675, field="depth"), "yes_no",
                     fields=[FieldDef(key="depth", label="水深", type="number", unit="米")]),
    )
    for i, values in enumerate([
        (2.125, 0.375, 33.335, 1e-7, 1e21, 2.675),
        (2.12, 0.625, 12.125, 5e-8, 1e25, 2.67),
        (0.125, 0.875, 99.995, 123456.789, 9007199254740993.0, 0.0078125),
        (-0.5, -0.001, 0.005, 1.005, 1e16, 1234.5678),
        (2.1250000000000004, 0.37499999999999994, 100, 0.1 + 0.2, 2**53, -0.0),
    ]):
        a, b, c, d, e, f = values
        add(f"numbers/{i}", "NUMBERS", numbers, answers={"TS-WZ-01": ans(a), "TS-WZ-02": ans(b), "TS-WZ-03": ans(c),
                                                         "TS-WZ-04": ans(d), "TS-WZ-05": ans(e), "TS-WZ-06": ans(True, fields={"depth": f})})
    gps = cf.make_standard(cf.make_item("TS-YA-06", Present(), "gps"), cf.make_item("TS-YA-07", Present(), "gps"))
    add("numbers/gps_six_decimals", "GPS", gps, answers={"TS-YA-06": ans(GeoPoint(lat=28.0078125, lon=112.9921875)),
                                                          "TS-YA-07": ans(GeoPoint(lat=-0.0000005, lon=-179.9999995))})
    big = cf.make_standard(cf.make_item("TS-DW-01", AtLeast(value=15), "count", unit="人"),
                           cf.make_item("TS-DW-02", Present(), "count"), cf.make_item("TS-DW-03", Present(), "multi_select", options=["甲"]))
    add("numbers/large_count", "BIG", big, answers={"TS-DW-01": ans(10**15), "TS-DW-02": ans(0), "TS-DW-03": ans([], photos=1)})

    # Dimension and overall scores at exact ties: 100*97/800 = 12.125 -> 12.12; (0*x + 50.25 + 0) / 2 = 25.125 -> 25.12
    ties = cf.make_standard(
        cf.make_item("TS-BZ-01", Yes(), mandatory=False, weight=97),
        cf.make_item("TS-BZ-02", Yes(), mandatory=False, weight=703),
        cf.make_item("TS-DW-01", Yes(), mandatory=False, weight=201),
        cf.make_item("TS-DW-02", Yes(), mandatory=False, weight=199),
        cf.make_item("TS-PX-01", Yes(), mandatory=False, weight=0.1),
        cf.make_item("TS-PX-02", Yes(), mandatory=False, weight=0.2),
        cf.make_item("TS-PX-03", Yes(), mandatory=False, weight=0.3),
        cf.make_item("TS-PX-04", Yes(), mandatory=False, weight=0.7),
    )
    add("scores/dimension_tie", "TIES", ties, answers={"TS-BZ-01": ans(True), "TS-BZ-02": ans(False)})
    add("scores/overall_tie", "TIES", ties, answers={"TS-DW-01": ans(True), "TS-DW-02": ans(False), "TS-BZ-01": ans(False),
                                                     "TS-BZ-02": ans(False)}, weights={"BZ": 0})
    add("scores/overall_tie_weighted", "TIES", ties, answers={"TS-DW-01": ans(True), "TS-DW-02": ans(False)},
        weights={"DW": 2, "BZ": 0, "PX": 2})
    add("scores/overall_weighted", "TIES", ties, answers={"TS-DW-01": ans(True), "TS-DW-02": ans(False)},
        weights={"DW": 1, "BZ": 0.5})
    for i, passing in enumerate([("TS-PX-01", "TS-PX-02"), ("TS-PX-03",), ("TS-PX-01", "TS-PX-02", "TS-PX-04"), ("TS-PX-02", "TS-PX-03", "TS-PX-04")]):
        answers = {f"TS-PX-0{n}": ans(f"TS-PX-0{n}" in passing) for n in range(1, 5)}
        add(f"scores/fractional_weights_{i}", "TIES", ties, answers=answers, weights={"PX": 0.3, "BZ": 0.1})
    add("scores/zero_weight_everywhere", "TIES", ties, answers={"TS-BZ-01": ans(True)}, weights={"BZ": 0, "DW": 0, "PX": 0})

    # Shares with exact ties at two decimals: 1/32 = 3.125% -> "3.12"; 3/32 = 9.375% -> "9.38"; 5/32 -> "15.62"
    share = cf.make_standard(cf.make_item("TS-YA-04", ChildShare(item="VC-ZD-03", where=Yes(), min_percent=3.125), "computed"))
    for passing in (1, 3, 5, 31):
        kids = [child(f"村{i:02d}", VC_ZD_03=ans(i < passing)) for i in range(32)]
        add(f"shares/{passing}_of_32", "SHARE_TIES", share, children=kids)
    # Code-point order of village names (UTF-16 order differs for the Extension B name) and >5 lacking
    names = ["𡌶村", "（新）村", "Ａ村", "甲村", "乙社区", "丙村", "𠀀村", "\ue000村", "abc村"]
    kids = [child(n, VC_ZD_03=ans(False)) for n in names] + [child("己村", VC_ZD_03=ans(True)), child("甲村", VC_ZD_03=ans(True))]
    add("shares/code_point_order", "SHARE_TIES", share, children=kids)
    add("shares/code_point_order_four_lacking", "SHARE_TIES", share,
        children=[child(n, VC_ZD_03=ans(n != "甲村")) for n in ["𡌶村", "（新）村", "𠀀村", "甲村", "\ue000村"]])
    cover = cf.make_standard(
        cf.make_item("TS-YA-02", Present(), "multi_select", options=[f"预案{i}" for i in range(8)], mandatory=False),
        cf.make_item("TS-YA-03", Present(), "text", mandatory=False),
        cf.make_item("TS-PX-04", RecordsCover(kind="drill", field="plan", against_item="TS-YA-02", within_months=24, min_percent=12.5), "records"),
        cf.make_item("TS-PX-05", RecordsCover(kind="drill", field="plan", against_item="TS-YA-03", within_months=1), "records"),
        record_kinds=tsr.KINDS,
    )
    add("shares/cover_1_of_8_and_text_plans", "COVER", cover,
        answers={"TS-YA-02": ans([f"预案{i}" for i in range(8)]), "TS-YA-03": ans("防汛𠀀")},
        records=[rec("drill", "2024-06-01", plan="预案3"), rec("drill", "2024-06-01", plan="汛"), rec("drill", "2024-06-30", plan="𠀀")])
    add("shares/cover_3_of_7", "COVER", cover, answers={"TS-YA-02": ans([f"预案{i}" for i in range(7)]), "TS-YA-03": ans("")},
        records=[rec("drill", "2024-06-01", plan=f"预案{i}") for i in (0, 2, 4)])

    # str.strip() is Python's: U+3000 and U+001C..U+001F, U+0085 are stripped, U+FEFF and U+200B are not
    na = cf.make_standard(*[cf.make_item(f"TS-WZ-{i:02d}", Yes(), na_allowed=True, mandatory=False) for i in range(1, 9)])
    reasons = ["\u3000", "\u3000已撤并\u3000", "\x1c", "\x85", "\ufeff", "\u200b", " \t\n理由\r\n ", "\u2028\u00a0"]
    add("strings/na_reasons", "NA_REASONS", na, answers={f"TS-WZ-{i:02d}": ans(na=True, reason=r) for i, r in enumerate(reasons, 1)})
    kids = [child(u, VC_ZD_03=ans(na=True, reason=r)) for u, r in zip("甲乙丙丁戊", ["\x1c", "\ufeff", "\u3000", "撤并", "\x85"])]
    add("strings/child_na_reasons", "SHARE_TIES", share, children=kids + [child("己", VC_ZD_03=ans(True))])

    # date.fromisoformat of Python 3.11 accepts week dates, YYYYMMDD and ignores what follows YYYYMMDD
    dates = cf.make_standard(*[cf.make_item(f"TS-YA-{i:02d}", WithinMonths(months=12), "date") for i in range(1, 9)])
    values = ["20240101", "2024-W05-3", "2024W053", "2023W27", "2023-W26", "20230629xy", "20240630", "2020-W53-7"]
    add("dates/iso_forms", "DATES", dates, answers={f"TS-YA-{i:02d}": ans(v) for i, v in enumerate(values, 1)})
    add("dates/iso_forms_2021", "DATES", dates, answers={f"TS-YA-{i:02d}": ans(v) for i, v in enumerate(values, 1)},
        as_of=D("2021-01-03"))
    leap = cf.make_standard(cf.make_item("TS-YA-01", WithinMonths(months=12), "date"), cf.make_item("TS-YA-02", WithinMonths(months=1), "date"),
                            cf.make_item("TS-YA-03", WithinMonths(months=48), "date"))
    for as_of, values in [("2025-02-28", ("2024-02-28", "2025-01-28", "2021-02-28")), ("2024-02-29", ("2023-02-28", "2024-01-29", "2020-02-29")),
                          ("2024-03-31", ("2023-03-31", "2024-02-29", "2020-03-31")), ("2025-03-31", ("2024-03-31", "2025-02-28", "2021-03-30"))]:
        add(f"dates/clamped_{as_of}", "LEAP", leap, answers={f"TS-YA-0{i}": ans(v) for i, v in enumerate(values, 1)}, as_of=D(as_of))

    # Conditions compare with Python's ==: True == 1, and an undeclared attribute shows its key
    conditional = cf.make_standard(
        cf.make_item("TS-DW-01", Yes(), when=[Condition(attr="forested", equals=1)]),
        cf.make_item("TS-DW-02", Yes(), when=[Condition(attr="forested", equals=0), Condition(attr="terrain", equals="山区")]),
        cf.make_item("TS-DW-03", Yes(), when=[Condition(attr="coastal", equals=True)]),
        cf.make_item("TS-DW-04", IncludesAll(options=[OptionRequirement(value="甲"), OptionRequirement(value="乙", when=[Condition(attr="forested", equals=1)])]),
                     "multi_select", options=["甲", "乙"]),
        attributes=[AttributeDef(key="forested", name="涉林"),
                    AttributeDef(key="terrain", name="地形", type="enum", default="平原", options=["平原", "山区"])],
    )
    for attrs in ({}, {"forested": True}, {"forested": False, "terrain": "山区"}):
        add(f"conditions/{'_'.join(f'{k}={v}' for k, v in attrs.items()) or 'defaults'}", "CONDITIONS", conditional,
            answers={"TS-DW-01": ans(True), "TS-DW-02": ans(False), "TS-DW-04": ans(["甲"])}, attributes=attrs)

    # Rules applied to values of other types: substring includes on a text answer, `in` on a count
    odd = cf.make_standard(
        cf.make_item("TS-BZ-02", IncludesAll(options=[OptionRequirement(value="防汛抗旱"), OptionRequirement(value="地质")]), "text"),
        cf.make_item("TS-BZ-03", OneOf(values=["1"]), "count"),
        cf.make_item("TS-BZ-04", Yes(), "count"),
        cf.make_item("TS-BZ-05", AtLeast(value=1, field="ok"), "yes_no", fields=[FieldDef(key="ok", label="是否", type="yes_no")]),
        cf.make_item("TS-BZ-06", AllOf(rules=[Present(), LabelledEvidence(kind="document", labels=["方案", "名单"])]), "document"),
    )
    add("types/substring_and_numbers", "ODD", odd, answers={
        "TS-BZ-02": ans("防汛抗旱、地质灾害"), "TS-BZ-03": ans(1), "TS-BZ-04": ans(1),
        "TS-BZ-05": ans(True, fields={"ok": True}), "TS-BZ-06": ans(evidence=[attachment("document", "名单"), attachment("photo", "方案")])})
    add("types/substring_lacking", "ODD", odd, answers={"TS-BZ-02": ans("地质灾害"), "TS-BZ-05": ans(True, fields={"ok": False}),
                                                        "TS-BZ-06": ans(evidence=[attachment("document", "名单"), attachment("document", "方案")])})

    # Sparse JSON (defaults left out), as the field app may send it
    g.score("edge", "sparse/township", tsb.std(tsb.HUNAN_TS), {
        "attributes": {"forested": True},
        "answers": {"TS-DW-01": {"value": 15}, "TS-WZ-10": {"na": True, "reason": "无"}, "TS-YA-02": {"value": ["防汛抗旱"]}},
        "records": [{"id": "r1", "kind": "drill", "date": "2024-05-01", "fields": {"plan": "防汛抗旱"}},
                    {"id": "r2", "kind": "party_meeting", "date": "2024-05-01", "attachments": [
                        {"sha256": "a" * 64, "kind": "document"}]}],
        "children": [{"unit": "甲村", "answers": {"VC-ZD-03": {"value": True}}}, {"unit": "乙村"}],
    }, D("2024-11-20"))
    g.score("edge", "sparse/empty_object", tsb.std(tsb.HUNAN_VC), {}, D("2024-11-20"))


# ---------------------------------------------------------------------------------------------
# check: sheets that do not fit the standard (check_sheet)


def checks(g: Golden) -> None:
    CHECKED = cf.make_standard(
        cf.make_item("TS-BZ-01", Yes(), fields=[FieldDef(key="cars", label="车辆数", type="count")]),
        cf.make_item("TS-DW-01", AtLeast(value=15), "count"),
        cf.make_item("TS-DW-02", AtLeast(value=1.5), "number"),
        cf.make_item("TS-DW-03", AtLeast(value=90), "percent"),
        cf.make_item("TS-YA-07", WithinMonths(months=24), "date"),
        cf.make_item("TS-JZ-01", OneOf(values=["有"]), "enum", options=["有", "无"]),
        cf.make_item("TS-BZ-02", IncludesAll(options=[OptionRequirement(value="防汛")]), "multi_select", options=["防汛", "地灾"]),
        cf.make_item("TS-YA-05", Present(), "photo"),
        cf.make_item("TS-YA-04", ChildShare(item="VC-YA-01", where=AtLeast(value=1), min_percent=100), "computed"),
        cf.make_item("TS-YA-08", ChildShare(item="VC-YA-02", where=AllOf(rules=[Yes(), OneOf(values=["有"], field="kind"),
                                                                                 WithinMonths(months=12)]), min_percent=100), "computed"),
        cf.make_item("TS-YA-09", ChildShare(item="VC-YA-03", where=IncludesAll(options=[OptionRequirement(value="甲")]), min_percent=50), "computed"),
        cf.make_item("TS-WZ-01", Yes(), "gps", fields=[FieldDef(key="ok", label="是否", type="yes_no"), FieldDef(key="area", label="面积", type="percent")]),
        attributes=[cf.attribute("forested"), cf.attribute("coastal"),
                    AttributeDef(key="terrain", name="地形", type="enum", default="平原", options=["平原", "山区"])],
        record_kinds=tsr.KINDS,
    )
    sheet = cf.sheet
    cases = [
        ("unknown_item", sheet({"TS-XX-99": ans(True)})),
        ("yes_no_int", sheet({"TS-BZ-01": ans(1)})),
        ("yes_no_str", sheet({"TS-BZ-01": ans("是")})),
        ("count_str", sheet({"TS-DW-01": ans("十五")})),
        ("count_bool", sheet({"TS-DW-01": ans(True)})),
        ("count_float", sheet({"TS-DW-01": ans(15.5)})),
        ("count_negative", sheet({"TS-DW-01": ans(-1)})),
        ("number_bool", sheet({"TS-DW-02": ans(False)})),
        ("number_list", sheet({"TS-DW-02": ans(["1", "2"])})),
        ("number_gps", sheet({"TS-DW-02": ans(GeoPoint(lat=28.0078125, lon=-0.5))})),
        ("percent_120", sheet({"TS-DW-03": ans(120)})),
        ("percent_negative", sheet({"TS-DW-03": ans(-0.5)})),
        ("date_month_13", sheet({"TS-YA-07": ans("2024-13-01")})),
        ("date_int", sheet({"TS-YA-07": ans(20240101)})),
        ("date_feb_30", sheet({"TS-YA-07": ans("2024-02-30")})),
        ("date_week_53", sheet({"TS-YA-07": ans("2021-W53")})),
        ("date_slashes", sheet({"TS-YA-07": ans("2024/01/01")})),
        ("date_week_ok", sheet({"TS-YA-07": ans("2020-W53-7")})),
        ("date_trailing_ok", sheet({"TS-YA-07": ans("20240101é")})),
        ("enum_other", sheet({"TS-JZ-01": ans("部分")})),
        ("multi_select_other", sheet({"TS-BZ-02": ans(["防汛", "森林", "it's"])})),
        ("multi_select_str", sheet({"TS-BZ-02": ans("防汛")})),
        ("photo_value", sheet({"TS-YA-05": ans("照片")})),
        ("computed_value", sheet({"TS-YA-04": ans(3)})),
        ("gps_str", sheet({"TS-WZ-01": ans("28.2,112.9")})),
        ("field_unknown", sheet({"TS-BZ-01": ans(True, fields={"boats": 1})})),
        ("field_count_str", sheet({"TS-BZ-01": ans(True, fields={"cars": "两"})})),
        ("field_count_bool", sheet({"TS-BZ-01": ans(True, fields={"cars": True})})),
        ("field_yes_no_int", sheet({"TS-WZ-01": ans(None, fields={"ok": 1, "area": "满"})})),
        ("na_skips_checks", sheet({"TS-DW-01": ans("十五", na=True, reason="x", fields={"boats": 1})})),
        ("attribute_unknown", sheet(attributes={"remote": True, "forested": True, "a_b": "x"})),
        ("attribute_not_bool", sheet(attributes={"forested": "是"})),
        ("attribute_enum_other", sheet(attributes={"terrain": "丘陵"})),
        ("attribute_enum_bool", sheet(attributes={"terrain": True})),
        ("record_kind", sheet(records=[rec("inspection", "2024-01-01", rid="r1")])),
        ("child_number_str", sheet(children=[child("甲村", VC_YA_01=ans("有"))])),
        ("child_number_bool", sheet(children=[child("甲村", VC_YA_01=ans(True)), child("乙村", VC_YA_01=ans(2))])),
        ("child_number_na", sheet(children=[child("甲村", VC_YA_01=ans("有", na=True))])),
        ("child_all_of", sheet(children=[child("甲村", VC_YA_02=ans("是", fields={"kind": 3})), child("乙村", VC_YA_02=ans(20240101)),
                                         child("丙村", VC_YA_02=ans(True, fields={"kind": "有"}))])),
        ("child_date_forms", sheet(children=[child("甲村", VC_YA_02=ans("2024-W01")), child("乙村", VC_YA_02=ans("2024-1-1"))])),
        ("child_includes", sheet(children=[child("甲村", VC_YA_03=ans("甲")), child("乙村", VC_YA_03=ans(["甲"]))])),
        ("child_gps", sheet(children=[child("甲村", VC_YA_01=ans(GeoPoint(lat=1.0000005, lon=2)))])),
        ("all_together", sheet({"TS-XX-99": ans(True), "TS-DW-01": ans("十五")}, attributes={"remote": True},
                               records=[rec("inspection", "2024-01-01", rid="r9")], children=[child("甲村", VC_YA_01=ans("有"))])),
        ("fits", sheet({"TS-BZ-01": ans(True, fields={"cars": 2}), "TS-DW-01": ans(15), "TS-DW-02": ans(2), "TS-DW-03": ans(95.5),
                        "TS-YA-07": ans("2024-01-01"), "TS-JZ-01": ans("有"), "TS-BZ-02": ans(["防汛"]), "TS-YA-05": ans(photos=1)},
                       records=[rec("drill", "2024-01-01", plan="防汛")], attributes={"forested": True, "terrain": "山区"},
                       children=[child("甲村", VC_YA_01=ans(2)), child("乙村", VC_YA_01=ans(na=True, reason="搬迁"))])),
    ]
    # repr() of the offending values: quotes, backslashes, control and invisible characters
    for i, text in enumerate(["it's", 'say "hi"', "it's \"both\"", "back\\slash", "line\nbreak\ttab\r", "\x00\x1f\x7f", "\u200b\xad\ufeff",
                              "\u3000\xa0 ", "\U0001f600😀", "\ud7ff\ue000", "村（社区）"]):
        cases.append((f"repr_{i}", sheet({"TS-JZ-01": ans(text), "TS-BZ-02": ans([text, "防汛"])}, attributes={"terrain": text})))
    for name, bad in cases:
        g.check(name, CHECKED, bad, key="check/CHECKED")

    hunan, village = tsb.std(tsb.HUNAN_TS), tsb.std(tsb.HUNAN_VC)
    g.check("shipped/township", hunan, cf.sheet(
        {"TS-DW-01": ans(-3), "TS-YA-05": ans("2024-02-30"), "TS-DW-04": ans("在建"), "TS-BZ-02": ans(["防汛抗旱", "消防"]),
         "TS-JZ-06": ans(40, fields={"coverage": "全部"}), "TS-ZZ-01": ans(True)},
        attributes={"forested": "yes", "remote_high_risk": True},
        records=[rec("meeting", "2024-01-01", rid="m1")],
        children=[child("甲村", VC_ZD_03=ans("有"), VC_RY_01=ans("两人")), child("乙村", VC_ZD_03=ans(True), VC_RY_01=ans(True))]))
    g.check("shipped/village", village, cf.sheet({"VC-CD-02": ans(45.5), "VC-WZ-03": ans(True), "VC-CD-01": ans(None, fields={"x": 1})},
                                                 attributes={"in_city_fire_coverage": False}))


def main() -> None:
    g = Golden()
    samples(g)
    boundaries(g)
    rules(g)
    edges(g)
    checks(g)
    g.write(OUT)
    kinds: dict[str, int] = {}
    for c in g.cases:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    size = OUT.stat().st_size
    print(f"{OUT.relative_to(REPO)}: {len(g.cases)} cases ({', '.join(f'{k} {n}' for k, n in kinds.items())}), "
          f"{len(g.standards)} standards, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
