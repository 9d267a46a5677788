"""Bytes of doubtful labelling to clean text: charset decoding and HTML flattening.

A mail's charset label is a hint, not a contract. Chinese clients label GBK text
"gb2312", web forms send UTF-8 declared as anything, and some labels are names no
codec library knows. The decoder therefore tries the declared codec strictly, then
the codecs that the mislabelling seen in practice points to, and only as a last
resort decodes with replacement characters. Text with no usable label is read as
UTF-8, then as GB18030 only when its bytes pair up the way Chinese text does (Latin
text such as ``Fr\\xf6sche`` also decodes as GB18030, into nonsense), then by a
detector (charset-normalizer) when there is enough of it to judge, else as Western
Latin (windows-1252). Every guess is reported back
(``note``, ``lossy``) so the intake can show an operator what was repaired, without
ever putting message text in that report.

Header values get the same treatment: RFC 2047 encoded words (also split in the
middle of a character or mislabelled), raw 8-bit bytes and RFC 2231 parameters are
decoded here from the bytes the parser kept, because the ``email`` package's own
decoding turns 8-bit file names into "?" and trusts every label.

HTML is flattened with the stdlib parser only: good enough for triage (paragraphs
and line breaks survive, markup, scripts and styles do not), and it never raises.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote_to_bytes

import pybase64

# Labels real clients send that Python does not know, or resolves to a narrower codec.
_ALIASES = {
    "gb_2312-80": "gb2312", "gb2312-80": "gb2312", "x-euc-cn": "gb2312", "csgb2312": "gb2312",
    "x-mac-chinesesimp": "gb2312", "chinese": "gb2312", "x-gbk": "gbk", "windows-936": "gbk",
    "x-gb18030": "gb18030", "x-big5": "big5", "cn-big5": "big5", "x-x-big5": "big5", "csbig5": "big5",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "x-sjis": "cp932", "windows-31j": "cp932",
    "windows-874": "cp874", "iso-8859-8-i": "iso8859-8", "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-7": "utf-7", "ansi_x3.4-1968": "ascii",
}
# Labels that carry no information: decode as if nothing had been declared.
_NO_INFO = frozenset({"unknown-8bit", "x-unknown", "unknown", "default", "8bit", "x-user-defined",
                      "none", "charset"})
# ISO-2022-JP as Microsoft and Apple clients write it (CP50220: NEC row 13, e.g. ①, and half-width kana).
_JIS_MS = "x-iso2022-jp-ms"
# The codecs a mislabelled text of the declared codec really turns out to be in, widest last.
_SUPERSETS = {
    "gb2312": ("gb18030",), "gbk": ("gb18030",), "hz": ("gb18030",),
    "big5": ("cp950", "big5hkscs"), "cp950": ("big5hkscs",),
    "euc_kr": ("cp949",), "shift_jis": ("cp932",), "euc_jp": ("euc_jis_2004",),
    "iso2022_jp": ("iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3", _JIS_MS),
    "ascii": ("gb18030", "cp1252", "latin-1"), "cp1252": ("latin-1",),
}
_CJK_MULTIBYTE = frozenset({"gb2312", "gbk", "gb18030", "big5", "big5hkscs", "cp950", "euc_kr", "cp949",
                            "johab", "shift_jis", "cp932", "euc_jp", "euc_jis_2004", "euc_jisx0213",
                            "shift_jis_2004", "shift_jisx0213"})
# Codecs whose encoded bytes are (mostly) 7-bit or not ASCII-compatible: no shortcuts apply.
_NOT_ASCII_COMPATIBLE = ("utf-7", "utf_7", "iso2022", "hz", "utf-16", "utf_16", "utf-32", "utf_32")
# Text codecs that are unsafe or meaningless as a mail charset.
_REFUSED = frozenset({"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined",
                      "mbcs", "oem", "charmap"})
_LABEL_RE = re.compile(r"[a-z0-9][a-z0-9._:+-]{0,39}")
_ISO2022_ESC = re.compile(rb"\x1b[$(][@A-Z]")
_HIGH_BYTES = bytes(range(0x80, 0x100))
_WIDE = ("utf-16", "utf_16", "utf-32", "utf_32")
_GB_FAMILY = frozenset({"gb2312", "gbk", "gb18030"})
_JIS_SEGMENT = re.compile(rb"\x1b(\$[@B]|\$\(D|\([BJI])|([^\x1b]+)")
# What the detector may answer: its guesses among every codec are noise on short strings.
_DETECTABLE = ["gb18030", "big5", "cp932", "euc_jp", "cp949", "cp1252", "cp1250", "cp1251", "koi8_r", "cp1253",
               "iso8859_7", "cp1254", "cp1255", "cp1256", "cp1257", "iso8859_15", "cp874"]
# Below this many 8-bit bytes the detector cannot tell Latin scripts apart (it reads "r\xe1pido" as UTF-16).
_DETECT_MIN_HIGH_BYTES = 16


@dataclass(frozen=True)
class Decoded:
    text: str
    note: str | None = None      # "declared gb2312, decoded as gb18030"; never message text
    lossy: bool = False          # replacement characters had to be used
    truncated: bool = False      # the bytes ended inside a multi-byte character


def _label(declared: str | None) -> str | None:
    """The declared label, lowercased and stripped of quoting and an RFC 2231 language tag."""
    if declared is None:
        return None
    label = declared.strip().strip("\"'").strip().split("*", 1)[0].lower()
    return label or None


def _safe(label: str) -> str:
    """A label fit for an operator note: a label is sender-controlled text, so only codec-shaped ones."""
    return label if _LABEL_RE.fullmatch(label) else "(invalid label)"


@functools.lru_cache(maxsize=512)
def _codec(label: str) -> str | None:
    """Python's codec name for a label, or None when no usable text codec goes by that name.

    Cached: every part of every mail asks, and the same few labels recur.
    """
    if not _LABEL_RE.fullmatch(label):
        return None
    name = _ALIASES.get(label, label)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return info.name


def _iso2022_jp_ms(data: bytes) -> str:
    """ISO-2022-JP with the vendor extensions Python's codecs refuse: JIS X 0208 read as cp932 rows."""
    out, mode = [], b"(B"
    for match in _JIS_SEGMENT.finditer(data):
        if match[1]:
            mode = match[1]
            continue
        segment = match[2]
        if mode.startswith(b"$"):
            if len(segment) % 2:
                raise ValueError("odd JIS segment")
            out.append(bytes(b | 0x80 for b in segment).decode("euc_jis_2004"))
        elif mode == b"(I":
            out.append(bytes(b | 0x80 for b in segment).decode("cp932"))
        else:
            if not segment.isascii():
                raise ValueError("8-bit byte in ISO-2022-JP")
            out.append(segment.decode("ascii"))
    return "".join(out)


