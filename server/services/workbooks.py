"""Rates as an Excel workbook (openpyxl): a sheet per level of the area (市州, 县市区, 乡镇（街道）),
and the overdue units. Chinese headers, the header row frozen, columns sized to their content,
counts as numbers and rates as percentages Excel can compute with (0.3125 shown as 31.25%)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from checklists.rates import TOWNSHIP_DIMENSIONS, Count, Overdue, RateRow, league_status

SHEET_NAMES = {"city": "市州", "county": "县市区", "township": "乡镇（街道）"}
PERCENT = "0.00%"
HEADER_FILL = PatternFill("solid", fgColor="F2DCDB")


def _rate(c: Count) -> float | None:
    return None if c.rate is None else round(c.rate / 100, 6)


def _area_columns(label: str, village_label: str) -> list[tuple[str, str | None]]:
    return [
        ("地区", None), ("所属", None),
        ("乡镇（街道）总数", None), (f"“{label}”已达标", None), ("达标率", PERCENT), ("待验收", None), ("整改中", None),
        ("逾期未达标（乡镇）", None),
        ("村（社区）总数", None), (f"“{village_label}”服务站已建成", None), ("建成率", PERCENT), ("逾期未建成（村）", None),
        ("本年度演练次数", None), ("平均得分", "0.00"), ("完成时限", "yyyy-mm-dd"),
    ]


def _area_values(r: RateRow) -> list[Any]:
    return [
        r.name, " · ".join(a.name for a in r.path[1:]) or "—",
        r.townships.denominator, r.townships.numerator, _rate(r.townships), r.townships_pending, r.townships_rework,
        r.overdue_townships,
        r.villages.denominator, r.villages.numerator, _rate(r.villages), r.overdue_villages,
        r.drills, r.mean_score, r.deadline,
    ]


def _township_columns(village_label: str) -> list[tuple[str, str | None]]:
    return [
        ("乡镇（街道）", None), ("所属", None), ("状态", None),
        *[(name, None) for name in TOWNSHIP_DIMENSIONS.values()],
        ("得分", "0.00"), ("村（社区）数", None), (f"“{village_label}”服务站已建成", None), ("建成率", PERCENT),
        ("本年度演练次数", None), ("验收日期", "yyyy-mm-dd"), ("证书编号", None), ("完成时限", "yyyy-mm-dd"),
    ]


def _township_values(r: RateRow) -> list[Any]:
    u = r.unit
    dims = u.dimensions if u else {}
    return [
        r.name, " · ".join(a.name for a in r.path[1:]) or "—", league_status(u) if u else "—",
        *[("√" if dims.get(code) else "×") if code in dims else "—" for code in TOWNSHIP_DIMENSIONS],
        u.score if u else None, r.villages.denominator, r.villages.numerator, _rate(r.villages),
        r.drills, u.certificate_date if u else None, (u.certificate_serial if u else None) or "", r.deadline,
    ]


def _sheet(wb: Workbook, title: str, columns: Sequence[tuple[str, str | None]], rows: list[list[Any]]) -> None:
    ws = wb.create_sheet(title)
    ws.append([name for name, _ in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for values in rows:
        ws.append(values)
    for i, (name, fmt) in enumerate(columns, start=1):
        letter = get_column_letter(i)
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
        widest = max([len(name) * 2] + [len(str(v[i - 1])) * (2 if isinstance(v[i - 1], str) else 1) + 2
                                         for v in rows if v[i - 1] is not None])
        ws.column_dimensions[letter].width = min(40, max(8, widest))
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = ws.dimensions


def rates_workbook(area: str, as_of: dt.date, total: RateRow, levels: dict[str, list[RateRow]],
                   overdue: Sequence[Overdue], label: str, village_label: str) -> bytes:
    """The workbook of an area as of a date: its total, a sheet per level below it, the overdue units."""
    wb = Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    _sheet(wb, "合计", _area_columns(label, village_label), [_area_values(total)])
    for level, rows in levels.items():
        if level == "township":
            _sheet(wb, SHEET_NAMES[level], _township_columns(village_label), [_township_values(r) for r in rows])
        else:
            _sheet(wb, SHEET_NAMES.get(level, level), _area_columns(label, village_label), [_area_values(r) for r in rows])
    _sheet(wb, "逾期未达标", [("单位", None), ("层级", None), ("所属", None), ("完成时限", "yyyy-mm-dd"),
                          ("逾期天数", None), ("状态", None), ("得分", "0.00")],
           [[o.name, "乡镇（街道）" if o.level == "township" else "村（社区）", " · ".join(a.name for a in o.path[1:]),
             o.deadline, o.days_overdue, o.status, o.score] for o in overdue])
    wb.properties.title = f"{area}基层应急能力建设达标情况（截至{as_of.isoformat()}）"
    wb.properties.creator = "达标"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
