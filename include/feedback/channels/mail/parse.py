"""One raw RFC 822 message to a normalised ParsedMail: pure, no database, no network.

The parser is forgiving on purpose. A support mailbox receives whatever customers'
clients produce: GBK labelled gb2312, raw 8-bit headers, multiparts without a
boundary or cut off mid-attachment, no blank line after the headers. Refusing such
a mail would lose a customer's message, so everything that still has a subject, some
text or an attachment is parsed, and what had to be repaired is recorded as short
codes in ``defects`` (and charset guesses in ``charset_note``) for the operator.
``InvalidItem`` is raised only when the bytes are not a mail at all (``not_a_mail``),
when nothing in it is readable (``no_content``), or, as a safety net, when the parser
itself fails (``parse_error``) so the mail is parked rather than the batch crashing.

The structure is read with the ``email`` package in its compat32 mode, whose parser
never raises and keeps header bytes intact; header values, parameters and charsets
are then decoded here, because the package's own decoding replaces 8-bit names with
"?" and trusts charset labels. Nothing the operator sees (``InvalidItem.detail``,
``defects``, ``charset_note``, ``kind_reason``) contains message text or addresses.
"""

from __future__ import annotations

import binascii
import email
import functools
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.generator import BytesGenerator
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from io import BytesIO

from feedback.channels.base import InvalidItem
from feedback.channels.mail.text import (
    CONTROLS,
    Notes,
    as_bytes,
    b64decode_lenient,
    decode_words,
    header_params,
    html_to_text,
    normalise_text,
)
from feedback.channels.mail.tree import message_from_bytes

KINDS = ("feedback", "bounce", "auto_reply", "own", "spam", "report", "list")
_MAX_DEPTH = 40
_KNOWN_HEADERS = frozenset({
    "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
    "content-transfer-encoding", "received", "return-path", "delivered-to", "x-original-to", "reply-to",
    "sender", "in-reply-to", "references", "x-mailer", "user-agent", "dkim-signature", "auto-submitted",
    "x-feedback-outbox",
})
_HEADER_LINE = re.compile(
    rb"(?im)^(?:from|subject|date|to|message-id|received|return-path|mime-version|content-type"
    rb"|delivered-to)[ \t]*:")
_DEFECT_CODES = {
    "NoBoundaryInMultipartDefect": "missing_boundary",
    "StartBoundaryNotFoundDefect": "boundary_not_found",
    "CloseBoundaryNotFoundDefect": "unclosed_multipart",
    "MissingHeaderBodySeparatorDefect": "no_header_body_separator",
    "FirstHeaderLineIsContinuationDefect": "header_starts_with_continuation",
    "MisplacedEnvelopeHeaderDefect": "misplaced_envelope_header",
    "MultipartInvariantViolationDefect": None,  # always accompanies one of the above
    "InvalidMultipartContentTransferEncodingDefect": "bad_multipart_transfer_encoding",
}
_ADDR = re.compile(r"[^\s<>\"'(),;:@\[\]]+@[^\s<>\"'(),;:@\[\]]+")
_MSG_ID = re.compile(r"<([^<>]*)>")
_CTYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_DELIMITER = re.compile(rb"(?m)^--(\S[^\r\n]{0,200}?)[ \t]*\r?$")
_TRAILING_WS = re.compile(rb"[ \t]+(?=\r?$)", re.M)
_META_CHARSET = re.compile(rb"<meta[^>]{0,300}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_:.+-]{1,40})", re.I)

_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification|returned mail|delivery failure|mail delivery failed"
    r"|failure notice|退信|投递失败|无法投递|未能送达", re.I)
