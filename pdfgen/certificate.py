"""The acceptance certificate (验收合格证书): one landscape A4 page with a red double border, the
certified unit and standard, the per-dimension result, hashes, the shortened Ed25519 signature
and a QR code to the public verification page {base}/verify/{serial}.
"""

from __future__ import annotations

import io
import re

import zxingcpp
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.textsplit import wordSplit
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable

from checklists.certificate import Certificate, pdf_keywords, short_signature
from pdfgen.common import GREY, INK, PASS_GREEN, RED, HeavyLine, cn_date
from pdfgen.fonts import cjk_font, pick_marks

GOLD = colors.HexColor("#B8860B")
PAPER = colors.HexColor("#FFFDF7")


class QrCode(Flowable):
    """A square QR code of `value`, `size` points wide, error correction M (survives a crease).

    The symbol is encoded by zxing-cpp, whose writer is Zint (C): version and mask are chosen as
    ISO/IEC 18004 prescribes, in a tenth of the time of reportlab's pure-Python encoder. Reportlab
    draws it as one filled path, one rectangle per horizontal run of dark modules, in module units
    under a scale transform.
    """

    def __init__(self, value: str, size: float, border: int = 2):
        super().__init__()
        symbol = zxingcpp.create_barcode(value, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
        image = symbol.to_image(scale=1, add_quiet_zones=False)  # one byte per module, 0 = dark
        self.count = n = image.shape[0]
        pixels = memoryview(image).tobytes()  # type: ignore[arg-type]  # zxingcpp.Image has the buffer protocol
        # Rows joined by a light byte, so that no run of dark bytes crosses from one row to the next;
        # each run is (row, first column, length).
        joined = b"\xff".join(pixels[r * n:(r + 1) * n] for r in range(n))
        self.runs = [(*divmod(start, n + 1), end - start)
                     for start, end in (m.span() for m in _DARK_RUN.finditer(joined))]
        self.size, self.border = size, border
        self.width = self.height = size

    def dark(self, row: int, col: int) -> bool:
        """Whether module (row, col) of the symbol is dark."""
        return any(r == row and start <= col < start + length for r, start, length in self.runs)

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        box = self.size / (self.count + 2 * self.border)
        c = self.canv
        c.saveState()
        # Module (row, col) of the symbol is the unit square at (col, row), rows counting down.
        c.translate(self.border * box, self.size - self.border * box)
        c.scale(box, -box)
        path = c.beginPath()
        for row, start, length in self.runs:
            path.rect(start, row, length, 1)
        c.setFillColor(colors.black)
        c.drawPath(path, stroke=0, fill=1)
        c.restoreState()


_DARK_RUN = re.compile(rb"\x00+")


def _frame_page(serial: str, font: str):
    def draw(canvas, doc) -> None:
        w, h = doc.pagesize
        canvas.saveState()
        canvas.setFillColor(PAPER)
        canvas.rect(0, 0, w, h, stroke=0, fill=1)
        canvas.setStrokeColor(RED)
        canvas.setLineWidth(4)
        canvas.rect(9 * mm, 9 * mm, w - 18 * mm, h - 18 * mm)
        canvas.setLineWidth(0.8)
        canvas.rect(12 * mm, 12 * mm, w - 24 * mm, h - 24 * mm)
        canvas.setStrokeColor(GOLD)
        canvas.setLineWidth(0.5)
        canvas.rect(13.5 * mm, 13.5 * mm, w - 27 * mm, h - 27 * mm)
        # corner ornaments
        canvas.setFillColor(RED)
        for x, y in ((12 * mm, 12 * mm), (w - 12 * mm, 12 * mm), (12 * mm, h - 12 * mm), (w - 12 * mm, h - 12 * mm)):
            canvas.rect(x - 2.2 * mm, y - 2.2 * mm, 4.4 * mm, 4.4 * mm, stroke=0, fill=1)
        canvas.setFont(font, 10)
        canvas.setFillColor(INK)
        canvas.drawRightString(w - 22 * mm, h - 22 * mm, f"证书编号：{serial}")
        canvas.restoreState()

    return draw


def render_certificate(cert: Certificate, token: str) -> bytes:
    """The certificate PDF. `token` is the compact JWS from server.services.certificates.sign(cert, key);
    its signature is printed shortened, and the QR code points at cert.verify_url.

    A certificate has a fixed layout, so it is drawn on the canvas at set positions: lines that
    cannot wrap are shrunk to fit, and the one sentence that wraps is broken by reportlab's CJK
    line breaker. Without the document template, frames, tables and Paragraph markup parsing it
    renders at 0.7 of a bare page with the same text (bench/bench_reports.py), which matters when a
    district accepts its streets in one sitting.
    """
    font = cjk_font()
    good, bad = pick_marks(font)
    buffer = io.BytesIO()
    w, h = landscape(A4)
    c = Canvas(buffer, pagesize=(w, h), pageCompression=1)
    c.setTitle(f"验收合格证书 {cert.serial}")
    c.setAuthor(cert.issuer)
    c.setSubject(f"{cert.unit_path} {cert.standard_ref}")
    c.setCreator("Dabiao 达标")
    c.setKeywords(pdf_keywords(cert.serial, token))  # names the certificate: a file can be checked against its original
    _frame_page(cert.serial, font)(c, _Page((w, h)))
    left, right = 26 * mm, w - 26 * mm
    width = right - left

    leading, indent = 17 * 1.9, 2 * 17  # the body: 17 pt, first lines indented by two characters
    all_passed = bool(cert.dimensions) and all(d.passed for d in cert.dimensions)
    count_words = {3: "三", 4: "四", 6: "六"}.get(len(cert.dimensions), str(len(cert.dimensions)))
    verdict = f"{count_words}项均达标" if all_passed else "经综合评定"
    score = f"，综合得分 {cert.score:g} 分" if cert.score is not None else ""

    y = h - 26 * mm
    title = HeavyLine("验收合格证书", font, 42, RED, char_space=16, stroke=1.2, space_after=2 * mm)
    _, title_height = title.wrapOn(c, width, h)
    title.drawOn(c, left, y - title_height)
    y -= title_height
    c.setFillColor(RED)
    _line(c, f"基层应急能力建设“{cert.label}”达标", font, 15, y, w / 2, width, centred=True)
    y -= 22 + 8 * mm
    # The addressee with its name underlined, the sentence that wraps, and the closing words.
    c.setFillColor(INK)
    size = _line(c, f"{cert.unit_path}：", font, 17, y, left, width)
    underline = _baseline(y, size) - 0.15 * size
    c.setStrokeColor(INK)
    c.setLineWidth(size / 20)
    c.line(left, underline, left + stringWidth(cert.unit_path, font, size), underline)
    y -= leading
    y = _wrapped(c, f"经验收，你单位基层应急能力建设达到《{cert.standard_title}》要求，{verdict}{score}，评定为达标单位。",
                 font, 17, leading, y, left, width, indent)
    _line(c, "特发此证。", font, 17, y, left + indent, width)
    y -= leading + 5 * mm
    if cert.dimensions:
        _dimension_table(c, cert, font, left, y, width, good, bad)

    # The foot: QR code, the facts that make the certificate checkable, the issuer.
    bottom = 18 * mm
    qr_size = 34 * mm
    QrCode(cert.verify_url, qr_size).drawOn(c, left, bottom + 5 * mm)
    c.setFont(font, 8.5)
    c.setFillColor(GREY)
    c.drawCentredString(left + qr_size / 2, bottom, "扫码查验证书真伪")
    facts = [
        f"证书编号：{cert.serial}",
        f"受证单位编码：{cert.unit_id}",
        f"依据标准：{cert.standard_ref}",
        f"标准内容哈希：{cert.standard_hash[:16]}…{cert.standard_hash[-8:]}",
        f"结果快照哈希：{cert.result_hash[:16]}…{cert.result_hash[-8:]}",
        f"电子签名（Ed25519）：{short_signature(token)}",
        f"查验网址：{cert.verify_url}",
    ]
    x = left + qr_size + 6 * mm
    text = c.beginText(x, bottom + 12 * (len(facts) - 1))
    text.setFont(font, 8.5, leading=12)
    text.setFillColor(GREY)
    text.textLines(facts)
    c.drawText(text)
    centre = (x + width * 0.46 + right) / 2
    text = c.beginText()
    text.setFont(font, 14)
    text.setFillColor(INK)
    for i, line in enumerate([cert.issuer, f"发证日期：{cn_date(cert.issued_on)}", f"有效期至：{cn_date(cert.valid_until)}"]):
        text.setTextOrigin(centre - stringWidth(line, font, 14) / 2, bottom + 12 + (3 - i) * 24 - 12)
        text.textOut(line)
    c.drawText(text)
    c.setFont(font, 8.5)
    c.setFillColor(GREY)
    c.drawCentredString(centre, bottom, "（盖章）")
    c.showPage()
    c.save()
    return buffer.getvalue()


def _baseline(top: float, size: float) -> float:
    """The baseline of a line of `size` points whose top is at `top` (as a Paragraph places it)."""
    return top - size


def _fit(text: str, font: str, size: float, width: float) -> float:
    """`size`, or smaller so that `text` fits `width` (a long village path still fits one line)."""
    while stringWidth(text, font, size) > width and size > 8:
        size -= 0.5
    return size


def _wrapped(c: Canvas, text: str, font: str, size: float, leading: float, top: float, x: float, width: float,
             indent: float) -> float:
    """Text that wraps, its first line indented: broken into lines by reportlab's CJK line
    breaker (textsplit.wordSplit, what Paragraph(wordWrap="CJK") calls, with the closing marks
    that may not start a line), drawn as one text object. Returns the y below its last line."""
    lines = wordSplit(text, [width - indent, width], font, size)
    block = c.beginText()
    block.setFont(font, size)
    for i, (_, line) in enumerate(lines):
        block.setTextOrigin(x + (indent if i == 0 else 0), _baseline(top - i * leading, size))
        block.textOut(line)
    c.drawText(block)
    return top - leading * len(lines)


def _line(c: Canvas, text: str, font: str, size: float, top: float, x: float, width: float,
          centred: bool = False) -> float:
    """One line of text that needs no wrapping, its top at `top` (centred on `x`, or starting at
    `x`), at `size` or smaller so that it fits `width`. Returns the size used."""
    size = _fit(text, font, size, width)
    c.setFont(font, size)
    if centred:
        c.drawCentredString(x, _baseline(top, size), text)
    else:
        c.drawString(x, _baseline(top, size), text)
    return size


class _Page:
    """What _frame_page's callback reads of a document: its page size."""

    def __init__(self, pagesize: tuple[float, float]):
        self.pagesize = pagesize


def _dimension_table(c: Canvas, cert: Certificate, font: str, left: float, top: float, width: float,
                     good: str, bad: str) -> None:
    """One column per dimension: its name over 达标 / 未达标, in a red grid."""
    n = len(cert.dimensions)
    col = width / n
    head_h, row_h = 22.0, 22.0
    c.saveState()
    c.setFillColor(colors.HexColor("#F8E6E6"))
    c.rect(left, top - head_h, width, head_h, stroke=0, fill=1)
    c.setStrokeColor(RED)
    c.setLineWidth(0.5)
    c.rect(left, top - head_h - row_h, width, head_h + row_h, stroke=1, fill=0)
    c.line(left, top - head_h, left + width, top - head_h)
    for i in range(1, n):
        c.line(left + i * col, top, left + i * col, top - head_h - row_h)
    text = c.beginText()
    for i, d in enumerate(cert.dimensions):
        mid = left + (i + 0.5) * col
        size = _fit(d.name, font, 11.5, col - 6)
        text.setFont(font, size)
        text.setFillColor(INK)
        text.setTextOrigin(mid - stringWidth(d.name, font, size) / 2, top - head_h + 7)
        text.textOut(d.name)
        # "✓ 达标" / "✗ 未达标": the mark in green or red, the word in ink.
        mark, word = (good, "达标") if d.passed else (bad, "未达标")
        text.setFont(font, 12)
        text.setTextOrigin(mid - stringWidth(f"{mark} {word}", font, 12) / 2, top - head_h - row_h + 7)
        text.setFillColor(PASS_GREEN if d.passed else RED)
        text.textOut(f"{mark} ")
        text.setFillColor(INK)
        text.textOut(word)
    c.drawText(text)
    c.restoreState()
