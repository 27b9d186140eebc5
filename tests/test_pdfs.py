"""The PDFs say the right names and numbers: text is extracted with pdftotext (pypdf as fallback)
and compared with whitespace removed, since table cells wrap."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import shutil
import subprocess

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from test_certificates import make_certificate
from test_rates import AS_OF, KAIFU_OTHERS, KAIFU_PASSED, kaifu_units, province_units, township

from checklists.certificate import short_signature
from checklists.model import (
    Answer,
    AnswerSheet,
    AtLeast,
    Clause,
    Dimension,
    Item,
    Standard,
    Yes,
)
from checklists.rates import rates, roll_up
from checklists.scoring import score
from pdfgen import fonts
from pdfgen.certificate import QrCode, render_certificate
from pdfgen.common import pct
from pdfgen.comparison import render_comparison
from pdfgen.gap import render_gap, source_title
from pdfgen.league import render_league
from server.services.certificates import generate_keypair, sign

KAIFU_BUREAU = "长沙市开福区应急管理局"


def pdf_text(pdf: bytes) -> str:
    """All text of the PDF, whitespace removed."""
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True,
                              check=True).stdout.decode("utf-8")
    else:
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return re.sub(r"\s+", "", text)


def pages(pdf: bytes) -> list[str]:
    return [re.sub(r"\s+", "", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_no_tofu(pdf: bytes) -> None:
    """Every character the PDF shows has a glyph in the CJK font (no empty boxes)."""
    missing = {ch for ch in pdf_text(pdf) if not fonts.has_glyphs(fonts.cjk_font(), ch)}
    assert not missing, f"characters without a glyph: {''.join(sorted(missing))}"


# ---------------------------------------------------------------------------------------------
# Fonts


def test_font_missing_names_the_setting_and_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("DABIAO_CJK_FONT", str(tmp_path / "nope.ttc"))
    monkeypatch.setattr(fonts, "CANDIDATES", [(tmp_path / "also-missing.ttc", 0)])
    with pytest.raises(fonts.FontMissing) as err:
        fonts.cjk_font()
    assert "DABIAO_CJK_FONT" in str(err.value)
    assert "fonts-wqy-zenhei" in str(err.value)


def test_setting_picks_a_ttc_face(monkeypatch):
    default, _ = fonts.CANDIDATES[0]
    if not default.is_file():
        pytest.skip("fonts-wqy-zenhei is not installed")
    monkeypatch.setenv("DABIAO_CJK_FONT", f"{default}#1")
    monkeypatch.setattr(fonts, "CANDIDATES", [])
    assert fonts.font_file() == (default, 1)
    name = fonts.cjk_font()
    assert fonts.has_glyphs(name, "望麓园街道达标率")


def test_pass_fail_marks_are_drawable():
    name = fonts.cjk_font()
    assert fonts.has_glyphs(name, "".join(fonts.pick_marks(name)))


# ---------------------------------------------------------------------------------------------
# Certificate


def test_certificate_is_one_page_with_serial_unit_and_signature():
    private, _ = generate_keypair()
    cert = make_certificate()
    token = sign(cert, private)
    pdf = render_certificate(cert, token)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = pdf_text(pdf)
    for needle in ("验收合格证书", "KF-2024-0001", "望麓园街道", "湖南省长沙市开福区望麓园街道", KAIFU_BUREAU,
                   "2024年11月20日", "2027年11月19日", "湖南省乡镇（街道）应急能力建设“六有”标准",
                   "hunan.township.liuyou@2021", short_signature(token), "https://dabiao.example.cn/verify/KF-2024-0001",
                   "有应急培训演练", cert.result_hash[:16]):
        assert squash(needle) in text, needle
    assert_no_tofu(pdf)


def test_certificate_wraps_a_long_sentence_and_fits_a_long_unit_path():
    """A village certificate with a long standard title and unit path, and a dimension not passed:
    every line stays on the page, no line starts with a closing mark, and the result row says
    未达标 for the failed dimension."""
    from checklists.certificate import CertificateDimension as Dim

    long_path = "湖南省湘西土家族苗族自治州花垣县双龙镇十八洞村村民委员会应急服务站（十八洞村与竹子村联合建设）"
    title = "岳阳市平江县村（社区）应急能力建设“四有”标准（有场地设施、有物资装备、有人员队伍、有制度机制）"
    dims = [Dim(code="CD", name="有场地设施", passed=True), Dim(code="WZ", name="有物资装备", passed=False),
            Dim(code="RY", name="有人员队伍", passed=True), Dim(code="ZD", name="有制度机制", passed=True)]
    cert = make_certificate(serial="PJ-2023-0042", unit_path=long_path, standard_title=title, dimensions=dims,
                            score=None, label="四有")
    pdf = render_certificate(cert, sign(cert, generate_keypair()[0]))
    text = pdf_text(pdf)
    for needle in (long_path, title, "经综合评定", "有物资装备", "未达标"):
        assert squash(needle) in text, needle
    assert "综合得分" not in text  # no score, no score sentence
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    lines = [line.strip() for line in page.extract_text().splitlines() if line.strip()]
    assert not [line for line in lines if line[0] in "，。、；：！？》」”）"], lines
    # Every word inside the inner border (12 mm from the page edge), as poppler lays the page out.
    boxes = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    right_edges = [float(x) for x in re.findall(r'xMax="([0-9.]+)"', boxes)]
    inner = float(page.mediabox.width) - 12 * 72 / 25.4
    assert right_edges and max(right_edges) < inner, (max(right_edges), inner)


@pytest.mark.parametrize("serial", ["KF-2024-0001", "PJ-2023-0042"])
def test_certificate_qr_code_scans_to_its_verify_page(serial, tmp_path):
    """The printed QR code, read back from the page as a phone camera would see it (rendered at
    150 dpi, then decoded by zxing-cpp), is the certificate's own verify URL."""
    from PIL import Image

    cert = make_certificate(serial=serial)
    pdf = render_certificate(cert, sign(cert, generate_keypair()[0]))
    (tmp_path / "cert.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(tmp_path / "cert.pdf"), str(tmp_path / "page")],
                   check=True, timeout=60)
    codes = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [(c.format.name, c.text) for c in codes] == [("QRCode", f"https://dabiao.example.cn/verify/{serial}")]


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_qr_code_runs_cover_exactly_the_dark_modules(value):
    """The rectangles drawn for a QR code are its rows' dark runs, found in one byte string of the
    joined rows: together they cover exactly the symbol's dark modules, and no run continues from
    the end of one row into the next (the top rows of every symbol end and begin dark)."""
    qr = QrCode(value, 96)
    image = zxingcpp.create_barcode(value, zxingcpp.BarcodeFormat.QRCode, ec_level="M").to_image(
        scale=1, add_quiet_zones=False)
    n = image.shape[0]
    pixels = memoryview(image).tobytes()
    assert qr.count == n
    assert all(0 <= start and start + length <= n and 0 <= row < n for row, start, length in qr.runs)
    assert sum(length for _, _, length in qr.runs) == pixels.count(0)
    assert all(qr.dark(r, c) == (pixels[r * n + c] == 0) for r in range(n) for c in range(n))


