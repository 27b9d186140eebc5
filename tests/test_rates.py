"""Compliance rates (达标率, 建成率): exact numerators and denominators on generated areas with known
answers, overdue detection, change since a previous snapshot, and the CSV export.

The factories here (`kaifu_units`, `province_units`) are also used by test_pdfs.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time

import msgspec
import pytest

from checklists.rates import Area, UnitStatus, league_status, rates, roll_up, to_csv

AS_OF = dt.date(2024, 11, 20)
SIX = ["BZ", "JZ", "YA", "DW", "WZ", "PX"]

HUNAN = Area(id="43", name="湖南省", level="province")
CHANGSHA = Area(id="4301", name="长沙市", level="city")
KAIFU = Area(id="430105", name="开福区", level="county")
YUEYANG = Area(id="4306", name="岳阳市", level="city")
PINGJIANG = Area(id="430626", name="平江县", level="county")

# DOMAIN.md §3.2 / §4.2: 16 streets, the first five accepted in the 13th FYP (5/16 = 31.25%).
KAIFU_PASSED = ["望麓园街道", "湘雅路街道", "清水塘街道", "芙蓉北路街道", "浏阳河街道"]
KAIFU_OTHERS = ["青竹湖街道", "东风路街道", "新河街道", "四方坪街道", "秀峰街道", "捞刀河街道", "沙坪街道", "洪山街道",
                "伍家岭街道", "通泰街街道", "月湖街道"]
# communities named in the sources, by street; the other communities of each street are generated
KAIFU_COMMUNITIES = {
    "青竹湖街道": ["湖畔社区"], "东风路街道": ["砚瓦池社区"], "新河街道": ["幸福桥社区", "三角洲社区"],
    "四方坪街道": ["左岸社区"], "清水塘街道": ["四季花城社区"], "芙蓉北路街道": ["盛世路社区"],
}


def township(
    uid: str,
    name: str,
    path: list[Area],
    *,
    accepted: bool = False,
    passed: bool | None = None,
    score: float | None = None,
    failing: tuple[str, ...] = (),
    deadline: dt.date | None = None,
    passed_on: dt.date | None = None,
    review: str | None = None,
    drills: int = 0,
    serial: str | None = None,
    villages: tuple[int, int] = (0, 0),
) -> UnitStatus:
    """A township/street status; `failing` lists the dimension codes that do not pass."""
    return UnitStatus(
        id=uid, name=name, level="township", path=path,
        passed=accepted if passed is None else passed, accepted=accepted, score=score,
        dimensions={c: c not in failing for c in SIX}, deadline=deadline, passed_on=passed_on,
        drills_this_year=drills, villages_total=villages[0], villages_passed=villages[1],
        certificate_serial=serial, certificate_date=passed_on, review=review,  # type: ignore[arg-type]
    )


def village(uid: str, name: str, path: list[Area], *, accepted: bool, deadline: dt.date | None = None,
            failing: tuple[str, ...] = ()) -> UnitStatus:
    return UnitStatus(
        id=uid, name=name, level="village", path=path, passed=accepted, accepted=accepted,
        dimensions={c: c not in failing for c in ("CD", "WZ", "ZD")}, deadline=deadline,
    )


def kaifu_units(*, with_villages: bool = True, deadline: dt.date | None = None) -> list[UnitStatus]:
    """开福区: 16 streets, 5 accepted (with certificates KF-2020-0001..5), the rest in various states;
    each street has 6 communities, of which accepted streets have built 6 and the others 2."""
    base = [HUNAN, CHANGSHA, KAIFU]
    units: list[UnitStatus] = []
    reviews = ["submitted", "returned", None, "rejected", None, "resubmitted", None, None, "returned", None, None]
    for i, name in enumerate(KAIFU_PASSED + KAIFU_OTHERS):
        uid = f"430105{i + 1:03d}"
        accepted = i < 5
        failing = () if accepted else tuple(SIX[j] for j in range(6) if (i + j) % 3 == 0)
        units.append(township(
            uid, name, base, accepted=accepted, passed=accepted or reviews[i - 5] in ("submitted", "resubmitted"),
            score=round(100 - 2.5 * i, 1), failing=failing, deadline=deadline,
            passed_on=dt.date(2020, 12, 10 + i) if accepted else None, review=reviews[i - 5] if not accepted else "accepted",
            drills=12 - i // 2, serial=f"KF-2020-{i + 1:04d}" if accepted else None,
            villages=(6, 6 if accepted else 2),
        ))
        if with_villages:
            street = Area(id=uid, name=name, level="township")
            named = KAIFU_COMMUNITIES.get(name, [])
            for k in range(6):
                vname = named[k] if k < len(named) else f"{name.removesuffix('街道')}第{k + 1}社区"
                units.append(village(f"{uid}{k + 1:03d}", vname, base + [street],
                                     accepted=accepted or k < 2, deadline=deadline))
    return units


def province_units(
    cities: int = 3,
    counties: int = 4,
    townships: int = 5,
    villages: int = 3,
    *,
    shift: int = 0,
    pingjiang_deadline: dt.date | None = dt.date(2023, 12, 31),
) -> list[UnitStatus]:
    """A generated province with known answers. Township t (0-based, within its county) is accepted
    iff (t + shift) % 2 == 0 (so with 5 townships: 3 of 5, shift=1: 2 of 5); village v of every
    township is built iff v == 0 (1 of `villages`). The last county of the first city is 平江县, whose
    units have `pingjiang_deadline`."""
    units: list[UnitStatus] = []
    for c in range(cities):
        city = Area(id=f"c{c}", name=f"{['长沙', '岳阳', '株洲', '衡阳', '常德'][c % 5]}{c}市", level="city")
        for k in range(counties):
            is_pj = c == 0 and k == counties - 1
            county = PINGJIANG if is_pj else Area(id=f"c{c}k{k}", name=f"测试{c}{k}县", level="county")
            deadline = pingjiang_deadline if is_pj else None
            for t in range(townships):
                tid = f"{county.id}t{t}"
                accepted = (t + shift) % 2 == 0
                units.append(township(
                    tid, f"{county.name}第{t + 1}镇", [HUNAN, city, county], accepted=accepted,
                    score=50.0 + t, failing=() if accepted else ("PX",), deadline=deadline,
                    passed_on=dt.date(2023, 6, 1) if accepted else None, drills=t,
                ))
                town = Area(id=tid, name=f"{county.name}第{t + 1}镇", level="township")
                for v in range(villages):
                    units.append(village(f"{tid}v{v}", f"第{v + 1}村", [HUNAN, city, county, town],
                                         accepted=v == 0, deadline=deadline, failing=() if v == 0 else ("ZD",)))
    return units


# ---------------------------------------------------------------------------------------------


def test_kaifu_16_streets_5_accepted_is_31_25_percent():
    report = rates(kaifu_units(), AS_OF, "430105")
    t = report.total.townships
    assert (t.numerator, t.denominator, t.rate) == (5, 16, 31.25)
    assert len(report.rows) == 16
    assert {r.name for r in report.rows if r.unit and r.unit.accepted} == set(KAIFU_PASSED)


def test_kaifu_village_stations_counted_from_village_units():
    report = rates(kaifu_units(), AS_OF, "430105")
    v = report.total.villages
    # 5 streets x 6 built + 11 streets x 2 built, of 16 x 6
    assert (v.numerator, v.denominator) == (5 * 6 + 11 * 2, 96)
    assert v.rate == round(100 * 52 / 96, 2)
    row = next(r for r in report.rows if r.name == "新河街道")
    assert (row.villages.numerator, row.villages.denominator) == (2, 6)


def test_without_village_units_the_townships_own_counts_are_used():
    report = rates(kaifu_units(with_villages=False), AS_OF, "430105")
    v = report.total.villages
    assert (v.numerator, v.denominator) == (52, 96)


def test_the_level_below_a_street_is_its_communities():
    report = rates(kaifu_units(), AS_OF, "430105003")  # 清水塘街道
    assert report.total.name == "清水塘街道"
    assert "四季花城社区" in [r.name for r in report.rows]
    assert all(r.level == "village" for r in report.rows)


@pytest.mark.parametrize(
    "status_args, expected",
    [
        ({"accepted": True}, "已达标"),
        ({"passed": True}, "待验收"),
        ({"review": "submitted"}, "待验收"),
        ({"review": "returned"}, "整改中"),
        ({"review": "rejected"}, "整改中"),
        ({}, "未达标"),
    ],
)
def test_league_status(status_args, expected):
    assert league_status(township("x", "新河街道", [KAIFU], **status_args)) == expected


def test_generated_province_exact_numerators_and_denominators():
    units = province_units(cities=3, counties=4, townships=5, villages=3)
    rollup = roll_up(units, AS_OF)
    province = rollup.report()
    assert province.total.name == "湖南省"
    assert (province.total.townships.numerator, province.total.townships.denominator) == (3 * 4 * 3, 3 * 4 * 5)
    assert province.total.townships.rate == 60.0
    assert (province.total.villages.numerator, province.total.villages.denominator) == (60, 180)
    assert province.total.villages.rate == 33.33
    assert [r.level for r in province.rows] == ["city"] * 3
    for city in province.rows:
        assert (city.townships.numerator, city.townships.denominator) == (12, 20)
    county = rollup.report("c1k2")
    assert [r.level for r in county.rows] == ["township"] * 5
    assert (county.total.townships.numerator, county.total.townships.denominator) == (3, 5)


def test_dimension_pass_rates():
    report = rates(province_units(cities=1, counties=1, townships=5, villages=2, pingjiang_deadline=None), AS_OF)
    dims = {d.code: d for d in report.total.township_dimensions}
    assert [d.code for d in report.total.township_dimensions] == SIX
    assert (dims["PX"].passed, dims["PX"].total, dims["PX"].rate) == (3, 5, 60.0)
    assert (dims["BZ"].passed, dims["BZ"].total) == (5, 5)
    vdims = {d.code: d for d in report.total.village_dimensions}
    assert (vdims["ZD"].passed, vdims["ZD"].total) == (5, 10)


def test_overdue_units_in_pingjiang_after_the_2023_deadline():
    units = province_units(cities=2, counties=3, townships=5, villages=3)
    report = rates(units, AS_OF, "430626")
    assert report.total.name == "平江县"
    assert report.total.deadline == dt.date(2023, 12, 31)
    assert report.total.overdue_townships == 2  # townships 1 and 3 are not accepted
    assert report.total.overdue_villages == 10  # 2 of 3 villages in each of 5 townships
    townships = [o for o in report.overdue if o.level == "township"]
    assert [o.name for o in townships] == ["平江县第2镇", "平江县第4镇"]
    assert townships[0].days_overdue == (AS_OF - dt.date(2023, 12, 31)).days
    # no other county has a deadline: the city's overdue units are all in 平江县
    city = rates(units, AS_OF, "c0")
    assert city.total.overdue_townships == 2
    assert next(r for r in city.rows if r.name == "平江县").overdue_townships == 2
    assert all(r.overdue_townships == 0 for r in city.rows if r.name != "平江县")


def test_nothing_is_overdue_before_the_deadline():
    units = province_units(cities=1, counties=1, townships=4)
    report = rates(units, dt.date(2023, 12, 31), "430626")
    assert report.total.overdue_townships == 0 and report.overdue == []


def test_change_since_previous_snapshot():
    before = province_units(cities=2, counties=2, townships=5, villages=2, shift=1)  # 2 of 5 per county
    now = province_units(cities=2, counties=2, townships=5, villages=2, shift=0)  # 3 of 5 per county
    report = rates(now, AS_OF, previous=before, previous_as_of=dt.date(2023, 12, 31))
    ch = report.total.change
    assert ch is not None and ch.as_of == dt.date(2023, 12, 31)
    assert (ch.townships.numerator, ch.townships.denominator) == (8, 20)
    assert (report.total.townships.numerator, report.total.townships.denominator) == (12, 20)
    assert ch.township_delta == 20.0
    # townships 0, 2, 4 are accepted now; 1 and 3 were then: three new per county
    assert ch.newly_accepted == 12
    assert ch.village_delta == 0.0 and ch.newly_accepted_villages == 0
    assert all(r.change is not None and r.change.township_delta == 20.0 for r in report.rows)


def test_an_area_new_since_the_previous_snapshot_compares_with_nothing():
    before = [u for u in kaifu_units() if u.path[-1].id != "430105001" and u.id != "430105001"]
    report = rates(kaifu_units(), AS_OF, "430105", previous=before, previous_as_of=dt.date(2024, 1, 1))
    row = next(r for r in report.rows if r.id == "430105001")
    assert row.change is not None and row.change.townships.denominator == 0
    assert row.change.township_delta is None


def test_csv_has_bom_chinese_headers_and_parses_back():
    report = rates(kaifu_units(), AS_OF, "430105")
    data = to_csv([report.total] + report.rows)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 17
    total = rows[0]
    assert total["单位"] == "开福区"
    assert (total["乡镇（街道）总数"], total["已达标"], total["达标率（%）"]) == ("16", "5", "31.25")
    assert total["有班子达标率（%）"] != ""
    street = next(r for r in rows if r["单位"] == "望麓园街道")
    assert street["上级"] == "湖南省长沙市开福区"
    assert (street["村（社区）总数"], street["服务站已建成"], street["建成率（%）"]) == ("6", "6", "100")


def test_csv_with_change_columns():
    before = province_units(cities=1, counties=2, shift=1)
    report = rates(province_units(cities=1, counties=2), AS_OF, previous=before, previous_as_of=dt.date(2023, 12, 31))
    rows = list(csv.DictReader(io.StringIO(to_csv(report.rows).decode("utf-8-sig"))))
    assert rows[0]["达标率变化（百分点）"] == "20"
    assert rows[0]["上期日期"] == "2023-12-31"


def test_report_encodes_to_json_with_rates():
    report = rates(kaifu_units(), AS_OF, "430105")
    doc = msgspec.json.decode(msgspec.json.encode(report))
    assert doc["total"]["townships"] == {"numerator": 5, "denominator": 16, "rate": 31.25}


def test_unknown_area_is_a_key_error():
    with pytest.raises(KeyError):
        rates(kaifu_units(), AS_OF, "nowhere")


def test_hunan_scale_roll_up_is_one_fast_pass():
    # 14 cities x 9 counties x 15 townships = 1,890 townships, x 15 villages = 28,350 villages
    units = province_units(cities=14, counties=9, townships=15, villages=15)
    start = time.perf_counter()
    rollup = roll_up(units, AS_OF)
    province = rollup.report()
    elapsed = time.perf_counter() - start
    assert province.total.townships.denominator == 1890
    assert province.total.villages.denominator == 28350
    assert province.total.townships.numerator == 14 * 9 * 8
    assert elapsed < 5  # generous: about 0.3 s on a laptop; a per-area rescan would take minutes
