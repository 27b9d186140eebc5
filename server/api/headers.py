"""Security headers on every response, API, pages and static files alike.

Pages are self-contained (no CDN, no inline script or style), so one strict Content-Security-Policy
fits them all; a response that sets its own policy (an attachment served as `sandbox`) keeps it.
Framing is refused twice (CSP `frame-ancestors` and the older `X-Frame-Options`), MIME sniffing
is off, and the referrer never leaves the site (certificate serials and assessment ids are in URLs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
HSTS = "max-age=31536000"


def security_headers(https: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A `before_send` hook (it sees every response the app sends, those of its middleware and
    error handlers included); `https` (the deployment's base URL is https) adds HSTS."""
    fixed = dict(HEADERS, **({"strict-transport-security": HSTS} if https else {}))

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            for name, value in fixed.items():
                if name not in headers:
                    headers[name] = value

    return before_send