def cjk_plausible(data: bytes) -> bool:
    """Whether 8-bit bytes pair up as double-byte Chinese/Japanese/Korean text does.

    In GBK/GB18030 text nearly every character is two high bytes; Latin text read as
    GBK pairs one high byte (``\\xf6`` of "Frösche") with the ASCII letter after it.
    A few such pairs are allowed: GBK's extension characters use ASCII trail bytes.
    """
    pairs = ascii_trail = 0
    i, n = 0, len(data)
    while i < n:
        if data[i] < 0x80:
            i += 1
            continue
        if i + 1 >= n:
            break
        pairs += 1
        if data[i + 1] < 0x80:
            ascii_trail += 1
        i += 2
    return pairs > 0 and ascii_trail * 4 <= pairs


def _strict(data: bytes, codec: str) -> tuple[str, bool] | None:
    """Decode strictly, but forgive an incomplete character at the very end (truncated mail)."""
    if codec == _JIS_MS:
        try:
            return _iso2022_jp_ms(data), False
        except (ValueError, UnicodeDecodeError):
            return None
    try:
        # Whole and valid, the usual case: one decode; the incremental decoder only for the rest.
        return data.decode(codec), False
    except Exception:  # noqa: BLE001 - any codec failure: try again forgiving a cut-off last character
        pass
    try:
        decoder = codecs.getincrementaldecoder(codec)()
        text = decoder.decode(data, final=False)
    except Exception:  # any codec failure just means "not this codec"
        return None
    try:
        decoder.decode(b"", final=True)
    except Exception:
        return text, True
    return text, False


