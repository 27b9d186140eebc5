"""The district 达标情况通报: a circular from the district/county bureau listing every street or
township with its 六有 status, dimension results, score, village stations, drills, acceptance and
deadline, sorted by compliance, with a summary and bar charts. (The sources never rank units, so
this is a 通报, not a 排名.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Table, TableStyle

from checklists.rates import TOWNSHIP_DIMENSIONS, RateReport, RateRow, league_status
from pdfgen.common import (
    DASH,
    PASS_GREEN,
    RED,
    area_word,
    build_pdf,
    cn_date,
    coloured,
    content_width,
    esc,
    grid_table,
    masthead,
    pct,
    pp,
    rate_bars,
    score_bars,
    short_date,
    signature_block,
    styles,
    township_word,
)

STATUS_ORDER = {"已达标": 0, "待验收": 1, "整改中": 2, "未达标": 3}
MARGINS = (12 * mm, 12 * mm, 16 * mm, 16 * mm)


def league_order(rows: list[RateRow]) -> list[RateRow]:
    """达标 first, then by score (highest first), then status, then name."""

    def key(row: RateRow) -> tuple:
        unit = row.unit
        accepted = bool(unit and unit.accepted)
        score = unit.score if unit and unit.score is not None else -1.0
        status = league_status(unit) if unit else "未达标"
        return (not accepted, -score, STATUS_ORDER[status], row.name)

    return sorted(rows, key=key)


def _names(rows: list[RateRow], limit: int = 12) -> str:
    names = [r.name for r in rows]
    if len(names) > limit:
        return "、".join(names[:limit]) + f"等{len(names)}个"
    return "、".join(names)


def render_league(
    report: RateReport,
    *,
    issuer: str,
    doc_number: str = "",
    label: str = "六有",
    village_label: str = "三有",
    dimension_names: Mapping[str, str] | None = None,
    date: dt.date | None = None,
    title: str | None = None,
) -> bytes:
    """The 达标情况通报 PDF of one district/county: `report` is checklists.rates' report of that
    county (its rows are its townships/streets). `date` defaults to the report's as-of date."""
    st = styles(12)
    good, bad = st.marks
    area = report.total
    date = date or report.as_of
    rows = league_order([r for r in report.rows if r.level == "township"])
    unit_word = township_word([r.name for r in rows])
    whole = area_word(area.name)
    title = title or f"{area.name}基层应急能力“{label}”达标情况通报"
    names = {**TOWNSHIP_DIMENSIONS, **(dimension_names or {})}
    codes = [d.code for d in area.township_dimensions] or list(TOWNSHIP_DIMENSIONS)

    story: list[Flowable] = masthead(st, issuer, doc_number)
    story.append(Paragraph(esc(title), st.title))
    story.append(Paragraph(f"各{esc(unit_word)}：", _no_indent(st.body)))

    t = area.townships
    counts = {s: 0 for s in STATUS_ORDER}
    for r in rows:
        counts[league_status(r.unit) if r.unit else "未达标"] += 1
    paragraphs = [
        f"截至{cn_date(report.as_of)}，{whole}{t.denominator}个{unit_word}，已达标{t.numerator}个，"
        f"达标率{pct(t.rate)}；待验收{counts['待验收']}个，整改中{counts['整改中']}个，未达标{counts['未达标']}个。"
    ]
    v = area.villages
    if v.denominator:
        paragraphs.append(
            f"{whole}村（社区）{v.denominator}个，“{village_label}”应急服务站已建成{v.numerator}个，建成率{pct(v.rate)}。"
        )
    dims = [d for d in area.township_dimensions if d.rate is not None]
    if dims:
        low = min(dims, key=lambda d: d.rate or 0)
        high = max(dims, key=lambda d: d.rate or 0)
        if low.code != high.code:
            paragraphs.append(
                f"从“{label}”各项看，“{names.get(high.code, high.name)}”达标率最高（{pct(high.rate)}），"
                f"“{names.get(low.code, low.name)}”达标率最低（{pct(low.rate)}），是下一步整改的重点。"
            )
    if area.change is not None:
        ch = area.change
        direction = "持平" if not ch.township_delta else ("提高" if ch.township_delta > 0 else "下降")
        delta = "" if direction == "持平" else f"{pp(ch.township_delta).lstrip('+-')}个百分点"
        paragraphs.append(
            f"与上期（{cn_date(ch.as_of)}）相比，新增达标{ch.newly_accepted}个，达标率{direction}{delta}"
            f"（上期{pct(ch.townships.rate)}）。"
        )
    if area.deadline is not None:
        overdue = [r for r in rows if r.overdue_townships]
        if area.deadline < report.as_of:
            text = f"按照要求，{cn_date(area.deadline)}前{whole}所有{unit_word}应达到“{label}”标准。"
            if overdue:
                text += f"截至目前，仍有{len(overdue)}个{unit_word}逾期未达标：{_names(overdue)}，现予通报。"
            else:
                text += "目前已全部按期完成。"
        else:
            left = (area.deadline - report.as_of).days
            open_rows = [r for r in rows if not (r.unit and r.unit.accepted)]
            text = (f"按照要求，{cn_date(area.deadline)}前{whole}所有{unit_word}应达到“{label}”标准，"
                    f"距截止日期还有{left}天，尚有{len(open_rows)}个{unit_word}未通过验收。")
        paragraphs.append(text)
    paragraphs.append(
        f"请尚未达标的{unit_word}对照整改清单逐项整改，按期完成达标建设；已达标的{unit_word}要巩固提升、长期坚持。"
    )
    story += [Paragraph(esc(p), st.body) for p in paragraphs]

    # charts: dimension pass rates, and scores when there are few enough units to label
    width = content_width(True, MARGINS[:2])
    half = (width - 6 * mm) / 2
    dim_chart = rate_bars(
        st.font, [names.get(d.code, d.name) for d in area.township_dimensions],
        [[d.rate for d in area.township_dimensions]],
        title=f"“{label}”各项达标率", width=half, height=62 * mm,
    )
    if rows and len(rows) <= 40:
        second = score_bars(
            st.font, [r.name for r in rows], [r.unit.score if r.unit else None for r in rows],
            [bool(r.unit and r.unit.accepted) for r in rows],
            title=f"各{unit_word}得分（红色为已达标）", width=half, height=max(62 * mm, 5.2 * mm * len(rows) / 2),
        )
    else:
        second = rate_bars(
            st.font, list(STATUS_ORDER), [[100 * counts[s] / len(rows) if rows else None for s in STATUS_ORDER]],
            title=f"各{unit_word}状态占比", width=half, height=62 * mm,
        )
    charts = Table([[dim_chart, second]], colWidths=[half + 3 * mm, half + 3 * mm])
    charts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER")]))
    story.append(KeepTogether(signature_block(st, issuer, date)))
    story.append(KeepTogether([Paragraph(f"附图：{esc(area.name)}“{esc(label)}”达标情况", st.heading), charts]))

    story.append(Paragraph(f"附表：{esc(area.name)}各{esc(unit_word)}“{esc(label)}”达标情况", st.heading))
    story.append(_league_table(st, rows, codes, names, good, bad, report.as_of, width, label))
    story.append(Paragraph(
        f"说明：“已达标”指已通过区县应急管理部门验收；“待验收”指自评达标或已提交、待验收；“整改中”指验收退回整改；"
        f"{good}为该项达标，{bad}为未达标；建成率为“{village_label}”应急服务站已建成数占村（社区）总数的比例；"
        f"逾期指已过截止日期仍未通过验收。",
        st.note,
    ))
    return build_pdf(story, title=title, issuer=issuer, landscape_page=True, margins=MARGINS)


