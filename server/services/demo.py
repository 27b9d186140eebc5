"""Demo data from the real places in DOMAIN.md §4, loaded by `dabiao serve --demo`.

- 湖南省/长沙市/开福区: its 16 streets; 望麓园、湘雅路、清水塘、芙蓉北路、浏阳河 accepted (the five that
  passed acceptance in the 13th FYP); the others in progress, submitted or returned. The 8 named
  communities under their streets, plus generated communities. 5 forested (涉林) streets. The
  communities of the five accepted streets have accepted 三有 stations (a demo choice: the sources
  give no village figures), so the 建成率 is not zero.
- 湖南省/岳阳市/平江县 on the 四有 profile (deadline 2023-12-31); its townships are not named in the
  sources, so they are generated placeholders marked 示例.
- 湖南省/株洲市: 10 counties (攸县 named), 108 townships, 1,398 villages as generated units.
- 吉林省/吉林市/昌邑区 on the Jilin profile, generated townships.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import random
import sqlite3
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from checklists.loader import Catalog
from checklists.model import AnswerSheet, Attachment, Standard
from checklists.samples import sample_sheet
from server.services import acceptance
from server.services.assessments import Assessments
from server.services.auth import hash_password
from server.store import assessments, attachments, audit, fields, orgs, users
from server.store.blobs import BlobStore
from server.store.db import now_iso, transaction
from server.store.orgs import Org

DEMO_PASSWORD = "dabiao-demo-2024"
PERIOD = 2024

KAIFU_STREETS = [  # (id suffix, name, passed in the 13th FYP, forested)
    ("wly", "望麓园街道", True, False),
    ("xyl", "湘雅路街道", True, False),
    ("qst", "清水塘街道", True, False),
    ("frbl", "芙蓉北路街道", True, False),
    ("lyh", "浏阳河街道", True, False),
    ("qzh", "青竹湖街道", False, True),
    ("dfl", "东风路街道", False, False),
    ("xh", "新河街道", False, False),
    ("sfp", "四方坪街道", False, False),
    ("xf", "秀峰街道", False, True),
    ("ldh", "捞刀河街道", False, True),
    ("sp", "沙坪街道", False, True),
    ("hs", "洪山街道", False, True),
    ("wjl", "伍家岭街道", False, False),
    ("ttj", "通泰街街道", False, False),
    ("yh", "月湖街道", False, False),
]
KAIFU_COMMUNITIES = {  # named in source 000, under the street it gives
    "qzh": ["湖畔社区"],
    "dfl": ["砚瓦池社区"],
    "xh": ["幸福桥社区", "三角洲社区"],
    "sfp": ["左岸社区"],
    "qst": ["四季花城社区"],
    "frbl": ["盛世路社区"],
}
# 陈家湖社区: the source does not give its street; placed under 月湖街道 for the demo.
KAIFU_COMMUNITIES["yh"] = ["陈家湖社区"]
KAIFU_STATES = {  # the streets not yet accepted, in varied states
    "qzh": "draft", "dfl": "submitted", "xh": "returned", "sfp": "draft", "xf": "submitted",
    "ldh": "draft", "sp": "returned", "hs": "draft", "wjl": "draft", "ttj": "submitted", "yh": "draft",
}

ACCOUNTS = [  # username, display name, role, org id
    ("kf_field_qzh", "青竹湖街道应急办", "field", "hn-cs-kf-qzh"),
    ("kf_field_wly", "望麓园街道应急办", "field", "hn-cs-kf-wly"),
    ("kf_village_hp", "湖畔社区两委", "village", "hn-cs-kf-qzh-c01"),
    ("kf_reviewer", "开福区应急管理局", "reviewer", "hn-cs-kf"),
    ("pj_field_01", "平江示例01镇应急办", "field", "hn-yy-pj-t01"),
    ("pj_reviewer", "平江县应急管理局", "reviewer", "hn-yy-pj"),
    ("cs_viewer", "长沙市应急管理局", "viewer", "hn-cs"),
    ("hn_viewer", "湖南省应急管理厅", "viewer", "hn"),
    ("hn_admin", "湖南省应急管理厅（系统管理）", "admin", "hn"),
    ("jl_reviewer", "昌邑区应急管理局", "reviewer", "jl-jl-cy"),
]

SUFFIX = "一二三四五六七八九十"


def _org(oid: str, parent: str | None, name: str, level: str, kind: str, path: str,
         attributes: Mapping[str, bool | str] | None = None, standard: str | None = None) -> Org:
    return Org(id=oid, parent_id=parent, name=name, level=level, kind=kind, path=path,  # type: ignore[arg-type]
               attributes=dict(attributes or {}), standard_ref=standard)


def tiny_png(label: str) -> bytes:
    """A valid 1×1 PNG whose text chunk makes its digest unique (stands in for a field photo)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"\x00\xc8\x10\x10")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"Comment\x00" + label.encode())
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def build_orgs(catalog: Catalog) -> list[Org]:
    """Every demo unit, parents before children."""
    def ref(wanted: str, fallback: str) -> str:
        for r in (wanted, fallback):
            try:
                return catalog.get(r).ref
            except KeyError:
                continue
        raise KeyError(wanted)

    kf_t = ref("changsha.kaifu.township.liuyou", "hunan.township.liuyou")
    kf_v = ref("changsha.kaifu.village.sanyou", "hunan.village.sanyou")
    pj_t = ref("yueyang.pingjiang.township.liuyou", "hunan.township.liuyou")
    pj_v = ref("yueyang.pingjiang.village.siyou", "hunan.village.sanyou")
    hn_t = ref("hunan.township.liuyou", "hunan.township.liuyou")
    hn_v = ref("hunan.village.sanyou", "hunan.village.sanyou")
    jl_t = ref("jilin.changyi.township.liuyou", "hunan.township.liuyou")

    rows = [
        _org("hn", None, "湖南省", "province", "省", "/hn/"),
        _org("hn-cs", "hn", "长沙市", "city", "市", "/hn/hn-cs/"),
        _org("hn-cs-kf", "hn-cs", "开福区", "county", "区", "/hn/hn-cs/hn-cs-kf/"),
    ]
    for sid, name, _, forested in KAIFU_STREETS:
        tid = f"hn-cs-kf-{sid}"
        tpath = f"/hn/hn-cs/hn-cs-kf/{tid}/"
        rows.append(_org(tid, "hn-cs-kf", name, "township", "街道", tpath,
                         {"forested": forested, "in_city_fire_coverage": True}, kf_t))
        names = KAIFU_COMMUNITIES.get(sid, []) + [f"{name[:-2]}第{SUFFIX[i]}社区" for i in range(3)]
        for i, cname in enumerate(names[:4], start=1):
            cid = f"{tid}-c{i:02d}"
            rows.append(_org(cid, tid, cname, "village", "社区", f"{tpath}{cid}/", {"forested": forested}, kf_v))

    rows.append(_org("hn-yy", "hn", "岳阳市", "city", "市", "/hn/hn-yy/"))
    rows.append(_org("hn-yy-pj", "hn-yy", "平江县", "county", "县", "/hn/hn-yy/hn-yy-pj/"))
    for t in range(1, 9):
        tid = f"hn-yy-pj-t{t:02d}"
        tpath = f"/hn/hn-yy/hn-yy-pj/{tid}/"
        attrs = {"forested": True, "in_city_fire_coverage": False, "remote_high_risk": t % 3 == 0}
        rows.append(_org(tid, "hn-yy-pj", f"平江示例{t:02d}镇", "township", "乡镇", tpath, attrs, pj_t))
        for v in range(1, 6):
            vid = f"{tid}-v{v:02d}"
            rows.append(_org(vid, tid, f"示例{t:02d}镇第{SUFFIX[v - 1]}村", "village", "行政村", f"{tpath}{vid}/",
                             {"forested": True, "remote_high_risk": v == 5}, pj_v))

    # 株洲市: 10 区县 / 108 乡镇 / 1,398 村社区 (source 002); only 攸县 is named.
    rows.append(_org("hn-zz", "hn", "株洲市", "city", "市", "/hn/hn-zz/"))
    counties = ["攸县"] + [f"株洲示例{i:02d}区县" for i in range(2, 11)]
    t_per = [11] * 8 + [10, 10]  # 108
    village_total, t_index = 1398, 0
    townships_all = sum(t_per)
    for c, cname in enumerate(counties, start=1):
        cid = f"hn-zz-c{c:02d}"
        cpath = f"/hn/hn-zz/{cid}/"
        rows.append(_org(cid, "hn-zz", cname, "county", "县" if cname.endswith("县") else "区县", cpath))
        for _ in range(t_per[c - 1]):
            t_index += 1
            tid = f"{cid}-t{t_index:03d}"
            tpath = f"{cpath}{tid}/"
            rows.append(_org(tid, cid, f"{cname[:2]}示例{t_index:03d}乡镇", "township", "乡镇", tpath,
                             {"forested": t_index % 3 == 0, "in_city_fire_coverage": t_index % 4 == 0}, hn_t))
            n_villages = village_total // townships_all + (1 if t_index <= village_total % townships_all else 0)
            for v in range(1, n_villages + 1):
                vid = f"{tid}-v{v:02d}"
                rows.append(_org(vid, tid, f"示例{t_index:03d}乡镇{v:02d}村", "village", "行政村", f"{tpath}{vid}/",
                                 {}, hn_v))

    rows.append(_org("jl", None, "吉林省", "province", "省", "/jl/"))
    rows.append(_org("jl-jl", "jl", "吉林市", "city", "市", "/jl/jl-jl/"))
    rows.append(_org("jl-jl-cy", "jl-jl", "昌邑区", "county", "区", "/jl/jl-jl/jl-jl-cy/"))
    for t in range(1, 7):
        tid = f"jl-jl-cy-t{t:02d}"
        kind = "开发区" if t == 6 else ("街道" if t <= 3 else "乡镇")
        rows.append(_org(tid, "jl-jl-cy", f"昌邑示例{t:02d}{kind}", "township", kind, f"/jl/jl-jl/jl-jl-cy/{tid}/",
                         {"forested": t > 3, "in_city_fire_coverage": t <= 3}, jl_t))
    return rows