_AUTO_SUBMITTED = frozenset({"auto-generated", "auto-replied", "auto-notified"})
_PRECEDENCE = frozenset({"bulk", "auto_reply", "junk", "list"})
_SPAM_FLAG = re.compile(r"^\s*yes\b", re.I)
# Report types that are about delivery or reading, answered by machines; anything else is a report too.
_LIST_HEADERS = ("list-id", "list-unsubscribe")
_FORWARD_MARK = "---------- Forwarded message ----------"
_ENRICHED_PARAM = re.compile(r"<param>.*?</param>", re.I | re.S)
_ENRICHED_TAG = re.compile(r"<<|</?[A-Za-z0-9-]{1,60}>")
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoreply-from", "x-mail-autoreply")
_AUTO_SUBJECT = re.compile(
    r"^[\s\[【(（]*(?:"
    r"(?:auto(?:matic)?[\s_-]*(?:reply|response|responder|answer)?|out\s+of\s+(?:the\s+)?office"
    r"(?:\s*auto[\s_-]?reply)?|automatische\s+antwort|abwesenheitsnotiz|réponse\s+automatique"
    r"|respuesta\s+automática)\s*(?:[:：\]】)]|$)"
    r"|(?:自动回复|自動回覆|自动答复|自动应答|休假)\s*(?:[:：\]】)]|\s|$)"
    r"|休假中|休假通知"
    r")", re.I)


