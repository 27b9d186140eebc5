"""The acceptance certificate (验收合格证书): one landscape A4 page with a red double border, the
certified unit and standard, the per-dimension result, hashes, the shortened Ed25519 signature
and a QR code to the public verification page {base}/verify/{serial}.
"""

from __future__ import annotations

import io
import itertools

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, FrameBreak, PageTemplate, Paragraph, Spacer, Table, TableStyle

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
    its signature is printed shortened, and the QR code points at cert.verify_url."""
    st = styles(13)
    font = st.font
    good, bad = st.marks
    buffer = io.BytesIO()
    pagesize = landscape(A4)
    w, h = pagesize
    doc = BaseDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=26 * mm,
        rightMargin=26 * mm,
        topMargin=22 * mm,
        bottomMargin=18 * mm,
        title=f"验收合格证书 {cert.serial}",
        author=cert.issuer,
        subject=f"{cert.unit_path} {cert.standard_ref}",
        creator="Dabiao 达标",
    )
    # The body fills the top of the page; the QR code, hashes and issuer sit in a frame of their own
    # at the bottom, wherever the body ends, as on a printed certificate.
    foot_h = 46 * mm
    body_frame = Frame(doc.leftMargin, doc.bottomMargin + foot_h, doc.width, doc.height - foot_h, id="body")
    foot_frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, foot_h, id="foot")
    doc.addPageTemplates(
        [PageTemplate(id="cert", frames=[body_frame, foot_frame], onPage=_frame_page(cert.serial, font))]
    )

    body = ParagraphStyle("cert-body", fontName=font, fontSize=17, leading=17 * 1.9, wordWrap="CJK", textColor=INK,
                          firstLineIndent=30)
    addressee = ParagraphStyle("cert-to", parent=body, firstLineIndent=0)
    small = ParagraphStyle("cert-small", fontName=font, fontSize=8.5, leading=12, wordWrap="CJK", textColor=GREY,
                           alignment=TA_LEFT)
    sign_style = ParagraphStyle("cert-sign", fontName=font, fontSize=14, leading=24, alignment=TA_CENTER,
                                wordWrap="CJK", textColor=INK)
    dim_head = ParagraphStyle("cert-dh", fontName=font, fontSize=11.5, leading=14, alignment=TA_CENTER,
                              wordWrap="CJK", textColor=INK)
    dim_cell = ParagraphStyle("cert-dc", parent=dim_head, fontSize=12, leading=15)

    all_passed = bool(cert.dimensions) and all(d.passed for d in cert.dimensions)
    count_words = {3: "三", 4: "四", 6: "六"}.get(len(cert.dimensions), str(len(cert.dimensions)))
    verdict = f"{count_words}项均达标" if all_passed else "经综合评定"
    score = f"，综合得分 {cert.score:g} 分" if cert.score is not None else ""
    story = [
        Spacer(1, 4 * mm),
        HeavyLine("验收合格证书", font, 42, RED, char_space=16, stroke=1.2, space_after=2 * mm),
        Paragraph(f"基层应急能力建设“{esc(cert.label)}”达标", ParagraphStyle(
            "cert-sub", fontName=font, fontSize=15, leading=22, alignment=TA_CENTER, textColor=RED, wordWrap="CJK")),
        Spacer(1, 8 * mm),
        Paragraph(f"<u>{esc(cert.unit_path)}</u>：", addressee),
        Paragraph(
            f"经验收，你单位基层应急能力建设达到《{esc(cert.standard_title)}》要求，"
            f"{verdict}{score}，评定为达标单位。",
            body,
        ),
        Paragraph("特发此证。", body),
        Spacer(1, 5 * mm),
    ]
    if cert.dimensions:
        heads = [Paragraph(esc(d.name), dim_head) for d in cert.dimensions]
        marks = [
            Paragraph(f'<font color="{"#1E7B34" if d.passed else "#C8161D"}">{good if d.passed else bad}</font> '
                      f'{"达标" if d.passed else "未达标"}', dim_cell)
            for d in cert.dimensions
        ]
        width = doc.width
        table = Table([heads, marks], colWidths=[width / len(heads)] * len(heads), hAlign="CENTER")
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.5, RED),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#F8E6E6")),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 4),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ]))
        story.append(table)
    story.append(FrameBreak())

    qr_size = 34 * mm
    qr = QrCode(cert.verify_url, qr_size)
    qr_cell = [qr, Paragraph("扫码查验证书真伪", ParagraphStyle("qrcap", parent=small, alignment=TA_CENTER))]
    facts = [
        f"证书编号：{esc(cert.serial)}",
        f"受证单位编码：{esc(cert.unit_id)}",
        f"依据标准：{esc(cert.standard_ref)}",
        f"标准内容哈希：{esc(cert.standard_hash[:16])}…{esc(cert.standard_hash[-8:])}",
        f"结果快照哈希：{esc(cert.result_hash[:16])}…{esc(cert.result_hash[-8:])}",
        f"电子签名（Ed25519）：{esc(short_signature(token))}",
        f"查验网址：{esc(cert.verify_url)}",
    ]
    facts_cell = [Paragraph(line, small) for line in facts]
    sign_cell = [
        Paragraph(esc(cert.issuer), sign_style),
        Paragraph(f"发证日期：{esc(cn_date(cert.issued_on))}", sign_style),
        Paragraph(f"有效期至：{esc(cn_date(cert.valid_until))}", sign_style),
        Paragraph("（盖章）", ParagraphStyle("seal", parent=small, alignment=TA_CENTER)),
    ]
    bottom = Table(
        [[qr_cell, facts_cell, sign_cell]],
        colWidths=[qr_size + 6 * mm, doc.width * 0.46, doc.width - qr_size - 6 * mm - doc.width * 0.46],
    )
    bottom.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ]))
    story.append(bottom)
    doc.build(story)
    return buffer.getvalue()
