"""The domain's errors: every refusal a service makes is a `Problem` subclass carrying what an
RFC 9457 problem+json body needs (server/api/problems.py turns them into responses; nothing here
knows about HTTP frameworks). The `type` of each problem is a stable URN; the title is Chinese
and English, for the person who reads it; `field` and `item` say what is concerned.
"""

from __future__ import annotations

from typing import Any


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


class MalformedBody(Problem):
    """A request body that cannot be parsed at all (nested deeper than a decoder follows, say):
    nothing in it was looked at."""

    slug, status, title = "malformed-body", 400, "请求体无法解析 / Malformed request body"


class Unauthenticated(Problem):
    slug, status, title = "unauthenticated", 401, "未登录或登录已过期 / Not authenticated"


class LoginRequired(Unauthenticated):
    """A browser page without a live session: the pages answer it with the login page."""

    slug, title = "login-required", "请先登录 / Login required"


class Forbidden(Problem):
    slug, status, title = "forbidden", 403, "无权操作 / Forbidden"


class NotFound(Problem):
    slug, status, title = "not-found", 404, "未找到 / Not found"


class Conflict(Problem):
    slug, status, title = "conflict", 409, "状态冲突 / Conflict"


class StalePage(Conflict):
    """An action taken on a page older than the assessment it shows (another reviewer, or the
    official, changed it since): refused rather than applied over what the actor never saw."""

    slug, title = "stale-page", "页面已过期，请刷新后再操作 / The page is out of date; reload it"


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


class UploadQuota(Problem):
    """An account's uploads of the last 24 hours reached its quota: `retry_after` says when enough
    of them leave the window."""

    slug, status, title = "upload-quota", 429, "上传配额已用完，请稍后再试 / Upload quota used up"


class ServiceBusy(Problem):
    """The server is at capacity for this kind of work (password hashes): `retry_after` says when
    to try again."""

    slug, status, title = "busy", 503, "服务器繁忙，请稍后再试 / Server busy"


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


class StorageFull(Problem):
    """The server's disk (or its quota) is full: nothing was stored, try again later. Distinct from
    a generic 500 so phones keep their outbox and operators see what to fix."""

    slug, status, title = "storage-full", 507, "服务器存储空间已满，请稍后再试 / Server storage is full"


class InternalError(Problem):
    slug, status, title = "internal", 500, "服务器内部错误 / Internal server error"
