"""The shared look of every Dabiao PDF: an official bureau document (红头 masthead, 文号 line, red
rule, centred title), Chinese dates, "第 N 页 共 M 页" page numbers and tables that wrap CJK text.

Layout is reportlab platypus throughout; this module only supplies styles, flowables and the page
template so each document module is a list of flowables.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib import textsplit as rl_textsplit
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle
from reportlab.platypus import paragraph as rl_paragraph
from reportlab.platypus.flowables import HRFlowable

from pdfgen.fonts import cjk_font, pick_marks

# reportlab's CJK line breaker keeps its list of characters that may not start a line (kinsoku) in
# a module constant that lacks the full-width comma, closing quotes and book-title marks; without
# them a line can start with "》" or "，", which no printed Chinese document does.
# Both copies are extended: single-style paragraphs break in textsplit, mixed ones in paragraph.
_NO_LINE_START = "，。、；：！？》〉」』”’）】〕…·％"
for _module in (rl_textsplit, rl_paragraph):
    _module.ALL_CANNOT_START += "".join(ch for ch in _NO_LINE_START if ch not in _module.ALL_CANNOT_START)

RED = colors.HexColor("#C8161D")  # the red of a 红头文件 masthead
INK = colors.HexColor("#1A1A1A")
GREY = colors.HexColor("#666666")
RULE = colors.HexColor("#999999")
HEAD_BG = colors.HexColor("#F3E3E3")
ZEBRA = colors.HexColor("#F7F7F7")
PASS_GREEN = colors.HexColor("#1E7B34")
CHART_RED = colors.HexColor("#C8161D")
CHART_GREY = colors.HexColor("#8C8C8C")
CHART_BLUE = colors.HexColor("#2F5D8A")

DASH = "—"


# ---------------------------------------------------------------------------------------------
# Text


def cn_date(day: dt.date | None) -> str:
    """2024年11月20日 (the way dates are written in official documents); — when absent."""
    if day is None:
        return DASH
    return f"{day.year}年{day.month}月{day.day}日"


def short_date(day: dt.date | None) -> str:
    """2024.11.20, for narrow table cells; — when absent."""
    if day is None:
        return DASH
    return f"{day.year}.{day.month:02d}.{day.day:02d}"


def pct(value: float | None) -> str:
    """31.25% (two decimals, trailing zeros dropped: 100%, 12.5%); — when there is no rate."""
    if value is None:
        return DASH
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def pp(delta: float | None) -> str:
    """A change in percentage points: +12.5 / -3 / 0; — when there is nothing to compare."""
    if delta is None:
        return DASH
    text = f"{abs(delta):.2f}".rstrip("0").rstrip(".")
    if text == "0":
        return "0"
    return ("+" if delta > 0 else "-") + text


def esc(text: object) -> str:
    """Escape text for a platypus Paragraph (which parses a small XML markup)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def area_word(name: str) -> str:
    """全区 / 全县 / 全市 / 全省 / 全州, from the last character of an area's name."""
    for suffix, word in (("区", "全区"), ("县", "全县"), ("旗", "全旗"), ("州", "全州"), ("省", "全省"), ("市", "全市")):
        if name.endswith(suffix):
            return word
    return "全辖区"


def township_word(names: Sequence[str]) -> str:
    """街道 when every unit is a street, 乡镇 when none is, else 乡镇（街道）."""
    streets = sum(n.endswith("街道") for n in names)
    if names and streets == len(names):
        return "街道"
    if streets == 0 and names and all(n.endswith(("镇", "乡")) for n in names):
        return "乡镇"
    return "乡镇（街道）"


# ---------------------------------------------------------------------------------------------
# Styles


@dataclass(frozen=True)
class Styles:
    font: str
    marks: tuple[str, str]
    title: ParagraphStyle
    subtitle: ParagraphStyle
    body: ParagraphStyle
    body_center: ParagraphStyle
    heading: ParagraphStyle
    note: ParagraphStyle
    cell: ParagraphStyle
    cell_center: ParagraphStyle
    cell_right: ParagraphStyle
    head: ParagraphStyle
    signature: ParagraphStyle


