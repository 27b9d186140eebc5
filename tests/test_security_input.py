"""Hostile input (issue 16, part A): what a request may carry, and how much work it may cost.

Each test here was written against the code before its fix and failed there: the public verify
upload's PDF bomb, unreadable PDF metadata and deeply nested JSON (500s); integers past 64 bits,
NaN and Infinity, loose secondary fields and dates, unsafe record ids and unbounded texts and
lists (accepted and stored); a truncated gzip body (accepted); future periods (created and
accepted); the CSV export (content type, formulas). docs/security.md lists every limit with the
test that checks it.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import struct
import time
import uuid
import zlib
from pathlib import Path

import httpx
import msgspec
import pytest
from hypothesis import strategies as st
from serverkit import TODAY, Server, demo_dir, make_passing, server, start_process  # noqa: F401  (fixtures)

from checklists.loader import shipped_catalog
from server.store.db import connect
from sync import hlc

QZH = "hn-cs-kf-qzh"  # 青竹湖街道, a draft in the demo (changsha.kaifu.township.liuyou@2022)
HUPAN = "hn-cs-kf-qzh-c01"  # 湖畔社区, its village (kf_village_hp)
BIG = 10**30
clock = hlc.Clock()


def m_set(aid: str, item: str, answer: dict) -> dict:
    return {"op": "set_answer", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": aid,
            "item_id": item, "answer": answer}


def m_record(aid: str, record: dict) -> dict:
    return {"op": "put_record", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": aid, "record": record}


def push_json(srv: Server, user: str, mutations: list[dict]) -> list[dict]:
    r = srv.as_user(user, "POST", "/sync/push", json={"device": "phone-sec", "mutations": mutations})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def push_msgpack(srv: Server, user: str, mutations: list[dict]) -> list[dict]:
    body = msgspec.msgpack.encode({"device": "phone-sec", "mutations": mutations})
    r = srv.as_user(user, "POST", "/sync/push", content=body,
                    headers={"Content-Type": "application/msgpack", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def pull_every_page(srv: Server, user: str, accept: str) -> list[object]:
    """Every page of a full pull in one encoding; each page must be answered 200."""
    pages, cursor = [], None
    while True:
        r = srv.as_user(user, "GET", "/sync/pull", params={"cursor": cursor} if cursor else {},
                        headers={"Accept": accept})
        assert r.status_code == 200, r.text[:300]
        page = msgspec.msgpack.decode(r.content) if "msgpack" in accept else r.json()
        pages.append(page)
        if not page["more"]:
            return pages
        cursor = page["cursor"]


def stored_answer(srv: Server, aid: str, item: str) -> dict | None:
    conn = connect(srv.settings.db_path)
    try:
        row = conn.execute("SELECT answer FROM answers WHERE assessment_id = ? AND item_id = ?", (aid, item)).fetchone()
        return None if row is None else msgspec.json.decode(row[0])
    finally:
        conn.close()


def refused(r: httpx.Response | object) -> bool:
    """A REST edit answered with a problem (4xx problem+json), not stored."""
    assert isinstance(r, httpx.Response)
    return 400 <= r.status_code < 500 and r.headers["content-type"].startswith("application/problem+json")


# ---------------------------------------------------------------------------------------------
# PDFs for POST /verify, built by hand: what an attacker sends


def pdf_with_info_in_object_stream(info: bytes, padding: int) -> bytes:
    """A PDF 1.5 file whose document information (/Info, with the Keywords a certificate's mark
    would be in) lives in a Flate-compressed object stream padded with `padding` spaces: 70 MB of
    spaces compress to about 70 KB, and nothing in the file's bytes is plain text."""
    raw = b"4 0 " + info + b" " * padding
    packed = zlib.compress(raw, 9)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}

    def obj(n: int, content: bytes) -> None:
        offsets[n] = len(out)
        out.extend(b"%d 0 obj\n" % n + content + b"\nendobj\n")

    obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
    obj(2, b"<< /Type /Pages /Kids [] /Count 0 >>")
    obj(3, b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(packed)
        + packed + b"\nendstream")
    xref_at = len(out)
    rows = [b"\x00" + struct.pack(">IH", 0, 65535)]
    rows += [b"\x01" + struct.pack(">IH", offsets[n], 0) for n in (1, 2, 3)]
    rows += [b"\x02" + struct.pack(">IH", 3, 0), b"\x01" + struct.pack(">IH", xref_at, 0)]
    table = b"".join(rows)
    out.extend(b"5 0 obj\n<< /Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R /Info 4 0 R /Length %d >>\nstream\n"
               % len(table) + table + b"\nendstream\nendobj\n")
    out.extend(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return bytes(out)


def pdf_with_keywords_object(body: bytes) -> bytes:
    """A PDF whose /Info names its Keywords as the indirect object 6 0 R, with `body` as that object."""
    out = bytearray(b"%PDF-1.4\n")
    offsets: dict[int, int] = {}
    for n, content in ((1, b"<< /Type /Catalog /Pages 2 0 R >>"), (2, b"<< /Type /Pages /Kids [] /Count 0 >>"),
                       (3, b"<< /Keywords 6 0 R >>"), (6, body)):
        offsets[n] = len(out)
        out.extend(b"%d 0 obj\n" % n + content + b"\nendobj\n")
    xref_at = len(out)
    out.extend(b"xref\n0 7\n0000000000 65535 f \n")
    for n in range(1, 7):
        out.extend(b"%010d 00000 n \n" % offsets[n] if n in offsets else b"0000000000 65535 f \n")
    out.extend(b"trailer\n<< /Size 7 /Root 1 0 R /Info 3 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at)
    return bytes(out)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak resident set) of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


# The bound this test states for /verify: four bombs at once may raise the server process's peak
# resident memory by at most 48 MiB over what it used before them (it grew by 650 MB before the
# fix), and each is answered within 10 s (each took 12-14 s of CPU before).
VERIFY_PEAK_GROWTH_KIB = 48 * 1024
VERIFY_SECONDS = 10.0


def test_a_verify_bomb_is_answered_in_bounded_time_and_memory(tmp_path: Path):
    bomb = pdf_with_info_in_object_stream(b"<< /Keywords (dabiao) >>", 70_000_000)
    assert len(bomb) < 80_000
    proc, url = start_process(tmp_path / "data")
    try:
        with httpx.Client(base_url=url, timeout=60) as client:  # warm up: the first request imports what it needs
            assert client.post("/verify", files={"file": ("x.pdf", b"%PDF-1.4\nnothing", "application/pdf")}).status_code == 200
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
        before = memory_kib(proc.pid)

        def send(_: int) -> tuple[int, float, str]:
            started = time.monotonic()
            with httpx.Client(base_url=url, timeout=120) as client:
                r = client.post("/verify", files={"file": ("bomb.pdf", bomb, "application/pdf")})
            return r.status_code, time.monotonic() - started, r.text

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, range(4)))
        after = memory_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    growth = after["VmHWM"] - before["VmRSS"]
    print(f"verify bomb x4: RSS before {before['VmRSS'] // 1024} MiB, peak after {after['VmHWM'] // 1024} MiB "
          f"(+{growth // 1024} MiB); seconds {[round(s, 2) for _, s, _ in answers]}")
    for status, seconds, text in answers:
        assert status == 200 and "未识别为证书" in text, text[:300]
        assert seconds < VERIFY_SECONDS
    assert growth < VERIFY_PEAK_GROWTH_KIB


