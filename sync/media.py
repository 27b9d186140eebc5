"""What attachments may be: the media types a phone may upload, told from the content's first
bytes, never from the name the phone gave it (the same check on the phone and on the server)."""

from __future__ import annotations

MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


def sniff(data: bytes) -> str | None:
    """The media type from the content (its first bytes), never from the name the phone gave it."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None
