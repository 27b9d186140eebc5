"""RFC 9457 problem+json: the one translator from errors to HTTP responses. Domain code raises
server.errors.Problem subclasses; framework errors (validation, 404, 405, 413) and the few
exceptions storage can raise are mapped here too, so every error a client sees has a stable
`type`, a Chinese and English title, and no stack trace."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from pdfgen.errors import FontMissing
from server.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    PdfUnavailable,
    Problem,
    StorageFull,
    TooLarge,
    Unauthenticated,
)
from server.services.health import storage_full

log = logging.getLogger("dabiao")
MEDIA_TYPE = "application/problem+json"

def _response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=body, status_code=body["status"], media_type=MEDIA_TYPE, headers=headers)


def problem_handler(request: Request, exc: Problem) -> Response[Any]:
    headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None
    return _response({**exc.body(), "instance": request.url.path}, headers)


def validation_handler(request: Request, exc: ValidationException) -> Response[Any]:
    """Litestar/msgspec validation errors keep msgspec's path (e.g. `$.value`) in `field`."""
    detail = str(exc.detail)
    errors = exc.extra if isinstance(exc.extra, list) else []
    field = None
    for err in errors:
        if isinstance(err, dict) and err.get("key"):
            field = str(err["key"])
            break
    m = re.search(r"at `([^`]+)`", " ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)))
    if m:
        field = m.group(1)
    body = InvalidInput(detail, field=field, errors=errors).body()
    return _response({**body, "instance": request.url.path})


# Framework errors reuse the domain problems' types and titles where one matches.
_BY_STATUS: dict[int, type[Problem]] = {cls.status: cls for cls in (Unauthenticated, Forbidden, NotFound)}
_OTHER = {
    405: ("method-not-allowed", "不支持的请求方法 / Method not allowed"),
    413: (TooLarge.slug, TooLarge.title),
}


def http_handler(request: Request, exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    known = _BY_STATUS.get(status)
    slug = known.slug if known else _OTHER.get(status, ("http", ""))[0]
    title = known.title if known else _OTHER.get(status, ("", ""))[1] or (
        "请求有误 / Bad request" if status < 500 else "服务器错误 / Server error"
    )
    body = {
        "type": f"urn:dabiao:problem:{slug}",
        "title": title,
        "status": status,
        "detail": str(exc.detail),
        "instance": request.url.path,
    }
    return _response(body, dict(exc.headers or {}) or None)


def unstorable_handler(request: Request, exc: Exception) -> Response[Any]:
    """Input that decoded but cannot be stored: lone UTF-16 surrogates, integers beyond 64 bits."""
    what = "文本含有无效字符 / text contains invalid characters" if isinstance(exc, UnicodeError) else (
        "数值超出范围 / number out of range"
    )
    return _response({**InvalidInput(what).body(), "instance": request.url.path})


def font_handler(request: Request, exc: FontMissing) -> Response[Any]:
    """A PDF without its CJK font would be unreadable: say so, with the fix, instead of a 500."""
    log.error("PDF refused on %s %s: %s", request.method, request.url.path, exc)
    return _response({**PdfUnavailable(str(exc)).body(), "instance": request.url.path})


STORAGE_RETRY_AFTER = 120  # seconds a phone waits before it tries a full server again


def internal_handler(request: Request, exc: Exception) -> Response[Any]:
    """Never a stack trace to the client: log it, answer with a generic problem; a full disk is
    its own problem (507, Retry-After), logged with its original cause."""
    settings = request.app.state.get("settings")
    if storage_full(exc, getattr(settings, "data_dir", None)):
        log.error("storage full on %s %s: %s %s", request.method, request.url.path, type(exc).__name__,
                  getattr(exc, "sqlite_errorname", "") or exc, exc_info=exc)
        full = StorageFull("服务器存储空间已满，未保存任何内容，请稍后再试 / the server's storage is full; nothing "
                           "was stored, try again later", retry_after=STORAGE_RETRY_AFTER)
        return problem_handler(request, full)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {
        "type": "urn:dabiao:problem:internal",
        "title": "服务器内部错误 / Internal server error",
        "status": 500,
        "detail": "服务器内部错误，已记录。An internal error was logged.",
        "instance": request.url.path,
    }
    return _response(body)


Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]
EXCEPTION_HANDLERS: dict[int | type[Exception], Handler] = {
    Problem: problem_handler,
    ValidationException: validation_handler,
    NotFoundException: http_handler,
    HTTPException: http_handler,
    UnicodeEncodeError: unstorable_handler,
    OverflowError: unstorable_handler,
    FontMissing: font_handler,
    Exception: internal_handler,
}