@dataclass(frozen=True)
class Attachment:
    """A file the customer sent; equal by content, so the same screenshot twice is one file."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    data: bytes = field(repr=False, compare=False)
    textual: bool = field(default=False, repr=False, compare=False)   # sent as lines (7bit, 8bit, QP)

    @property
    def identity(self) -> str:
        """What the content hash uses: for text and attached messages, the bytes with line ends and
        trailing whitespace normalised (servers and clients rewrite both); for files, the bytes."""
        if not self.textual and not self.content_type.startswith(("text/", "message/")):
            return self.sha256
        lines = self.data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        return hashlib.sha256(b"\n".join(line.rstrip(b" \t") for line in lines).strip(b"\n")).hexdigest()

    def meta(self) -> dict[str, str | int | None]:
        """What may be stored next to the intake row; the bytes go to blob storage, if anywhere."""
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size,
                "sha256": self.sha256}


@dataclass(frozen=True)
class ParsedMail:
    """What intake needs from one mail, already decoded, so nothing downstream touches MIME.

    ``body_source`` is "plain", "html", "other" (text/enriched, text/x-*), "forwarded" (only an
    attached message had text) or "none"; ``kind`` is "feedback", "bounce", "auto_reply",
    "own", "spam", "report" (ARF and other feedback reports) or "list" (mailing-list mail),
    and ``kind_reason`` says which signal decided.
    """

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str | None
    from_name: str | None
    from_address: str | None
    to_addresses: tuple[str, ...]
    date: datetime | None
    text: str
    body_source: str
    charset_note: str | None
    attachments: tuple[Attachment, ...]
    kind: str
    kind_reason: str | None
    defects: tuple[str, ...]

    def content_hash(self) -> str:
        """Identity of what the customer wrote, not of the delivery.

        The same mail fetched twice or found in two folders differs in Received,
        Delivered-To, X-* headers and line endings; none of those are hashed, so
        the intake can recognise the copy.
        """
        canonical = json.dumps(
            ["mail-content-v1", self.from_address, self.date.isoformat() if self.date else None,
             self.subject, self.text, sorted(a.identity for a in self.attachments)],
            ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def payload(self) -> dict[str, object]:
        """The JSON-able intake payload: content and thread identity, never delivery-path details.

        ``to`` lists the To and Cc recipients only. Delivered-To / X-Original-To say
        which mailbox a copy landed in, so they stay out to keep the payload equal for
        every copy of one message (they are in ``to_addresses`` for routing).
        """
        return {
            "subject": self.subject,
            "body": self.text,
            "contact": {"name": self.from_name, "email": self.from_address},
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "to": list(self._header_recipients),
            "date": self.date.isoformat() if self.date else None,
            "attachments": [a.meta() for a in self.attachments],
            "body_source": self.body_source,
            "charset_note": self.charset_note,
            "defects": list(self.defects),
        }

    # To + Cc without Delivered-To / X-Original-To, for payload(); filled in by parse_mail.
    _header_recipients: tuple[str, ...] = field(default=(), repr=False, compare=False)
    # When the topmost Received: header (our own server's, added last) says the mail arrived.
    # A delivery detail, so not in payload() or content_hash(): copies differ in it.
    received_date: datetime | None = field(default=None, compare=False)


class _Notes(Notes):
    """Notes plus what classification needs to know about the MIME tree."""

    def __init__(self, max_chars: int) -> None:
        super().__init__()
        self.reports: set[str] = set()
        self.max_chars = max_chars

    def email_defects(self, part: Message) -> None:
        for found in getattr(part, "defects", ()):
            name = type(found).__name__
            if name in _DEFECT_CODES:
                self.defect(_DEFECT_CODES[name])
            else:
                self.defect(re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Defect")).lower())


@dataclass
class _Collected:
    pieces: list[tuple[str, str]] = field(default_factory=list)   # (plain|html|other, text)
    attachments: list[Attachment] = field(default_factory=list)
    # Other text parts (text/enriched, text/x-*): the body when there is no plain or HTML part,
    # else kept as attachments, never dropped.
    others: list[Attachment] = field(default_factory=list)
    # Bodies of attached messages, and whether each came as a file (Content-Disposition: attachment).
    forwarded: list[tuple[str, bool]] = field(default_factory=list)


# --- headers -----------------------------------------------------------------------------------

_UNFOLD = re.compile(r"\r?\n(?=[ \t])|\r|\n")


def _raw_headers(part: Message) -> dict[str, list[str]]:
    """Header values by lowercased name, unfolded; read once per part (several steps look at them)."""
    cached: dict[str, list[str]] | None = part.__dict__.get("_feedback_raw_headers")
    if cached is not None:
        return cached
    headers: dict[str, list[str]] = {}
    for name, value in part.raw_items():
        if isinstance(value, str):
            if "\n" in value or "\r" in value:
                value = _UNFOLD.sub("", value)
            headers.setdefault(name.strip().lower(), []).append(value)
    part.__dict__["_feedback_raw_headers"] = headers
    return headers


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _clean_address(addr: str) -> str | None:
    addr = as_bytes(addr).decode("utf-8", "replace").strip().strip("<>").strip().lower()
    return addr if _ADDR.fullmatch(addr) else None


# One address, bare or with a plain or quoted display name: the form nearly every mail uses, read here
# with the result email.utils gives (tests/unit/test_mail_tree.py compares them); anything else goes to email.utils,
# whose character-by-character parser was a tenth of the parse time.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_SIMPLE_SPEC = r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_SIMPLE_ADDRESS = re.compile(
    rf'[ \t]*(?:({_ATEXT}+(?: {_ATEXT}+)*|"[^"\\\r\n]*")?[ \t]*<({_SIMPLE_SPEC})>|({_SIMPLE_SPEC}))[ \t]*')


def split_address(value: str) -> tuple[str, str]:
    """``email.utils.parseaddr(value)``, without its parser for the simple forms."""
    match = _SIMPLE_ADDRESS.fullmatch(value)
    if match is None:
        return parseaddr(value)
    if match[3]:
        return "", match[3]
    name = match[1] or ""
    return (name[1:-1] if name.startswith('"') else name), match[2]


def split_addresses(value: str) -> list[tuple[str, str]]:
    """``email.utils.getaddresses([value])``, without its parser for one simple address."""
    if _SIMPLE_ADDRESS.fullmatch(value) is None:
        return getaddresses([value])
    return [split_address(value)]


def _address_list(values: list[str], notes: _Notes) -> list[str]:
    found: dict[str, None] = {}
    for value in values:
        pairs = split_addresses(value)
        addrs = [_clean_address(addr) for _, addr in pairs]
        if not any(addrs):  # e.g. the whole "name <addr>" was put in one encoded word
            addrs = [a.lower() for a in _ADDR.findall(decode_words(value, notes))]
        for addr in addrs:
            if addr:
                found.setdefault(addr)
    return list(found)


def _sender(value: str | None, notes: _Notes) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    name, addr = split_address(value)
    address = _clean_address(addr)
    if address is None:
        decoded = decode_words(value, notes)
        match = _ADDR.search(decoded)
        if match is None:
            return decoded.strip("\"' ") or None, None
        return decoded[:match.start()].strip("\"' <>").strip() or None, match[0].lower()
    display = decode_words(name, notes).strip("\"' <>").strip() if name else ""
    return display or None, address


def _msg_ids(value: str | None) -> list[str]:
    if not value:
        return []
    text = as_bytes(value).decode("utf-8", "replace")
    ids = [re.sub(r"\s+", "", inner) for inner in _MSG_ID.findall(text)]
    if not ids:  # clients that forget the angle brackets
        ids = [token for token in re.split(r"[\s,]+", text) if "@" in token]
    seen: dict[str, None] = {}
    for inner in ids:
        inner = CONTROLS.sub("", inner)[:995]
        if inner:
            seen.setdefault(f"<{inner}>")
    return list(seen)


def _received_date(value: str | None) -> datetime | None:
    """The time stamp after the last ';' of a Received: header (RFC 5321 4.4), or None."""
    if not value or ";" not in value:
        return None
    return _date(value.rsplit(";", 1)[1], _Notes(0))


_MONTH_NUMBERS = {name: n for n, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
# The date form nearly every client writes ("Thu, 01 Oct 2026 08:00:00 +0800"), read with one regex.
_USUAL_DATE = re.compile(r"(?:[A-Za-z]{3}, )?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")


def _usual_date(text: str) -> datetime | None:
    """``parsedate_to_datetime(text)`` for the usual form, without its token-by-token parser; None for
    any other form (and for what that parser treats specially: two-digit years, -0000), which it reads."""
    match = _USUAL_DATE.fullmatch(text)
    if match is None:
        return None
    day, month_name, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    month = _MONTH_NUMBERS.get(month_name.lower())
    if month is None or int(year) < 100 or (sign == "-" and zone_h == zone_m == "00"):
        return None
    offset = int(zone_h) * 3600 + int(zone_m) * 60
    try:
        return datetime(int(year), month, int(day), int(hour), int(minute), int(second),
                        tzinfo=timezone(timedelta(seconds=-offset if sign == "-" else offset)))
    except ValueError:   # out of range: the stdlib parser decides what that is
        return None


def _date(value: str | None, notes: _Notes) -> datetime | None:
    if not value:
        return None
    text = " ".join(as_bytes(value).decode("ascii", "replace").split())
    try:
        parsed = _usual_date(text) or parsedate_to_datetime(text)
    except Exception:  # the stdlib raises several types for garbage dates
        parsed = None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            parsed = None  # no zone given: guessing one would shift the time by hours
    if parsed is None:
        notes.defect("bad_date")
        return None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):
        notes.defect("bad_date")
        return None


# --- MIME parameters and parts -----------------------------------------------------------------

def _content_type(part: Message, headers: dict[str, list[str]], notes: _Notes) -> tuple[str, dict[str, str]]:
    value = _first(headers, "content-type")
    if value is None:
        return part.get_default_type(), {}
    ctype, params = header_params(value, notes)
    return (ctype if _CTYPE.fullmatch(ctype) else "text/plain"), params


def _filename(disposition: dict[str, str], ctype_params: dict[str, str]) -> str | None:
    name = disposition.get("filename") or ctype_params.get("name")
    if not name:
        return None
    name = re.split(r"[\\/]", CONTROLS.sub("", name))[-1].strip()
    name = re.sub(r"^[A-Za-z]:", "", name).strip()
    return name[:255] if name not in ("", ".", "..") else None


def _raw_payload(part: Message) -> bytes:
    """The body bytes exactly as received.

    ``get_payload()`` would decode 8-bit bodies with the declared charset and "replace"
    before we could pick a better codec, so the stored payload is read directly.
    """
    payload = getattr(part, "_payload", None)
    return as_bytes(payload) if isinstance(payload, str) else b""


def _payload_bytes(part: Message, headers: dict[str, list[str]], notes: _Notes) -> tuple[bytes, bool]:
    """The part's decoded bytes, and whether line endings are transport artefacts (not base64)."""
    raw = _raw_payload(part)
    cte = (_first(headers, "content-transfer-encoding") or "").strip().lower().split(";")[0].strip()
    if cte == "base64":
        return b64decode_lenient(raw, notes), False
    if cte in ("quoted-printable", "quoted_printable"):
        # RFC 2045 6.7: trailing whitespace is transport padding, deleted before decoding (so "=  " is
        # still a soft line break).
        return binascii.a2b_qp(_TRAILING_WS.sub(b"", raw)), True
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        decoded = part.get_payload(decode=True)
        return (decoded if isinstance(decoded, bytes) else raw), False
    if cte not in ("", "7bit", "8bit", "binary"):
        notes.defect("unknown_transfer_encoding")
    return raw, cte != "binary"