def _utf8_chars(data: bytes) -> int:
    """Non-ASCII characters if the bytes are valid UTF-8, else -1: validity is a strong signal."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return -1
    return len(text) - len(text.encode("ascii", "ignore"))


def decode_bytes(data: bytes, declared: str | None) -> Decoded:
    """Decode ``data`` declared as ``declared`` (None: nothing declared); never raises."""
    label = _label(declared)
    if label in _NO_INFO:
        label = None
    codec = _codec(label) if label else None
    if not data:
        return Decoded("")
    if codec is None or (codec.startswith(_WIDE) and b"\x00" not in data):
        return _undeclared(data, label)  # UTF-16 text without a single NUL byte is not UTF-16
    if codec == "ascii" and not data.isascii():
        return _undeclared(data, label)  # 8-bit text labelled us-ascii: the label says nothing
    compatible = not codec.startswith(_NOT_ASCII_COMPATIBLE)
    if compatible and data.isascii():
        return Decoded(data.decode("ascii"))
    note_for = f"declared {_safe(label or codec)}, decoded as "
    if compatible and codec != "utf-8":
        # UTF-8 mislabelled as a legacy charset is common; valid UTF-8 rarely happens by accident,
        # less rarely for short double-byte text, hence the higher bar there.
        if _utf8_chars(data) >= (4 if codec in _CJK_MULTIBYTE else 1):
            return Decoded(data.decode("utf-8"), note_for + "utf-8")
    if codec == "iso8859-1":
        # What browsers do: text labelled Latin-1 is windows-1252 (curly quotes, euro sign).
        candidates: tuple[str, ...] = ("cp1252", "latin-1")
        silent = {"cp1252", "latin-1"}
    else:
        candidates = (codec, *_SUPERSETS.get(codec, ()))
        silent = {codec}
    for candidate in candidates:
        if candidate != codec and candidate in _CJK_MULTIBYTE and codec not in _CJK_MULTIBYTE \
                and not cjk_plausible(data):
            continue  # e.g. Latin text labelled us-ascii: GB18030 would decode it, into nonsense
        got = _strict(data, candidate)
        if got is not None:
            note = None if candidate in silent else note_for + candidate
            return Decoded(got[0], note, truncated=got[1])
    if codec == "utf-8":
        return _broken_utf8(data, note_for)
    got = _strict(data, "utf-8")
    if got is not None:
        return Decoded(got[0], note_for + "utf-8", truncated=got[1])
    widest = candidates[-1]
    return Decoded(data.decode(widest, errors="replace"), note_for + widest + " with replacements", lossy=True)


def _broken_utf8(data: bytes, note_for: str) -> Decoded:
    """UTF-8 that does not decode: a few bad bytes (corruption) or a different charset altogether."""
    replaced = data.decode("utf-8", errors="replace")
    bad = replaced.count("\ufffd")
    non_ascii = len(data) - len(data.translate(None, _HIGH_BYTES))
    # Valid multi-byte characters (a U+FFFD that was sent as such included) outnumbering the bad
    # bytes: UTF-8 with damage, not another charset.
    bad -= data.count(b"\xef\xbf\xbd")
    valid = sum(1 for ch in replaced if ord(ch) > 0x7F) - bad
    if bad * 20 > non_ascii and valid < bad:
        guessed = _guess(data)
        if guessed is not None:
            return Decoded(guessed[1], note_for + guessed[0], truncated=guessed[2])
    return Decoded(replaced, note_for + "utf-8 with replacements", lossy=True)


def _guess(data: bytes) -> tuple[str, str, bool] | None:
    """8-bit text that is not UTF-8: (codec, text, truncated), or None when nothing fits.

    GB18030 first when the bytes pair up like Chinese text (this is a Chinese mailbox),
    then the detector when there is enough text to judge, then Western Latin.
    """
    if cjk_plausible(data):
        got = _strict(data, "gb18030")
        if got is not None:
            return "gb18030", got[0], got[1]
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    if high >= _DETECT_MIN_HIGH_BYTES:
        detected = _detect(data)
        if detected is not None:
            return detected[0], detected[1], False
    if not any(0x80 <= b <= 0x9F for b in data):
        return "latin-1", data.decode("latin-1"), False   # the same text as windows-1252 here
    got = _strict(data, "cp1252")
    if got is not None:
        return "cp1252", got[0], got[1]
    return None


def _detect(data: bytes) -> tuple[str, str] | None:
    """charset-normalizer's best guess among the codecs mail really uses, if it is confident."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a pinned requirement; without it the fallbacks still work
        return None
    try:
        best = from_bytes(data, cp_isolation=_DETECTABLE).best()
    except Exception:  # the detector must never cost us the mail
        return None
    if best is None or best.chaos > 0.2:
        return None
    codec = codecs.lookup(best.encoding).name
    if codec in _CJK_MULTIBYTE and not cjk_plausible(data):
        return None
    return codec, str(best)