def load_demo(
    conn: sqlite3.Connection,
    catalog: Catalog,
    blobs: BlobStore,
    today: dt.date,
    cert_key: Ed25519PrivateKey | None = None,
    base_url: str = "http://127.0.0.1:8000",
) -> bool:
    """Insert the demo data into an empty database; False when it is already there."""
    if orgs.exists(conn, "hn"):
        return False
    password = hash_password(DEMO_PASSWORD)
    with transaction(conn):
        orgs.insert_all(conn, build_orgs(catalog))
        users.insert_all(conn, [{"username": u, "display_name": n, "password_hash": password, "role": r, "org_id": o,
                                 "created_at": now_iso()} for u, n, r, o in ACCOUNTS])
    _demo_assessments(conn, catalog, blobs, today, cert_key, base_url)
    return True


@functools.cache
def _picture_font() -> Any:
    from PIL import ImageFont

    from pdfgen.fonts import font_file

    try:
        path, index = font_file()
        return ImageFont.truetype(str(path), 16, index=index)
    except Exception:  # no CJK font: the pictures still differ by colour
        return ImageFont.load_default()


def demo_picture(unit: str, caption: str, kind: str, seed: str) -> bytes:
    """A small JPEG a reviewer can tell apart: the unit, what it shows, and whether it stands in for
    a photo or a scanned document (the demo's evidence is generated, and says so)."""
    from PIL import Image, ImageDraw

    shade = int(hashlib.sha256(seed.encode()).hexdigest()[:6], 16)
    if kind == "document":
        img = Image.new("RGB", (240, 320), (250, 250, 246))
    else:
        img = Image.new("RGB", (320, 240), (90 + shade % 120, 110 + (shade >> 8) % 100, 120 + (shade >> 16) % 100))
    draw = ImageDraw.Draw(img)
    font = _picture_font()
    ink = (40, 40, 40) if kind == "document" else (255, 255, 255)
    # The material's number makes two pictures of one item two different files (evidence minimums
    # count distinct files).
    lines = [unit, *(caption[i:i + 13] for i in range(0, min(len(caption), 52), 13)),
             "（演示文件扫描件）" if kind == "document" else "（演示照片）", f"材料编号 {seed[:8]}"]
    for n, line in enumerate(lines):
        draw.text((14, 16 + 24 * n), line, fill=ink, font=font)
    if kind == "document":
        draw.rectangle((150, 250, 220, 300), outline=(200, 30, 30), width=3)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=60)
    return out.getvalue()


