"""A CJK font for the PDF report: found on the machine, embedded, never a reason to fail.

Chinese text renders in every viewer only when the PDF carries its own glyphs, so
`cjk_font()` registers a TrueType font with reportlab (subset embedding is reportlab's
default for `TTFont`). Where to look, in order:

1. `FEEDBACK_REPORT_FONT` (a .ttf or .ttc path; index 0 of a collection is used);
2. the usual places on Debian/Ubuntu (`fonts-wqy-microhei`, `fonts-wqy-zenhei`,
   `fonts-arphic-*`, `fonts-droid-fallback`), macOS and Windows.

Only TrueType outlines qualify: reportlab cannot load CFF ("PostScript") outlines, which
is what `fonts-noto-cjk` and macOS's PingFang ship, so those files are checked and skipped.
When nothing usable is found the report falls back to reportlab's built-in CID font
`STSong-Light`: it is not embedded (viewers without Adobe's Asian font pack show boxes or
substitute), so a warning naming the package to install is logged, once per process.
"""

from __future__ import annotations

import glob
import logging
import os
import struct
import threading
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = logging.getLogger(__name__)

FONT_ENV = "FEEDBACK_REPORT_FONT"
FALLBACK_FONT = "STSong-Light"
INSTALL_HINT = "apt-get install fonts-wqy-microhei"

# Regular faces, best first; globs are expanded in sorted order.
KNOWN_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "/usr/share/fonts/truetype/arphic/*.tt[cf]",
    "/usr/share/fonts/truetype/arphic-*/*.tt[cf]",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",   # CFF: checked and skipped
    "/System/Library/Fonts/PingFang.ttc",                        # CFF: checked and skipped
    "/System/Library/Fonts/STHeiti Light.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/simsun.ttc",
)
# Bold faces; used only when one exists, else bold text uses the regular face.
KNOWN_BOLD_FONTS: tuple[str, ...] = (
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyhbd.ttc",
)

_CJK_PROBE = "客户反馈报告"   # a font must cover these to count as CJK

_lock = threading.Lock()
_resolved: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[str, str]] = {}
_warned = False


def cjk_font() -> str:
    """The registered name of the regular CJK font (embedded TrueType, else `STSong-Light`)."""
    return cjk_fonts()[0]


def cjk_font_bold() -> str:
    """The registered name of a bold CJK face, or the regular one when there is none."""
    return cjk_fonts()[1]


def cjk_fonts() -> tuple[str, str]:
    """(regular, bold) font names, registered with reportlab; bold is regular when no bold face exists.

    Also registers a font family under the regular name, so `<b>` in a Paragraph picks the bold face.
    """
    key = (os.environ.get(FONT_ENV, ""), KNOWN_FONTS, KNOWN_BOLD_FONTS)
    with _lock:
        if key not in _resolved:
            _resolved[key] = _resolve(key[0])
        return _resolved[key]


def is_embedded(font_name: str) -> bool:
    """True when the font is a TrueType font that reportlab embeds (not the CID fallback)."""
    return isinstance(pdfmetrics.getFont(font_name), TTFont)


def _resolve(env_path: str) -> tuple[str, str]:
    global _warned
    candidates = ([env_path] if env_path else []) + _expand(KNOWN_FONTS)
    regular = None
    for path in candidates:
        regular = _register(path)
        if regular:
            break
        if path == env_path:
            log.warning("%s=%s is not a usable CJK TrueType font; looking in the usual places", FONT_ENV, env_path)
    if regular is None:
        if not _warned:
            log.warning(
                "no embeddable CJK TrueType font found (set %s or `%s`); the PDF uses the built-in "
                "%s, which is not embedded and may show boxes in some viewers", FONT_ENV, INSTALL_HINT,
                FALLBACK_FONT,
            )
            _warned = True
        if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
        return FALLBACK_FONT, FALLBACK_FONT
    bold = next((name for name in map(_register, _expand(KNOWN_BOLD_FONTS)) if name), regular)
    _family(regular, bold)
    return regular, bold


def _expand(patterns: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        out.extend(p for p in paths if p not in out)
    return out


def _register(path: str) -> str | None:
    """Register a TrueType font file (index 0 of a collection); None when missing, CFF or unreadable."""
    p = Path(path)
    if not p.is_file() or not _has_truetype_outlines(p):
        return None
    name = "CJK-" + p.stem.replace(" ", "")
    if name in pdfmetrics.getRegisteredFontNames():
        return name
    try:
        font = TTFont(name, str(p), subfontIndex=0)
    except (TTFError, OSError, ValueError, struct.error) as exc:
        log.info("skipping font %s: %s", p, exc)
        return None
    if not all(ord(c) in font.face.charToGlyph for c in _CJK_PROBE):
        log.info("skipping font %s: no CJK glyphs", p)
        return None
    pdfmetrics.registerFont(font)
    return name


def _has_truetype_outlines(path: Path) -> bool:
    """True for a TrueType font (glyf outlines) or a collection whose first font is one; False for CFF."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
            offset = 0
            if head[:4] == b"ttcf":
                offset = struct.unpack(">I", f.read(4))[0]   # first font of the collection
                f.seek(offset)
                head = f.read(12)
            tag = head[:4]
            if tag == b"OTTO":
                return False
            if tag not in (b"\x00\x01\x00\x00", b"true"):
                return False
            num_tables = struct.unpack(">H", head[4:6])[0]
            directory = f.read(16 * num_tables)
    except (OSError, struct.error):
        return False
    tags = {directory[i:i + 4] for i in range(0, len(directory), 16)}
    return b"glyf" in tags and b"CFF " not in tags


def _family(regular: str, bold: str) -> None:
    addMapping(regular, 0, 0, regular)
    addMapping(regular, 1, 0, bold)
    addMapping(regular, 0, 1, regular)
    addMapping(regular, 1, 1, bold)