def test_certificate_embeds_a_font_subset():
    pdf = render_certificate(make_certificate(), sign(make_certificate(), generate_keypair()[0]))
    assert len(pdf) < 200_000  # the whole wqy-zenhei font is 17 MB
    fonts_used = {
        str(f["/BaseFont"]) for f in PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values()
        if "/BaseFont" in f.get_object()
    }
    assert any("+" in f for f in fonts_used), fonts_used  # subset names look like ABCDEF+Font


# ---------------------------------------------------------------------------------------------
# District 通报


def test_kaifu_league_shows_16_streets_and_31_25_percent():
    report = rates(kaifu_units(deadline=dt.date(2025, 12, 31)), AS_OF, "430105")
    pdf = render_league(report, issuer=KAIFU_BUREAU, doc_number="开应急通〔2024〕12号")
    text = pdf_text(pdf)
    assert "开福区基层应急能力“六有”达标情况通报" in text
    assert "全区16个街道，已达标5个，达标率31.25%" in text
    for name in KAIFU_PASSED + KAIFU_OTHERS:
        assert name in text, name
    for n in range(1, 6):
        assert f"KF-2020-{n:04d}" in text
    assert "开应急通〔2024〕12号" in text
    assert "第1页共" in text
    assert_no_tofu(pdf)


