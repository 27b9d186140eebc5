"""Compliance-rate roll-up (达标率, 建成率) from per-unit statuses, for any area and the level below it.

Input is one `UnitStatus` per township/street (乡镇/街道, the 六有) and per village/community
(村/社区, the 三有/四有 service station), each carrying the ids and names of its ancestors. One pass
over the units aggregates every area at once (province scale: ~31,000 units), after which reports
for any area are read from dicts.

Definitions (DOMAIN.md §2.3, §5; choices the sources leave open are marked):
- 达标 / 建成 counts units the bureau has **accepted** (验收通过: a certificate in force on the
  as-of date, see server/reports.py): the sources speak of 达标验收, so a self-assessed pass alone
  is 待验收, not 达标.
- 乡镇（街道）“六有”达标率 = accepted townships ÷ all townships in the area.
- 村（社区）“三有/四有”建成率 = accepted villages ÷ all villages in the area, counted from village
  units when the input has any under the area; otherwise from the townships' own village counts
  (`villages_total` / `villages_passed`), so a township-only export still gives a 建成率.
- Overdue (逾期): the unit's deadline lies before the as-of date and it is not accepted.
- Per-dimension pass rate: share of the area's townships whose dimension passes in their latest
  result (village dimensions likewise, separately: their codes overlap, e.g. WZ).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Literal

from msgspec import Struct

AreaLevel = Literal["nation", "province", "city", "county", "township", "village"]
UnitLevel = Literal["township", "village"]
Review = Literal["draft", "submitted", "returned", "resubmitted", "accepted", "rejected"]
LeagueStatus = Literal["已达标", "待验收", "整改中", "未达标"]

ROOT = ""  # id of the virtual area above the top of the input (all provinces given)

TOWNSHIP_DIMENSIONS = {"BZ": "有班子", "JZ": "有机制", "YA": "有预案", "DW": "有队伍", "WZ": "有物资", "PX": "有培训演练"}
VILLAGE_DIMENSIONS = {"CD": "有场地设施", "WZ": "有装备物资", "ZD": "有工作制度", "RY": "有人员"}
LEVEL_BELOW: dict[str, str] = {"nation": "province", "province": "city", "city": "county", "county": "township",
                               "township": "village"}


class Area(Struct, frozen=True, kw_only=True):
    """One ancestor of a unit: 湖南省 (province), 长沙市 (city), 开福区 (county), or the township
    of a village."""

    id: str
    name: str
    level: AreaLevel


class UnitStatus(Struct, frozen=True, kw_only=True):
    """Where one assessed unit stands today (the server builds these from stored results)."""

    id: str
    name: str
    level: UnitLevel
    path: list[Area]  # ancestors, top first (province, city, county[, township])
    passed: bool  # its latest result meets the standard (self-assessed or under review)
    accepted: bool  # the bureau accepted it (验收通过); this is what 达标 / 建成 count
    score: float | None = None
    dimensions: dict[str, bool] = {}  # dimension code -> passed
    deadline: dt.date | None = None
    passed_on: dt.date | None = None  # date of acceptance
    drills_this_year: int = 0
    villages_total: int = 0  # townships only: its villages, when village units are not in the input
    villages_passed: int = 0
    certificate_serial: str | None = None
    certificate_date: dt.date | None = None
    review: Review | None = None  # review workflow state of its current assessment


def percent(numerator: int, denominator: int) -> float | None:
    """numerator / denominator as a percentage rounded to 2 decimals (5/16 -> 31.25); None for 0/0."""
    return round(100 * numerator / denominator, 2) if denominator else None


class Count(Struct, frozen=True, kw_only=True):
    """A rate with its numerator and denominator; `rate` is a percentage (None when nothing to count).
    Build with count(); `rate` is a field so it survives JSON encoding."""

    numerator: int
    denominator: int
    rate: float | None


def count(numerator: int, denominator: int) -> Count:
    return Count(numerator=numerator, denominator=denominator, rate=percent(numerator, denominator))


class DimensionRate(Struct, frozen=True, kw_only=True):
    """Share of the area's units whose dimension `code` passes."""

    code: str
    name: str
    passed: int
    total: int
    rate: float | None


class Change(Struct, frozen=True, kw_only=True):
    """The same area in the previous snapshot, and the difference in percentage points."""

    as_of: dt.date
    townships: Count
    villages: Count
    township_delta: float | None  # 达标率 now minus then, percentage points
    village_delta: float | None
    newly_accepted: int  # townships accepted now that were not then
    newly_accepted_villages: int