def _message_bytes(part: Message) -> bytes:
    """An attached message re-serialised (the parser has already split it), with LF line ends."""
    chunks = []
    for sub in part.get_payload():
        if isinstance(sub, Message):
            buf = BytesIO()
            BytesGenerator(buf, mangle_from_=False, maxheaderlen=0).flatten(sub, linesep="\n")
            chunks.append(buf.getvalue())
    return b"\n".join(chunks).replace(b"\r\n", b"\n")


def _attachment(filename: str | None, ctype: str, data: bytes, textual: bool = False) -> Attachment:
    return Attachment(filename=filename, content_type=ctype, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), data=data, textual=textual)


def _repair_multipart(part: Message, ctype: str, notes: _Notes) -> Message | None:
    """A multipart whose boundary is missing or wrong: find the delimiter lines it really uses."""
    body = _raw_payload(part)
    match = _DELIMITER.search(body)
    if match is None or match[1].endswith(b"--"):
        return None
    boundary = match[1].replace(b'"', b"")
    rebuilt = email.message_from_bytes(
        b"Content-Type: " + ctype.encode("ascii") + b'; boundary="' + boundary + b'"\n\n' + body)
    if not isinstance(rebuilt.get_payload(), list):
        return None
    notes.defect("boundary_repaired")
    return rebuilt