def _undeclared(data: bytes, label: str | None) -> Decoded:
    """No usable label: UTF-8, then `_guess` (GB18030 for Chinese-looking bytes, the detector, Latin)."""
    if data.isascii():
        if _ISO2022_ESC.search(data):
            for codec in ("iso2022_jp", "iso2022_jp_2", _JIS_MS, "iso2022_kr"):
                got = _strict(data, codec)
                if got is not None:
                    note = f"declared {_safe(label)}" if label else "undeclared"
                    return Decoded(got[0], f"{note}, decoded as {codec}", truncated=got[1])
        return Decoded(data.decode("ascii"))
    prefix = f"declared {_safe(label)}" if label else "undeclared 8-bit"
    got = _strict(data, "utf-8")
    if got is not None:
        return Decoded(got[0], f"{prefix}, decoded as utf-8" if label else None, truncated=got[1])
    guessed = _guess(data)
    if guessed is not None:
        return Decoded(guessed[1], f"{prefix}, decoded as {guessed[0]}", truncated=guessed[2])
    return Decoded(data.decode("latin-1"), f"{prefix}, decoded as latin-1")


# --- header values -----------------------------------------------------------------------------

CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_WORD = re.compile(rb"=\?([^?\s]{1,80})\?([BbQq])\?([^?]*)\?=")
_WHITESPACE = b" \t\r\n\x0b\x0c"
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")))
_B64_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PARAM_NAME = re.compile(r"([^*\s]+)(?:\*(\d{1,3}))?(\*)?")
_MAX_PARAM_HEADER = 16_384


class Notes:
    """Repairs and charset guesses met while decoding, in first-seen order; never message text."""

    def __init__(self) -> None:
        self.defects: dict[str, None] = {}
        self.charsets: dict[str, None] = {}
        # The message's own declared charset: what raw 8-bit header bytes are most likely in.
        self.header_charset: str | None = None

    def defect(self, code: str | None) -> None:
        if code:
            self.defects.setdefault(code)

    def decode(self, data: bytes, declared: str | None) -> str:
        result = decode_bytes(data, declared)
        if result.note:
            self.charsets.setdefault(result.note)
        if result.lossy:
            self.defect("undecodable_charset")
        if result.truncated:
            self.defect("truncated_multibyte")
        return result.text

    def decode_raw_header(self, data: bytes) -> str:
        """Raw (not RFC 2047) header bytes: the message's declared charset, then UTF-8, then a guess.

        The declared charset belongs to the body, so it is only taken when it decodes the
        bytes strictly and, for a Chinese codec, when the bytes look like Chinese text.
        """
        label = _label(self.header_charset)
        codec = _codec(label) if label and label not in _NO_INFO else None
        if codec and not codec.startswith(_NOT_ASCII_COMPATIBLE) and codec != "utf-8" \
                and _utf8_chars(data) < 1 and (codec not in _CJK_MULTIBYTE or cjk_plausible(data)):
            got = _strict(data, "cp1252" if codec == "iso8859-1" else codec)
            if got is not None:
                return got[0]
        return self.decode(data, None)


def as_bytes(value: str) -> bytes:
    """The original bytes: the bytes parser keeps 8-bit header and body bytes as surrogates."""
    return value.encode("utf-8", "surrogateescape")


def collapse(text: str) -> str:
    return " ".join(CONTROLS.sub(" ", text).split())