def test_league_sorts_accepted_first_then_by_score():
    report = rates(kaifu_units(), AS_OF, "430105")
    text = pdf_text(render_league(report, issuer=KAIFU_BUREAU))
    table = text[text.index("附表"):]
    positions = [table.index(n) for n in KAIFU_PASSED + KAIFU_OTHERS]
    assert max(positions[:5]) < min(positions[5:])  # the five accepted streets come first
    # the others by score: 青竹湖 (87.5) before 月湖 (62.5)
    assert table.index("青竹湖街道") < table.index("月湖街道")


def test_league_reports_overdue_streets_after_the_deadline():
    report = rates(kaifu_units(deadline=dt.date(2023, 12, 31)), AS_OF, "430105")
    text = pdf_text(render_league(report, issuer=KAIFU_BUREAU))
    assert "仍有11个街道逾期未达标" in text
    assert f"逾期{(AS_OF - dt.date(2023, 12, 31)).days}天" in text


def test_league_shows_change_since_the_previous_report():
    before = [u for u in kaifu_units() if u.name != "浏阳河街道"] + [
        township("430105005", "浏阳河街道", kaifu_units()[0].path, score=70.0)]
    report = rates(kaifu_units(), AS_OF, "430105", previous=before, previous_as_of=dt.date(2023, 12, 31))
    text = pdf_text(render_league(report, issuer=KAIFU_BUREAU))
    assert "与上期（2023年12月31日）相比，新增达标1个，达标率提高6.25个百分点（上期25%）" in text


def test_league_of_120_townships_repeats_the_header_on_every_page():
    units = province_units(cities=1, counties=1, townships=120, villages=2)
    report = rates(units, AS_OF, "430626")
    pdf = render_league(report, issuer="平江县应急管理局", doc_number="平应急通〔2024〕5号", village_label="四有")
    page_texts = pages(pdf)
    table_pages = [p for p in page_texts[page_texts.index(next(p for p in page_texts if "附表" in p)):]]
    assert len(table_pages) >= 3
    assert all("最近验收日期" in p for p in table_pages)
    text = pdf_text(pdf)
    assert "全县120个乡镇，已达标60个，达标率50%" in text
    assert "平江县第120镇" in text
    assert f"第{len(page_texts)}页共{len(page_texts)}页" in text


# ---------------------------------------------------------------------------------------------
# Provincial comparison


def test_hunan_sized_comparison_has_every_city_and_county_and_the_pingjiang_deadline():
    now = province_units(cities=14, counties=9, townships=3, villages=2)
    before = province_units(cities=14, counties=9, townships=3, villages=2, shift=1)
    pdf = render_comparison(roll_up(now, AS_OF), previous=roll_up(before, dt.date(2023, 12, 31)),
                            issuer="湖南省应急管理厅", doc_number="湘应急通〔2024〕8号")
    text = pdf_text(pdf)
    report = rates(now, AS_OF)
    total = report.total
    assert f"共有乡镇（街道）{total.townships.denominator}个" in text
    assert f"达标率{pct(total.townships.rate)}" in text
    for city in report.rows:
        assert city.name in text
    counties = {r.name for c in report.rows for r in rates(now, AS_OF, c.id).rows}
    assert len(counties) == 126
    for county in counties:
        assert county in text, county
    deadline_table = text[text.index("附表3"):]
    assert "平江县" in deadline_table and "2023.12.31" in deadline_table
    assert f"已逾期{(AS_OF - dt.date(2023, 12, 31)).days}天" in deadline_table
    assert "与上期（2023年12月31日）相比" in text
    assert_no_tofu(pdf)


def test_city_comparison_lists_counties_then_townships():
    units = province_units(cities=2, counties=3, townships=4, villages=1)
    pdf = render_comparison(roll_up(units, AS_OF), "c0", issuer="岳阳市应急管理局")
    text = pdf_text(pdf)
    assert "各县市区达标率、建成率" in text
    assert "平江县第4镇" in text


# ---------------------------------------------------------------------------------------------
# Gap report

SOURCE_001 = "001_2813299a43089db9.txt"