def _walk(part: Message, notes: _Notes, out: _Collected, depth: int = 0, body_allowed: bool = True) -> None:
    """Collect body pieces and attachments; a part that cannot be read is noted and skipped."""
    notes.email_defects(part)
    if depth > _MAX_DEPTH:
        notes.defect("nesting_too_deep")
        return
    try:
        headers = _raw_headers(part)
        ctype, params = _content_type(part, headers, notes)
        # The parsed payload itself (private, not in typeshed): get_payload() also decodes a text body we do
        # not use. Only an 8-bit payload makes get_payload() do (and possibly fail at) that, so only then is
        # it still called, and a part it fails on is unreadable as before.
        payload = part._payload  # type: ignore[attr-defined]
        if isinstance(payload, str) and not payload.isascii():
            payload = part.get_payload()
        if isinstance(payload, list):
            _walk_container(part, headers, ctype, params, payload, notes, out, depth, body_allowed)
            return
        if ctype.startswith("multipart/"):
            repaired = _repair_multipart(part, ctype, notes)
            if repaired is not None:
                _walk(repaired, notes, out, depth + 1, body_allowed)
                return
            if not _DELIMITER.sub(b"", _raw_payload(part)).strip():
                notes.defect("empty_multipart")
                return
            ctype = "text/plain"  # no delimiters at all: the body is the text
        _walk_leaf(part, headers, ctype, params, notes, out, body_allowed)
    except (RecursionError, MemoryError):
        raise
    except Exception:  # forgiving: one unreadable part must not cost the customer's whole mail
        notes.defect("part_unreadable")


def _walk_container(part: Message, headers: dict[str, list[str]], ctype: str, params: dict[str, str], payload: Sequence[object],
                    notes: _Notes, out: _Collected, depth: int, body_allowed: bool) -> None:
    if ctype.startswith("message/") or not ctype.startswith("multipart/"):
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            notes.reports.add("message/delivery-status")
        if ctype == "message/feedback-report":
            notes.reports.add("message/feedback-report")
        disposition = header_params(_first(headers, "content-disposition"), notes)[1]
        out.attachments.append(_attachment(_filename(disposition, params), ctype, _message_bytes(part)))
        if ctype in ("message/rfc822", "message/global") or not ctype.startswith("message/"):
            as_file = header_params(_first(headers, "content-disposition"), notes)[0] == "attachment"
            _forwarded(payload, notes, out, depth, as_file)
        return
    children = [child for child in payload if isinstance(child, Message)]
    if not children:
        notes.defect("empty_multipart")
        return
    subtype = ctype.split("/", 1)[1]
    if subtype == "report":
        notes.reports.add("report:" + params.get("report-type", "").lower())
    if subtype == "digest":
        for child in children:  # a digest's parts are messages even when they do not say so
            if not _first(_raw_headers(child), "content-type"):
                child.set_default_type("message/rfc822")
    if subtype == "alternative":
        results = []
        for child in children:
            result = _Collected()
            _walk(child, notes, result, depth + 1, body_allowed)
            results.append(result)
            out.attachments.extend(result.attachments)  # e.g. images of the HTML branch
            out.forwarded.extend(result.forwarded)
        for wanted in ("plain", "html", None):
            chosen = next((r for r in results if any((wanted is None or source == wanted) and text.strip()
                                                     for source, text in r.pieces)), None)
            if chosen is not None:
                out.pieces.extend(chosen.pieces)
                out.others.extend(chosen.others)
                break
        return
    root = 0
    if subtype == "related" and params.get("start"):
        ids = [(_first(_raw_headers(child), "content-id") or "").strip() for child in children]
        root = ids.index(params["start"].strip()) if params["start"].strip() in ids else 0
    for index, child in enumerate(children):
        allowed = body_allowed and (subtype != "related" or index == root)
        _walk(child, notes, out, depth + 1, allowed)