def styles(base_size: float = 12) -> Styles:
    """Paragraph styles in the CJK font; every style wraps CJK text (wordWrap="CJK")."""
    font = cjk_font()

    def style(name: str, size: float, **kw: object) -> ParagraphStyle:
        kw.setdefault("leading", size * 1.45)
        kw.setdefault("textColor", INK)
        return ParagraphStyle(name, fontName=font, fontSize=size, wordWrap="CJK", **kw)

    cell = base_size - 3.5
    return Styles(
        font=font,
        marks=pick_marks(font),
        title=style("title", base_size + 10, alignment=TA_CENTER, leading=(base_size + 10) * 1.35, spaceAfter=4 * mm),
        subtitle=style("subtitle", base_size + 1, alignment=TA_CENTER, textColor=GREY, spaceAfter=4 * mm),
        body=style("body", base_size, alignment=TA_JUSTIFY, firstLineIndent=2 * base_size, leading=base_size * 1.75,
                   spaceAfter=2 * mm),
        body_center=style("body_center", base_size, alignment=TA_CENTER),
        heading=style("heading", base_size + 2, spaceBefore=4 * mm, spaceAfter=2.5 * mm, textColor=INK),
        note=style("note", base_size - 3, textColor=GREY, leading=(base_size - 3) * 1.5, spaceBefore=2 * mm),
        cell=style("cell", cell, alignment=TA_LEFT, leading=cell * 1.3),
        cell_center=style("cell_center", cell, alignment=TA_CENTER, leading=cell * 1.3),
        cell_right=style("cell_right", cell, alignment=TA_RIGHT, leading=cell * 1.3),
        head=style("head", cell, alignment=TA_CENTER, leading=cell * 1.3),
        signature=style("signature", base_size, alignment=TA_RIGHT, leading=base_size * 1.8),
    )


# ---------------------------------------------------------------------------------------------
# Flowables


class HeavyLine(Flowable):
    """One centred line drawn with fill + stroke (a heavier weight than the font has), shrunk to
    fit the frame: the masthead and certificate titles."""

    def __init__(self, text: str, font: str, size: float, color: colors.Color = RED, *,
                 char_space: float = 0.0, stroke: float = 0.6, space_after: float = 0.0):
        super().__init__()
        self.text, self.font, self.size, self.color = text, font, size, color
        self.char_space, self.stroke, self.space_after = char_space, stroke, space_after

    def _text_width(self, size: float, char_space: float) -> float:
        return stringWidth(self.text, self.font, size) + char_space * max(0, len(self.text) - 1)

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.avail = avail_width
        size, space = self.size, self.char_space
        while self._text_width(size, space) > avail_width and size > 6:
            size *= 0.95
            space *= 0.9
        self.fit_size, self.fit_space = size, space
        return avail_width, size * 1.25 + self.space_after

    def draw(self) -> None:
        c = self.canv
        width = self._text_width(self.fit_size, self.fit_space)
        text = c.beginText()
        text.setTextOrigin((self.avail - width) / 2, self.space_after + self.fit_size * 0.25)
        text.setFont(self.font, self.fit_size)
        text.setCharSpace(self.fit_space)
        text.setTextRenderMode(2)  # fill then stroke: a faux bold
        c.setFillColor(self.color)
        c.setStrokeColor(self.color)
        c.setLineWidth(self.stroke)
        text.textLine(self.text)
        c.drawText(text)


def masthead(st: Styles, issuer: str, doc_number: str = "") -> list[Flowable]:
    """The red masthead (issuer), the 文号 line and the red rule under them."""
    out: list[Flowable] = [HeavyLine(issuer, st.font, 30, RED, char_space=3, stroke=0.9, space_after=3 * mm)]
    if doc_number:
        out.append(Paragraph(esc(doc_number), st.body_center))
    out.append(HRFlowable(width="100%", thickness=1.6, color=RED, spaceBefore=2 * mm, spaceAfter=0.6 * mm))
    out.append(HRFlowable(width="100%", thickness=0.5, color=RED, spaceBefore=0, spaceAfter=6 * mm))
    return out


def signature_block(st: Styles, issuer: str, day: dt.date) -> list[Flowable]:
    """Issuer and date, right-aligned at the end of a document (where the seal goes)."""
    return [
        Paragraph("&nbsp;", st.body),
        Paragraph(esc(issuer) + "&nbsp;" * 4, st.signature),
        Paragraph(esc(cn_date(day)) + "&nbsp;" * 4, st.signature),
    ]


Cell: TypeAlias = "str | Flowable | None"


