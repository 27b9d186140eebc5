"""Logging in and out of the browser pages, and `/`, which sends each role where it works:
field and village officials to the phone app, reviewers to the desk, viewers and administrators
to the dashboard."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import Meta

from server.api.guards import BROWSER, PUBLIC
from server.errors import TooManyRequests, Unauthenticated
from server.pages.common import page, safe_next
from server.services.access import Principal
from server.services.web_sessions import COOKIE, WebSessions

HOMES = {"field": "/app/", "village": "/app/", "reviewer": "/desk", "viewer": "/dashboard", "admin": "/dashboard"}


class LoginForm(msgspec.Struct, frozen=True):
    username: Annotated[str, Meta(max_length=64)] = ""
    password: Annotated[str, Meta(max_length=256)] = ""
    next: Annotated[str, Meta(max_length=512)] = ""


class SessionController(Controller):
    path = "/"
    include_in_schema = False

    @get("/", opt=BROWSER, sync_to_thread=False)
    def root(self, principal: Principal) -> Redirect:
        """Where the caller works."""
        return Redirect(HOMES.get(principal.role, "/dashboard"), status_code=303)

    @get("/login", opt=PUBLIC, sync_to_thread=False)
    def login_page(self, next: str = "") -> Template:
        return page("login.html", None, next=safe_next(next), username="", error="")

    @post("/login", opt={**PUBLIC, "rate_limit": "登录"}, sync_to_thread=True, status_code=303)
    def login(self, data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
              web_sessions: WebSessions, client_address: str) -> Redirect | Template:
        """Password login (limited per client address, as the API's); on success a session cookie
        and the page the user came for."""
        try:
            token, who = web_sessions.login(data.username.strip(), data.password, client_address)
        except (Unauthenticated, TooManyRequests) as exc:
            status = 429 if isinstance(exc, TooManyRequests) else 401
            error = "用户名或密码错误，请重新输入。" if status == 401 else exc.detail.split(" / ")[0]
            return page("login.html", None, status=status, next=safe_next(data.next), username=data.username,
                        error=error)
        target = safe_next(data.next) or HOMES.get(who.role, "/dashboard")
        secure = web_sessions.settings.https
        return Redirect(target, status_code=303, cookies=[
            Cookie(key=COOKIE, value=token, httponly=True, samesite="lax", secure=secure, path="/")])

    @post("/logout", opt=BROWSER, sync_to_thread=True, status_code=303)
    def logout(self, request: Request[Any, Any, Any], web_sessions: WebSessions) -> Redirect:
        """End the session on the server, and forget the cookie."""
        web_sessions.logout(request.cookies.get(COOKIE, ""))
        return Redirect("/login", status_code=303, cookies=[Cookie(key=COOKIE, value="", max_age=0, path="/")])