def _walk_leaf(part: Message, headers: dict[str, list[str]], ctype: str, params: dict[str, str], notes: _Notes,
               out: _Collected, body_allowed: bool) -> None:
    disposition, disp_params = header_params(_first(headers, "content-disposition"), notes)
    filename = _filename(disp_params, params)
    is_text = ctype in ("text/plain", "text/html")
    if is_text and body_allowed and filename is None and disposition != "attachment":
        data, _ = _payload_bytes(part, headers, notes)
        charset = params.get("charset")
        if ctype == "text/html" and not charset:
            meta = _META_CHARSET.search(data[:4096])
            charset = meta[1].decode("ascii") if meta else None
        text = notes.decode(data, charset)
        if ctype == "text/html":
            out.pieces.append(("html", html_to_text(text, notes.max_chars)))
        else:
            out.pieces.append(("plain", normalise_text(text)))
        return
    data, textual = _payload_bytes(part, headers, notes)
    if textual and ctype.startswith(("text/", "message/")):
        data = data.replace(b"\r\n", b"\n")  # so CRLF and LF copies of a mail hash alike
    if (ctype.startswith("text/") and body_allowed and filename is None and disposition != "attachment"
            and ctype not in _NOT_BODY_TEXT):
        # text/enriched, text/x-*, ...: the body if the mail has no plain or HTML part (decided in _parse)
        text = notes.decode(data, params.get("charset"))
        out.pieces.append(("other", _enriched_to_text(text) if ctype in ("text/enriched", "text/richtext")
                           else normalise_text(text)))
        out.others.append(_attachment(filename, ctype, data, textual))
        return
    # Files, and text that is not the body (CSS of an HTML body, report headers): kept, never dropped.
    out.attachments.append(_attachment(filename, ctype, data, textual))


# Text parts that are never what the customer wrote.
_NOT_BODY_TEXT = frozenset({"text/css", "text/rfc822-headers", "text/javascript"})


def _enriched_to_text(text: str) -> str:
    """text/enriched (RFC 1896) as plain text: commands dropped, its line-break rules applied."""
    text = _ENRICHED_PARAM.sub("", text.replace("\r\n", "\n"))
    text = _ENRICHED_TAG.sub(lambda m: "<" if m[0] == "<<" else "", text)
    # One newline is a space; n newlines in a row are n-1 line breaks.
    text = re.sub(r"\n+", lambda m: " " if len(m[0]) == 1 else "\n" * (len(m[0]) - 1), text)
    return normalise_text(text)


def _forwarded(payload: Sequence[object], notes: _Notes, out: _Collected, depth: int, as_file: bool) -> None:
    """The text of an attached (forwarded) message, so triage reads what was forwarded."""
    for sub in payload:
        if not isinstance(sub, Message):
            continue
        inner = _Collected()
        reports = set(notes.reports)
        _walk(sub, notes, inner, depth + 1)
        notes.reports = reports  # a forwarded bounce or report does not make this mail one
        text = _body_text(inner)[1]
        subject = decode_words(_first(_raw_headers(sub), "subject") or "", notes)
        if text or subject:
            out.forwarded.append(("\n".join(filter(None, [_FORWARD_MARK, f"Subject: {subject}" if subject else "",
                                                           text])), as_file))