class RateRow(Struct, frozen=True, kw_only=True):
    """The rates of one area (or of one unit, when the row is a township or village)."""

    id: str
    name: str
    level: AreaLevel
    path: list[Area]
    townships: Count  # 乡镇（街道）“六有”达标率
    townships_pending: int  # passing but not yet accepted (待验收)
    townships_rework: int  # returned for rework or rejected (整改中)
    villages: Count  # 村（社区）“三有/四有”建成率
    township_dimensions: list[DimensionRate]
    village_dimensions: list[DimensionRate]
    overdue_townships: int
    overdue_villages: int
    late_townships: int  # accepted, but after their deadline (逾期完成)
    deadline: dt.date | None  # the earliest deadline any unit of the area has
    drills: int  # drills this year, all townships of the area
    mean_score: float | None  # mean township score
    unit: UnitStatus | None = None  # the unit itself, when the row is one township or village
    change: Change | None = None


class Overdue(Struct, frozen=True, kw_only=True):
    """A unit past its deadline and not accepted."""

    id: str
    name: str
    level: UnitLevel
    path: list[Area]
    deadline: dt.date
    days_overdue: int
    status: LeagueStatus
    score: float | None


class RateReport(Struct, frozen=True, kw_only=True):
    """Rates of one area (`total`) and of each area or unit one level below it (`rows`)."""

    as_of: dt.date
    total: RateRow
    rows: list[RateRow]
    overdue: list[Overdue]  # every overdue unit in the area, townships first, most overdue first
    previous_as_of: dt.date | None = None


def league_status(unit: UnitStatus) -> LeagueStatus:
    """已达标 (accepted), 待验收 (passing or submitted, awaiting the bureau), 整改中 (returned or
    rejected by the reviewer), 未达标 (everything else)."""
    if unit.accepted:
        return "已达标"
    if unit.review in ("returned", "rejected"):
        return "整改中"
    if unit.passed or unit.review in ("submitted", "resubmitted"):
        return "待验收"
    return "未达标"


# ---------------------------------------------------------------------------------------------
# Aggregation


class _Acc:
    """Counters of one area (or unit): `add` counts one unit into them, `merge` a sub-area's."""

    __slots__ = (
        "deadline",
        "drills",
        "score_n",
        "score_sum",
        "sum_v_passed",
        "sum_v_total",
        "t_acc",
        "t_accepted_ids",
        "t_dims",
        "t_dims_n",
        "t_late",
        "t_overdue",
        "t_pending",
        "t_rework",
        "t_total",
        "v_acc",
        "v_dims",
        "v_dims_n",
        "v_overdue",
        "v_total",
    )
    _SUMS = ("t_total", "t_acc", "t_pending", "t_rework", "t_overdue", "t_late", "v_total", "v_acc", "v_overdue",
             "sum_v_total", "sum_v_passed", "drills", "score_sum", "score_n")

    def __init__(self) -> None:
        self.t_total = self.t_acc = self.t_pending = self.t_rework = self.t_overdue = self.t_late = 0
        self.v_total = self.v_acc = self.v_overdue = 0
        self.sum_v_total = self.sum_v_passed = self.drills = self.score_n = 0
        self.score_sum = 0.0
        self.t_dims: dict[str, int] = {}
        self.t_dims_n: dict[str, int] = {}
        self.v_dims: dict[str, int] = {}
        self.v_dims_n: dict[str, int] = {}
        self.deadline: dt.date | None = None
        self.t_accepted_ids: set[str] = set()

    def add(self, u: UnitStatus, as_of: dt.date) -> None:
        overdue = u.deadline is not None and u.deadline < as_of and not u.accepted
        if u.deadline is not None and (self.deadline is None or u.deadline < self.deadline):
            self.deadline = u.deadline
        if u.level == "township":
            self.t_total += 1
            if u.accepted:
                self.t_acc += 1
                self.t_accepted_ids.add(u.id)
                self.t_late += u.deadline is not None and u.passed_on is not None and u.passed_on > u.deadline
            else:
                status = league_status(u)
                self.t_pending += status == "待验收"
                self.t_rework += status == "整改中"
            self.t_overdue += overdue
            self.drills += u.drills_this_year
            if u.score is not None:
                self.score_sum += u.score
                self.score_n += 1
            self.sum_v_total += u.villages_total
            self.sum_v_passed += u.villages_passed
            passed, total = self.t_dims, self.t_dims_n
        else:
            self.v_total += 1
            self.v_acc += u.accepted
            self.v_overdue += overdue
            passed, total = self.v_dims, self.v_dims_n
        for code, ok in u.dimensions.items():
            total[code] = total.get(code, 0) + 1
            if ok:
                passed[code] = passed.get(code, 0) + 1

    def merge(self, other: _Acc) -> None:
        for name in self._SUMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.t_dims, other.t_dims), (self.t_dims_n, other.t_dims_n),
                             (self.v_dims, other.v_dims), (self.v_dims_n, other.v_dims_n)):
            for code, n in theirs.items():
                mine[code] = mine.get(code, 0) + n
        if other.deadline is not None and (self.deadline is None or other.deadline < self.deadline):
            self.deadline = other.deadline
        self.t_accepted_ids |= other.t_accepted_ids