def _store_evidence(conn: sqlite3.Connection, blobs: BlobStore, sheet: AnswerSheet,
                    standard: Standard | None = None) -> AnswerSheet:
    """Give every attachment of a generated sheet real bytes, stored and registered: tiny PNGs, or,
    with the `standard` (the showcase streets), pictures that name the unit and the item."""
    mapping: dict[str, str] = {}
    questions = {i.id: i.question for i in standard.items} if standard else {}

    def real(a: Attachment, caption: str) -> Attachment:
        if a.sha256 not in mapping:
            if standard is None:
                data, media_type = tiny_png(a.sha256), "image/png"
            else:
                data, media_type = demo_picture(sheet.unit, a.label or caption, a.kind, a.sha256), "image/jpeg"
            digest = hashlib.sha256(data).hexdigest()
            blobs.put(digest, data)
            attachments.register(conn, digest, len(data), media_type)
            mapping[a.sha256] = digest
        return msgspec.structs.replace(a, sha256=mapping[a.sha256])

    answers = {k: msgspec.structs.replace(v, evidence=[real(a, questions.get(k, k)) for a in v.evidence])
               for k, v in sheet.answers.items()}
    records = [msgspec.structs.replace(r, attachments=[real(a, r.title) for a in r.attachments]) for r in sheet.records]
    return msgspec.structs.replace(sheet, answers=answers, records=records)


