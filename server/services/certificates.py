"""Signing and checking acceptance certificates: Ed25519 keys, the certificate as a compact JWS
(pyjwt, algorithm pinned to EdDSA), verification, and finding the certificate a PDF names.

No database and no clock. Revocation is stored by the server (server/services/acceptance.py); a
PDF's metadata is read in a bounded child process (server/services/untrusted_pdf.py).
"""

from __future__ import annotations

import re

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from checklists.certificate import PDF_MARK, Certificate
from server.services import untrusted_pdf

ALGORITHM = "EdDSA"
TOKEN_TYPE = "dabiao-cert+jwt"
_PDF_REFERENCE = re.compile(re.escape(PDF_MARK).encode() + rb"([A-Z0-9]+(?:-[A-Z0-9]+)+):([A-Za-z0-9_-]{40,})")


class CertificateInvalid(ValueError):
    """A certificate token that must not be trusted. `reason` is a stable code
    (malformed, wrong_alg, bad_signature, bad_claims); the message says what is wrong."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


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
    """An Ed25519 private key from PEM; ValueError for any other key."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; ValueError for any other key."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


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


def reference_in_pdf(data: bytes) -> tuple[str, str] | None:
    """(serial, signature) that a certificate PDF names in its Keywords (see PDF_MARK), or None.
    Unverified: compare the signature with the issued token's.

    As reportlab writes it, the reference stands in the file as plain text; a file re-saved by
    another program may escape it or move the document information into a compressed object
    stream, so then the PDF is read with pypdf, within the limits of untrusted_pdf."""
    found = _PDF_REFERENCE.search(data)
    if found is None:
        found = _PDF_REFERENCE.search(untrusted_pdf.keywords(data).encode())
    return (found.group(1).decode(), found.group(2).decode()) if found else None
