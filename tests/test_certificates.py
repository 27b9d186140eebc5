"""Certificate signing and verification (Ed25519 JWS, algorithm pinned) and the public verify page."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import re

import jwt
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checklists.certificate import (
    Certificate,
    CertificateDimension,
    pdf_keywords,
    short_signature,
    signature_of,
    snapshot_hash,
    verify_url,
)
from server.pages.verify import verify_page
from server.services.certificates import (
    CertificateInvalid,
    generate_keypair,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    reference_in_pdf,
    sign,
    verify,
)

DIMENSIONS = [("BZ", "有领导班子"), ("JZ", "有应急管理机制"), ("YA", "有应急预案"), ("DW", "有应急队伍"),
              ("WZ", "有应急物资及装备"), ("PX", "有应急培训演练")]


def make_certificate(serial: str = "KF-2024-0001", unit: str = "望麓园街道", **changes: object) -> Certificate:
    cert = Certificate(
        serial=serial,
        unit_id="430105001",
        unit_name=unit,
        unit_path=f"湖南省长沙市开福区{unit}",
        standard_id="hunan.township.liuyou",
        standard_version="2021",
        standard_title="湖南省乡镇（街道）应急能力建设“六有”标准",
        standard_hash=hashlib.sha256(b"standard").hexdigest(),
        result_hash=hashlib.sha256(b"result").hexdigest(),
        score=92.5,
        dimensions=[CertificateDimension(code=c, name=n, passed=True, score=90.0) for c, n in DIMENSIONS],
        issued_on=dt.date(2024, 11, 20),
        valid_until=dt.date(2027, 11, 19),
        issuer="长沙市开福区应急管理局",
        verify_url=verify_url("https://dabiao.example.cn/", serial),
    )
    return msgspec.structs.replace(cert, **changes) if changes else cert


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def keys():
    return generate_keypair()


def test_signed_certificate_verifies_to_the_same_certificate(keys):
    private, public = keys
    cert = make_certificate()
    token = sign(cert, private)
    assert token.count(".") == 2
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert verify(token, public) == cert


def test_claims_are_the_certificate_fields(keys):
    token = sign(make_certificate(), keys[0])
    claims = json.loads(unb64(token.split(".")[1]))
    assert claims["serial"] == "KF-2024-0001"
    assert claims["unit_path"] == "湖南省长沙市开福区望麓园街道"
    assert claims["issued_on"] == "2024-11-20"
    assert claims["verify_url"] == "https://dabiao.example.cn/verify/KF-2024-0001"


def test_modified_payload_does_not_verify(keys):
    private, public = keys
    header, payload, signature = sign(make_certificate(), private).split(".")
    claims = json.loads(unb64(payload))
    claims["unit_name"] = "新河街道"  # a street that has not passed
    forged = ".".join([header, b64(json.dumps(claims).encode()), signature])
    with pytest.raises(CertificateInvalid) as err:
        verify(forged, public)
    assert err.value.reason == "bad_signature"


def test_other_key_does_not_verify(keys):
    token = sign(make_certificate(), keys[0])
    _, other_public = generate_keypair()
    with pytest.raises(CertificateInvalid) as err:
        verify(token, other_public)
    assert err.value.reason == "bad_signature"


def test_alg_none_is_rejected(keys):
    claims = msgspec.to_builtins(make_certificate())
    token = f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."
    with pytest.raises(CertificateInvalid) as err:
        verify(token, keys[1])
    assert err.value.reason == "wrong_alg"


def test_hs256_with_the_public_key_as_secret_is_rejected(keys):
    # The classic key-confusion attack: HMAC-sign with the (public) verification key's bytes.
    secret = public_key_pem(keys[1])
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(msgspec.json.encode(make_certificate()))
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(CertificateInvalid) as err:
        verify(f"{header}.{payload}.{b64(mac)}", keys[1])
    assert err.value.reason == "wrong_alg"


def test_garbage_is_malformed(keys):
    with pytest.raises(CertificateInvalid) as err:
        verify("not-a-token", keys[1])
    assert err.value.reason == "malformed"


def test_signed_claims_that_are_not_a_certificate_are_rejected(keys):
    token = jwt.encode({"serial": "KF-2024-0001"}, keys[0], algorithm="EdDSA")
    with pytest.raises(CertificateInvalid) as err:
        verify(token, keys[1])
    assert err.value.reason == "bad_claims"


def test_keys_round_trip_through_pem(keys):
    private = load_private_key(private_key_pem(keys[0]))
    public = load_public_key(public_key_pem(keys[1]))
    assert verify(sign(make_certificate(), private), public).serial == "KF-2024-0001"


def test_snapshot_hash_is_sha256_of_msgspec_json():
    result = make_certificate()
    assert snapshot_hash(result) == hashlib.sha256(msgspec.json.encode(result)).hexdigest()
    assert snapshot_hash(result) != snapshot_hash(msgspec.structs.replace(result, score=92.0))


def test_short_signature_keeps_both_ends(keys):
    token = sign(make_certificate(), keys[0])
    sig = token.rsplit(".", 1)[1]
    short = short_signature(token)
    assert short.startswith(sig[:16]) and short.endswith(sig[-8:]) and "…" in short


# ---------------------------------------------------------------------------------------------
# The public verify page


def test_verify_page_valid_shows_what_was_certified():
    page = verify_page(make_certificate(), "valid")
    assert 'class="status valid">有效' in page and "已撤销" not in page
    for text in ("KF-2024-0001", "望麓园街道", "湖南省长沙市开福区望麓园街道", "长沙市开福区应急管理局",
                 "2024年11月20日", "2027年11月19日", "hunan.township.liuyou@2021", "有应急培训演练"):
        assert text in page
    assert '<meta name="viewport"' in page
    # Self-contained: no script, and nothing from another host (its stylesheet is the server's own:
    # the CSP allows no inline style).
    for external in ("src=", "@import", "url(", "<script", "http:", "https:", '="//'):
        assert external not in page
    assert re.findall(r'href="([^"]*)"', page) == ["/static/pages/verify.css"]


def test_verify_page_revoked_shows_the_reason():
    page = verify_page(make_certificate(), "revoked", "复查发现应急队伍人数不足15人")
    assert "已撤销" in page and "复查发现应急队伍人数不足15人" in page
    assert "status valid" not in page


def test_verify_page_unknown_serial():
    page = verify_page(None, "unknown", serial="KF-2099-9999")
    assert "未查到" in page and "KF-2099-9999" in page


def test_verify_page_expired_certificate():
    page = verify_page(make_certificate(), "valid", as_of=dt.date(2028, 1, 1))
    assert "已过期" in page and "status valid" not in page


def test_verify_page_escapes_html():
    page = verify_page(make_certificate(), "revoked", "<script>alert(1)</script>")
    assert "<script>" not in page and "&lt;script&gt;" in page


# ---------------------------------------------------------------------------------------------
# The certificate a PDF names


@pytest.fixture(scope="module")
def certificate_pdf(keys) -> tuple[bytes, str]:
    from pdfgen.certificate import render_certificate

    token = sign(make_certificate(), keys[0])
    return render_certificate(make_certificate(), token), token


def test_the_pdf_names_its_certificate_and_signature(certificate_pdf):
    pdf, token = certificate_pdf
    assert reference_in_pdf(pdf) == ("KF-2024-0001", signature_of(token))
    assert pdf_keywords("KF-2024-0001", token).encode() in pdf


def test_the_reference_is_found_after_another_program_re_saves_the_file(certificate_pdf):
    from pypdf import PdfReader, PdfWriter

    pdf, token = certificate_pdf
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_metadata({"/Producer": "某PDF编辑器"})
    out = io.BytesIO()
    writer.write(out)
    resaved = out.getvalue()
    assert pdf_keywords("KF-2024-0001", token).encode() not in resaved  # pypdf escapes '-' and ':'
    assert reference_in_pdf(resaved) == ("KF-2024-0001", signature_of(token))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_damaged_files_never_raise(certificate_pdf, data):
    pdf, token = certificate_pdf
    damaged = bytearray(pdf)
    for _ in range(data.draw(st.integers(1, 20))):
        damaged[data.draw(st.integers(0, len(pdf) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(pdf)))
    for candidate in (bytes(damaged), pdf[:cut], data.draw(st.binary(max_size=200))):
        found = reference_in_pdf(candidate)
        assert found is None or all(isinstance(part, str) for part in found)


def test_no_reference_in_a_pdf_without_one():
    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    canvas = Canvas(out)
    canvas.setKeywords("dabiao-certificate: not a reference")
    canvas.drawString(72, 72, "x")
    canvas.save()
    assert reference_in_pdf(out.getvalue()) is None and reference_in_pdf(b"") is None
