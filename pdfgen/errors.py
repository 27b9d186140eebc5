"""Errors of PDF generation that the server maps to problems, importable without reportlab."""

from __future__ import annotations


class FontMissing(RuntimeError):
    """No usable CJK TrueType font: the message says which setting and package fix it."""