def _body_text(collected: _Collected) -> tuple[str, str]:
    """(body source, text): the first plain or HTML piece decides; other text only when there is neither.

    Later inline parts of the chosen kind are the rest of a body that the client split around
    inline images, while a later part of the other kind is a duplicate or a footer. (Inside
    multipart/alternative the plain branch was already preferred.) Messages forwarded inline
    follow the text; a message attached as a file is the body only when nothing else is.
    """
    pieces = [(s, t) for s, t in collected.pieces if t.strip()]
    main = [(s, t) for s, t in pieces if s != "other"] or pieces
    source = main[0][0] if main else "none"
    text = "\n\n".join(t for s, t in main if s == source)
    forwarded = [t for t, as_file in collected.forwarded if not as_file or not text]
    if forwarded:
        text = "\n\n".join(filter(None, [text, *forwarded]))
        source = "forwarded" if source == "none" else source
    return source, text


# --- classification ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _lowered(values: frozenset[str]) -> frozenset[str]:
    return frozenset(v.lower() for v in values)


def _classify(headers: dict[str, list[str]], from_address: str | None, message_id: str | None,
              subject: str | None, reports: set[str], own_addresses: frozenset[str],
              own_domains: frozenset[str]) -> tuple[str, str | None]:
    """Own mail, bounces and auto-replies must not become tickets; everything else is feedback.

    X-Auto-Response-Suppress is deliberately not a signal: it asks the *recipient* not to
    auto-reply and Outlook/Exchange put it on ordinary person-to-person mail (helpdesks that
    filtered on it lost real customer mail), so alone it would drop feedback.
    """
    if from_address and from_address in _lowered(own_addresses):
        return "own", "From is our own address"
    domain = message_id.rsplit("@", 1)[-1].rstrip(">").lower() if message_id and "@" in message_id else None
    if domain and domain in _lowered(own_domains):
        return "own", "Message-ID domain is ours"
    if "x-feedback-outbox" in headers:
        return "own", "X-Feedback-Outbox header present"
    for name in ("x-spam-flag", "x-spam-status"):
        if any(_SPAM_FLAG.match(v) for v in headers.get(name, [])):
            return "spam", f"{name}: yes"
    if "report:delivery-status" in reports:
        return "bounce", "multipart/report delivery-status"
    if "message/delivery-status" in reports:
        return "bounce", "message/delivery-status part"
    local = from_address.split("@", 1)[0] if from_address else ""
    if local in _BOUNCE_SENDERS and subject and _BOUNCE_SUBJECT.search(subject):
        return "bounce", f"{local} sender with bounce subject"
    if "report:feedback-report" in reports or "message/feedback-report" in reports:
        return "report", "ARF feedback report"
    other_reports = sorted(r for r in reports if r.startswith("report:")
                           and r not in ("report:disposition-notification",))
    if other_reports:
        kind = other_reports[0].removeprefix("report:")
        return "report", f"multipart/report {kind if re.fullmatch(r'[a-z0-9.-]{1,40}', kind) else 'other'}"
    for name in _LIST_HEADERS:
        if name in headers:
            return "list", f"{name.title()} header present"
    auto = (_first(headers, "auto-submitted") or "").split(";")[0].strip().lower()
    if "auto-submitted" in headers and auto != "no":
        return "auto_reply", f"Auto-Submitted: {auto if auto in _AUTO_SUBMITTED else 'other'}"
    for name in _AUTO_HEADERS:
        value = (_first(headers, name) or "").strip().lower()
        if name in headers and value not in ("no", "false", "0", "off"):
            return "auto_reply", f"{name} present"
    precedence = (_first(headers, "precedence") or "").strip().lower()
    if precedence in _PRECEDENCE:
        return "auto_reply", f"Precedence: {precedence}"
    if "report:disposition-notification" in reports:
        return "auto_reply", "multipart/report disposition-notification"
    if subject and _AUTO_SUBJECT.match(subject):
        return "auto_reply", "subject looks automatic"
    return "feedback", None


