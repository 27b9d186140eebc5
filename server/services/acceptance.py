"""Acceptance certificates: issued (signed) when a reviewer accepts, looked up by serial for the
public verify page, revocable with a reason.

The signed token (compact JWS, EdDSA) is stored as issued; `lookup` verifies it again on every
read, so a certificate altered in the database shows as invalid rather than as valid.

The PDF is a document like any certificate on paper: rendered once when it is issued, kept in the
blob store by its sha256 and served as that same file ever after (`original_pdf`). Rendering and
filing happen outside the writer's transaction (only the sha256 is recorded in one, briefly), so
phones' pushes never wait behind a PDF. A file anyone uploads to the verify page is then checked
against it (`check_file`): the original byte for byte, or a copy that was edited, or a signature
that does not verify.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import sqlite3
from collections.abc import Sequence

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from checklists.certificate import (
    Certificate,
    CertificateDimension,
    CertificateStatus,
    FileCheck,
    signature_of,
    snapshot_hash,
    verify_url,
)
from checklists.loader import Catalog
from checklists.model import Result
from server.errors import Conflict, InvalidInput, NotFound
from server.services.access import Principal, require
from server.services.certificates import CertificateInvalid, reference_in_pdf, sign, verify
from server.store import assessments, audit, certificates, orgs
from server.store.blobs import BlobStore
from server.store.db import stamp_on, transaction
from server.store.orgs import OrgRef

log = logging.getLogger("dabiao.acceptance")

# [D] The sources set no validity period; 003 says the standard is to be kept "长期坚持", so a
# certificate is re-checked after three years. Configurable with DABIAO_CERT_VALIDITY_YEARS.
DEFAULT_VALIDITY_YEARS = 3


def issuer_of(chain: Sequence[OrgRef]) -> tuple[str, str]:
    """(bureau name, serial prefix) of the county-level bureau above a unit, e.g.
    ('长沙市开福区应急管理局', 'KF')."""
    county = next((r for r in chain if r.level == "county"), chain[0])
    city = next((r for r in chain if r.level == "city"), None)
    name = (city.name if city else "") + county.name + "应急管理局"
    prefix = county.id.rsplit("-", 1)[-1].upper()
    return name, prefix


SERIAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: no 0/O or 1/I to misread on paper


def new_serial(prefix: str, year: int) -> str:
    """A serial nobody can guess, e.g. KF-2024-7QK3M9XD2HBT: the bureau's prefix and the year, then
    60 random bits. Sequential serials (KF-2024-0001, still valid where issued) let anyone walk
    /verify and list every certificate with its unit and revocation reason."""
    return f"{prefix}-{year}-{''.join(secrets.choice(SERIAL_ALPHABET) for _ in range(12))}"


def issue(
    conn: sqlite3.Connection,
    catalog: Catalog,
    key: Ed25519PrivateKey,
    assessment_id: str,
    issued_by: int | None,
    issued_on: dt.date,
    base_url: str,
    validity_years: int = DEFAULT_VALIDITY_YEARS,
) -> Certificate:
    """Sign and store the certificate of an accepted assessment (inside the caller's transaction).
    Its PDF is filed afterwards, outside it (`original_pdf`)."""
    row = assessments.get(conn, assessment_id)
    if row is None or row.result is None:
        raise NotFound(f"评估不存在或尚无结果 / no scored assessment {assessment_id}")
    result = msgspec.json.decode(row.result, type=Result)
    standard = catalog.get(row.standard_ref)
    chain = orgs.chain(conn, row.org_path)
    issuer, prefix = issuer_of(chain)
    year = issued_on.year
    serial = new_serial(prefix, year)
    try:
        valid_until = issued_on.replace(year=year + validity_years)
    except ValueError:  # 29 February
        valid_until = issued_on.replace(year=year + validity_years, day=28)
    cert = Certificate(
        serial=serial,
        unit_id=row.org_id,
        unit_name=row.org_name,
        unit_path="".join(r.name for r in chain),
        standard_id=standard.id,
        standard_version=standard.version,
        standard_title=standard.title,
        standard_hash=standard.content_hash,
        result_hash=snapshot_hash(result),
        label=standard.label,
        score=result.score,
        dimensions=[CertificateDimension(code=d.code, name=d.name, passed=d.passed, score=d.score)
                    for d in result.dimensions],
        issued_on=issued_on,
        valid_until=valid_until,
        issuer=issuer,
        verify_url=verify_url(base_url, serial),
    )
    certificates.insert(conn, serial, assessment_id, row.org_id, sign(cert, key), issued_on.isoformat(),
                        valid_until.isoformat(), issued_by)
    return cert


class Lookup(msgspec.Struct, frozen=True, kw_only=True):
    """What the verify page shows for a serial."""

    serial: str
    status: CertificateStatus
    reason: str = ""
    certificate: Certificate | None = None
    token: str | None = None
    assessment_id: str | None = None
    pdf_sha256: str | None = None  # the issued PDF's fingerprint, once filed


def lookup(conn: sqlite3.Connection, key: Ed25519PrivateKey, serial: str) -> Lookup:
    """A certificate by serial, its signature verified again."""
    row = certificates.get(conn, serial)
    if row is None:
        return Lookup(serial=serial, status="unknown")
    try:
        cert = verify(row.token, key.public_key())
    except CertificateInvalid as exc:
        return Lookup(serial=serial, status="unknown", reason=f"签名校验失败：{exc}")
    if cert.serial != serial:
        return Lookup(serial=serial, status="unknown", reason="证书编号与签名内容不符")
    if row.revoked_at:
        return Lookup(serial=serial, status="revoked", reason=row.revoke_reason or "", certificate=cert,
                      token=row.token, assessment_id=row.assessment_id, pdf_sha256=row.pdf_sha256)
    return Lookup(serial=serial, status="valid", certificate=cert, token=row.token,
                  assessment_id=row.assessment_id, pdf_sha256=row.pdf_sha256)


def original_pdf(conn: sqlite3.Connection, blobs: BlobStore, key: Ed25519PrivateKey, serial: str) -> bytes:
    """The certificate's PDF as issued. The first call renders it from the verified token (outside
    any transaction), keeps it in the blob store and records its sha256 (one short write); every
    later call returns those same bytes. NotFound for an unknown serial or a record that no
    longer verifies."""
    from pdfgen.certificate import render_certificate  # reportlab only where PDFs are made

    found = lookup(conn, key, serial)
    if found.certificate is None or found.token is None:
        raise NotFound(f"证书无效 / certificate invalid: {found.reason or serial}")
    if found.pdf_sha256 is not None:
        return blobs.get(found.pdf_sha256)
    data = render_certificate(found.certificate, found.token)
    digest = hashlib.sha256(data).hexdigest()
    blobs.put(digest, data)
    with transaction(conn):
        filed = certificates.file_pdf(conn, serial, digest)
    if not filed:  # another request filed its rendering first: that one is the original
        row = certificates.get(conn, serial)
        assert row is not None and row.pdf_sha256 is not None
        return blobs.get(row.pdf_sha256)
    return data


def check_file(conn: sqlite3.Connection, key: Ed25519PrivateKey, data: bytes) -> tuple[Lookup, FileCheck]:
    """What an uploaded file is: the issued original of a certificate, an edited copy of one (it
    names a certificate and its signature as issued, but has other bytes), a forgery (it names a
    certificate that was not issued with that signature), or no certificate. The Lookup is of the
    certificate the file names, when that certificate is genuine."""
    serial = certificates.with_pdf(conn, hashlib.sha256(data).hexdigest())
    if serial is not None:
        return lookup(conn, key, serial), "original"
    reference = reference_in_pdf(data)
    if reference is None:
        return Lookup(serial="", status="unknown"), "not_a_certificate"
    named, signature = reference
    found = lookup(conn, key, named)
    if found.token is None or not hmac.compare_digest(signature_of(found.token), signature):
        return Lookup(serial="", status="unknown"), "forged"  # no such certificate was issued
    return found, "modified"


def revoke(conn: sqlite3.Connection, who: Principal, serial: str, reason: str, at: str) -> None:
    """Revoke with a reason (reviewers of the unit's district); audited like every transition.
    Inside the caller's transaction."""
    row = certificates.get(conn, serial)
    if row is None:
        raise NotFound(f"证书不存在 / no such certificate: {serial}")
    require(who, "review", row.org_path)
    if not reason.strip():
        raise InvalidInput("撤销须说明理由 / a revocation needs a reason", field="reason")
    if row.revoked_at:
        raise Conflict("证书已被撤销 / certificate already revoked")
    certificates.revoke(conn, serial, at, reason.strip())
    audit.append(conn, who.user_id, "revoke_certificate", "certificate", serial, row.assessment_id,
                 {"revoked": False}, {"revoked": True, "reason": reason.strip()})


class Acceptance:
    """Certificates of one deployment: its signing key, blob store, address and validity."""

    def __init__(self, conn: sqlite3.Connection, catalog: Catalog, key: Ed25519PrivateKey, blobs: BlobStore,
                 today: dt.date, base_url: str, validity_years: int = DEFAULT_VALIDITY_YEARS):
        self.conn = conn
        self.catalog = catalog
        self.key = key
        self.blobs = blobs
        self.today = today
        self.base_url = base_url
        self.validity_years = validity_years

    def issue(self, conn: sqlite3.Connection, assessment_id: str, issued_by: int) -> Certificate:
        """Sign and store the certificate, dated today, inside the acceptance's transaction."""
        return issue(conn, self.catalog, self.key, assessment_id, issued_by, self.today, self.base_url,
                     self.validity_years)

    def file_original(self, serial: str) -> None:
        """Render and file the PDF of a certificate just issued (after its transaction). A failure
        here (no font, the blob store away) leaves the acceptance as it is: the PDF is filed at the
        first download instead."""
        try:
            original_pdf(self.conn, self.blobs, self.key, serial)
        except Exception:
            log.exception("certificate %s: filing its PDF failed; it is filed at the first download", serial)

    def pdf_of(self, who: Principal, assessment_id: str) -> tuple[str, bytes]:
        """(serial, PDF) of an assessment's latest certificate, for a caller who may read it."""
        row = assessments.get(self.conn, assessment_id)
        if row is None:
            raise NotFound(f"评估不存在 / no such assessment: {assessment_id}")
        require(who, "read", row.org_path)
        serial = certificates.latest_of(self.conn, assessment_id)
        if serial is None:
            raise NotFound("该评估尚未验收发证 / no certificate for this assessment")
        return serial, original_pdf(self.conn, self.blobs, self.key, serial)

    def lookup(self, serial: str) -> Lookup:
        """A certificate by serial, as the verify page shows it."""
        return lookup(self.conn, self.key, serial)

    def check_file(self, data: bytes) -> tuple[Lookup, FileCheck]:
        """What an uploaded file is (see check_file)."""
        return check_file(self.conn, self.key, data)

    def revoke(self, who: Principal, serial: str, reason: str) -> Lookup:
        """Revoke a certificate, dated on the business date (as issue dates are); returns what the
        verify page now shows."""
        with transaction(self.conn):
            revoke(self.conn, who, serial, reason, stamp_on(self.today))
        return self.lookup(serial)
