"""Acceptance certificates (验收合格证书): the Certificate struct, Ed25519 signing as a compact JWS
(pyjwt, algorithm pinned to EdDSA), verification, and the public /verify/{serial} page.

Pure: no database and no clock. Revocation is stored by the server; here it is only a status the
page displays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import re
import zlib
from typing import Annotated, Literal

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from msgspec import Meta, Struct

ALGORITHM = "EdDSA"
TOKEN_TYPE = "dabiao-cert+jwt"

Serial = Annotated[str, Meta(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)+$", max_length=40)]
Sha256Hex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
CertificateStatus = Literal["valid", "revoked", "unknown"]
# What an uploaded file is, checked against the issued original (server.acceptance.check_file):
# the original byte for byte; a file naming a genuine certificate whose bytes differ (edited
# after issue); one naming a certificate that was not issued with that signature; or none.
FileCheck = Literal["original", "modified", "forged", "not_a_certificate"]

# The certificate PDF names its certificate in the document's Keywords: this mark, the serial and
# the signature of the issued token. A file can so be traced to its certificate without the QR
# code; what it certifies is the issuer's record (the whole token would cost a twentieth of the
# rendering time, for an offline check nobody asked for).
PDF_MARK = "dabiao-certificate:"
_PDF_REFERENCE = re.compile(re.escape(PDF_MARK).encode() + rb"([A-Z0-9]+(?:-[A-Z0-9]+)+):([A-Za-z0-9_-]{40,})")


class CertificateDimension(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One 有 of the certified result: its code, name, whether it passed and its score."""

    code: str
    name: str
    passed: bool
    score: float | None = None


class Certificate(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an acceptance certificate certifies; every field is a signed claim."""

    serial: Serial  # e.g. KF-2024-0001
    unit_id: str
    unit_name: str  # 望麓园街道
    unit_path: str  # 湖南省长沙市开福区望麓园街道
    standard_id: str
    standard_version: str
    standard_title: str
    standard_hash: Sha256Hex  # content hash of the standard version
    result_hash: Sha256Hex  # snapshot_hash() of the scoring result that was accepted
    label: str = "六有"  # the standard's short label: 六有 / 三有 / 四有
    score: float | None = None
    dimensions: list[CertificateDimension] = []
    issued_on: dt.date
    valid_until: dt.date
    issuer: str  # 长沙市开福区应急管理局
    verify_url: str  # {base}/verify/{serial}

    @property
    def standard_ref(self) -> str:
        return f"{self.standard_id}@{self.standard_version}"


class CertificateInvalid(ValueError):
    """A certificate token that must not be trusted. `reason` is a stable code
    (malformed, wrong_alg, bad_signature, bad_claims); the message says what is wrong."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def verify_url(base: str, serial: str) -> str:
    """The public verification address printed in the QR code: {base}/verify/{serial}."""
    return f"{base.rstrip('/')}/verify/{serial}"


def snapshot_hash(result: object) -> str:
    """sha256 (hex) of the msgspec JSON encoding of a scoring Result (or any struct)."""
    return hashlib.sha256(msgspec.json.encode(result)).hexdigest()


# ---------------------------------------------------------------------------------------------
# Keys


def generate_keypair() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    """A fresh Ed25519 key pair for a issuing bureau."""
    private = Ed25519PrivateKey.generate()
    return private, private.public_key()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM of a private key (unencrypted: protect the file that holds it)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


# ---------------------------------------------------------------------------------------------
# Signing and verifying

_claims_decoder = msgspec.json.Decoder(Certificate)


def sign(cert: Certificate, private_key: Ed25519PrivateKey, *, kid: str | None = None) -> str:
    """The certificate as a compact JWS (header.payload.signature), signed with Ed25519."""
    claims = msgspec.to_builtins(cert)
    headers: dict[str, str] = {"typ": TOKEN_TYPE}
    if kid:
        headers["kid"] = kid
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers=headers)


