"""Server configuration, from environment variables (documented in the README) with defaults."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def _today() -> dt.date:
    return dt.date.today()


@dataclass
class Settings:
    """Everything the app factory needs. Tests build one with a temporary data directory."""

    data_dir: Path = Path("data")
    database: Path | None = None  # default: data_dir / "dabiao.db"
    jwt_private_key: Path | None = None  # default: data_dir / "keys" / "jwt-ed25519.pem", created if absent
    issuer: str = "dabiao"
    audience: str = "dabiao-api"
    access_ttl: dt.timedelta = dt.timedelta(minutes=15)
    # Long enough for weeks without signal: a phone refreshes whenever it is online.
    refresh_ttl: dt.timedelta = dt.timedelta(days=45)
    # A phone that lost the response to a refresh may retry it (with its retry key) this long.
    refresh_retry_grace: dt.timedelta = dt.timedelta(minutes=5)
    login_max_failures: int = 5  # failed logins of one username from one client address in the window
    login_window_s: float = 900.0
    login_max_failures_any_client: int = 100  # failed logins of one username from all addresses in the window
    login_per_minute_per_client: int = 20  # login attempts per client address per minute before 429
    login_concurrency: int = 2  # password hashes (64 MiB of argon2id each) computed at once
    login_wait_s: float = 10.0  # how long a login waits for a hashing slot before 503
    # The header a trusted proxy puts the client's address in (Fly: Fly-Client-IP); unset, the
    # address of the connection. Never set it without such a proxy: clients could pick their own.
    client_ip_header: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    cert_private_key: Path | None = None  # default: data_dir / "keys" / "cert-ed25519.pem"
    # The keys themselves, as PEM text, for platforms that hand secrets over as environment
    # variables (Fly: `fly secrets set DABIAO_JWT_KEY_PEM=...`). They win over the key files.
    jwt_key_pem: str | None = field(default=None, repr=False)
    cert_key_pem: str | None = field(default=None, repr=False)
    cert_validity_years: int = 3  # [D] the sources set none; see server/acceptance.py
    # Attachments: "" keeps them on the volume (data_dir/blobs); "s3://bucket/prefix" puts them in
    # S3-compatible storage (credentials from the usual AWS_* variables; endpoint for MinIO etc.).
    blob_store: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # Limits (see docs/operations.md).
    push_per_minute: int = 120  # pushes per user per minute before 429
    verify_per_minute: int = 20  # certificate files checked (public POST /verify) per client address per minute
    max_image_pixels: int = 40_000_000  # a decompression bomb declares more than this
    # Browser sessions (desk, dashboard): ended after this long without a request, and after this
    # long in any case (a working day at the bureau), whichever comes first.
    session_idle: dt.timedelta = dt.timedelta(minutes=30)
    session_absolute: dt.timedelta = dt.timedelta(hours=12)
    # A secret for the CSRF tokens of the browser forms; made per data dir when not given.
    csrf_secret: str | None = field(default=None, repr=False)
    # Storage an account can take (docs/security.md, "Access and storage limits").
    upload_per_minute: int = 600  # upload requests (whole files and chunks) per user per minute before 429
    upload_bytes_per_day: int = 1024 * 1024 * 1024  # bytes of files one account uploads in 24 hours
    max_open_uploads: int = 32  # partial uploads one account keeps; starting another drops its oldest
    partial_upload_days: float = 7.0  # a partial upload untouched this long is removed
    rejected_kept_per_device: int = 1000  # refused mutations kept with their payload per user and device
    today: Callable[[], dt.date] = field(default=_today)

    @property
    def db_path(self) -> Path:
        return self.database or self.data_dir / "dabiao.db"

    @property
    def key_path(self) -> Path:
        return self.jwt_private_key or self.data_dir / "keys" / "jwt-ed25519.pem"

    @property
    def cert_key_path(self) -> Path:
        return self.cert_private_key or self.data_dir / "keys" / "cert-ed25519.pem"

    @property
    def https(self) -> bool:
        """Whether the deployment is reached over https (cookies are then Secure, HSTS is sent)."""
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        s = cls()
        if v := env.get("DABIAO_DATA_DIR"):
            s.data_dir = Path(v)
        if v := env.get("DABIAO_DATABASE"):
            s.database = Path(v)
        if v := env.get("DABIAO_JWT_PRIVATE_KEY"):
            s.jwt_private_key = Path(v)
        if v := env.get("DABIAO_CERT_PRIVATE_KEY"):
            s.cert_private_key = Path(v)
        if v := env.get("DABIAO_JWT_KEY_PEM"):
            s.jwt_key_pem = v
        if v := env.get("DABIAO_CERT_KEY_PEM"):
            s.cert_key_pem = v
        if v := env.get("DABIAO_CERT_VALIDITY_YEARS"):
            s.cert_validity_years = int(v)
        if v := env.get("DABIAO_BASE_URL"):
            s.base_url = v.rstrip("/")
        if v := env.get("DABIAO_ACCESS_TTL_MINUTES"):
            s.access_ttl = dt.timedelta(minutes=float(v))
        if v := env.get("DABIAO_REFRESH_TTL_DAYS"):
            s.refresh_ttl = dt.timedelta(days=float(v))
        if v := env.get("DABIAO_BLOB_STORE"):
            s.blob_store = v
        if v := env.get("DABIAO_S3_ENDPOINT_URL"):
            s.s3_endpoint_url = v
        if v := env.get("DABIAO_S3_REGION"):
            s.s3_region = v
        if v := env.get("DABIAO_PUSH_PER_MINUTE"):
            s.push_per_minute = int(v)
        if v := env.get("DABIAO_VERIFY_PER_MINUTE"):
            s.verify_per_minute = int(v)
        if v := env.get("DABIAO_CLIENT_IP_HEADER"):
            s.client_ip_header = v.strip().lower()
        if v := env.get("DABIAO_MAX_IMAGE_PIXELS"):
            s.max_image_pixels = int(v)
        if v := env.get("DABIAO_SESSION_IDLE_MINUTES"):
            s.session_idle = dt.timedelta(minutes=float(v))
        if v := env.get("DABIAO_SESSION_HOURS"):
            s.session_absolute = dt.timedelta(hours=float(v))
        if v := env.get("DABIAO_CSRF_SECRET"):
            s.csrf_secret = v
        if v := env.get("DABIAO_LOGIN_PER_MINUTE"):
            s.login_per_minute_per_client = int(v)
        if v := env.get("DABIAO_LOGIN_CONCURRENCY"):
            s.login_concurrency = int(v)
        if v := env.get("DABIAO_CLIENT_IP_HEADER"):
            s.client_ip_header = v
        if v := env.get("DABIAO_UPLOAD_PER_MINUTE"):
            s.upload_per_minute = int(v)
        if v := env.get("DABIAO_UPLOAD_MB_PER_DAY"):
            s.upload_bytes_per_day = int(float(v) * 1024 * 1024)
        if v := env.get("DABIAO_MAX_OPEN_UPLOADS"):
            s.max_open_uploads = int(v)
        if v := env.get("DABIAO_PARTIAL_UPLOAD_DAYS"):
            s.partial_upload_days = float(v)
        if v := env.get("DABIAO_REJECTED_KEPT_PER_DEVICE"):
            s.rejected_kept_per_device = int(v)
        return s
