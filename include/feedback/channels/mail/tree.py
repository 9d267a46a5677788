"""The MIME tree of a raw mail, as ``email.message_from_bytes`` builds it, without reading it line by line.

The standard library's feed parser pushes every line of a message through a Python
generator: a 300 KB base64 attachment is 4,000 lines, and that loop was most of the time
the mail intake spent parsing. This module builds the *same* compat32 ``Message`` tree
(same headers, payload strings, preambles, epilogues, default types) by slicing the text
between boundary lines, which ``str.find`` locates at C speed; only header lines are
looked at one by one.

It takes that short cut only for the shapes it reproduces exactly: well-formed headers
(no defect), multiparts whose boundary is declared and whose delimiters open and close
in order, nested ``message/*`` parts. Anything else (a lone CR line ending, a missing
header/body separator, a multipart without its boundary or its closing delimiter,
``message/delivery-status``, a misplaced envelope line, a continuation line first) is
handed to the standard parser, so broken mail is read, and its defects recorded, exactly
as before. ``tests/unit/test_mail_tree.py`` compares both trees on the real corpus,
the sample mails and mutilated copies of them.
"""

from __future__ import annotations

import email
import re
from email import errors
from email._policybase import compat32
from email.feedparser import headerRE  # type: ignore[attr-defined]  # the stdlib parser's regex; not in typeshed
from email.message import Message

_LONE_CR = re.compile(r"\r(?!\n)")
# One header field as the feed parser reads it without a defect: a name (headerRE's characters, at least
# one) and a colon, then the rest of the line (leading blanks skipped) and its continuation lines.
_FIELD = re.compile(r"([\041-\071\073-\176]+):[ \t]*([^\n]*\n(?:[ \t][^\n]*\n)*)")
_MAX_DEPTH = 30


class _Fallback(Exception):
    """A shape the short cut does not reproduce: the standard parser reads this mail."""


def message_from_bytes(data: bytes) -> Message:
    """``email.message_from_bytes(data)`` (compat32), built by slicing when the mail is well formed."""
    text = data.decode("ascii", "surrogateescape")
    if "\r" in text and _LONE_CR.search(text):
        return email.message_from_bytes(data)
    try:
        return _Builder(text).message(0, len(text), False, 0)
    except _Fallback:
        return email.message_from_bytes(data)
    except (RecursionError, MemoryError):
        raise
    except Exception:  # a shape this module did not foresee: the standard parser is the reference
        return email.message_from_bytes(data)


def _content_type(msg: Message) -> str:
    """``msg.get_content_type()``, read straight from the parsed fields when the value is plain ASCII."""
    for name, value in msg._headers:  # type: ignore[attr-defined]  # private, not in typeshed
        if name.lower() == "content-type":
            if not value.isascii():   # 8-bit bytes: the policy turns the value into a Header first
                return msg.get_content_type()
            ctype = value.partition(";")[0].strip().lower()
            return ctype if ctype.count("/") == 1 else "text/plain"
    return msg.get_default_type()


def _source_parse(lines: list[str]) -> tuple[str, str]:
    """``compat32.header_source_parse``: name and value of one header's lines, as the feed parser stores them."""
    name, value = lines[0].split(":", 1)
    value = value.lstrip(" \t") + "".join(lines[1:])
    return name, value.rstrip("\r\n")


def _strip_eol(value: str) -> str:
    """``NLCRE_eol`` removed from the end, as the feed parser does, without a regex scan of the whole text."""
    if value.endswith("\r\n"):
        return value[:-2]
    return value[:-1] if value.endswith(("\n", "\r")) else value


