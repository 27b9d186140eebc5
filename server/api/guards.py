"""Authentication as an app-level guard: every route needs a valid bearer access token unless it
opts out with `opt={"public": True}` (login, refresh, health, the verify page, the static apps,
the API docs). The caller found is kept on the request for the `principal` dependency, so a new
route is protected whether or not its handler asks who is calling. A route whose opt names a
rate limiter is limited per caller, or, when public, per client address."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server.errors import LoginRequired, Unauthenticated
from server.logs import note_user
from server.services.access import Principal
from server.services.auth import TokenService
from server.services.limits import RateLimiter
from server.services.web_sessions import COOKIE

PUBLIC = {"public": True}  # a route's opt: reachable without logging in
BROWSER = {"browser": True}  # a route's opt: a desktop page, authenticated by the session cookie

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def client_address(connection: ASGIConnection[Any, Any, Any, Any], header: str | None) -> str:
    """The client's address: from `header` when a trusted proxy sets it (its first entry), else the
    connection's peer."""
    if header:
        given = connection.headers.get(header, "").split(",")[0].strip()
        if given:
            return given[:64]
    return connection.client.host if connection.client else ""


def authenticated(tokens: TokenService, current: Callable[[Principal], Principal], limiters: dict[str, RateLimiter],
                  session_principal: Callable[[str], Principal | None], client_header: str | None = None) -> Guard:
    """The app's guard: the caller of the request's bearer token, as the account stands now
    (`current`: services/auth.py `Sessions.current` over a read connection), or 401; then, for a
    route whose opt names a limiter (`{"rate_limit": "同步"}`), that limiter's rate per caller,
    checked before the body is read. A public route that names a limiter (login, the certificate
    check) is limited per client address instead. Browser pages (`opt=BROWSER`) take the session
    cookie instead, and only it: a page never accepts a bearer token, and the API never accepts
    the cookie (so the API needs no CSRF defence, and the pages' forms have one)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        limited = handler.opt.get("rate_limit")
        if handler.opt.get("public"):
            if limited is not None:
                limiters[limited].check(("client", client_address(connection, client_header)), limited)
            return
        if handler.opt.get("browser"):
            found = session_principal(connection.cookies.get(COOKIE, ""))
            if found is None:
                raise LoginRequired("请先登录 / login required")
            note_user(found.username)
            connection.state["principal"] = found
            return
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("需要登录：请在 Authorization 头中提供 Bearer 访问令牌 / bearer access token required")
        principal = current(tokens.principal(token.strip()))
        note_user(principal.username)
        connection.state["principal"] = principal
        if limited is not None:
            limiters[limited].check(principal.user_id, limited)

    return guard
