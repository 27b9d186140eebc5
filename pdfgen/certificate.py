"""The acceptance certificate (验收合格证书): one landscape A4 page with a red double border, the
certified unit and standard, the per-dimension result, hashes, the shortened Ed25519 signature
and a QR code to the public verification page {base}/verify/{serial}.
"""

from __future__ import annotations

import io
import itertools

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph

from pdfgen.common import INK, RED, GREY, HeavyLine, cn_date, esc, styles
from server.certificates import Certificate, short_signature

GOLD = colors.HexColor("#B8860B")
PAPER = colors.HexColor("#FFFDF7")


class QrCode(Flowable):
    """A square QR code of `value`, `size` points wide, error correction M (survives a crease), mask 0.

    The matrix comes from reportlab.graphics.barcode.qr; it is drawn as one filled path of
    horizontal runs rather than as one shape per module, which is ten times faster to render.
    """

    def __init__(self, value: str, size: float, border: int = 2):
        super().__init__()
        widget = QrCodeWidget(value, barLevel="M")
        # A fixed mask pattern (ISO/IEC 18004 allows any of the eight): choosing the "best" one
        # means building and scoring all eight matrices, a third of the certificate's render time.
        qr = widget.qr
        if qr.version is None:
            qr.version = qr.calculate_version()
        qr.makeImpl(False, 0)
        self.modules: list[list[bool]] = [[bool(m) for m in row] for row in widget.qr.modules]
        self.size, self.border = size, border
        self.width = self.height = size

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        n = len(self.modules)
        box = self.size / (n + 2 * self.border)
        path = self.canv.beginPath()
        for r, row in enumerate(self.modules):
            y = self.size - (r + self.border + 1) * box
            c = 0
            for dark, run in itertools.groupby(row):
                length = len(list(run))
                if dark:
                    path.rect((c + self.border) * box, y, length * box, box)
                c += length
        self.canv.saveState()
        self.canv.setFillColor(colors.black)
        self.canv.drawPath(path, stroke=0, fill=1)
        self.canv.restoreState()


def _frame_page(serial: str, font: str):
    def draw(canvas, doc) -> None:  # noqa: ANN001 (reportlab callback)
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
    """The certificate PDF. `token` is the compact JWS from server.certificates.sign(cert, key);
    its signature is printed shortened, and the QR code points at cert.verify_url.

    A certificate has a fixed layout, so it is drawn on the canvas at set positions; reportlab's
    Paragraph (wrapped with wrapOn, placed with drawOn) sets the lines that wrap. Skipping the
    document template, frames and tables makes it three times cheaper, which matters when a
    district accepts its streets in one sitting.
    """
    st = styles(13)
    font = st.font
    good, bad = st.marks
    buffer = io.BytesIO()
    w, h = landscape(A4)
    c = Canvas(buffer, pagesize=(w, h), pageCompression=1)
    c.setTitle(f"验收合格证书 {cert.serial}")
    c.setAuthor(cert.issuer)
    c.setSubject(f"{cert.unit_path} {cert.standard_ref}")
    c.setCreator("Dabiao 达标")
    _frame_page(cert.serial, font)(c, _Page((w, h)))
    left, right = 26 * mm, w - 26 * mm
    width = right - left

    def place(flowable: Flowable, top: float, x: float = left, avail: float = width) -> float:
        """Draw `flowable` with its top at `top`; returns the y below it."""
        _, fh = flowable.wrapOn(c, avail, h)
        flowable.drawOn(c, x, top - fh)
        return top - fh

    body = ParagraphStyle("cert-body", fontName=font, fontSize=17, leading=17 * 1.9, wordWrap="CJK", textColor=INK,
                          firstLineIndent=30)
    addressee = ParagraphStyle("cert-to", parent=body, firstLineIndent=0)
    all_passed = bool(cert.dimensions) and all(d.passed for d in cert.dimensions)
    count_words = {3: "三", 4: "四", 6: "六"}.get(len(cert.dimensions), str(len(cert.dimensions)))
    verdict = f"{count_words}项均达标" if all_passed else "经综合评定"
    score = f"，综合得分 {cert.score:g} 分" if cert.score is not None else ""

    y = h - 22 * mm - 4 * mm
    y = place(HeavyLine("验收合格证书", font, 42, RED, char_space=16, stroke=1.2, space_after=2 * mm), y)
    y = place(Paragraph(f"基层应急能力建设“{esc(cert.label)}”达标", ParagraphStyle(
        "cert-sub", fontName=font, fontSize=15, leading=22, alignment=TA_CENTER, textColor=RED, wordWrap="CJK")), y)
    y -= 8 * mm
    y = place(Paragraph(f"<u>{esc(cert.unit_path)}</u>：", addressee), y)
    y = place(Paragraph(f"经验收，你单位基层应急能力建设达到《{esc(cert.standard_title)}》要求，"
                        f"{verdict}{score}，评定为达标单位。", body), y)
    y = place(Paragraph("特发此证。", body), y)
    y -= 5 * mm
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
    for i, line in enumerate(reversed(facts)):
        c.drawString(x, bottom + i * 12, line)
    centre = (x + width * 0.46 + right) / 2
    c.setFillColor(INK)
    c.setFont(font, 14)
    for i, line in enumerate([cert.issuer, f"发证日期：{cn_date(cert.issued_on)}", f"有效期至：{cn_date(cert.valid_until)}"]):
        c.drawCentredString(centre, bottom + 12 + (3 - i) * 24 - 12, line)
    c.setFont(font, 8.5)
    c.setFillColor(GREY)
    c.drawCentredString(centre, bottom, "（盖章）")
    c.showPage()
    c.save()
    return buffer.getvalue()


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
    for i, d in enumerate(cert.dimensions):
        mid = left + (i + 0.5) * col
        size = 11.5
        while stringWidth(d.name, font, size) > col - 6 and size > 7:
            size -= 0.5
        c.setFillColor(INK)
        c.setFont(font, size)
        c.drawCentredString(mid, top - head_h + 7, d.name)
        mark, word = (good, "达标") if d.passed else (bad, "未达标")
        c.setFont(font, 12)
        text = f"{mark} {word}"
        x = mid - stringWidth(text, font, 12) / 2
        c.setFillColor(colors.HexColor("#1E7B34") if d.passed else colors.HexColor("#C8161D"))
        c.drawString(x, top - head_h - row_h + 7, mark)
        c.setFillColor(INK)
        c.drawString(x + stringWidth(f"{mark} ", font, 12), top - head_h - row_h + 7, word)
    c.restoreState()
