"""Low-level MIME building with full control over charsets, encodings and boundaries.

The ``email`` package's helpers pick boundaries from the global random generator
and label GB2312 as ``eucgb2312_cn``; real mail clients do neither. Here every
payload is encoded by hand and every boundary is given, so output is byte-stable
and looks like what Chinese mail clients actually send.
"""

from __future__ import annotations

import base64
import html
import quopri
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr

from feedback_dev.sample.blobs import Blob


def encoded_words(text: str, charset: str, label: str | None = None) -> str:
    """RFC 2047 ``=?charset?B?...?=`` words (each at most 75 characters); ASCII passes through."""
    if text.isascii():
        return text
    label = label or charset
    limit = (75 - len(label) - 7) // 4 * 3
    words, chunk = [], ""
    for ch in text:
        if chunk and len((chunk + ch).encode(charset)) > limit:
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    return " ".join(f"=?{label}?B?{base64.b64encode(w.encode(charset)).decode('ascii')}?=" for w in words)


def address(name: str, addr: str, charset: str, label: str | None = None) -> str:
    """A From/To value with an encoded display name, or the bare address when there is no name."""
    if not name:
        return addr
    if name.isascii():
        return formataddr((name, addr))
    return f"{encoded_words(name, charset, label)} <{addr}>"


def _encode_body(data: bytes, cte: str) -> str:
    if cte == "base64":
        return base64.encodebytes(data).decode("ascii")
    if cte == "7bit":
        return data.decode("ascii")
    return quopri.encodestring(data).decode("ascii")


def text_part(subtype: str, text: str, charset: str, cte: str, *, label: str | None = None,
              data: bytes | None = None) -> Message:
    """A text/* part; ``data`` overrides the encoded bytes (used to mislabel a charset on purpose)."""
    part = MIMENonMultipart("text", subtype, charset=label or charset)
    del part["MIME-Version"]
    part["Content-Transfer-Encoding"] = {"qp": "quoted-printable"}.get(cte, cte)
    part.set_payload(_encode_body(text.encode(charset) if data is None else data, cte))
    return part


def attachment_part(blob: Blob) -> Message:
    """A base64 attachment; non-ASCII file names use RFC 2231 like modern clients."""
    main, sub = blob.content_type.split("/")
    params = {"name": blob.filename} if blob.filename.isascii() else {}
    part = MIMEBase(main, sub, **params)
    del part["MIME-Version"]
    part["Content-Transfer-Encoding"] = "base64"
    filename = blob.filename if blob.filename.isascii() else ("utf-8", "", blob.filename)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    part.set_payload(base64.encodebytes(blob.data).decode("ascii"))
    return part


def multipart(subtype: str, parts: list[Message], boundary: str, **params: str) -> Message:
    """A multipart container with a fixed boundary (never a random one)."""
    container = MIMEMultipart(subtype, boundary=boundary, **params)
    del container["MIME-Version"]
    for part in parts:
        container.attach(part)
    return container


def to_html(paragraphs: list[str], charset: str) -> str:
    """The HTML a webmail client would send for the same text."""
    body = "\n".join(
        "<p>" + "<br>".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
    return (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}"></head>\n'
            f'<body style="font-family: Microsoft YaHei, sans-serif">\n{body}\n</body></html>\n')


def finish(root: Message, headers: list[tuple[str, str]]) -> bytes:
    """Put the envelope headers first (as clients do), then the MIME headers, and serialise."""
    outer = Message()
    for name, value in headers:
        outer[name] = value
    outer["MIME-Version"] = "1.0"
    for name, value in root.items():
        outer[name] = value
    outer.set_payload(root.get_payload())
    return outer.as_bytes()
