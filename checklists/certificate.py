"""What an acceptance certificate (验收合格证书) certifies: the signed claims, the serial format,
the address its QR code points to, and how a certificate PDF names its certificate. Pure data and
text; signing is server/services/certificates.py, drawing is pdfgen/certificate.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

Serial = Annotated[str, Meta(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)+$", max_length=40)]
Sha256Hex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
CertificateStatus = Literal["valid", "revoked", "unknown"]
# What an uploaded file is, checked against the issued original (server.services.acceptance):
# the original byte for byte; a file naming a genuine certificate whose bytes differ (edited
# after issue); one naming a certificate that was not issued with that signature; or none.
FileCheck = Literal["original", "modified", "forged", "not_a_certificate"]

# The certificate PDF names its certificate in the document's Keywords: this mark, the serial and
# the signature of the issued token. A file can so be traced to its certificate without the QR
# code; what it certifies is the issuer's record (the whole token would cost a twentieth of the
# rendering time, for an offline check nobody asked for).
PDF_MARK = "dabiao-certificate:"


class CertificateDimension(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One 有 of the certified result: its code, name, whether it passed and its score."""

    code: str
    name: str
    passed: bool
    score: float | None = None


class Certificate(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an acceptance certificate certifies; every field is a signed claim."""

    serial: Serial  # e.g. KF-2024-7QK3M9XD2HBT (KF-2024-0001 before issue 16: still valid)
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


def verify_url(base: str, serial: str) -> str:
    """The public verification address printed in the QR code: {base}/verify/{serial}."""
    return f"{base.rstrip('/')}/verify/{serial}"


def snapshot_hash(result: object) -> str:
    """sha256 (hex) of the msgspec JSON encoding of a scoring Result (or any struct)."""
    return hashlib.sha256(msgspec.json.encode(result)).hexdigest()


def pdf_keywords(serial: str, token: str) -> str:
    """What a certificate PDF carries in its Keywords: PDF_MARK, the serial, ':', the signature."""
    return f"{PDF_MARK}{serial}:{signature_of(token)}"


def signature_of(token: str) -> str:
    """The signature part of a compact JWS (base64url)."""
    return token.rsplit(".", 1)[-1]


def short_signature(token: str, head: int = 16, tail: int = 8) -> str:
    """The signature shortened for print: first and last characters around an ellipsis."""
    sig = signature_of(token)
    return sig if len(sig) <= head + tail + 1 else f"{sig[:head]}…{sig[-tail:]}"
