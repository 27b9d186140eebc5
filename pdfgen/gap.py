"""The gap report (整改清单) of one unit: every item that failed or was not answered, grouped by
dimension, mandatory (gate) items first, each with why it failed, the rule and the quoted source
clause it comes from, so a street knows exactly what to fix and on what authority.
"""

from __future__ import annotations

import datetime as dt

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph

from checklists.model import Item, ItemResult, Result, Standard
from pdfgen.common import (
    PASS_GREEN,
    RED,
    build_pdf,
    cn_date,
    coloured,
    content_width,
    esc,
    grid_table,
    masthead,
    signature_block,
    styles,
)

# Titles of the source documents under checklists/sources/ (DOMAIN.md §0), for the 依据 column.
SOURCE_TITLES = {
    "000_d9589f8703d980d6.txt": "《开福区“十四五”应急体系建设规划》",
    "001_2813299a43089db9.txt": "《湖南省“十四五”应急体系建设规划》（湘政办发〔2021〕69号）",
    "002_de7c2876cbf32d8f.txt": "《株洲市“十四五”应急体系建设规划》",
    "003_be6b4edaa92b7a9f.txt": "《关于加强应急管理体系和能力建设的实施方案》（平办发〔2023〕12号）",
    "004_76f70e25c4ad7398.txt": "《昌邑区应急管理“十四五”发展规划（征求意见稿）》",
}
NUMERALS = "一二三四五六七八九十"
STATUS_WORD = {"fail": "不符合", "missing": "未填报"}


def source_title(source: str) -> str:
    """The document title of a source file name (the file name itself when unknown)."""
    return SOURCE_TITLES.get(source, source)


def gaps(standard: Standard, result: Result) -> dict[str, list[tuple[Item, ItemResult]]]:
    """Failing or missing items by dimension code (standard order), mandatory items first."""
    items = {i.id: i for i in standard.items}
    out: dict[str, list[tuple[Item, ItemResult]]] = {d.code: [] for d in standard.dimensions}
    for r in result.items:
        if r.status in ("fail", "missing") and r.id in items:
            out.setdefault(r.dimension, []).append((items[r.id], r))
    order = {i.id: n for n, i in enumerate(standard.items)}
    for rows in out.values():
        rows.sort(key=lambda pair: (not pair[1].mandatory, order[pair[0].id]))
    return out


def render_gap(
    standard: Standard,
    result: Result,
    unit_name: str,
    *,
    unit_path: str = "",
    issuer: str = "",
    doc_number: str = "",
    date: dt.date | None = None,
) -> bytes:
    """The 整改清单 PDF for `unit_name` from its scoring `result` against `standard` (the version the
    result was scored with). With `issuer`, the document carries that bureau's masthead."""
    if (result.standard, result.version) != (standard.id, standard.version):
        raise ValueError(f"result is for {result.standard}@{result.version}, not {standard.ref}")
    st = styles(12)
    good, bad = st.marks
    date = date or result.as_of
    title = f"{unit_name}基层应急能力“{standard.label}”达标整改清单"
    by_dim = gaps(standard, result)
    dims = {d.code: d for d in result.dimensions}
    n_items = sum(len(v) for v in by_dim.values())
    n_mandatory = sum(1 for v in by_dim.values() for _, r in v if r.mandatory)
    failing_dims = [d.name for d in result.dimensions if not d.passed]

    story: list[Flowable] = masthead(st, issuer, doc_number) if issuer else []
    story.append(Paragraph(esc(title), st.title))
    story.append(Paragraph(f"{esc(unit_path or unit_name)}　依据标准：{esc(standard.ref)}", st.subtitle))
    verdict = "已达到" if result.passed else "尚未达到"
    summary = (
        f"依据《{standard.title.strip('《》')}》，按{cn_date(result.as_of)}的评估结果，"
        f"{unit_name}{verdict}“{standard.label}”标准，综合得分{result.score:g}分。"
    )
    if failing_dims:
        summary += f"未达标的方面：{'、'.join(failing_dims)}。"
    summary += (f"共有{n_items}项需要整改，其中必备项{n_mandatory}项（必备项全部符合后该方面方可达标）。"
                if n_items else "各项均已符合要求，无需整改。")
    story.append(Paragraph(esc(summary), st.body))

    # overview: one row per dimension
    width = content_width()
    head = ["序号", "方面", "结果", "得分", "未通过必备项", "其他待改进项"]
    rows: list[list] = [head]
    for n, d in enumerate(result.dimensions, start=1):
        pairs = by_dim.get(d.code, [])
        rows.append([
            str(n), d.name,
            coloured(st, f"{good} 达标", PASS_GREEN) if d.passed else coloured(st, f"{bad} 未达标", RED),
            f"{d.score:g}",
            str(sum(1 for _, r in pairs if r.mandatory)),
            str(sum(1 for _, r in pairs if not r.mandatory)),
        ])
    story.append(grid_table(st, rows, [w * mm for w in (12, 52, 30, 22, 30, 28)], align=["c", "l", "c", "r", "r", "r"]))

    section = 0
    for dim in standard.dimensions:
        pairs = by_dim.get(dim.code, [])
        if not pairs:
            continue
        found = dims.get(dim.code)
        state = "未达标" if found is not None and not found.passed else "已达标，仍有改进项"
        story.append(Paragraph(f"{NUMERALS[section % 10]}、{esc(dim.name)}（{state}）", st.heading))
        section += 1
        story.append(_gap_table(st, pairs, width))
    story.append(Paragraph(
        "说明：必备项为该方面达标的必要条件；“要求”为系统按标准条款判定的规则；“依据”摘录标准条目所引用的文件原文及其行号。"
        "整改完成后请在移动端补充填报并上传证明材料，重新提交验收。",
        st.note,
    ))
    if issuer:
        story += signature_block(st, issuer, date)
    return build_pdf(story, title=title, issuer=issuer or unit_name)


def _gap_table(st, pairs: list[tuple[Item, ItemResult]], width: float):
    head = ["序号", "条目", "检查内容及要求", "存在问题", "依据（文件原文）"]
    rows: list[list] = [head]
    for n, (item, r) in enumerate(pairs, start=1):
        kind = "必备项" if r.mandatory else "评分项"
        item_cell = Paragraph(
            f"{esc(item.id)}<br/><font color='#{(RED if r.mandatory else PASS_GREEN).hexval()[2:]}'>{kind}</font>"
            f"<br/>{STATUS_WORD.get(r.status, r.status)}",
            st.cell_center,
        )
        ask = f"{esc(item.question)}<br/><font color='#555555'>要求：{esc(r.rule)}</font>"
        if item.basis == "D":
            ask += "<br/><font color='#888888'>（阈值为本地设定）</font>"
        clauses = []
        for c in item.provenance:
            where = f"第{c.line}行" if c.line else ""
            clauses.append(f"{esc(source_title(c.source))}{where}：“{esc(c.quote)}”")
        rows.append([
            str(n), item_cell, Paragraph(ask, st.cell), r.reason, Paragraph("<br/>".join(clauses), st.cell)
        ])
    widths = [w * mm for w in (9, 20, 48, 44, 53)]
    scale = width / sum(widths)
    return grid_table(st, rows, [w * scale for w in widths], align=["c", "c", "l", "l", "l"])
