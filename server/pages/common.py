"""What every browser page shares: the signed-in user's name and unit for the header, the menu of
their role, the response headers of a page with personal data, and the error pages."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from server.errors import LoginRequired, Problem
from server.services.users import Profile

NAV = {
    "reviewer": [("/desk", "审核队列"), ("/desk/documents", "通报与证书"), ("/dashboard", "达标看板")],
    "viewer": [("/dashboard", "达标看板")],
    "admin": [("/dashboard", "达标看板")],
}
NO_STORE = {"Cache-Control": "no-store"}  # pages carry personal data: never kept by a shared cache


Me = Profile  # the signed-in user as the page header shows them


def page(template: str, me: Me | None, status: int = 200, here: str = "", **context: Any) -> Template:
    """A page: the template with the user, their menu and the page's own values."""
    nav = NAV.get(me.role, []) if me else []
    return Template(template_name=template, status_code=status, headers=NO_STORE,
                    context={"me": me, "nav": nav, "here": here or (nav[0][0] if nav else ""), **context})


def safe_next(target: str) -> str:
    """A local path to go to after logging in, or "" (never another site: no scheme, no //)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and "\n" not in target:
        return target
    return ""


def _back(request: Request[Any, Any, Any]) -> str:
    referer = request.headers.get("referer", "")
    host = request.headers.get("host", "")
    if host and f"//{host}/" in referer:
        return safe_next(referer.split(f"//{host}", 1)[1])
    return ""


def problem_page(request: Request[Any, Any, Any], exc: Problem) -> Response[Any]:
    """A refused action or an unreadable page, as a page: what went wrong and where to go."""
    if isinstance(exc, LoginRequired):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={_quote(here)}", status_code=303)
    items = [str(i) for i in exc.extra.get("failing", [])] if exc.extra else []
    return Template(template_name="error.html", status_code=exc.status, headers=NO_STORE, context={
        "me": None, "nav": [], "title": exc.title.split(" / ")[0], "detail": exc.detail.split(" / ")[0],
        "items": items, "back": _back(request)})


def http_page(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Framework errors on a page (a malformed form, an unknown address) in the same words."""
    title = "请求有误" if isinstance(exc, ValidationException) else "页面不存在" if exc.status_code == 404 else "无法完成操作"
    detail = "提交的内容不完整或格式不对，请返回检查后重新提交。" if exc.status_code in (400, 422) else str(exc.detail)
    if "CSRF" in str(exc.detail):  # Litestar's CSRF middleware: a form without (or with a stale) token
        title, detail = "无法提交", "表单缺少有效的防伪令牌（页面可能已过期，或来自其他网站），请刷新页面后重新提交。"
    return Template(template_name="error.html", status_code=exc.status_code, headers=NO_STORE, context={
        "me": None, "nav": [], "title": title, "detail": detail, "items": [], "back": _back(request)})


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


PAGE_ERRORS: ExceptionHandlersMap = {Problem: problem_page, HTTPException: http_page}
