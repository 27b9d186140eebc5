"""Accounts and tokens: argon2id passwords, Ed25519 JWT access tokens, rotating refresh tokens.

Access tokens are short-lived JWTs (algorithm pinned to EdDSA; exp, iat, iss and aud required and
checked). Refresh tokens are opaque random strings stored hashed; each use rotates the token, and
reusing an already-used token revokes its whole family (it means the token was stolen or copied).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
import time
import uuid
from pathlib import Path

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.db import transaction
from server.problems import TooManyRequests, Unauthenticated
from server.settings import Settings

ALGORITHM = "EdDSA"
_hasher = PasswordHasher()  # argon2id, memory-hard (64 MiB by default)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: the user, their role and the org subtree they act in."""

    user_id: int
    username: str
    role: str
    org_id: str
    org_path: str


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_expires_at: str


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def load_or_create_key(path: Path, pem: str | None = None) -> Ed25519PrivateKey:
    """The signing key: from `pem` (a secret in the environment, as on Fly) if given, else the key
    file, generated (mode 600) on first start when there is none."""
    if pem or path.is_file():
        data = pem.encode() if pem else path.read_bytes()
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise ValueError(f"{'key from the environment' if pem else path}: not a PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{'key from the environment' if pem else path}: not an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return key


class TokenService:
    """Issues and checks tokens against one signing key and the database."""

    def __init__(self, settings: Settings, key: Ed25519PrivateKey):
        self.settings = settings
        self.key = key
        self.public_key: Ed25519PublicKey = key.public_key()

    # -- access tokens ------------------------------------------------------------------------

    def access_token(self, principal: Principal, now: float | None = None) -> str:
        now = time.time() if now is None else now
        claims = {
            "sub": str(principal.user_id),
            "name": principal.username,
            "role": principal.role,
            "org": principal.org_id,
            "path": principal.org_path,
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "iat": int(now),
            "exp": int(now + self.settings.access_ttl.total_seconds()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)

    def principal(self, token: str) -> Principal:
        """The caller of a valid access token; Unauthenticated otherwise."""
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("访问令牌已过期，请刷新 / access token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"访问令牌无效 / invalid access token: {exc}") from None
        return Principal(
            user_id=int(claims["sub"]),
            username=claims.get("name", ""),
            role=claims["role"],
            org_id=claims["org"],
            org_path=claims["path"],
        )

    # -- refresh tokens -----------------------------------------------------------------------

    def issue(self, conn: sqlite3.Connection, principal: Principal, family: str | None = None) -> TokenPair:
        """A new access token and a new refresh token (in `family`, or a new family at login)."""
        token = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        expires = now + self.settings.refresh_ttl
        conn.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at) VALUES (?,?,?,?,?)",
            (_digest(token), family or uuid.uuid4().hex, principal.user_id, now.isoformat(), expires.isoformat()),
        )
        return TokenPair(
            access_token=self.access_token(principal),
            refresh_token=token,
            expires_in=int(self.settings.access_ttl.total_seconds()),
            refresh_expires_at=expires.isoformat(),
        )

    def refresh(self, conn: sqlite3.Connection, token: str, retry_key: str | None = None) -> TokenPair:
        """Rotate: the presented token is used up and a new pair returned. Reuse revokes the family.

        A phone on a weak link may lose the response to a refresh. It sends a random `retry_key`
        with each refresh attempt and the same key when it retries; a spent token presented again
        with its key, within `refresh_retry_grace`, while its successor is still unused, is that
        retry and gets a fresh pair. The unanswered successor stays valid too: the first attempt may
        merely have been slow, its answer still on the way. Anything else is reuse.
        """
        now = dt.datetime.now(dt.UTC)
        key_hash = _digest(retry_key) if retry_key else None
        with transaction(conn):
            row = conn.execute("SELECT * FROM refresh_tokens WHERE token_hash = ?", (_digest(token),)).fetchone()
            if row is None:
                raise Unauthenticated("刷新令牌无效 / unknown refresh token")
            if row["revoked_at"] is not None:
                raise Unauthenticated("刷新令牌已被撤销，请重新登录 / refresh token revoked; log in again")
            reuse = False
            if row["used_at"] is not None:
                if not self._is_retry(conn, row, key_hash, now):
                    conn.execute(
                        "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                        (now.isoformat(), row["family_id"]),
                    )
                    reuse = True
            elif dt.datetime.fromisoformat(row["expires_at"]) <= now:
                raise Unauthenticated("刷新令牌已过期，请重新登录 / refresh token expired; log in again")
            if not reuse:
                conn.execute(
                    "UPDATE refresh_tokens SET used_at = COALESCE(used_at, ?), retry_key_hash = COALESCE(retry_key_hash, ?) "
                    "WHERE token_hash = ?",
                    (now.isoformat(), key_hash, row["token_hash"]),
                )
                principal = principal_for_user(conn, row["user_id"])
                if principal is None:
                    raise Unauthenticated("账号已停用 / account disabled")
                pair = self.issue(conn, principal, family=row["family_id"])
        if reuse:  # committed above, so the revocation holds
            raise Unauthenticated("刷新令牌被重复使用，已撤销该登录的全部令牌，请重新登录 / refresh token reuse detected; session revoked")
        return pair

    def _is_retry(self, conn: sqlite3.Connection, row: sqlite3.Row, key_hash: str | None, now: dt.datetime) -> bool:
        if key_hash is None or row["retry_key_hash"] != key_hash:
            return False
        if now - dt.datetime.fromisoformat(row["used_at"]) > self.settings.refresh_retry_grace:
            return False
        successor_used = conn.execute(
            "SELECT 1 FROM refresh_tokens WHERE family_id = ? AND issued_at >= ? AND used_at IS NOT NULL "
            "AND token_hash != ?",
            (row["family_id"], row["used_at"], row["token_hash"]),
        ).fetchone()
        return successor_used is None

    def revoke_family_of(self, conn: sqlite3.Connection, token: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        with transaction(conn):
            row = conn.execute("SELECT family_id FROM refresh_tokens WHERE token_hash = ?", (_digest(token),)).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                    (now, row["family_id"]),
                )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_for_user(conn: sqlite3.Connection, user_id: int) -> Principal | None:
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.org_id, o.path FROM users u JOIN orgs o ON o.id = u.org_id "
        "WHERE u.id = ? AND u.active = 1",
        (user_id,),
    ).fetchone()
    if row is None:
        return None
    return Principal(user_id=row[0], username=row[1], role=row[2], org_id=row[3], org_path=row[4])