def verify(token: str, public_key: Ed25519PublicKey) -> Certificate:
    """The certificate a token carries, if its Ed25519 signature checks out with `public_key`.

    Raises CertificateInvalid for a malformed token, any algorithm other than EdDSA (alg none,
    HS256 with the public key as secret, ...), a signature that does not match (tampered payload,
    other key) or claims that are not a Certificate.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise CertificateInvalid("malformed", f"证书令牌格式错误 / malformed token: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise CertificateInvalid(
            "wrong_alg", f"证书签名算法不符 / algorithm {header.get('alg')!r} is not accepted (only {ALGORITHM})"
        )
    try:
        # Only the signature is checked here; the claims are validated as a Certificate below.
        claims = jwt.decode(token, public_key, algorithms=[ALGORITHM], options={"verify_exp": False})
    except jwt.InvalidAlgorithmError as exc:
        raise CertificateInvalid("wrong_alg", f"证书签名算法不符 / {exc}") from exc
    except jwt.InvalidSignatureError as exc:
        raise CertificateInvalid("bad_signature", "证书签名无效 / signature does not verify") from exc
    except jwt.DecodeError as exc:
        raise CertificateInvalid("malformed", f"证书令牌格式错误 / malformed token: {exc}") from exc
    except jwt.InvalidTokenError as exc:
        raise CertificateInvalid("bad_claims", f"证书内容无效 / {exc}") from exc
    try:
        return _claims_decoder.decode(msgspec.json.encode(claims))
    except msgspec.ValidationError as exc:
        raise CertificateInvalid("bad_claims", f"证书内容无效 / invalid claims: {exc}") from exc


def pdf_keywords(serial: str, token: str) -> str:
    """What a certificate PDF carries in its Keywords: PDF_MARK, the serial, ':', the signature."""
    return f"{PDF_MARK}{serial}:{signature_of(token)}"


def reference_in_pdf(data: bytes) -> tuple[str, str] | None:
    """(serial, signature) that a certificate PDF names in its Keywords (see PDF_MARK), or None.
    Unverified: compare the signature with the issued token's.

    As reportlab writes it, the reference stands in the file as plain text; a file re-saved by
    another program may escape it or move the document information into a compressed object
    stream, so then the PDF is read with pypdf."""
    found = _PDF_REFERENCE.search(data)
    if found is None:
        found = _PDF_REFERENCE.search(_pdf_keywords(data).encode())
    return (found.group(1).decode(), found.group(2).decode()) if found else None


def _pdf_keywords(data: bytes) -> str:
    """The Keywords of a PDF's document information, or "" (also for a file that is no PDF)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        info = PdfReader(io.BytesIO(data), strict=False).metadata
        keywords = info.get("/Keywords") if info else None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, zlib.error):
        return ""  # not a PDF, or one too damaged to read: it carries no certificate we can trust
    return str(keywords) if keywords else ""


def signature_of(token: str) -> str:
    """The signature part of a compact JWS (base64url)."""
    return token.rsplit(".", 1)[-1]


def short_signature(token: str, head: int = 16, tail: int = 8) -> str:
    """The signature shortened for print: first and last characters around an ellipsis."""
    sig = signature_of(token)
    return sig if len(sig) <= head + tail + 1 else f"{sig[:head]}…{sig[-tail:]}"


# ---------------------------------------------------------------------------------------------
# The public verification page


def _short_hash(h: str) -> str:
    return f"{h[:12]}…{h[-6:]}"


