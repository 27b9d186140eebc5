"""Token attacks are rejected; refresh tokens rotate and a reused one revokes its family."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from serverkit import Server, demo_dir, server  # noqa: F401  (fixtures)


def live_session(srv: Server) -> str:
    """The login (refresh-token family) of a real login of user 1, kf_field_qzh, as its token names it."""
    token = srv.login("kf_field_qzh")["access_token"]
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def claims(srv: Server, **over) -> dict:
    """Claims of user 1 that pass every check when signed with the server's key (the forgeries
    below each change one thing); they claim more than the account is (admin of 湖南)."""
    now = int(time.time())
    base = {"sub": "1", "name": "kf_field_qzh", "role": "admin", "org": "hn", "path": "/hn/",
            "iss": srv.settings.issuer, "aud": srv.settings.audience, "iat": now, "exp": now + 600,
            "gen": 0, "sid": live_session(srv)}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(srv: Server, payload: dict) -> str:
    """The classic confusion: sign with HMAC using the server's public key as the secret."""
    public = srv.client.app.state.tokens.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    sig = hmac.new(public, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def get_me(srv: Server, token: str):
    return srv.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_works(server: Server):
    r = server.client.get("/auth/me", headers=server.headers("kf_field_qzh"))
    assert r.status_code == 200 and r.json()["org_id"] == "hn-cs-kf-qzh"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: jwt.encode(claims(s), None, algorithm="none"), id="alg-none"),
        pytest.param(lambda s: jwt.encode(claims(s), Ed25519PrivateKey.generate(), algorithm="EdDSA"), id="wrong-key"),
        pytest.param(lambda s: hs256_with_public_key(s, claims(s)), id="hs256-public-key-confusion"),
        pytest.param(lambda s: jwt.encode(claims(s), "secret", algorithm="HS256"), id="hs256-guessed-secret",
                     # the attacker's key is short on purpose; pyjwt's warning about it is expected
                     marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")),
        pytest.param(lambda s: jwt.encode(claims(s, exp=int(time.time()) - 5),
                                          s.client.app.state.tokens.key, algorithm="EdDSA"), id="expired"),
        pytest.param(lambda s: jwt.encode(claims(s, aud="other-api"),
                                          s.client.app.state.tokens.key, algorithm="EdDSA"), id="wrong-aud"),
        pytest.param(lambda s: jwt.encode(claims(s, iss="evil"),
                                          s.client.app.state.tokens.key, algorithm="EdDSA"), id="wrong-iss"),
        pytest.param(lambda s: jwt.encode(claims(s, exp=None),
                                          s.client.app.state.tokens.key, algorithm="EdDSA"), id="no-exp"),
        pytest.param(lambda s: jwt.encode(claims(s, iat=None),
                                          s.client.app.state.tokens.key, algorithm="EdDSA"), id="no-iat"),
        pytest.param(lambda s: "not.a.jwt", id="garbage"),
    ],
)
def test_forged_or_invalid_access_tokens_are_rejected(server: Server, forge):
    r = get_me(server, forge(server))
    assert r.status_code == 401
    assert r.json()["type"] == "urn:dabiao:problem:unauthenticated"


def test_the_genuine_key_with_correct_claims_is_accepted(server: Server):
    # Guards the test above: the same claims signed properly do pass, so the rejections are real.
    token = jwt.encode(claims(server), server.client.app.state.tokens.key, algorithm="EdDSA")
    me = get_me(server, token)
    assert me.status_code == 200
    # what the account is, not what the claims say (issue 16, defect 3)
    assert (me.json()["role"], me.json()["org_id"]) == ("field", "hn-cs-kf-qzh")


@pytest.mark.parametrize("change", [{"gen": 1}, {"sid": "0" * 32}, {"gen": None}, {"sid": None}, {"sub": "999999"}],
                         ids=["other-generation", "unknown-session", "no-generation", "no-session", "no-account"])
def test_a_genuine_token_for_another_generation_session_or_account_is_rejected(server: Server, change):
    token = jwt.encode(claims(server, **change), server.client.app.state.tokens.key, algorithm="EdDSA")
    assert get_me(server, token).status_code == 401


def test_refresh_rotates_and_reuse_revokes_the_family(server: Server):
    first = server.login("kf_field_qzh")
    second = server.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert get_me(server, second["access_token"]).status_code == 200

    # An attacker replays the first (spent) token: refused, and the whole family is revoked.
    replay = server.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and "重复使用" in replay.json()["detail"]
    legit = server.client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert legit.status_code == 401

    # Another login (another family) is unaffected.
    other = server.login("kf_field_qzh")
    assert server.client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 200


def test_refresh_token_lasts_through_weeks_offline(server: Server):
    pair = server.login("kf_field_qzh")
    import datetime as dt
    expires = dt.datetime.fromisoformat(pair["refresh_expires_at"])
    assert expires - dt.datetime.now(dt.UTC) > dt.timedelta(days=30)


def test_logout_revokes_the_refresh_token(server: Server):
    pair = server.login("kf_field_qzh")
    assert server.client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    assert server.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_login_is_rate_limited_per_username(server: Server):
    for _ in range(server.settings.login_max_failures):
        r = server.client.post("/auth/login", json={"username": "kf_reviewer", "password": "wrong-password"})
        assert r.status_code == 401
    r = server.client.post("/auth/login", json={"username": "kf_reviewer", "password": "dabiao-demo-2024"})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert r.json()["type"] == "urn:dabiao:problem:rate-limited"
    # Other accounts are not locked out.
    assert server.client.post("/auth/login", json={"username": "kf_field_qzh",
                                                   "password": "dabiao-demo-2024"}).status_code == 200


def test_disabled_account_cannot_refresh(server: Server):
    pair = server.login("kf_field_qzh")
    users = server.as_user("hn_admin", "GET", "/admin/users").json()
    uid = next(u["id"] for u in users if u["username"] == "kf_field_qzh")
    assert server.as_user("hn_admin", "PATCH", f"/admin/users/{uid}", json={"active": False}).status_code == 200
    assert server.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    r = server.client.post("/auth/login", json={"username": "kf_field_qzh", "password": "dabiao-demo-2024"})
    assert r.status_code == 401


def test_passwords_are_stored_with_argon2id(server: Server):
    from server.store.db import connect
    conn = connect(server.settings.db_path)
    stored = conn.execute("SELECT password_hash FROM users LIMIT 1").fetchone()[0]
    assert stored.startswith("$argon2id$") and "m=65536" in stored
