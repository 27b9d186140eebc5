"""The provincial (or city) comparison: 乡镇（街道）达标率 and 村（社区）建成率 by city and by county, with
bar charts, deadline tracking (units overdue against each area's deadline, e.g. 平江县 2023-12-31)
and the change since the previous report. Sized for Hunan: 14 市州, ~122 县市区.
"""

from __future__ import annotations

import datetime as dt

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer

from checklists.rates import RateRow, Rollup
from pdfgen.common import (
    DASH,
    HEAD_BG,
    INK,
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
    short_date,
    signature_block,
    styles,
)

MARGINS = (14 * mm, 14 * mm, 16 * mm, 16 * mm)
LEVEL_WORD = {"province": "省", "city": "市州", "county": "县市区", "township": "乡镇（街道）", "village": "村（社区）"}


def _delta_cell(st, row: RateRow) -> object:
    if row.change is None or row.change.township_delta is None:
        return DASH
    d = row.change.township_delta
    return coloured(st, pp(d), PASS_GREEN if d > 0 else RED if d < 0 else INK, "r")


def _histogram(rows: list[RateRow]) -> list[float | None]:
    """Share of areas (%) whose 达标率 falls in 0–20, 20–40, 40–60, 60–80, 80–<100 and 100."""
    buckets = [0] * 6
    rated = [r.townships.rate for r in rows if r.townships.rate is not None]
    for rate in rated:
        buckets[5 if rate >= 100 else min(4, int(rate // 20))] += 1
    return [100 * b / len(rated) if rated else None for b in buckets]


def render_comparison(
    rollup: Rollup,
    area_id: str | None = None,
    *,
    previous: Rollup | None = None,
    issuer: str,
    doc_number: str = "",
    label: str = "六有",
    village_label: str = "三有/四有",
    date: dt.date | None = None,
    title: str | None = None,
) -> bytes:
    """The comparison PDF of a province (rows: cities, then counties) or a city (rows: counties,
    then townships). `previous` is the roll-up of the previous report, for the change columns."""
    st = styles(12)
    report = rollup.report(area_id, previous)
    area = report.total
    date = date or rollup.as_of
    level1 = report.rows
    level2: dict[str, list[RateRow]] = {r.id: rollup.report(r.id, previous).rows for r in level1}
    w1 = LEVEL_WORD.get(level1[0].level, "地区") if level1 else "地区"
    all2 = [row for rows in level2.values() for row in rows]
    w2 = LEVEL_WORD.get(all2[0].level, "地区") if all2 else "地区"
    whole = area_word(area.name)
    title = title or f"{area.name}基层应急能力达标建设情况通报"
    width = content_width(True, MARGINS[:2])

    story: list[Flowable] = masthead(st, issuer, doc_number)
    story.append(Paragraph(esc(title), st.title))
    story.append(Paragraph(f"（乡镇（街道）“{esc(label)}”达标率、村（社区）“{esc(village_label)}”应急服务站建成率）",
                           st.subtitle))

    t, v = area.townships, area.villages
    text = [
        f"截至{cn_date(rollup.as_of)}，{whole}{len(level1)}个{w1}、{len(all2)}个{w2}共有乡镇（街道）{t.denominator}个，"
        f"已通过“{label}”达标验收{t.numerator}个，达标率{pct(t.rate)}；待验收{area.townships_pending}个。"
        f"村（社区）{v.denominator}个，“{village_label}”应急服务站已建成{v.numerator}个，建成率{pct(v.rate)}。"
    ]
    rated = [r for r in level1 if r.townships.rate is not None]
    if len(rated) > 1:
        best = max(rated, key=lambda r: (r.townships.rate, r.name))
        worst = min(rated, key=lambda r: (r.townships.rate, r.name))
        text.append(f"分{w1}看，达标率最高的是{best.name}（{pct(best.townships.rate)}），"
                    f"最低的是{worst.name}（{pct(worst.townships.rate)}）。")
    if area.change is not None:
        ch = area.change
        text.append(
            f"与上期（{cn_date(ch.as_of)}）相比，新增达标乡镇（街道）{ch.newly_accepted}个，达标率由{pct(ch.townships.rate)}"
            f"变为{pct(t.rate)}（{pp(ch.township_delta)}个百分点）；新建成村（社区）应急服务站{ch.newly_accepted_villages}个，"
            f"建成率变化{pp(ch.village_delta)}个百分点。"
        )
    deadlines = [r for r in all2 if r.deadline is not None]
    passed_deadline = [r for r in deadlines if r.deadline is not None and r.deadline < rollup.as_of]
    if deadlines:
        late_t = sum(r.overdue_townships for r in passed_deadline)
        late_v = sum(r.overdue_villages for r in passed_deadline)
        text.append(
            f"{len(deadlines)}个{w2}设定了完成时限，其中{len(passed_deadline)}个已过截止日期，"
            f"逾期未达标乡镇（街道）{late_t}个、逾期未建成服务站的村（社区）{late_v}个，详见附表3。"
        )
    story += [Paragraph(esc(p), st.body) for p in text]
    story.append(KeepTogether(signature_block(st, issuer, date)))

    # Chart 1: both rates by level-1 area
    chart1 = rate_bars(
        st.font, [r.name for r in level1],
        [[r.townships.rate for r in level1], [r.villages.rate for r in level1]],
        names=["乡镇（街道）达标率", "村（社区）建成率"], title=f"各{w1}达标率、建成率",
        width=width, height=78 * mm, label_angle=30 if len(level1) > 8 else 0,
    )
    story.append(KeepTogether([Paragraph(f"附图1：各{esc(w1)}达标率、建成率", st.heading), chart1]))
    chart2 = rate_bars(
        st.font, ["0–20%", "20–40%", "40–60%", "60–80%", "80–100%", "100%"], [_histogram(all2)],
        title=f"{len(all2)}个{w2}按达标率分布（占比）", width=width * 0.6, height=62 * mm,
    )
    story.append(KeepTogether([Paragraph(f"附图2：各{esc(w2)}达标率分布", st.heading), chart2]))

    # Table 1: level-1 areas
    story.append(Paragraph(f"附表1：各{esc(w1)}达标率、建成率", st.heading))
    story.append(_rate_table(st, [area] + level1, width, w1, count_children={
        r.id: len(level2.get(r.id, [])) for r in level1} | {area.id: len(all2)}, child_word=w2, total_first=True))

    # Table 2: level-2 areas grouped under their level-1 area
    story.append(Paragraph(f"附表2：各{esc(w2)}达标率、建成率", st.heading))
    story.append(_grouped_table(st, level1, level2, width, w1, w2))

    # Table 3: deadline tracking
    story.append(Paragraph(f"附表3：完成时限跟踪（设定截止日期的{esc(w2)}）", st.heading))
    if deadlines:
        story.append(_deadline_table(st, deadlines, level1, level2, rollup.as_of, width, w1, w2))
    else:
        story.append(Paragraph("本期无设定截止日期的地区。", st.body))
    story.append(Spacer(1, 2 * mm))
    story.append(Paragraph(
        "说明：达标率＝已通过验收的乡镇（街道）数÷乡镇（街道）总数；建成率＝已建成标准化应急服务站的村（社区）数÷村（社区）总数；"
        "逾期指已过截止日期仍未通过验收；变化为本期达标率减上期达标率（百分点）。",
        st.note,
    ))
    return build_pdf(story, title=title, issuer=issuer, landscape_page=True, margins=MARGINS)


def _scaled(widths_mm: list[float], width: float) -> list[float]:
    scale = width / (sum(widths_mm) * mm)
    return [w * mm * scale for w in widths_mm]


def _rate_cells(st, r: RateRow) -> list:
    t, v = r.townships, r.villages
    prev = r.change.townships.rate if r.change is not None else None
    return [
        str(t.denominator), str(t.numerator), pct(t.rate), str(r.townships_pending),
        str(v.denominator), str(v.numerator), pct(v.rate),
        str(r.overdue_townships) if r.overdue_townships else DASH,
        pct(prev) if r.change is not None else DASH, _delta_cell(st, r),
    ]


RATE_HEAD = ["乡镇（街道）数", "已达标", "达标率", "待验收", "村（社区）数", "已建成", "建成率", "逾期未达标",
             "上期达标率", "变化（百分点）"]


def _rate_table(st, rows: list[RateRow], width: float, word: str, *, count_children: dict[str, int],
                child_word: str, total_first: bool):
    head = ["序号", word, f"{child_word}数"] + RATE_HEAD
    body = []
    for i, r in enumerate(rows):
        number = "合计" if total_first and i == 0 else str(i if total_first else i + 1)
        body.append([number, r.name, str(count_children.get(r.id, 0))] + _rate_cells(st, r))
    widths = _scaled([10, 26, 16, 18, 14, 15, 14, 18, 14, 15, 16, 18, 18], width)
    align = ["c", "l"] + ["r"] * 11
    extra = [("BACKGROUND", (0, 1), (-1, 1), HEAD_BG)] if total_first else []
    return grid_table(st, [head] + body, widths, align=align, extra_style=extra, zebra=not total_first)


def _grouped_table(st, level1: list[RateRow], level2: dict[str, list[RateRow]], width: float, w1: str, w2: str):
    head = ["序号", w1, w2] + RATE_HEAD
    body: list[list] = []
    extra: list[tuple] = []
    n = 0
    for parent in level1:
        children = sorted(level2.get(parent.id, []), key=lambda r: (-(r.townships.rate or 0), r.name))
        for j, r in enumerate(children):
            n += 1
            body.append([str(n), parent.name if j == 0 else "", r.name] + _rate_cells(st, r))
        row = len(body) + 1  # table row of the subtotal (row 0 is the header)
        body.append(["", "", "小计"] + _rate_cells(st, parent))
        extra.append(("BACKGROUND", (0, row), (-1, row), HEAD_BG))
    widths = _scaled([10, 20, 24, 18, 14, 15, 14, 18, 14, 15, 16, 18, 18], width)
    align = ["c", "l", "l"] + ["r"] * 10
    return grid_table(st, [head] + body, widths, align=align, extra_style=extra, zebra=False)


def _deadline_table(st, rows: list[RateRow], level1: list[RateRow], level2: dict[str, list[RateRow]],
                    as_of: dt.date, width: float, w1: str, w2: str):
    parent_of = {r.id: p.name for p in level1 for r in level2.get(p.id, [])}
    head = ["序号", w2, w1, "截止日期", "状态", "乡镇（街道）数", "已达标", "逾期未达标", "村（社区）数", "已建成",
            "逾期未建成"]
    body = []
    for i, r in enumerate(sorted(rows, key=lambda r: (r.deadline, -r.overdue_townships, r.name)), start=1):
        assert r.deadline is not None
        if r.deadline < as_of:
            open_units = r.overdue_townships + r.overdue_villages
            state = coloured(st, f"已逾期{(as_of - r.deadline).days}天", RED) if open_units else coloured(
                st, "按期完成", PASS_GREEN)
        else:
            state = f"剩余{(r.deadline - as_of).days}天"
        body.append([
            str(i), r.name, parent_of.get(r.id, ""), short_date(r.deadline), state,
            str(r.townships.denominator), str(r.townships.numerator),
            coloured(st, str(r.overdue_townships), RED, "r") if r.overdue_townships else "0",
            str(r.villages.denominator), str(r.villages.numerator),
            coloured(st, str(r.overdue_villages), RED, "r") if r.overdue_villages else "0",
        ])
    widths = _scaled([10, 26, 22, 20, 22, 18, 14, 18, 18, 14, 18], width)
    align = ["c", "l", "l", "c", "c"] + ["r"] * 6
    return grid_table(st, [head] + body, widths, align=align)