class Rollup:
    """Every area's counters after one pass over the units; `report()` reads them.

    The pass files each unit under its parent; then each area, deepest first, adds its own unit
    (a township that is also the area of its villages), its child units and its sub-areas'
    counters. A unit without children gets its counters only when a row asks for them.
    """

    def __init__(self, units: Iterable[UnitStatus], as_of: dt.date):
        self.as_of = as_of
        self.areas: dict[str, Area] = {ROOT: Area(id=ROOT, name="全部", level="nation")}
        self.paths: dict[str, list[Area]] = {ROOT: []}
        self.children: dict[str, dict[str, None]] = {}  # ordered sets, in input order
        self.units: dict[str, UnitStatus] = {}
        self.overdue: list[UnitStatus] = []  # in input order
        self.accepted_villages: set[str] = set()
        self._scan(units)
        self.accs: dict[str, _Acc] = {}  # every node with children
        depth = {node: len(self.paths[node]) if node != ROOT else -1 for node in self.children}
        for node in sorted(self.children, key=depth.__getitem__, reverse=True):
            self.accs[node] = acc = _Acc()
            if node in self.units:
                acc.add(self.units[node], as_of)
            for child in self.children[node]:
                below = self.accs.get(child)
                if below is not None:
                    acc.merge(below)
                else:
                    acc.add(self.units[child], as_of)

    def _scan(self, units: Iterable[UnitStatus]) -> None:
        areas, children, paths, as_of = self.areas, self.children, self.paths, self.as_of
        for u in units:
            self.units[u.id] = u
            parent = u.path[-1].id if u.path else ROOT
            if parent not in children:  # the first unit under this parent: file the chain of areas above it
                above = ROOT
                for depth, area in enumerate(u.path):
                    if area.id not in areas:
                        areas[area.id] = area
                        paths[area.id] = u.path[:depth]
                    children.setdefault(above, {})[area.id] = None
                    above = area.id
                children.setdefault(parent, {})
            if u.id not in areas:
                areas[u.id] = Area(id=u.id, name=u.name, level=u.level)
                paths[u.id] = u.path
            children[parent][u.id] = None
            if u.deadline is not None and u.deadline < as_of and not u.accepted:
                self.overdue.append(u)
            if u.level == "village" and u.accepted:
                self.accepted_villages.add(u.id)

    def include(self, area: Area, path: list[Area]) -> None:
        """Make `area` (its ancestors `path`, top first) reportable even when no unit lies under
        it, e.g. a new county whose townships are not entered yet: its rates are then 0 of 0."""
        if area.id not in self.areas:
            self.areas[area.id] = area
            self.paths[area.id] = path

    def _acc(self, node: str) -> _Acc | None:
        """The counters of an area or unit; None if it is not in the input."""
        acc = self.accs.get(node)
        if acc is None and node in self.units:  # a unit without children: only itself
            acc = _Acc()
            acc.add(self.units[node], self.as_of)
        elif acc is None and node in self.areas:  # an included area with nothing under it
            acc = _Acc()
        return acc

    def _within(self, u: UnitStatus, node: str) -> bool:
        """Whether unit `u` is `node` or lies under it."""
        return node in (ROOT, u.id) or any(a.id == node for a in u.path)

    # -----------------------------------------------------------------------------------------

    def top(self) -> str:
        """The single top area of the input (e.g. the province), or ROOT when there are several."""
        kids = list(self.children.get(ROOT, {}))
        return kids[0] if len(kids) == 1 else ROOT

    def row(self, area_id: str, previous: Rollup | None = None) -> RateRow:
        """The rates of one area or unit; KeyError if it is not in the input."""
        acc = self._acc(area_id)
        if acc is None:
            raise KeyError(area_id)
        area = self.areas[area_id]
        if acc.v_total:
            villages = count(acc.v_acc, acc.v_total)
        else:
            villages = count(acc.sum_v_passed, acc.sum_v_total)
        change = None
        if previous is not None:
            change = self._change(area_id, acc, villages, previous)
        return RateRow(
            id=area_id,
            name=area.name,
            level=area.level,
            path=self.paths.get(area_id, []),
            townships=count(acc.t_acc, acc.t_total),
            townships_pending=acc.t_pending,
            townships_rework=acc.t_rework,
            villages=villages,
            township_dimensions=_dim_rates(acc.t_dims, acc.t_dims_n, TOWNSHIP_DIMENSIONS),
            village_dimensions=_dim_rates(acc.v_dims, acc.v_dims_n, VILLAGE_DIMENSIONS),
            overdue_townships=acc.t_overdue,
            overdue_villages=acc.v_overdue,
            late_townships=acc.t_late,
            deadline=acc.deadline,
            drills=acc.drills,
            mean_score=round(acc.score_sum / acc.score_n, 2) if acc.score_n else None,
            unit=self.units.get(area_id),
            change=change,
        )

    def _change(self, area_id: str, acc: _Acc, villages: Count, previous: Rollup) -> Change:
        before = previous._acc(area_id)
        if before is None:
            then_t, then_v = count(0, 0), count(0, 0)
            new_t = acc.t_acc
        else:
            then_t = count(before.t_acc, before.t_total)
            if before.v_total:
                then_v = count(before.v_acc, before.v_total)
            else:
                then_v = count(before.sum_v_passed, before.sum_v_total)
            new_t = len(acc.t_accepted_ids - before.t_accepted_ids)
        new_v = 0
        if acc.v_total:
            members = self._villages_under(area_id)
            new_v = sum(1 for v in members if v in self.accepted_villages and v not in previous.accepted_villages)
        return Change(
            as_of=previous.as_of,
            townships=then_t,
            villages=then_v,
            township_delta=_delta(count(acc.t_acc, acc.t_total).rate, then_t.rate),
            village_delta=_delta(villages.rate, then_v.rate),
            newly_accepted=new_t,
            newly_accepted_villages=new_v,
        )

    def _villages_under(self, area_id: str) -> list[str]:
        out, stack = [], [area_id]
        while stack:
            node = stack.pop()
            kids = self.children.get(node)
            if not kids:
                unit = self.units.get(node)
                if unit is not None and unit.level == "village":
                    out.append(node)
                continue
            stack.extend(kids)
        return out

    def report(self, area_id: str | None = None, previous: Rollup | None = None) -> RateReport:
        """Rates of `area_id` (default: the top of the input) and of each area or unit one level
        below it; with `previous`, each row carries the change since that snapshot."""
        area_id = self.top() if area_id is None else area_id
        total = self.row(area_id, previous)
        rows = [self.row(child, previous) for child in self.children.get(area_id, {})]
        overdue = [self._overdue(u) for u in self.overdue if self._within(u, area_id)]
        overdue.sort(key=lambda o: (o.level != "township", -o.days_overdue, o.name))
        return RateReport(
            as_of=self.as_of,
            total=total,
            rows=rows,
            overdue=overdue,
            previous_as_of=previous.as_of if previous is not None else None,
        )

    def _overdue(self, u: UnitStatus) -> Overdue:
        assert u.deadline is not None
        return Overdue(
            id=u.id, name=u.name, level=u.level, path=u.path, deadline=u.deadline,
            days_overdue=(self.as_of - u.deadline).days, status=league_status(u), score=u.score,
        )


