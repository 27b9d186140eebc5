"""Report generation at Hunan scale, as ratios against baselines measured in the same run.

- Certificates per second, against a bare reportlab page in the same CJK font that draws the same
  text with drawString (no layout, no QR code, no border): the floor cost of a PDF page carrying
  that text, font subset included. Target: ratio >= 0.7 (printed, never asserted).
- Rates roll-up of a generated Hunan-sized province (14 市州, 122 县市区, 1,900 乡镇, 29,000 村),
  against a bare loop over the same units that only counts the accepted ones.
- The district 达标情况通报 (开福区, 16 streets; and a 120-township county) and the provincial
  comparison (14 cities, 122 counties), each against the roll-up that feeds it.

    .venv/bin/python bench/bench_reports.py [--certificates N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import random
import time

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen import canvas

from checklists.rates import Area, UnitStatus, roll_up
from pdfgen.certificate import render_certificate
from pdfgen.comparison import render_comparison
from pdfgen.fonts import cjk_font
from pdfgen.league import render_league
from server.certificates import Certificate, CertificateDimension, generate_keypair, sign, verify_url

AS_OF = dt.date(2024, 11, 20)
PREVIOUS = dt.date(2023, 12, 31)
CITIES = ["长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市", "张家界市", "益阳市", "郴州市", "永州市",
          "怀化市", "娄底市", "湘西土家族苗族自治州"]
SIX = ["BZ", "JZ", "YA", "DW", "WZ", "PX"]
KAIFU_STREETS = ["望麓园街道", "湘雅路街道", "清水塘街道", "芙蓉北路街道", "浏阳河街道", "青竹湖街道", "东风路街道", "新河街道",
                 "四方坪街道", "秀峰街道", "捞刀河街道", "沙坪街道", "洪山街道", "伍家岭街道", "通泰街街道", "月湖街道"]


def hunan(townships: int = 1900, villages: int = 29000, counties: int = 122, seed: int = 11,
          progress: float = 0.0) -> list[UnitStatus]:
    """A generated Hunan: real city names; 开福区 with its 16 real streets (5 accepted), 平江县 with
    the 2023-12-31 deadline, 攸县; the rest generated. `progress` raises every acceptance chance
    (the previous snapshot uses 0, the current one 0.15)."""
    rng = random.Random(seed)
    province = Area(id="43", name="湖南省", level="province")
    county_areas: list[tuple[Area, Area]] = []
    for k in range(counties):
        city = CITIES[k % len(CITIES)]
        city_area = Area(id=f"43{k % len(CITIES):02d}", name=city, level="city")
        name = {0: "开福区", 5: "平江县", 1: "攸县"}.get(k, f"{city.removesuffix('市')[:2]}第{k // len(CITIES) + 1}县")
        county_areas.append((city_area, Area(id=f"c{k:03d}", name=name, level="county")))
    per_village = villages / townships
    units: list[UnitStatus] = []
    made_villages = 0
    for t in range(townships):
        city, county = county_areas[t % counties]
        index = t // counties
        kaifu = county.name == "开福区"
        name = KAIFU_STREETS[index] if kaifu and index < 16 else f"{county.name}第{index + 1}镇"
        deadline = dt.date(2023, 12, 31) if county.name == "平江县" else None
        quality = rng.random() + progress
        accepted = (kaifu and index < 5) or quality > 0.7
        dims = {c: accepted or rng.random() < 0.6 + progress for c in SIX}
        tid = f"{county.id}t{index:03d}"
        n_villages = int(per_village * (t + 1)) - made_villages if t < townships - 1 else villages - made_villages
        made_villages += n_villages
        town = Area(id=tid, name=name, level="township")
        built = 0
        for v in range(n_villages):
            ok = rng.random() < 0.3 + progress + (0.5 if accepted else 0)
            built += ok
            units.append(UnitStatus(
                id=f"{tid}v{v:02d}", name=f"第{v + 1}村", level="village", path=[province, city, county, town],
                passed=ok, accepted=ok, dimensions={"CD": ok or rng.random() < 0.5, "WZ": ok, "ZD": ok},
                deadline=deadline,
            ))
        units.append(UnitStatus(
            id=tid, name=name, level="township", path=[province, city, county],
            passed=accepted or quality > 0.6, accepted=accepted,
            score=round(min(100.0, 40 + 60 * min(1.0, quality)), 1), dimensions=dims, deadline=deadline,
            passed_on=dt.date(2023, 6, 1) if accepted else None, drills_this_year=rng.randint(0, 12),
            villages_total=n_villages, villages_passed=built,
            certificate_serial=f"HN-2023-{t:04d}" if accepted else None,
            certificate_date=dt.date(2023, 6, 1) if accepted else None,
            review="submitted" if not accepted and quality > 0.6 else None,
        ))
    return units


def certificate(n: int) -> Certificate:
    serial = f"KF-2024-{n:04d}"
    names = ["有领导班子", "有应急管理机制", "有应急预案", "有应急队伍", "有应急物资及装备", "有应急培训演练"]
    return Certificate(
        serial=serial, unit_id=f"430105{n:03d}", unit_name="望麓园街道", unit_path="湖南省长沙市开福区望麓园街道",
        standard_id="hunan.township.liuyou", standard_version="2021",
        standard_title="湖南省乡镇（街道）应急能力建设“六有”标准",
        standard_hash=hashlib.sha256(b"standard").hexdigest(), result_hash=hashlib.sha256(str(n).encode()).hexdigest(),
        score=92.5, dimensions=[CertificateDimension(code=c, name=m, passed=True) for c, m in zip(SIX, names)],
        issued_on=AS_OF, valid_until=dt.date(2027, 11, 19), issuer="长沙市开福区应急管理局",
        verify_url=verify_url("https://dabiao.example.cn", serial),
    )


def bare_page(font: str, lines: list[str]) -> bytes:
    """The baseline: one landscape A4 page with the same text, drawString only."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=landscape(A4))
    c.setFont(font, 12)
    for i, line in enumerate(lines):
        c.drawString(40, 560 - 16 * i, line)
    c.showPage()
    c.save()
    return buffer.getvalue()