def login(conn: sqlite3.Connection, tokens: TokenService, username: str, password: str) -> TokenPair:
    """Check the password (rate-limited per username) and start a new token family."""
    s = tokens.settings
    now = time.time()
    recent = conn.execute(
        "SELECT COUNT(*), MIN(at) FROM login_failures WHERE username = ? AND at > ?",
        (username, now - s.login_window_s),
    ).fetchone()
    if recent[0] >= s.login_max_failures:
        retry = int(recent[1] + s.login_window_s - now) + 1
        raise TooManyRequests(
            f"登录失败次数过多，请 {retry} 秒后再试 / too many failed logins; retry in {retry}s", retry_after=retry
        )
    row = conn.execute("SELECT id, password_hash, active FROM users WHERE username = ?", (username,)).fetchone()
    ok = row is not None and verify_password(row["password_hash"], password) and row["active"] == 1
    if not ok:
        if row is None:
            verify_password(_DUMMY_HASH, password)  # same cost whether or not the user exists
        with transaction(conn):
            conn.execute("INSERT INTO login_failures VALUES (?, ?)", (username, now))
            conn.execute("DELETE FROM login_failures WHERE at < ?", (now - 2 * s.login_window_s,))
        raise Unauthenticated("用户名或密码错误 / wrong username or password")
    principal = principal_for_user(conn, row["id"])
    assert principal is not None
    with transaction(conn):
        conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))
        return tokens.issue(conn, principal)


_DUMMY_HASH = hash_password("dabiao-timing-equaliser")