def _insert_assessment(conn: sqlite3.Connection, org_id: str, ref: str, status: str, sheet: AnswerSheet,
                       user_id: int | None, day: dt.date) -> str:
    aid = hashlib.sha256(f"demo/{org_id}/{PERIOD}".encode()).hexdigest()[:32]
    aid = f"{aid[:8]}-{aid[8:12]}-{aid[12:16]}-{aid[16:20]}-{aid[20:32]}"
    at = f"{day.isoformat()}T09:00:00+00:00"  # demo history is dated within the period
    assessments.insert(conn, aid, org_id, ref, PERIOD, status, user_id, at,
                       submitted_at=at if status != "draft" else None,
                       decided_at=at if status in ("accepted", "rejected") else None)
    fields.insert_values(conn, "answer",
                         [(aid, k, msgspec.json.encode(v).decode(), user_id, at) for k, v in sheet.answers.items()])
    fields.insert_values(conn, "record", [(aid, r.id, msgspec.json.encode(r).decode(), user_id, at) for r in sheet.records])
    audit.append(conn, None, "demo_load", "assessment", aid, aid, None, {"status": status})
    return aid


def _demo_assessments(conn: sqlite3.Connection, catalog: Catalog, blobs: BlobStore, today: dt.date,
                      cert_key: Ed25519PrivateKey | None, base_url: str) -> None:
    rng = random.Random(2024)
    as_of = min(today, dt.date(PERIOD, 12, 31))
    reviewer = users.id_of(conn, "kf_reviewer")
    assert reviewer is not None
    units = orgs.with_standards(conn, ["/hn/hn-cs/hn-cs-kf/", "/hn/hn-yy/hn-yy-pj/"])
    created: list[str] = []
    serials: list[str] = []
    service = Assessments(conn, catalog, today)
    with transaction(conn):
        for org in units:
            oid, name, level, ref = org.id, org.name, org.level, org.standard_ref
            assert ref is not None
            standard = catalog.get(ref)
            sid = oid.split("-")[3] if oid.startswith("hn-cs-kf-") else ""
            street_passed = any(s == sid and p for s, _, p, _ in KAIFU_STREETS)
            if level == "township" and oid.startswith("hn-cs-kf-"):
                status = "accepted" if street_passed else KAIFU_STATES.get(sid, "draft")
                quality = 1.0 if street_passed else rng.uniform(0.55, 0.9)
            elif street_passed:  # the five streets' communities: 三有 stations built and accepted
                status, quality = "accepted", 1.0
            else:
                status, quality = "draft", rng.uniform(0.5, 1.0)
            known = {a.key for a in standard.attributes}
            attributes = {k: v for k, v in org.attributes.items() if k in known}
            sheet = sample_sheet(standard, rng, quality=quality, as_of=as_of, unit=name, attributes=attributes)
            showcase = level == "township" and oid.startswith("hn-cs-kf-")
            sheet = _store_evidence(conn, blobs, sheet, standard if showcase else None)
            created.append(_insert_assessment(conn, oid, standard.ref, status, sheet, None, as_of))
            if status == "returned":
                assessments.add_comment(conn, created[-1], standard.items[0].id, reviewer, "return",
                                        "请补充成立文件扫描件并加盖公章。", now_iso())
        for aid in created:
            service.rescore(aid)
        if cert_key is not None:  # the five streets accepted in the 13th FYP (and their stations) get certificates
            for aid in assessments.ids_in_status(conn, "accepted"):
                serials.append(acceptance.issue(conn, catalog, cert_key, aid, reviewer, as_of, base_url).serial)
    if cert_key is not None:
        for serial in serials:  # each certificate's PDF filed as its original, as on acceptance
            acceptance.original_pdf(conn, blobs, cert_key, serial)


def demo_accounts_text(base_url: str) -> str:
    """The address and demo accounts, as `make run` prints them."""
    lines = [f"Dabiao demo at {base_url}  (OpenAPI: {base_url}/schema)", f"demo accounts (password {DEMO_PASSWORD}):"]
    lines += [f"  {u:14} {r:9} {n}" for u, n, r, _ in ACCOUNTS]
    return "\n".join(lines)