def test_verify_uploads_are_rate_limited_per_client_address(server: Server):
    file = {"file": ("x.pdf", b"not a pdf at all", "application/pdf")}
    codes = [server.client.post("/verify", files=file).status_code for _ in range(21)]
    assert codes[:20] == [200] * 20
    assert codes[20] == 429
    r = server.client.post("/verify", files=file)
    assert r.json()["type"] == "urn:dabiao:problem:rate-limited" and int(r.headers["retry-after"]) >= 1
    # The page a QR code opens is not limited by the uploads.
    assert server.client.get("/verify/KF-2024-9999").status_code == 200


@pytest.mark.parametrize("keywords", [
    b"(never closed",  # the string does not end: PdfStreamError while the Keywords are read
    b"[1 2",  # not an object at all: PdfReadError
])
def test_a_pdf_whose_keywords_cannot_be_read_is_named_no_certificate(server: Server, keywords: bytes, caplog):
    r = server.client.post("/verify", files={"file": ("x.pdf", pdf_with_keywords_object(keywords), "application/pdf")})
    assert r.status_code == 200, r.text[:300]
    assert "未识别为证书" in r.text
    assert not [rec for rec in caplog.records if rec.exc_info]  # no traceback in the log


# ---------------------------------------------------------------------------------------------
# Request bodies


