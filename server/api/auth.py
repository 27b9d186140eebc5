"""Login, token refresh (rotating), logout, and who-am-I."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post
from msgspec import Meta

from server.api.guards import PUBLIC
from server.api.openapi import problems
from server.services.access import Principal
from server.services.auth import Sessions, TokenPair

Name = Annotated[str, Meta(min_length=1, max_length=64)]
Secret = Annotated[str, Meta(min_length=1, max_length=256)]


class LoginRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: Name
    password: Secret


class RefreshRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: Secret
    # Random per refresh attempt, the same on a retry: lets a lost response be retried safely.
    retry_key: Annotated[str, Meta(min_length=16, max_length=128)] | None = None


class Me(msgspec.Struct, frozen=True):
    user_id: int
    username: str
    role: str
    org_id: str
    org_path: str


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", sync_to_thread=True, status_code=200, opt={**PUBLIC, "rate_limit": "登录"}, security=[{}],
          operation_id="login", responses=problems(401, 422, 429))
    def login(self, data: LoginRequest, sessions: Sessions, client_address: str) -> TokenPair:
        """Password login; returns a short-lived access token and a rotating refresh token. Limited
        per client address; wrong passwords lock the username for the address they came from."""
        return sessions.login(data.username, data.password, client_address)

    @post("/refresh", sync_to_thread=True, status_code=200, opt=PUBLIC, security=[{}], operation_id="refreshTokens",
          responses=problems(401, 422))
    def refresh(self, data: RefreshRequest, sessions: Sessions) -> TokenPair:
        """Exchange a refresh token for a new pair; reusing a spent token revokes the session."""
        return sessions.refresh(data.refresh_token, data.retry_key)

    @post("/logout", sync_to_thread=True, status_code=204, opt=PUBLIC, security=[{}], operation_id="logout",
          responses=problems(422))
    def logout(self, data: RefreshRequest, sessions: Sessions) -> None:
        """Revoke the refresh token's whole family (the refresh token is the proof)."""
        sessions.logout(data.refresh_token)

    @get("/me", sync_to_thread=False, operation_id="getMe", responses=problems(401))
    def me(self, principal: Principal) -> Me:
        return Me(principal.user_id, principal.username, principal.role, principal.org_id, principal.org_path)
