"""Acceptance certificates (`certificates`): the signed token as issued, dates, revocation, and the
sha256 of the PDF filed as the original."""

from __future__ import annotations

import sqlite3

import msgspec

from server.store.db import TOP_OF_PATH, as_struct, as_structs


class CertificateRow(msgspec.Struct, frozen=True, kw_only=True):
    serial: str
    assessment_id: str
    org_id: str
    org_path: str
    token: str
    issued_on: str
    valid_until: str
    issued_by: int | None
    revoked_at: str | None
    revoke_reason: str | None
    pdf_sha256: str | None


def get(conn: sqlite3.Connection, serial: str) -> CertificateRow | None:
    """A certificate with its unit's path, or None."""
    return as_struct(conn.execute(
        "SELECT c.*, o.path AS org_path FROM certificates c JOIN orgs o ON o.id = c.org_id WHERE c.serial = ?",
        (serial,)).fetchone(), CertificateRow)


def insert(conn: sqlite3.Connection, serial: str, assessment_id: str, org_id: str, token: str, issued_on: str,
           valid_until: str, issued_by: int | None) -> None:
    """Store a newly signed certificate."""
    conn.execute(
        "INSERT INTO certificates (serial, assessment_id, org_id, token, issued_on, valid_until, issued_by) "
        "VALUES (?,?,?,?,?,?,?)",
        (serial, assessment_id, org_id, token, issued_on, valid_until, issued_by),
    )


def latest_of(conn: sqlite3.Connection, assessment_id: str) -> str | None:
    """The serial of an assessment's most recently issued certificate."""
    row = conn.execute("SELECT serial FROM certificates WHERE assessment_id = ? ORDER BY issued_on DESC LIMIT 1",
                       (assessment_id,)).fetchone()
    return None if row is None else row[0]


def with_pdf(conn: sqlite3.Connection, sha256: str) -> str | None:
    """The serial of the certificate whose filed original has this sha256."""
    row = conn.execute("SELECT serial FROM certificates WHERE pdf_sha256 = ?", (sha256,)).fetchone()
    return None if row is None else row[0]


def file_pdf(conn: sqlite3.Connection, serial: str, sha256: str) -> bool:
    """Record the original's sha256 unless one is already recorded; True when this one was."""
    return conn.execute("UPDATE certificates SET pdf_sha256 = ? WHERE serial = ? AND pdf_sha256 IS NULL",
                        (sha256, serial)).rowcount > 0


def revoke(conn: sqlite3.Connection, serial: str, at: str, reason: str) -> None:
    """Record a revocation with its reason."""
    conn.execute("UPDATE certificates SET revoked_at = ?, revoke_reason = ? WHERE serial = ?", (at, reason, serial))


class CertificateListed(msgspec.Struct, frozen=True, kw_only=True):
    """A certificate as a county's list shows it."""

    serial: str
    assessment_id: str
    org_name: str
    issued_on: str
    valid_until: str
    revoked_at: str | None
    revoke_reason: str | None


def under(conn: sqlite3.Connection, root: str) -> list[CertificateListed]:
    """Every certificate of a unit under `root`, newest first."""
    return as_structs(conn.execute(
        "SELECT c.serial, c.assessment_id, o.name AS org_name, c.issued_on, c.valid_until, c.revoked_at, "
        "c.revoke_reason FROM certificates c JOIN orgs o ON o.id = c.org_id WHERE o.path >= ? AND o.path < ? "
        "ORDER BY c.issued_on DESC, c.serial DESC", (root, root + TOP_OF_PATH)).fetchall(), CertificateListed)