def b64decode_lenient(data: bytes, notes: Notes) -> bytes:
    """Base64 that survives junk characters, missing or inner padding and a cut-off tail."""
    compact = data.translate(None, _WHITESPACE)
    if len(compact) % 4 == 0 and not compact.endswith(b"==="):
        try:
            # Well-formed base64 (the usual case) in one pass, with SIMD: about 20x binascii, which was a third
            # of parsing a mail with attachments. Validation refuses exactly what binascii's strict mode
            # refuses (padding inside, junk), which needs the repairs below.
            return pybase64.b64decode(compact, validate=True)
        except binascii.Error:
            pass
    cleaned = compact.translate(None, _NOT_BASE64)
    junk = len(compact) - len(cleaned)
    if junk > len(compact) // 20 + 1:
        notes.defect("bad_base64")
        return data  # labelled base64 but is not: the bytes as they are beat nothing
    body = cleaned.rstrip(b"=")
    if (not junk and len(cleaned) % 4 == 0 and len(cleaned) - len(body) <= 2
            and not any(c in body for c in (b"=", b"-", b"_"))):
        return binascii.a2b_base64(cleaned)
    notes.defect("bad_base64")
    out = []
    # Padding inside the data means concatenated pieces: decode each one on its own.
    for chunk in re.split(rb"=+", cleaned.translate(_B64_URLSAFE)):
        chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk  # 6 lone bits make no byte
        if chunk:
            out.append(binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4)))
    return b"".join(out)


def decode_words(value: str, notes: Notes) -> str:
    """An unstructured header value as text, whitespace collapsed.

    Adjacent encoded words in one charset are joined before decoding, since clients
    split multi-byte characters across words; bytes outside encoded words are
    decoded like an undeclared body (raw UTF-8 or GBK subjects are common).
    """
    raw = as_bytes(value)
    if b"=?" not in raw and raw.isascii() and not _ISO2022_ESC.search(raw):
        return collapse(value)
    tokens: list[tuple[bool, str | None, bytearray]] = []  # (is_word, charset, bytes)
    pos = 0
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[pos:match.start()]
        if between and not (between.isspace() and tokens and tokens[-1][0]):
            tokens.append((False, None, bytearray(between)))
        charset = match[1].decode("ascii", "replace").lower()
        if match[2] in b"Bb":
            data = b64decode_lenient(match[3], notes)
        else:
            data = binascii.a2b_qp(match[3], header=True)
        if tokens and tokens[-1][0] and tokens[-1][1] == charset:
            tokens[-1][2].extend(data)
        else:
            tokens.append((True, charset, bytearray(data)))
        pos = match.end()
    if pos < len(raw):
        tokens.append((False, None, bytearray(raw[pos:])))
    parts = []
    for is_word, charset, chunk in tokens:
        if not is_word and not chunk.isascii():
            notes.defect("raw_8bit_header")
            parts.append(notes.decode_raw_header(bytes(chunk)))
            continue
        parts.append(notes.decode(bytes(chunk), charset))
    return collapse("".join(parts))


def _split_params(value: str) -> list[str]:
    if '"' not in value:
        return value[:_MAX_PARAM_HEADER].split(";")   # nothing quoted: every ';' separates
    items: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in value[:_MAX_PARAM_HEADER]:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            items.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    items.append("".join(buf))
    return items


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        # Only \" is unescaped: literal backslashes (Windows paths) are far commoner than escapes.
        value = value[1:-1].replace('\\"', '"')
    return value


def header_params(value: str | None, notes: Notes) -> tuple[str, dict[str, str]]:
    """A structured header's lowercased token and its parameters, decoded.

    RFC 2231 values (``filename*=gbk''%D5%C5``, continuations) are decoded with the
    charset chain, so a mislabelled charset still gives a name; plain values may hold
    RFC 2047 words or raw 8-bit bytes, as many clients send file names that way.
    """
    if not value:
        return "", {}
    if value.isascii() and "=?" not in value and "*" not in value and "\x1b" not in value:
        # Nothing to decode, so nothing to note: the same few Content-Type values recur in every mail.
        token, params = _plain_header_params(value)
        return token, dict(params)
    return _header_params(value, notes)