class _Builder:
    def __init__(self, text: str) -> None:
        self.text = text

    def _eol_end(self, start: int, end: int) -> int:
        """`end` moved before the line end that text[start:end] ends with (``NLCRE_eol``), if any."""
        text = self.text
        if end - start >= 2 and text[end - 2] == "\r" and text[end - 1] == "\n":
            return end - 2
        if end > start and text[end - 1] in "\r\n":
            return end - 1
        return end

    def message(self, start: int, end: int, digest_child: bool, depth: int, strip: bool = False) -> Message:
        """The message in text[start:end].

        With `strip`, the line end before the parent's next delimiter is taken off the last text
        of this message, where the feed parser takes it off: the payload of the innermost message
        last created, or the epilogue of a multipart (None when that leaves nothing).
        """
        if depth > _MAX_DEPTH:
            raise _Fallback
        msg = Message(policy=compat32)
        if digest_child:
            msg.set_default_type("message/rfc822")
        body = self._headers(msg, start, end)
        ctype = _content_type(msg)
        if ctype == "message/delivery-status":
            raise _Fallback
        maintype = ctype.split("/", 1)[0]
        if maintype == "message":
            msg.attach(self.message(body, end, False, depth + 1, strip))
            return msg
        if maintype == "multipart":
            self._multipart(msg, ctype, body, end, depth, strip)
            return msg
        # the body as the stdlib parser stores it (a private attribute typeshed leaves out)
        msg._payload = self.text[body:self._eol_end(body, end) if strip else end]  # type: ignore[attr-defined]
        return msg

    def _headers(self, msg: Message, pos: int, end: int) -> int:
        """Parse the header block at `pos` into `msg`; the position where the body starts."""
        body = self._plain_headers(msg, pos, end)
        return body if body >= 0 else self._header_lines(msg, pos, end)

    def _plain_headers(self, msg: Message, pos: int, end: int) -> int:
        """The usual header block (named fields, continuation lines, a blank line), field by field
        with one regex each; -1 for anything else (a "From " line, no blank line, ...), which
        `_header_lines` then reads line by line, as the feed parser does."""
        text = self.text
        fields = []
        match = _FIELD.match(text, pos, end)
        while match is not None:
            # as _source_parse leaves them: the first line's leading blanks and the last line end cut
            fields.append((match[1], match[2].rstrip("\r\n")))
            pos = match.end()
            match = _FIELD.match(text, pos, end)
        if text.startswith("\n", pos, end):
            body = pos + 1
        elif text.startswith("\r\n", pos, end):
            body = pos + 2
        else:
            return -1
        msg._headers.extend(fields)  # type: ignore[attr-defined]  # private, not in typeshed
        return body

    def _header_lines(self, msg: Message, pos: int, end: int) -> int:
        text = self.text
        lines = []
        while pos < end:
            newline = text.find("\n", pos, end)
            line_end = end if newline < 0 else newline + 1
            line = text[pos:line_end]
            if not headerRE.match(line):
                if line[0] not in "\r\n":
                    raise _Fallback  # MissingHeaderBodySeparatorDefect
                pos = line_end
                break
            lines.append(line)
            pos = line_end
        lastheader = ""
        lastvalue: list[str] = []
        # what Message.set_raw appends to (compat32 stores name and value as parsed); private, not in typeshed
        headers = msg._headers  # type: ignore[attr-defined]
        for lineno, line in enumerate(lines):
            if line[0] in " \t":
                if not lastheader:
                    raise _Fallback  # FirstHeaderLineIsContinuationDefect
                lastvalue.append(line)
                continue
            if lastheader:
                headers.append(_source_parse(lastvalue))
                lastheader, lastvalue = "", []
            if line.startswith("From "):
                if lineno:
                    raise _Fallback  # misplaced envelope header, or the first body line
                msg.set_unixfrom(_strip_eol(line))
                continue
            colon = line.find(":")
            if colon <= 0:
                raise _Fallback  # "Missing header name."
            lastheader, lastvalue = line[:colon], [line]
        if lastheader:
            headers.append(_source_parse(lastvalue))
        return pos

    def _boundary_line(self, separator: str, pos: int, end: int) -> tuple[int, int, bool, bool] | None:
        """The next line in [pos, end) that the feed parser's boundary pattern matches:
        (line start, line end, closing delimiter, line has a line end)."""
        text = self.text
        while True:
            found = text.find(separator, pos, end)
            if found < 0:
                return None
            pos = found + 1
            if found and text[found - 1] != "\n":
                continue
            after = found + len(separator)
            close = text.startswith("--", after)
            k = after + 2 if close else after
            while k < end and text[k] in " \t":
                k += 1
            if k >= end and end == len(text):
                return found, end, close, False
            if text.startswith("\n", k):
                return found, k + 1, close, True
            if text.startswith("\r\n", k):
                return found, k + 2, close, True

    def _multipart(self, msg: Message, ctype: str, pos: int, end: int, depth: int, strip: bool) -> None:
        boundary = msg.get_boundary()
        if boundary is None or "\n" in boundary or "\r" in boundary:
            raise _Fallback  # NoBoundaryInMultipartDefect, or a boundary no line can match as a line
        if str(msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
            msg.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())
        separator = "--" + boundary
        line = self._boundary_line(separator, pos, end)
        if line is None or line[2]:
            raise _Fallback  # StartBoundaryNotFoundDefect
        if line[0] > pos:
            msg.preamble = self.text[pos:self._eol_end(pos, line[0])]
        digest = ctype == "multipart/digest"
        while True:
            part_start = line[1]
            line = self._boundary_line(separator, part_start, end)
            if line is None or line[0] == part_start:
                raise _Fallback  # no closing delimiter, or delimiters in a row
            msg.attach(self.message(part_start, line[0], digest, depth + 1, strip=True))
            if line[2]:
                break
        if not strip:
            msg.epilogue = self.text[line[1]:end]
        elif line[1] < end:
            msg.epilogue = self.text[line[1]:self._eol_end(line[1], end)]
        # else: an empty epilogue before the parent's delimiter stays None
