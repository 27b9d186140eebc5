"""Structured logs: one JSON object per line, every line of a request carrying its request id.

The request id comes from the client's `X-Request-ID` (if it looks like one) or is generated,
and is echoed in the response header, so a phone's bug report can be matched to server lines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from typing import Any

_request: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("dabiao_request", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
log = logging.getLogger("dabiao.http")


def note_user(username: str) -> None:
    """Called when the caller is known (server/deps.py), so the request line names them."""
    current = _request.get()
    if current is not None:
        current["user"] = username


def current_request_id() -> str | None:
    current = _request.get()
    return None if current is None else current["request_id"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = current_request_id()
        if rid:
            out["request_id"] = rid
        out.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(level: int = logging.INFO) -> None:
    """JSON lines on stderr for every logger (ours, uvicorn's, litestar's). Idempotent."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)


def request_log(app):
    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SANE_ID.match(given) else uuid.uuid4().hex
        ctx = {"request_id": rid, "user": None}
        token = _request.set(ctx)
        status = {"code": 500}
        start = time.perf_counter()

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            log.info("request", extra={"fields": {
                "method": scope.get("method"), "path": scope.get("path"), "status": status["code"],
                "ms": round((time.perf_counter() - start) * 1000, 1), "user": ctx["user"],
            }})
            _request.reset(token)

    return middleware