DEEP = b"[" * 100_000 + b"]" * 100_000


def test_deeply_nested_json_is_a_400_problem_not_a_500(server: Server, caplog):
    aid = server.assessment_id(QZH)
    for r in (
        server.client.post("/auth/login", content=DEEP, headers={"Content-Type": "application/json"}),
        server.client.post("/auth/login", content=b'{"username": ' + DEEP + b', "password": "x"}',
                           headers={"Content-Type": "application/json"}),
        server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", content=DEEP,
                       headers={"Content-Type": "application/json"}),
        server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/comments", content=b'{"body": ' + DEEP + b"}",
                       headers={"Content-Type": "application/json"}),
    ):
        assert r.status_code == 400, r.text[:300]
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "urn:dabiao:problem:malformed-body"
    # A push body is decoded straight into its types, which refuse the first bracket.
    r = server.as_user("kf_field_qzh", "POST", "/sync/push", content=b'{"device": ' + DEEP + b"}",
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_a_truncated_gzip_body_is_refused(server: Server):
    aid = server.assessment_id(QZH)
    whole = gzip.compress(msgspec.json.encode({"device": "phone-sec", "mutations": [
        m_set(aid, "TS-BZ-01", {"value": True})]}))
    cut = whole[:-8]  # no trailer: neither the CRC nor the length can be checked
    r = server.as_user("kf_field_qzh", "POST", "/sync/push", content=cut,
                       headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 422 and r.json()["type"] == "urn:dabiao:problem:invalid-input", r.text
    assert stored_answer(server, aid, "TS-BZ-01") is None
    r = server.as_user("kf_field_qzh", "POST", "/sync/push", content=whole,
                       headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "applied"


# ---------------------------------------------------------------------------------------------
# Answer values: each answer type's and field's real range


# Values a hostile or broken client may send, of every JSON/MessagePack scalar kind.
_NUMBERS = st.one_of(st.integers(), st.integers(-10, 2_000_000), st.floats(allow_nan=True, allow_infinity=True),
                     st.floats(-10, 200), st.sampled_from([0, 1, 100, 10**6, 2**53, 2**63, 2**64, -(2**63)]))
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=20),
                     st.sampled_from(["2024-05-01", "20240501", "2024-W18-3", "9999-12-31", "2000-01-01"]))


def _items():
    seen = {}
    for standard in shipped_catalog().list():
        for item in standard.items:
            seen.setdefault((item.answer, tuple((f.key, f.type) for f in item.fields)), (standard, item))
    return list(seen.values())


@st.composite
def _candidate(draw):
    standard, item = draw(st.sampled_from(_items()))
    value = draw(st.one_of(_SCALARS, st.lists(st.sampled_from(item.options or ["x"]), max_size=4),
                           st.builds(dict, lat=st.floats(-90, 90), lon=st.floats(-180, 180))))
    fields = {f.key: draw(_SCALARS.filter(lambda v: v is not None)) for f in item.fields if draw(st.booleans())}
    return standard, item, {"value": value, "fields": fields}


# ---------------------------------------------------------------------------------------------
# Records, texts and lists


# ---------------------------------------------------------------------------------------------
# Periods


# ---------------------------------------------------------------------------------------------
# CSV exports


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