def _cn_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body{{margin:0;font-family:-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#f4f4f4;color:#1a1a1a}}
main{{max-width:34rem;margin:0 auto;padding:1rem}}
header{{text-align:center;color:#c8161d;font-size:1.05rem;letter-spacing:.1em;padding:.5rem 0;border-bottom:2px solid #c8161d}}
.status{{margin:1rem 0;padding:1rem;border-radius:.5rem;text-align:center;font-size:1.5rem;font-weight:700}}
.valid{{background:#e7f4ea;color:#1e7b34;border:1px solid #1e7b34}}
.revoked{{background:#fdeaea;color:#b00020;border:1px solid #b00020}}
.expired{{background:#fff4e0;color:#8a5a00;border:1px solid #8a5a00}}
.unknown{{background:#eee;color:#444;border:1px solid #999}}
.status small{{display:block;font-size:.9rem;font-weight:400;margin-top:.4rem}}
dl{{background:#fff;border-radius:.5rem;padding:.5rem 1rem;margin:0}}
dt{{color:#666;font-size:.85rem;margin-top:.6rem}}
dd{{margin:0 0 .3rem 0;word-break:break-all}}
ul{{margin:.2rem 0 .3rem 1.2rem;padding:0}}
.ok{{color:#1e7b34}} .no{{color:#b00020}}
footer{{color:#888;font-size:.8rem;text-align:center;margin:1rem 0}}
.upload{{margin:1rem 0 0;padding:.8rem;background:#fff;border-radius:.5rem;color:#1a1a1a;font-size:.9rem}}
.upload input{{display:block;margin:.5rem auto;max-width:100%}}
.upload button{{font-size:1rem;padding:.4rem 1.2rem;border:0;border-radius:.4rem;background:#c8161d;color:#fff}}
</style>
</head>
<body><main>
<header>基层应急能力达标证书查验</header>
{status}
{details}
<footer>{footer}</footer>
</main></body>
</html>
"""


_FILE_CHECKS: dict[str, tuple[str, str, str]] = {  # FileCheck -> (css class, headline, explanation)
    "original": ("valid", "文件与签发原件一致", "上传的文件与发证机关存档的原件逐字节相同，未被改动。"),
    "modified": ("revoked", "文件已被改动", "文件中的电子签名属于下列证书，但文件内容与存档原件不一致，"
                 "可能被编辑或伪造。请以本页所示的证书内容为准。"),
    "forged": ("revoked", "签名无效", "文件所载的证书编号与电子签名不是发证机关签发的，文件不可信。"),
    "not_a_certificate": ("unknown", "未识别为证书", "文件中没有本系统签发的证书签名，请上传发证机关提供的证书PDF原件。"),
}

_UPLOAD_FORM = (
    '<form class="upload" method="post" action="/verify" enctype="multipart/form-data">'
    '<label>核验证书文件（PDF）<input type="file" name="file" accept="application/pdf" required></label>'
    '<button type="submit">上传核验</button></form>'
)


def verify_page(
    cert: Certificate | None,
    status: CertificateStatus,
    reason: str = "",
    *,
    serial: str = "",
    as_of: dt.date | None = None,
    file_check: FileCheck | None = None,
    original_sha256: str | None = None,
) -> str:
    """A small self-contained Chinese HTML page for GET /verify/{serial} (and POST /verify with a
    file): 有效 (valid), 已撤销 with the reason (revoked), 未查到 (unknown) or, for a record whose
    signature no longer verifies, 证书无效 with the reason; then what the certificate certifies.
    A valid certificate whose validity ended before `as_of` is shown as 已过期. `file_check` adds
    the verdict on an uploaded file; `original_sha256` is the fingerprint of the issued PDF."""
    e = html.escape
    check = ""
    if file_check is not None:
        css, headline, explanation = _FILE_CHECKS[file_check]
        check = f'<div class="status {css}">{headline}<small>{explanation}</small></div>'
    footer = "如对查验结果有疑问，请联系发证的应急管理部门。" + _UPLOAD_FORM
    if status == "unknown" or cert is None:
        shown = serial or (cert.serial if cert else "")
        if reason:  # the record exists, but its signature does not verify: never show it as valid
            box = f'<div class="status revoked">证书无效<small>{e(reason)}</small></div>'
            title = "证书无效"
        elif shown or file_check is None:
            box = (
                '<div class="status unknown">未查到该证书'
                f"<small>证书编号 {e(shown) if shown else '（空）'} 不在发证记录中，请核对编号或联系发证机关。</small></div>"
            )
            title = "未查到该证书"
        else:
            box, title = "", "证书文件核验"
        return _PAGE.format(title=title, status=check + box, details="", footer=footer)
    of_record = "" if file_check is None else "证书状态："  # beside the verdict on a file: about the record
    if status == "revoked":
        why = e(reason) if reason else "未说明"
        box = f'<div class="status revoked">{of_record}已撤销<small>撤销原因：{why}</small></div>'
        title = "证书已撤销"
    elif as_of is not None and cert.valid_until < as_of:
        box = f'<div class="status expired">{of_record}已过期<small>有效期至 {e(_cn_date(cert.valid_until))}</small></div>'
        title = "证书已过期"
    else:
        box = f'<div class="status valid">{of_record}有效<small>该证书由发证机关签发，记录真实有效。</small></div>'
        title = "证书有效"
    dims = "".join(
        f'<li>{e(d.name)}：<span class="{"ok" if d.passed else "no"}">{"达标" if d.passed else "未达标"}</span></li>'
        for d in cert.dimensions
    )
    rows = [
        ("证书编号", e(cert.serial)),
        ("受证单位", f"{e(cert.unit_name)}<br><small>{e(cert.unit_path)}</small>"),
        ("认定结果", f"基层应急能力建设“{e(cert.label)}”达标"),
        ("依据标准", f"{e(cert.standard_title)}<br><small>{e(cert.standard_ref)}</small>"),
        ("各项结果", f"<ul>{dims}</ul>" if dims else "—"),
        ("综合得分", f"{cert.score:g} 分" if cert.score is not None else "—"),
        ("发证机关", e(cert.issuer)),
        ("发证日期", e(_cn_date(cert.issued_on))),
        ("有效期至", e(_cn_date(cert.valid_until))),
        ("标准内容哈希", f"<code>{e(_short_hash(cert.standard_hash))}</code>"),
        ("结果快照哈希", f"<code>{e(_short_hash(cert.result_hash))}</code>"),
    ]
    if original_sha256:
        rows.append(("原件文件指纹（SHA-256）", f"<code>{e(original_sha256)}</code>"))
    details = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"
    footer = "本页由发证机关的达标管理系统生成；证书内容经 Ed25519 电子签名。" + _UPLOAD_FORM
    return _PAGE.format(title=e(title), status=check + box, details=details, footer=footer)