def _dim_rates(passed: dict[str, int], total: dict[str, int], names: dict[str, str]) -> list[DimensionRate]:
    order = [c for c in names if c in total] + sorted(c for c in total if c not in names)
    return [DimensionRate(
            code=c, name=names.get(c, c), passed=passed.get(c, 0), total=total[c],
            rate=percent(passed.get(c, 0), total[c]),
        ) for c in order]


def _delta(now: float | None, then: float | None) -> float | None:
    if now is None or then is None:
        return None
    return round(now - then, 2)


def roll_up(units: Iterable[UnitStatus], as_of: dt.date) -> Rollup:
    """Aggregate every area of the input in one pass."""
    return Rollup(units, as_of)


def rates(
    units: Iterable[UnitStatus],
    as_of: dt.date,
    area_id: str | None = None,
    *,
    previous: Iterable[UnitStatus] | None = None,
    previous_as_of: dt.date | None = None,
) -> RateReport:
    """One report from raw units: rates of `area_id` (default: the top) and the level below it,
    with the change since `previous` (the units as they stood on `previous_as_of`) when given."""
    before = None
    if previous is not None:
        if previous_as_of is None:
            raise ValueError("previous_as_of is required with previous")
        before = roll_up(previous, previous_as_of)
    return roll_up(units, as_of).report(area_id, before)


