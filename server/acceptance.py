"""Acceptance certificates in storage: issued (signed) when a reviewer accepts, looked up by
serial for the public verify page, revocable with a reason.

The signed token (compact JWS, EdDSA) is stored as issued; `lookup` verifies it again on every
read, so a certificate altered in the database shows as invalid rather than as valid.

The PDF is a document like any certificate on paper: rendered once when it is issued, kept in the
blob store by its sha256 and served as that same file ever after (`original_pdf`). A file anyone
uploads to the verify page is then checked against it (`check_file`): the original byte for byte,
or a copy that was edited, or a signature that does not verify.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import sqlite3

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from checklists.loader import Catalog
from checklists.model import Result
from server.access import require
from server.audit import audit
from server.auth import Principal
from server.certificates import (
    Certificate,
    CertificateDimension,
    CertificateInvalid,
    CertificateStatus,
    FileCheck,
    sign,
    snapshot_hash,
    reference_in_pdf,
    signature_of,
    verify,
    verify_url,
)
from server.problems import Conflict, InvalidInput, NotFound
from sync.attachments import BlobStore

# [D] The sources set no validity period; 003 says the standard is to be kept "长期坚持", so a
# certificate is re-checked after three years. Configurable with DABIAO_CERT_VALIDITY_YEARS.
DEFAULT_VALIDITY_YEARS = 3


def ancestors(conn: sqlite3.Connection, path: str) -> list[sqlite3.Row]:
    """The orgs on a path ('/hn/hn-cs/hn-cs-kf/x/'), top first, the unit itself last."""
    ids = [p for p in path.strip("/").split("/") if p]
    rows = {r["id"]: r for r in conn.execute(
        f"SELECT id, name, level, path FROM orgs WHERE id IN ({','.join('?' * len(ids))})", ids)}
    return [rows[i] for i in ids if i in rows]


def issuer_of(chain: list[sqlite3.Row]) -> tuple[str, str]:
    """(bureau name, serial prefix) of the county-level bureau above a unit, e.g.
    ('长沙市开福区应急管理局', 'KF')."""
    county = next((r for r in chain if r["level"] == "county"), chain[0])
    city = next((r for r in chain if r["level"] == "city"), None)
    name = (city["name"] if city else "") + county["name"] + "应急管理局"
    prefix = county["id"].rsplit("-", 1)[-1].upper()
    return name, prefix


def issue(
    conn: sqlite3.Connection,
    catalog: Catalog,
    key: Ed25519PrivateKey,
    assessment_id: str,
    issued_by: int | None,
    issued_on: dt.date,
    base_url: str,
    validity_years: int = DEFAULT_VALIDITY_YEARS,
    blobs: BlobStore | None = None,
) -> Certificate:
    """Sign and store the certificate of an accepted assessment (inside the caller's transaction);
    with `blobs`, its PDF is rendered and filed as the original at once."""
    row = conn.execute(
        "SELECT a.id, a.org_id, a.standard_ref, a.result, o.name, o.path FROM assessments a "
        "JOIN orgs o ON o.id = a.org_id WHERE a.id = ?",
        (assessment_id,),
    ).fetchone()
    if row is None or row["result"] is None:
        raise NotFound(f"评估不存在或尚无结果 / no scored assessment {assessment_id}")
    result = msgspec.json.decode(row["result"], type=Result)
    standard = catalog.get(row["standard_ref"])
    chain = ancestors(conn, row["path"])
    issuer, prefix = issuer_of(chain)
    year = issued_on.year
    seq = conn.execute("SELECT COUNT(*) FROM certificates WHERE serial LIKE ?", (f"{prefix}-{year}-%",)).fetchone()[0]
    serial = f"{prefix}-{year}-{seq + 1:04d}"
    try:
        valid_until = issued_on.replace(year=year + validity_years)
    except ValueError:  # 29 February
        valid_until = issued_on.replace(year=year + validity_years, day=28)
    cert = Certificate(
        serial=serial,
        unit_id=row["org_id"],
        unit_name=row["name"],
        unit_path="".join(r["name"] for r in chain),
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
    token = sign(cert, key)
    conn.execute(
        "INSERT INTO certificates (serial, assessment_id, org_id, token, issued_on, valid_until, issued_by) "
        "VALUES (?,?,?,?,?,?,?)",
        (serial, assessment_id, row["org_id"], token, issued_on.isoformat(), valid_until.isoformat(), issued_by),
    )
    if blobs is not None:
        original_pdf(conn, blobs, key, serial)
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
    row = conn.execute("SELECT * FROM certificates WHERE serial = ?", (serial,)).fetchone()
    if row is None:
        return Lookup(serial=serial, status="unknown")
    try:
        cert = verify(row["token"], key.public_key())
    except CertificateInvalid as exc:
        return Lookup(serial=serial, status="unknown", reason=f"签名校验失败：{exc}")
    if cert.serial != serial:
        return Lookup(serial=serial, status="unknown", reason="证书编号与签名内容不符")
    if row["revoked_at"]:
        return Lookup(serial=serial, status="revoked", reason=row["revoke_reason"] or "", certificate=cert,
                      token=row["token"], assessment_id=row["assessment_id"], pdf_sha256=row["pdf_sha256"])
    return Lookup(serial=serial, status="valid", certificate=cert, token=row["token"],
                  assessment_id=row["assessment_id"], pdf_sha256=row["pdf_sha256"])


def original_pdf(conn: sqlite3.Connection, blobs: BlobStore, key: Ed25519PrivateKey, serial: str) -> bytes:
    """The certificate's PDF as issued. The first call renders it from the verified token, keeps it
    in the blob store and records its sha256 (inside the caller's transaction); every later call
    returns those same bytes. NotFound for an unknown serial or a record that no longer verifies."""
    from pdfgen.certificate import render_certificate  # reportlab only where PDFs are made

    found = lookup(conn, key, serial)
    if found.certificate is None or found.token is None:
        raise NotFound(f"证书无效 / certificate invalid: {found.reason or serial}")
    if found.pdf_sha256 is not None:
        return blobs.get(found.pdf_sha256)
    data = render_certificate(found.certificate, found.token)
    digest = hashlib.sha256(data).hexdigest()
    blobs.put(digest, data)
    filed = conn.execute("UPDATE certificates SET pdf_sha256 = ? WHERE serial = ? AND pdf_sha256 IS NULL",
                         (digest, serial)).rowcount
    if not filed:  # another request filed its rendering first: that one is the original
        digest = conn.execute("SELECT pdf_sha256 FROM certificates WHERE serial = ?", (serial,)).fetchone()[0]
        return blobs.get(digest)
    return data


def check_file(conn: sqlite3.Connection, key: Ed25519PrivateKey, data: bytes) -> tuple[Lookup, FileCheck]:
    """What an uploaded file is: the issued original of a certificate, an edited copy of one (it
    names a certificate and its signature as issued, but has other bytes), a forgery (it names a
    certificate that was not issued with that signature), or no certificate. The Lookup is of the
    certificate the file names, when that certificate is genuine."""
    digest = hashlib.sha256(data).hexdigest()
    row = conn.execute("SELECT serial FROM certificates WHERE pdf_sha256 = ?", (digest,)).fetchone()
    if row is not None:
        return lookup(conn, key, row[0]), "original"
    reference = reference_in_pdf(data)
    if reference is None:
        return Lookup(serial="", status="unknown"), "not_a_certificate"
    serial, signature = reference
    found = lookup(conn, key, serial)
    if found.token is None or not hmac.compare_digest(signature_of(found.token), signature):
        return Lookup(serial="", status="unknown"), "forged"  # no such certificate was issued
    return found, "modified"


def revoke(conn: sqlite3.Connection, who: Principal, serial: str, reason: str, at: str) -> None:
    """Revoke with a reason (reviewers of the unit's district); audited like every transition."""
    row = conn.execute(
        "SELECT c.revoked_at, o.path, c.assessment_id FROM certificates c JOIN orgs o ON o.id = c.org_id "
        "WHERE c.serial = ?", (serial,)
    ).fetchone()
    if row is None:
        raise NotFound(f"证书不存在 / no such certificate: {serial}")
    require(who, "review", row["path"])
    if not reason.strip():
        raise InvalidInput("撤销须说明理由 / a revocation needs a reason", field="reason")
    if row["revoked_at"]:
        raise Conflict("证书已被撤销 / certificate already revoked")
    conn.execute("UPDATE certificates SET revoked_at = ?, revoke_reason = ? WHERE serial = ?", (at, reason.strip(), serial))
    audit(conn, who, "revoke_certificate", "certificate", serial, row["assessment_id"], {"revoked": False},
          {"revoked": True, "reason": reason.strip()})
