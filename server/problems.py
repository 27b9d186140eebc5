"""RFC 9457 problem details: domain errors and the handlers that turn every error into problem+json.

Domain code raises a `Problem` subclass; it never builds HTTP responses. The `type` of each
problem is a stable URN; the title is Chinese and English, for the person who reads it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from pdfgen.errors import FontMissing

log = logging.getLogger("dabiao")
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """A domain error with everything a problem+json body needs."""

    slug = "error"
    status = 400
    title = "请求有误 / Bad request"

    def __init__(self, detail: str, *, field: str | None = None, item: str | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.item = item
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": f"urn:dabiao:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field:
            out["field"] = self.field
        if self.item:
            out["item"] = self.item
        out.update(self.extra)
        return out


class InvalidInput(Problem):
    slug, status, title = "invalid-input", 422, "输入无效 / Invalid input"


class Unauthenticated(Problem):
    slug, status, title = "unauthenticated", 401, "未登录或登录已过期 / Not authenticated"


class Forbidden(Problem):
    slug, status, title = "forbidden", 403, "无权操作 / Forbidden"


class NotFound(Problem):
    slug, status, title = "not-found", 404, "未找到 / Not found"


class Conflict(Problem):
    slug, status, title = "conflict", 409, "状态冲突 / Conflict"


class InvalidTransition(Problem):
    slug, status, title = "invalid-transition", 409, "当前状态不允许此操作 / Transition not allowed"


class Incomplete(Problem):
    slug, status, title = "incomplete", 422, "尚有必填项或证明材料未完成 / Assessment incomplete"


class NotPassed(Problem):
    """Acceptance of an assessment whose result does not meet the standard, or whose on-site spot
    check disputed an item: `failing` lists the items concerned."""

    slug, status, title = "not-passed", 422, "未达到标准，不能验收 / Does not meet the standard"


class TooManyRequests(Problem):
    slug, status, title = "rate-limited", 429, "请求过于频繁，请稍后再试 / Too many requests"


class UnknownStandard(Problem):
    slug, status, title = "unknown-standard", 422, "未知的标准版本 / Unknown standard version"


class TooLarge(Problem):
    slug, status, title = "too-large", 413, "内容过大 / Too large"


class UnsupportedType(Problem):
    slug, status, title = "unsupported-type", 415, "不支持的文件或编码类型 / Unsupported media type"


class UploadOffset(Problem):
    """A chunk sent for the wrong offset: `received` says where to continue."""

    slug, status, title = "upload-offset", 409, "上传位置不符，请从服务器已接收处继续 / Resume from the received offset"


class PdfUnavailable(Problem):
    """A PDF cannot be made on this server (no CJK font): the detail names the setting and the
    package that fix it. Nothing was stored."""

    slug, status, title = "pdf-unavailable", 503, "暂时无法生成PDF / PDF generation unavailable"


class InternalError(Problem):
    slug, status, title = "internal", 500, "服务器内部错误 / Internal server error"


def _response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(content=body, status_code=body["status"], media_type=MEDIA_TYPE, headers=headers)


def problem_handler(request: Request, exc: Problem) -> Response:
    headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None
    return _response({**exc.body(), "instance": request.url.path}, headers)


def validation_handler(request: Request, exc: ValidationException) -> Response:
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


def http_handler(request: Request, exc: HTTPException) -> Response:
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


def unstorable_handler(request: Request, exc: Exception) -> Response:
    """Input that decoded but cannot be stored: lone UTF-16 surrogates, integers beyond 64 bits."""
    what = "文本含有无效字符 / text contains invalid characters" if isinstance(exc, UnicodeError) else (
        "数值超出范围 / number out of range"
    )
    return _response({**InvalidInput(what).body(), "instance": request.url.path})


def font_handler(request: Request, exc: FontMissing) -> Response:
    """A PDF without its CJK font would be unreadable: say so, with the fix, instead of a 500."""
    log.error("PDF refused on %s %s: %s", request.method, request.url.path, exc)
    return _response({**PdfUnavailable(str(exc)).body(), "instance": request.url.path})


def internal_handler(request: Request, exc: Exception) -> Response:
    """Never a stack trace to the client: log it, answer with a generic problem."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {
        "type": "urn:dabiao:problem:internal",
        "title": "服务器内部错误 / Internal server error",
        "status": 500,
        "detail": "服务器内部错误，已记录。An internal error was logged.",
        "instance": request.url.path,
    }
    return _response(body)


EXCEPTION_HANDLERS = {
    Problem: problem_handler,
    ValidationException: validation_handler,
    NotFoundException: http_handler,
    HTTPException: http_handler,
    UnicodeEncodeError: unstorable_handler,
    OverflowError: unstorable_handler,
    FontMissing: font_handler,
    Exception: internal_handler,
}