# ---------------------------------------------------------------------------------------------
# CSV

LEVEL_NAMES = {"nation": "全国", "province": "省", "city": "市州", "county": "县市区", "township": "乡镇（街道）",
               "village": "村（社区）"}


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def to_csv(rows: Sequence[RateRow]) -> bytes:
    """The rows as CSV, UTF-8 with a byte-order mark (so Excel shows the Chinese), Chinese headers.
    Rates are percentages without the % sign; empty where there is nothing to count."""
    t_codes: dict[str, str] = {}
    v_codes: dict[str, str] = {}
    for r in rows:
        for d in r.township_dimensions:
            t_codes.setdefault(d.code, d.name)
        for d in r.village_dimensions:
            v_codes.setdefault(d.code, d.name)
    with_change = any(r.change is not None for r in rows)
    header = ["单位", "层级", "上级", "乡镇（街道）总数", "已达标", "达标率（%）", "待验收", "整改中",
              "逾期未达标乡镇（街道）", "村（社区）总数", "服务站已建成", "建成率（%）", "逾期未建成村（社区）"]
    header += [f"{name}达标率（%）" for name in t_codes.values()]
    header += [f"村级{name}达标率（%）" for name in v_codes.values()]
    header += ["本年度演练次数", "平均得分", "最早截止日期"]
    if with_change:
        header += ["上期日期", "上期达标率（%）", "达标率变化（百分点）", "上期建成率（%）", "建成率变化（百分点）",
                   "新增达标"]
    lines: list[list] = []
    for r in rows:
        t_dims = {d.code: d for d in r.township_dimensions}
        v_dims = {d.code: d for d in r.village_dimensions}
        line = [
            r.name, LEVEL_NAMES.get(r.level, r.level), "".join(a.name for a in r.path),
            r.townships.denominator, r.townships.numerator, _num(r.townships.rate), r.townships_pending,
            r.townships_rework, r.overdue_townships,
            r.villages.denominator, r.villages.numerator, _num(r.villages.rate), r.overdue_villages,
        ]
        line += [_num(t_dims[c].rate) if c in t_dims else "" for c in t_codes]
        line += [_num(v_dims[c].rate) if c in v_dims else "" for c in v_codes]
        line += [r.drills, _num(r.mean_score), r.deadline.isoformat() if r.deadline else ""]
        if with_change:
            c = r.change
            if c is None:
                line += [""] * 6
            else:
                line += [c.as_of.isoformat(), _num(c.townships.rate), _num(c.township_delta), _num(c.villages.rate),
                         _num(c.village_delta), c.newly_accepted]
        lines.append(line)
    return _excel_csv(header, lines)


def overdue_csv(overdue: Sequence[Overdue]) -> bytes:
    """The units past their deadline and not accepted (RateReport.overdue), one per line, as CSV
    for Excel like to_csv: the list a bureau sends out with its 通报."""
    header = ["单位", "层级", "所属地区", "截止日期", "逾期天数", "状态", "得分"]
    return _excel_csv(header, [
        [o.name, LEVEL_NAMES[o.level], "".join(a.name for a in o.path), o.deadline.isoformat(), o.days_overdue,
         o.status, _num(o.score)] for o in overdue])


# A cell a spreadsheet would read as a formula (CSV injection, OWASP): = + - @ and a leading tab
# or carriage return. Such text gets a leading apostrophe; numbers, negative ones included, stay.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def neutralised(cell: object) -> object:
    """The cell as Excel should show it: text that would start a formula is prefixed with '."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _excel_csv(header: list[str], lines: list[list]) -> bytes:
    """CSV with CRLF line ends, UTF-8 with a byte-order mark (so Excel shows the Chinese); names
    that would start a formula are neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([neutralised(cell) for cell in line] for line in lines)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