@functools.lru_cache(maxsize=2048)
def _plain_header_params(value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    token, params = _header_params(value, Notes())
    return token, tuple(params.items())


def _header_params(value: str, notes: Notes) -> tuple[str, dict[str, str]]:
    items = _split_params(value)
    simple: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[bool, str]]] = {}
    for item in items[1:]:
        name, sep, raw = item.partition("=")
        match = _PARAM_NAME.fullmatch(name.strip().lower())
        if not sep or match is None:
            continue
        if match[2] is None and match[3] is None:
            simple.setdefault(match[1], _unquote(raw))
        else:
            extended.setdefault(match[1], {}).setdefault(int(match[2] or 0), (bool(match[3]), _unquote(raw)))
    params = {name: decode_words(raw, notes) for name, raw in simple.items()}
    for name, segments in extended.items():
        charset, buf = None, bytearray()
        for n, index in enumerate(sorted(segments)[:100]):
            is_encoded, raw = segments[index]
            if is_encoded:
                if n == 0 and raw.count("'") >= 2:
                    charset, _lang, raw = raw.split("'", 2)
                buf += unquote_to_bytes(raw)
            else:
                buf += as_bytes(raw)
        params[name] = collapse(notes.decode(bytes(buf), charset or None))
    return items[0].strip().lower(), params


# --- text clean-up -----------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]")
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85]")


def normalise_text(text: str) -> str:
    """LF line ends, no control characters or NULs, no trailing spaces, no blank edges."""
    if "\r" in text or "\u2028" in text or "\u2029" in text or "\x85" in text:   # a scan is cheaper than the regex
        text = _NEWLINES.sub("\n", text)
    text = _CONTROL.sub("", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


# --- HTML -> text -------------------------------------------------------------------------------

_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol",
                        "dl", "hr"})
_LINE = frozenset({"div", "li", "tr", "dt", "dd", "section", "article", "header", "footer", "nav", "aside",
                   "address", "center", "form", "fieldset", "legend", "figure", "figcaption", "caption",
                   "main", "details", "summary", "tbody", "thead", "tfoot"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml", "object"})
_CELL = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")
_INLINE_SPACES = re.compile(r"[^\S\n]+")
_TAG = re.compile(r"<[^>]*>")
_HTML_CHUNK = 65_536


class _Flattener(HTMLParser):
    """Collects visible text; paragraphs get a blank line, other blocks a line break.

    Breaks are kept as a pending count and written only before the next visible text,
    so nested or empty blocks never pile up blank lines.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.size = 0
        self.pending = 0
        self.skip: dict[str, int] = {}
        self.pre = 0

    def _break(self, lines: int) -> None:
        self.pending = max(self.pending, lines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip[tag] = self.skip.get(tag, 0) + 1
        elif tag == "body":
            self.skip.pop("head", None)  # <head> is often never closed
        elif tag == "br":
            self.pending = self.pending + 1 if self.pending else 1
        elif tag in _PARAGRAPH:
            self._break(2)
            if tag == "pre":
                self.pre += 1
        elif tag in _LINE:
            self._break(1)
        elif tag in _CELL and self.out and not self.pending:
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            return  # <script/> opens nothing
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if self.skip.get(tag):
                self.skip[tag] -= 1
        elif tag in _PARAGRAPH:
            self._break(2)
            if tag == "pre" and self.pre:
                self.pre -= 1
        elif tag in _LINE:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if any(self.skip.values()):
            return
        text = data if self.pre else _SPACES.sub(" ", data)
        if not text.strip():
            if self.out and not self.pending and not self.out[-1].endswith(" "):
                self.out.append(" ")
            return
        if self.pending and self.out:
            self.out.append("\n" * self.pending)
        self.pending = 0
        self.out.append(text)
        self.size += len(text)


def _tidy(text: str) -> str:
    """Collapse spaces per line and keep at most one blank line in a row."""
    lines: list[str] = []
    for line in text.split("\n"):
        line = _INLINE_SPACES.sub(" ", line).strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


def html_to_text(source: str, max_chars: int | None = None) -> str:
    """Visible text of an HTML body: paragraphs separated by one blank line, other blocks by a newline.

    ``<p>您好</p><p>订单 123 未发货</p>`` gives ``"您好\\n\\n订单 123 未发货"``. With ``max_chars``
    parsing stops once clearly more than that much text was seen (the caller truncates),
    since flattening megabytes of markup nobody will read is the slowest step of a parse.
    """
    parser = _Flattener()
    try:
        for start in range(0, len(source), _HTML_CHUNK):
            parser.feed(source[start:start + _HTML_CHUNK])
            if max_chars is not None and parser.size > 2 * max_chars + 1000:
                break
        parser.close()
        text = "".join(parser.out)
    except Exception:  # markup broken enough to upset the parser: strip tags crudely
        text = html.unescape(_TAG.sub(" ", source))
    return _tidy(normalise_text(text))