def _no_indent(style):
    from reportlab.lib.styles import ParagraphStyle

    return ParagraphStyle(style.name + "-flush", parent=style, firstLineIndent=0)


def _league_table(st, rows: list[RateRow], codes: list[str], names: Mapping[str, str], good: str, bad: str,
                  as_of: dt.date, width: float, label: str) -> Table:
    n_dims = len(codes)
    head1 = ["序号", "单位", f"{label}状态"] + [f"“{label}”各项"] + [None] * (n_dims - 1) + [
        "得分", "村（社区）应急服务站", None, None, "本年度演练次数", "最近验收日期", "证书编号", "逾期"]
    head2 = [None, None, None] + [names.get(c, c) for c in codes] + [
        None, "总数", "达标", "建成率", None, None, None, None]
    body: list[list] = []
    for i, r in enumerate(rows, start=1):
        u = r.unit
        status = league_status(u) if u else "未达标"
        flags: list[str | Paragraph] = []
        for c in codes:
            ok = u.dimensions.get(c) if u else None
            flags.append(DASH if ok is None else coloured(st, good if ok else bad, PASS_GREEN if ok else RED))
        if u and u.deadline is not None and not u.accepted and u.deadline < as_of:
            overdue = coloured(st, f"逾期{(as_of - u.deadline).days}天", RED)
        elif u and u.accepted and u.deadline and u.passed_on and u.passed_on > u.deadline:
            overdue = "逾期完成"
        else:
            overdue = DASH if not (u and u.deadline) else "否"
        body.append([
            str(i), r.name, coloured(st, status, PASS_GREEN) if status == "已达标" else status, *flags,
            DASH if not u or u.score is None else f"{u.score:g}",
            str(r.villages.denominator), str(r.villages.numerator), pct(r.villages.rate),
            str(u.drills_this_year) if u else DASH,
            # the latest acceptance: the date of the certificate in force, beside its number
            short_date(u.certificate_date or u.passed_on) if u and (u.certificate_date or u.passed_on) else DASH,
            (u.certificate_serial or DASH) if u else DASH,
            overdue,
        ])
    # mm, all columns except the dimension flags; a serial (KF-2024- and 12 random symbols) on one line
    fixed = [9, 27, 15, 12, 12, 14, 13, 13, 18, 37, 16]
    dim_w = max(10.0, (width / mm - sum(fixed)) / max(1, n_dims))
    mm_widths = [9, 27, 15] + [dim_w] * n_dims + fixed[3:]
    scale = width / (sum(mm_widths) * mm)
    widths = [w * mm * scale for w in mm_widths]
    align = ["c", "l", "c"] + ["c"] * n_dims + ["r", "r", "r", "r", "r", "c", "c", "c"]
    last = 3 + n_dims
    spans = [
        ("SPAN", (0, 0), (0, 1)), ("SPAN", (1, 0), (1, 1)), ("SPAN", (2, 0), (2, 1)),
        ("SPAN", (3, 0), (last - 1, 0)),
        ("SPAN", (last, 0), (last, 1)),
        ("SPAN", (last + 1, 0), (last + 3, 0)),
        ("SPAN", (last + 4, 0), (last + 4, 1)), ("SPAN", (last + 5, 0), (last + 5, 1)),
        ("SPAN", (last + 6, 0), (last + 6, 1)), ("SPAN", (last + 7, 0), (last + 7, 1)),
    ]
    return grid_table(st, [head1, head2] + body, widths, header_rows=2, align=align, extra_style=spans)