# --- entry point -------------------------------------------------------------------------------

def _declared_charset(msg: Message) -> str | None:
    """The first charset the message declares (top level, else its first text part): the best
    guess for raw 8-bit header bytes, which clients write in the charset of the body."""
    for index, part in enumerate(msg.walk()):
        if index > 50:
            break
        value = _first(_raw_headers(part), "content-type")
        if value:
            charset = header_params(value, Notes())[1].get("charset")
            if charset:
                return charset
    return None


def _is_mail(msg: Message) -> bool:
    return any(name.strip().lower() in _KNOWN_HEADERS for name in msg.keys())


def _read(raw: bytes, notes: _Notes) -> Message:
    data = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    data = data.lstrip(b"\r\n\t ")
    if not data:
        raise InvalidItem("not_a_mail", f"empty input ({len(raw)} bytes)")
    if len(data) != len(raw):
        notes.defect("leading_whitespace")
    msg = message_from_bytes(data)
    if _is_mail(msg):
        return msg
    start = _HEADER_LINE.search(data, 0, 4096)
    if start is not None and start.start() > 0:
        msg = message_from_bytes(data[start.start():])
        if _is_mail(msg):
            notes.defect("leading_garbage")
            return msg
    raise InvalidItem("not_a_mail", f"no mail header block found in {len(raw)} bytes")


def parse_mail(raw: bytes, *, own_addresses: frozenset[str] = frozenset(),
               own_message_id_domains: frozenset[str] = frozenset(),
               max_text_chars: int = 200_000) -> ParsedMail:
    """Parse one message; raises InvalidItem only for not_a_mail, no_content or parse_error.

    ``own_addresses`` / ``own_message_id_domains`` identify our own outgoing mail (loops
    through the support mailbox), ``max_text_chars`` bounds what triage has to read.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"parse_mail needs bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    try:
        return _parse(raw, own_addresses, own_message_id_domains, max_text_chars)
    except InvalidItem:
        raise
    except Exception as exc:  # a parser bug parks the mail instead of failing the whole batch
        raise InvalidItem("parse_error", f"{type(exc).__name__} while parsing {len(raw)} bytes") from exc


def _parse(raw: bytes, own_addresses: frozenset[str], own_domains: frozenset[str],
           max_text_chars: int) -> ParsedMail:
    notes = _Notes(max_text_chars)
    msg = _read(raw, notes)
    headers = _raw_headers(msg)
    notes.header_charset = _declared_charset(msg)
    subject = decode_words(_first(headers, "subject") or "", notes) or None
    from_name, from_address = _sender(_first(headers, "from") or _first(headers, "sender"), notes)
    recipients = _address_list(headers.get("to", []) + headers.get("cc", []), notes)
    delivered = _address_list(headers.get("delivered-to", []) + headers.get("x-original-to", []), notes)
    message_id = next(iter(_msg_ids(_first(headers, "message-id"))), None)
    in_reply_to = next(iter(_msg_ids(_first(headers, "in-reply-to"))), None)
    references = tuple(_msg_ids(" ".join(headers.get("references", []))))
    date = _date(_first(headers, "date"), notes)

    collected = _Collected()
    _walk(msg, notes, collected)
    source, text = _body_text(collected)
    if source != "other":
        collected.attachments.extend(collected.others)
    if len(text) > max_text_chars:
        text = text[:max(max_text_chars, 0)].rstrip()
        notes.defect("text_truncated")
    if subject is None and not text and not collected.attachments:
        raise InvalidItem("no_content", f"no subject, body text or attachment in {len(raw)} bytes")
    kind, reason = _classify(headers, from_address, message_id, subject, notes.reports,
                             own_addresses, own_domains)
    return ParsedMail(
        message_id=message_id, in_reply_to=in_reply_to, references=references, subject=subject,
        from_name=from_name, from_address=from_address,
        to_addresses=tuple(dict.fromkeys(recipients + delivered)), date=date, text=text,
        body_source=source, charset_note="; ".join(notes.charsets) or None,
        attachments=tuple(collected.attachments), kind=kind, kind_reason=reason,
        defects=tuple(notes.defects), _header_recipients=tuple(recipients),
        received_date=_received_date(_first(headers, "received")),
    )