def coloured(st: Styles, text: str, color: colors.Color, align: str = "c") -> Paragraph:
    """A table cell whose text is drawn in `color` (TEXTCOLOR does not reach Paragraph cells)."""
    style = {"l": st.cell, "c": st.cell_center, "r": st.cell_right}[align]
    return Paragraph(f'<font color="#{color.hexval()[2:]}">{esc(text)}</font>', style)


def grid_table(
    st: Styles,
    rows: Sequence[Sequence[Cell]],
    col_widths: Sequence[float],
    *,
    header_rows: int = 1,
    align: Sequence[str] | None = None,
    extra_style: Sequence[tuple] = (),
    zebra: bool = True,
) -> Table:
    """A bordered table whose text cells are wrapped Paragraphs (CJK wrapping, never overflowing),
    with the header row(s) repeated on every page. `align` gives l/c/r per column for body rows."""
    align = align or ["l"] * len(col_widths)
    by_align = {"l": st.cell, "c": st.cell_center, "r": st.cell_right}
    data: list[list[Flowable | str]] = []
    for r, row in enumerate(rows):
        out: list[Flowable | str] = []
        for c, cell in enumerate(row):
            if cell is None:
                out.append("")
            elif isinstance(cell, str):
                style = st.head if r < header_rows else by_align[align[c]]
                out.append(Paragraph(esc(cell), style))
            else:
                out.append(cell)
        data.append(out)
    table = Table(data, colWidths=list(col_widths), repeatRows=header_rows)
    commands: list[tuple] = [
        ("GRID", (0, 0), (-1, -1), 0.4, RULE),
        ("BOX", (0, 0), (-1, -1), 0.9, INK),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.2),
        ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if header_rows:
        commands += [
            ("BACKGROUND", (0, 0), (-1, header_rows - 1), HEAD_BG),
            ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.9, INK),
        ]
    if zebra:
        for r in range(header_rows + 1, len(data), 2):
            commands.append(("BACKGROUND", (0, r), (-1, r), ZEBRA))
    commands += list(extra_style)
    table.setStyle(TableStyle(commands))
    return table


# ---------------------------------------------------------------------------------------------
# Page template


def _numbered_canvas(font: str, running_title: str, issuer: str, left: float, right: float):
    """A canvas that knows the page count when it writes the footers (two-pass page numbering);
    the running header spans the text column (`left` and `right` margins), as the tables do."""

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            width, height = self._pagesize
            page = self._pageNumber
            self.saveState()
            self.setFont(font, 9)
            self.setFillColor(GREY)
            self.drawCentredString(width / 2, 9 * mm, f"第 {page} 页 共 {total} 页")
            if page > 1 and running_title:
                self.setStrokeColor(RED)
                self.setLineWidth(0.6)
                self.line(left, height - 12 * mm, width - right, height - 12 * mm)
                self.drawString(left, height - 10.5 * mm, running_title)
                if issuer:
                    self.drawRightString(width - right, height - 10.5 * mm, issuer)
            self.restoreState()

    return NumberedCanvas


def build_pdf(
    story: list[Flowable],
    *,
    title: str,
    issuer: str = "",
    landscape_page: bool = False,
    running_title: str | None = None,
    margins: tuple[float, float, float, float] = (18 * mm, 18 * mm, 18 * mm, 18 * mm),
) -> bytes:
    """Lay out `story` on A4 pages with page numbers; returns the PDF bytes.

    margins = (left, right, top, bottom). Pages after the first carry a running header with the
    document title (or `running_title`) and the issuer, so a loose page is still identifiable.
    """
    font = cjk_font()
    buffer = io.BytesIO()
    left, right, top, bottom = margins
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4) if landscape_page else A4,
        leftMargin=left,
        rightMargin=right,
        topMargin=top,
        bottomMargin=bottom,
        title=title,
        author=issuer,
        subject=title,
        creator="Dabiao 达标",
    )
    doc.build(story, canvasmaker=_numbered_canvas(font, running_title if running_title is not None else title, issuer,
                                                       left, right))
    return buffer.getvalue()


def content_width(landscape_page: bool = False, margins: tuple[float, float] = (18 * mm, 18 * mm)) -> float:
    """Usable width of an A4 page (portrait or landscape) between the given left/right margins."""
    width = landscape(A4)[0] if landscape_page else A4[0]
    return width - margins[0] - margins[1]