def clause(quote: str, line: int) -> list[Clause]:
    return [Clause(source=SOURCE_001, quote=quote, line=line)]


def gap_standard() -> Standard:
    items = [
        Item(id="TS-BZ-01", dimension="BZ", question="是否设立党政主要领导负责的应急管理议事协调机构？",
             answer="yes_no", basis="S", mandatory=True, rule=Yes(),
             provenance=clause("设立党政主要领导负责的乡镇（街道）应急管理议事协调机构", 296)),
        Item(id="TS-DW-01", dimension="DW", question="综合应急救援队伍人数", answer="count", unit="人", basis="S",
             mandatory=True, rule=AtLeast(value=15),
             provenance=clause("组建不少于15人的乡镇（街道）综合应急救援队伍", 300)),
        Item(id="TS-DW-02", dimension="DW", question="队伍是否“专兼结合、一队多能”？", answer="yes_no", basis="S",
             rule=Yes(), provenance=clause("推进乡镇（街道）、村组（社区）建立“专兼结合、一队多能”的基层综合应急救援队伍", 184)),
        Item(id="TS-YA-01", dimension="YA", question="是否编制乡镇（街道）总体应急预案？", answer="yes_no", basis="S",
             mandatory=True, rule=Yes(), provenance=clause("编制符合乡镇（街道）本地实际的专项应急预案和现场处置方案", 298)),
    ]
    return Standard(
        id="hunan.township.liuyou", version="2021", title="湖南省乡镇（街道）应急能力建设“六有”标准", level="township",
        jurisdiction="湖南省", label="六有", status="draft", effective=None, deadline=None, description="",
        extends=None, attributes=[], record_kinds=[],
        dimensions=[Dimension(code="BZ", name="有领导班子", short="有班子"),
                    Dimension(code="DW", name="有应急队伍", short="有队伍"),
                    Dimension(code="YA", name="有应急预案", short="有预案")],
        items=items, content_hash=hashlib.sha256(b"gap").hexdigest(),
    )


def test_gap_report_lists_failing_items_with_reason_rule_and_quote():
    standard = gap_standard()
    sheet = AnswerSheet(unit="新河街道", answers={
        "TS-BZ-01": Answer(value=True), "TS-DW-01": Answer(value=12), "TS-DW-02": Answer(value=False)})
    result = score(standard, sheet, AS_OF)
    assert not result.passed
    pdf = render_gap(standard, result, "新河街道", unit_path="湖南省长沙市开福区新河街道", issuer=KAIFU_BUREAU)
    text = pdf_text(pdf)
    assert "新河街道基层应急能力“六有”达标整改清单" in text
    for item_id in ("TS-DW-01", "TS-DW-02", "TS-YA-01"):
        assert item_id in text
    assert "TS-BZ-01" not in text  # it passes
    by_id = {r.id: r for r in result.items}
    for item_id in ("TS-DW-01", "TS-YA-01"):
        assert squash(by_id[item_id].reason) in text
        assert squash(by_id[item_id].rule) in text
    assert "组建不少于15人的乡镇（街道）综合应急救援队伍" in text
    assert squash(source_title(SOURCE_001)) in text and "第300行" in text
    # mandatory before scored within a dimension
    assert text.index("TS-DW-01") < text.index("TS-DW-02")
    assert "共有3项需要整改，其中必备项2项" in text
    assert_no_tofu(pdf)


def test_gap_report_of_a_passing_unit_says_nothing_to_fix():
    standard = gap_standard()
    sheet = AnswerSheet(unit="望麓园街道", answers={
        "TS-BZ-01": Answer(value=True), "TS-DW-01": Answer(value=20), "TS-DW-02": Answer(value=True),
        "TS-YA-01": Answer(value=True)})
    pdf = render_gap(standard, score(standard, sheet, AS_OF), "望麓园街道")
    assert "各项均已符合要求，无需整改" in pdf_text(pdf)


def test_gap_report_refuses_a_result_of_another_standard():
    standard = gap_standard()
    result = score(standard, AnswerSheet(), AS_OF)
    other = Standard(**{**{f: getattr(standard, f) for f in standard.__struct_fields__}, "version": "2024"})
    with pytest.raises(ValueError):
        render_gap(other, result, "新河街道")
