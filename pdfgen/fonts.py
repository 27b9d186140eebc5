"""Finding and registering the CJK TrueType font every Dabiao PDF is set in.

The font comes from the setting DABIAO_CJK_FONT (a .ttf, or a .ttc with `#N` for the face index,
e.g. `/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc#0`), else from the first of CANDIDATES that
exists (Debian's fonts-wqy-zenhei by default). reportlab embeds only the glyphs a document uses
(a subset), so PDFs stay small whatever the font's size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from pdfgen.errors import FontMissing

SETTING = "DABIAO_CJK_FONT"
DEBIAN_PACKAGE = "fonts-wqy-zenhei"

# Tried in order when the setting is empty. CFF-flavoured OpenType fonts (Noto CJK .otf/.ttc)
# are not usable: reportlab embeds TrueType outlines only.
CANDIDATES: list[tuple[Path, int]] = [
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/arphic/uming.ttc"), 0),
]


def _parse_setting(value: str) -> tuple[Path, int]:
    path, sep, index = value.rpartition("#")
    if sep and index.isdigit():
        return Path(path), int(index)
    return Path(value), 0


def font_file() -> tuple[Path, int]:
    """(path, face index) of the CJK font to use; FontMissing when there is none."""
    configured = os.environ.get(SETTING, "").strip()
    tried: list[str] = []
    if configured:
        path, index = _parse_setting(configured)
        if path.is_file():
            return path, index
        tried.append(f"{SETTING}={configured} (no such file)")
    for path, index in CANDIDATES:
        if path.is_file():
            return path, index
        tried.append(str(path))
    raise FontMissing(
        "未找到中文字体 / no CJK TrueType font found. "
        f"Set {SETTING} to a .ttf or .ttc file (append #N to pick a face of a .ttc), "
        f"or install the Debian package {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE}; "
        "scripts/system-deps.sh does this). Tried: " + "; ".join(tried)
    )


_registered: dict[tuple[str, int], str] = {}  # (resolved path, face) -> registered name
# (setting, candidates) -> registered name: once a font is registered for a setting, later PDFs
# skip looking for its file again (reportlab holds the font in memory).
_chosen: dict[tuple[str, tuple[tuple[Path, int], ...]], str] = {}


def cjk_font() -> str:
    """The reportlab font name of the CJK font, registered on first use (also as its own bold
    and italic, so `<b>` in a Paragraph never falls back to a font without CJK glyphs)."""
    choice = (os.environ.get(SETTING, "").strip(), tuple(CANDIDATES))
    name = _chosen.get(choice)
    if name is None:
        name = _chosen[choice] = _register()
    return name


def _register() -> str:
    """Registers the font that font_file() finds (once per file and face); returns its name."""
    path, index = font_file()
    key = (str(path.resolve()), index)
    name = _registered.get(key)
    if name is not None:
        return name
    name = "DabiaoCJK-" + hashlib.sha1(f"{key[0]}#{index}".encode()).hexdigest()[:8]
    try:
        pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=index))
    except (TTFError, OSError) as exc:
        raise FontMissing(
            f"{path} (face {index}) is not a usable TrueType font: {exc}. "
            f"Point {SETTING} at another font or install {DEBIAN_PACKAGE}."
        ) from exc
    for bold in (0, 1):
        for italic in (0, 1):
            addMapping(name, bold, italic, name)
    _registered[key] = name
    return name


def has_glyphs(font_name: str, text: str) -> bool:
    """Whether the registered TrueType font can draw every character of `text` (no tofu)."""
    font = pdfmetrics.getFont(font_name)
    cmap = getattr(getattr(font, "face", None), "charToGlyph", None)
    if cmap is None:
        return False
    return all(ord(ch) in cmap for ch in text if not ch.isspace())


def pick_marks(font_name: str) -> tuple[str, str]:
    """(pass, fail) marks the font can draw: ✓/✗ if present, else √/×, ○/×, 是/否."""
    for marks in (("✓", "✗"), ("√", "×"), ("○", "×")):
        if has_glyphs(font_name, "".join(marks)):
            return marks
    return ("是", "否")