# ---------------------------------------------------------------------------------------------
# Bar charts (reportlab.graphics) in the CJK font
def _title(drawing: Drawing, text: str, font: str, width: float, height: float) -> None:
    drawing.add(String(width / 2, height - 12, text, fontName=font, fontSize=10, fillColor=INK, textAnchor="middle"))


def rate_bars(
    font: str,
    labels: Sequence[str],
    series: Sequence[Sequence[float | None]],
    *,
    names: Sequence[str] = (),
    title: str = "",
    width: float = 360,
    height: float = 200,
    series_colors: Sequence[colors.Color] = (CHART_RED, CHART_BLUE, CHART_GREY),
    label_angle: float = 0,
    value_labels: bool = True,
) -> Drawing:
    """Vertical bars of percentages (0–100) per label, one colour per series, with a legend when
    there are several series. None (nothing to count) is drawn as 0 without a value label."""
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    bottom = 46 if label_angle else 28
    top = 22 if title else 10  # room for the value labels above a 100% bar
    if len(series) > 1:
        top += 16
    chart.x, chart.y = 34, bottom
    chart.width, chart.height = width - 44, height - bottom - top
    chart.data = [[0 if v is None else v for v in s] for s in series]
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = "%d%%"
    chart.valueAxis.gridStrokeColor = colors.HexColor("#DDDDDD")
    chart.valueAxis.visibleGrid = True
    chart.categoryAxis.categoryNames = list(labels)
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7 if len(labels) <= 16 else 6
    if label_angle:
        chart.categoryAxis.labels.angle = label_angle
        chart.categoryAxis.labels.boxAnchor = "ne"
        chart.categoryAxis.labels.dx = 4
        chart.categoryAxis.labels.dy = -2
    chart.barSpacing = 0.5
    chart.groupSpacing = 4 if len(labels) <= 20 else 2
    for i, c in enumerate(series_colors[: len(series)]):
        chart.bars[i].fillColor = c
        chart.bars[i].strokeColor = None
    if value_labels and len(labels) * len(series) <= 30:
        chart.barLabelFormat = lambda v: f"{v:.1f}".rstrip("0").rstrip(".") + "%"
        chart.barLabels.fontName = font
        chart.barLabels.fontSize = 6.5
        chart.barLabels.nudge = 6
    drawing.add(chart)
    if title:
        _title(drawing, title, font, width, height)
    if len(series) > 1 and names:
        # a one-line legend centred under the title: swatch, name, gap, ...
        sizes = [stringWidth(n, font, 8) for n in names]
        total = sum(sizes) + len(names) * 12 + (len(names) - 1) * 14
        x = (width - total) / 2
        y = height - (28 if title else 12)
        for color, name, size in zip(series_colors, names, sizes):
            drawing.add(Rect(x, y, 8, 8, fillColor=color, strokeColor=None))
            drawing.add(String(x + 11, y + 1, name, fontName=font, fontSize=8, fillColor=INK))
            x += size + 12 + 14
    return drawing


def score_bars(
    font: str,
    labels: Sequence[str],
    scores: Sequence[float | None],
    highlight: Sequence[bool],
    *,
    title: str = "",
    width: float = 360,
    height: float = 220,
) -> Drawing:
    """Horizontal bars of 0–100 scores, one per unit (first label on top); highlighted units
    (已达标) in red, the rest in grey."""
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    top = 18 if title else 4
    chart.x, chart.y = 62, 18
    chart.width, chart.height = width - 80, height - 18 - top
    # reportlab draws the first category at the bottom: reverse so the table order reads downwards
    values = [0 if s is None else s for s in scores][::-1]
    chart.data = [values]
    chart.categoryAxis.categoryNames = list(labels)[::-1]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7 if len(labels) <= 20 else 5.5
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.HexColor("#DDDDDD")
    chart.bars[0].strokeColor = None
    chart.bars[0].fillColor = CHART_GREY
    for i, hot in enumerate(list(highlight)[::-1]):
        chart.bars[(0, i)].fillColor = CHART_RED if hot else CHART_GREY
    chart.barSpacing = 1
    chart.groupSpacing = 2
    if len(labels) <= 30:
        chart.barLabelFormat = lambda v: f"{v:.1f}".rstrip("0").rstrip(".")
        chart.barLabels.fontName = font
        chart.barLabels.fontSize = 6
        chart.barLabels.nudge = 8
    drawing.add(chart)
    if title:
        _title(drawing, title, font, width, height)
    return drawing
