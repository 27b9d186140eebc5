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
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.errors import ServiceBusy, TooManyRequests, Unauthenticated
from server.services.access import Principal
from server.settings import Settings
from server.store import users
from server.store.db import transaction

ALGORITHM = "EdDSA"
_hasher = PasswordHasher()  # argon2id, memory-hard (64 MiB by default)


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_expires_at: str


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether the password matches the stored hash."""
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
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return key


def load_or_create_secret(path: Path) -> str:
    """A random secret kept in a file (mode 600), made on first start: the browser forms' CSRF
    tokens are signed with it, so they survive a restart."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


class TokenService:
    """Issues and checks tokens against one signing key and the database."""

    def __init__(self, settings: Settings, key: Ed25519PrivateKey):
        self.settings = settings
        self.key = key
        self.public_key: Ed25519PublicKey = key.public_key()
        # Each password check holds 64 MiB for a moment: a few at a time, the others wait (a flood
        # of logins must not take the memory of a 1 GB machine, nor starve /health of threads).
        self._hashing = threading.BoundedSemaphore(max(1, settings.login_concurrency))

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """A slot to compute a password hash in; ServiceBusy when none frees in `login_wait_s`."""
        if not self._hashing.acquire(timeout=self.settings.login_wait_s):
            raise ServiceBusy("登录请求过多，请稍后再试 / too many logins at once; retry shortly", retry_after=5)
        try:
            yield
        finally:
            self._hashing.release()

    # -- access tokens ------------------------------------------------------------------------

    def access_token(self, principal: Principal, now: float | None = None) -> str:
        """A short-lived signed access token for the principal."""
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
            "gen": principal.generation,
            "sid": principal.session,
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)

    def principal(self, token: str) -> Principal:
        """The caller a valid access token claims to be; Unauthenticated otherwise. The claims are
        only what the token was issued for: `Sessions.current` checks them against the account."""
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "gen", "sid"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("访问令牌已过期，请刷新 / access token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"访问令牌无效 / invalid access token: {exc}") from None
        try:
            return Principal(
                user_id=int(claims["sub"]),
                username=str(claims.get("name", "")),
                role=str(claims["role"]),
                org_id=str(claims["org"]),
                org_path=str(claims["path"]),
                generation=int(claims["gen"]),
                session=str(claims["sid"]),
            )
        except (KeyError, TypeError, ValueError):
            raise Unauthenticated("访问令牌无效 / invalid access token: malformed claims") from None

    # -- refresh tokens -----------------------------------------------------------------------

    def issue(self, conn: sqlite3.Connection, principal: Principal, family: str | None = None) -> TokenPair:
        """A new access token and a new refresh token (in `family`, or a new family at login)."""
        token = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        expires = now + self.settings.refresh_ttl
        family = family or uuid.uuid4().hex
        users.add_refresh_token(conn, _digest(token), family, principal.user_id, now.isoformat(), expires.isoformat())
        return TokenPair(
            access_token=self.access_token(msgspec.structs.replace(principal, session=family)),
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
            row = users.refresh_token(conn, _digest(token))
            if row is None:
                raise Unauthenticated("刷新令牌无效 / unknown refresh token")
            if row.revoked_at is not None:
                raise Unauthenticated("刷新令牌已被撤销，请重新登录 / refresh token revoked; log in again")
            reuse = False
            if row.used_at is not None:
                if not self._is_retry(conn, row, key_hash, now):
                    users.revoke_family(conn, row.family_id, now.isoformat())
                    reuse = True
            elif dt.datetime.fromisoformat(row.expires_at) <= now:
                raise Unauthenticated("刷新令牌已过期，请重新登录 / refresh token expired; log in again")
            if not reuse:
                users.use_refresh_token(conn, row.token_hash, now.isoformat(), key_hash)
                principal = principal_for_user(conn, row.user_id)
                if principal is None:
                    raise Unauthenticated("账号已停用 / account disabled")
                pair = self.issue(conn, principal, family=row.family_id)
        if reuse:  # committed above, so the revocation holds
            raise Unauthenticated("刷新令牌被重复使用，已撤销该登录的全部令牌，请重新登录 / refresh token reuse detected; session revoked")
        return pair

    def _is_retry(self, conn: sqlite3.Connection, row: users.RefreshToken, key_hash: str | None,
                  now: dt.datetime) -> bool:
        if key_hash is None or row.retry_key_hash != key_hash or row.used_at is None:
            return False
        if now - dt.datetime.fromisoformat(row.used_at) > self.settings.refresh_retry_grace:
            return False
        return not users.successor_used(conn, row.family_id, row.used_at, row.token_hash)

    def revoke_family_of(self, conn: sqlite3.Connection, token: str) -> None:
        """Logout: revoke every refresh token of the login the token belongs to."""
        now = dt.datetime.now(dt.UTC).isoformat()
        with transaction(conn):
            row = users.refresh_token(conn, _digest(token))
            if row is not None:
                users.revoke_family(conn, row.family_id, now)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_for_user(conn: sqlite3.Connection, user_id: int) -> Principal | None:
    """The caller an active account acts as, or None for an unknown or deactivated one."""
    user = users.active(conn, user_id)
    if user is None:
        return None
    return Principal(user_id=user.id, username=user.username, role=user.role, org_id=user.org_id, org_path=user.path,
                     generation=user.token_generation)


def current(conn: sqlite3.Connection, claimed: Principal) -> Principal:
    """The caller as the account stands now, for a principal taken from a credential (an access
    token's claims; a browser session can hand over its own): Unauthenticated when the account is
    gone or deactivated, when its token generation has moved on since the credential was issued
    (deactivated, new password, new role or unit) or when the login it belongs to was ended
    (logout, refresh-token reuse). Role, unit and path are the account's, never the claims'."""
    state = users.account_state(conn, claimed.user_id, claimed.session)
    if state is None or not state.active:
        raise Unauthenticated("账号已停用 / account disabled")
    if state.token_generation != claimed.generation:
        raise Unauthenticated("账号的权限或密码已变更，请重新登录 / the account changed since this token was issued; "
                              "log in again")
    if not state.session_open:
        raise Unauthenticated("已退出登录或登录已被撤销，请重新登录 / this login was ended; log in again")
    return Principal(user_id=state.id, username=state.username, role=state.role, org_id=state.org_id,
                     org_path=state.path, generation=state.token_generation, session=claimed.session)


def login(conn: sqlite3.Connection, tokens: TokenService, username: str, password: str,
          client: str = "") -> TokenPair:
    """Check the password (see `authenticate`) and start a new token family."""
    principal = authenticate(conn, tokens, username, password, client)
    with transaction(conn):
        return tokens.issue(conn, principal)


def authenticate(conn: sqlite3.Connection, tokens: TokenService, username: str, password: str,
                 client: str = "") -> Principal:
    """The caller a username and password log in as; Unauthenticated or TooManyRequests otherwise
    (phones then get tokens, browsers a session). Failed logins lock a username for the client
    address they came from (`login_max_failures` in `login_window_s`), and for everyone past
    `login_max_failures_any_client`: a stranger cannot lock an official out from elsewhere, and
    guessing spread over many addresses still stops. Names match in any case."""
    s = tokens.settings
    now = time.time()
    name = username.lower()  # usernames are ASCII and unique in any case: one count per account
    since = now - s.login_window_s
    here, first_here = users.failures_since(conn, name, since, client)
    anywhere, first_anywhere = users.failures_since(conn, name, since, None)
    locked = [first for count, first, most in ((here, first_here, s.login_max_failures),
                                               (anywhere, first_anywhere, s.login_max_failures_any_client))
              if count >= most and first is not None]
    if locked:
        retry = int(max(locked) + s.login_window_s - now) + 1
        raise TooManyRequests(
            f"登录失败次数过多，请 {retry} 秒后再试 / too many failed logins; retry in {retry}s", retry_after=retry
        )
    account = users.login_of(conn, username)
    with tokens.hashing():
        # same cost whether or not the user exists
        ok = verify_password(account.password_hash if account else _DUMMY_HASH, password)
    if not ok or account is None or not account.active:
        with transaction(conn):
            users.add_failure(conn, name, client, now, now - 2 * s.login_window_s)
        raise Unauthenticated("用户名或密码错误 / wrong username or password")
    principal = principal_for_user(conn, account.id)
    assert principal is not None
    with transaction(conn):
        users.clear_failures(conn, name, client)
    return principal


_DUMMY_HASH = hash_password("dabiao-timing-equaliser")


class Sessions:
    """Logins and their tokens, for one request's connection."""

    def __init__(self, conn: sqlite3.Connection, tokens: TokenService):
        self.conn = conn
        self.tokens = tokens

    def login(self, username: str, password: str, client: str = "") -> TokenPair:
        """Password login from a client address; a short-lived access token and a rotating refresh token."""
        return login(self.conn, self.tokens, username, password, client)

    def refresh(self, refresh_token: str, retry_key: str | None) -> TokenPair:
        """Exchange a refresh token for a new pair; reusing a spent token revokes the login."""
        return self.tokens.refresh(self.conn, refresh_token, retry_key)

    def logout(self, refresh_token: str) -> None:
        """Revoke the refresh token's whole family (its access tokens end with it)."""
        self.tokens.revoke_family_of(self.conn, refresh_token)

    def current(self, claimed: Principal) -> Principal:
        """The caller of a request as the account stands now (see `current`): the check every
        request makes, whatever credential it came with."""
        return current(self.conn, claimed)