def cert_lines(cert: Certificate, token: str) -> list[str]:
    return [
        "验收合格证书", f"基层应急能力建设“{cert.label}”达标", f"证书编号：{cert.serial}", cert.unit_path + "：",
        f"经验收，你单位基层应急能力建设达到《{cert.standard_title}》要求，六项均达标，综合得分 {cert.score} 分，",
        "评定为达标单位。特发此证。", *[d.name + " √ 达标" for d in cert.dimensions],
        f"受证单位编码：{cert.unit_id}", f"依据标准：{cert.standard_ref}", f"标准内容哈希：{cert.standard_hash}",
        f"结果快照哈希：{cert.result_hash}", f"电子签名（Ed25519）：{token[-86:]}", f"查验网址：{cert.verify_url}",
        cert.issuer, "发证日期：2024年11月20日", "有效期至：2027年11月19日", "（盖章）", "扫码查验证书真伪",
    ]


def timed(fn, repeat: int = 1) -> float:
    """Best of `repeat` runs, seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--certificates", type=int, default=60)
    args = ap.parse_args()
    font = cjk_font()

    # --- certificates vs bare page --------------------------------------------------------------
    private, _ = generate_keypair()
    certs = [certificate(i) for i in range(args.certificates)]
    tokens = [sign(c, private) for c in certs]
    lines = [cert_lines(c, t) for c, t in zip(certs, tokens)]
    render_certificate(certs[0], tokens[0])  # warm up: font parsing, imports
    bare_page(font, lines[0])
    bare = timed(lambda: [bare_page(font, lines[i]) for i in range(len(certs))], 3)
    full = timed(lambda: [render_certificate(c, t) for c, t in zip(certs, tokens)], 3)
    bare_rate, cert_rate = len(certs) / bare, len(certs) / full
    print(f"certificates: {cert_rate:.1f}/s; bare page with the same text and font: {bare_rate:.1f}/s; "
          f"ratio {cert_rate / bare_rate:.2f} (target >= 0.70)")

    # --- province roll-up ------------------------------------------------------------------------
    start = time.perf_counter()
    now_units = hunan(progress=0.15)
    before_units = hunan(progress=0.0)
    n_t = sum(u.level == "township" for u in now_units)
    print(f"generated Hunan: {n_t} townships, {len(now_units) - n_t} villages, "
          f"{len({u.path[2].id for u in now_units})} counties in {time.perf_counter() - start:.1f}s")
    loop = timed(lambda: sum(1 for u in now_units if u.accepted), 3)
    roll = timed(lambda: roll_up(now_units, AS_OF), 3)
    print(f"rates roll-up (every area, one pass): {roll * 1000:.0f} ms; bare counting loop {loop * 1000:.1f} ms; "
          f"ratio {roll / loop:.1f}x the bare loop")
    rollup = roll_up(now_units, AS_OF)
    previous = roll_up(before_units, PREVIOUS)
    report_time = timed(lambda: rollup.report(previous=previous), 3)
    province = rollup.report(previous=previous)
    t = province.total.townships
    print(f"province report with change since previous: {report_time * 1000:.0f} ms "
          f"(达标率 {t.numerator}/{t.denominator} = {t.rate}%)")

    # --- district 通报 and provincial comparison ---------------------------------------------
    kaifu_id = next(u.path[2].id for u in now_units if u.path[2].name == "开福区")
    kaifu = rollup.report(kaifu_id, previous)
    league = timed(lambda: render_league(kaifu, issuer="长沙市开福区应急管理局"), 3)
    print(f"district 通报 开福区 ({len(kaifu.rows)} streets): {league * 1000:.0f} ms "
          f"= {league / roll:.1f}x the roll-up")
    big = roll_up(hunan(townships=120, villages=1800, counties=1), AS_OF)
    big_report = big.report(next(iter(big.children[big.top()])))
    big_report = big.report(big_report.rows[0].id)
    league_big = timed(lambda: render_league(big_report, issuer="平江县应急管理局"), 1)
    print(f"district 通报 with {len(big_report.rows)} townships: {league_big * 1000:.0f} ms "
          f"= {league_big / roll:.1f}x the roll-up")
    comparison = timed(lambda: render_comparison(rollup, previous=previous, issuer="湖南省应急管理厅"), 1)
    pdf = render_comparison(rollup, previous=previous, issuer="湖南省应急管理厅")
    print(f"provincial comparison ({len(province.rows)} cities, "
          f"{sum(len(rollup.children[c.id]) for c in province.rows)} counties, {len(pdf) / 1024:.0f} KiB): "
          f"{comparison * 1000:.0f} ms = {comparison / roll:.1f}x the roll-up")


if __name__ == "__main__":
    main()
