"""The e-mail parser: a hand-written corpus of MIME oddities, classification, hashing, and fuzzing.

Every mail here is built from bytes on purpose (not with the ``email`` package's
writers), because the point is to feed the parser what sloppy clients really send.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.channels.base import InvalidItem
from feedback.channels.mail.parse import Attachment, ParsedMail, parse_mail
from feedback.channels.mail.text import decode_bytes, html_to_text, normalise_text
from feedback_dev.sample import generate

ROOT = Path(__file__).resolve().parents[2]
OWN = frozenset({"Support@Example.com"})
OWN_DOMAINS = frozenset({"mail.ourcompany.cn"})


# --- corpus builders ---------------------------------------------------------------------------

def _b(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def eml(headers: list[tuple[str, str | bytes]], body: str | bytes = b"", *, eol: bytes = b"\n",
        base: bool = True) -> bytes:
    """A message from (name, value) headers and a body; ``base`` adds From/To/Date/Message-ID."""
    names = {name.lower() for name, _ in headers}
    defaults = [("From", "Zhang San <zhang.san@customer.cn>"), ("To", "support@example.com"),
                ("Date", "Mon, 05 Oct 2026 10:00:00 +0800"), ("Message-ID", "<m1.20261005@customer.cn>")]
    if base:
        headers = [h for h in defaults if h[0].lower() not in names] + headers
    head = b"\n".join(_b(name) + b": " + _b(value) for name, value in headers)
    data = head + b"\n\n" + _b(body)
    return data.replace(b"\r\n", b"\n").replace(b"\n", eol)


def text_mail(body: str | bytes, charset: str | None = "utf-8", cte: str = "8bit",
              subject: str | bytes = "Order problem", extra: list | None = None, subtype: str = "plain") -> bytes:
    ctype = f"text/{subtype}" + (f"; charset={charset}" if charset else "")
    headers = [("Subject", subject), ("MIME-Version", "1.0"), ("Content-Type", ctype),
               ("Content-Transfer-Encoding", cte), *(extra or [])]
    return eml(headers, body)


def part(headers: list[tuple[str, str | bytes]], body: str | bytes) -> bytes:
    return b"\n".join(_b(n) + b": " + _b(v) for n, v in headers) + b"\n\n" + _b(body)


def multipart(boundary: str, parts: list[bytes], close: bool = True) -> bytes:
    out = b"".join(b"--" + boundary.encode() + b"\n" + p + b"\n" for p in parts)
    return out + (b"--" + boundary.encode() + b"--\n" if close else b"")


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def plain_part(text: str, charset: str = "utf-8") -> bytes:
    return part([("Content-Type", f"text/plain; charset={charset}"), ("Content-Transfer-Encoding", "base64")],
                b64(text.encode(charset)))


def html_part(markup: str) -> bytes:
    return part([("Content-Type", "text/html; charset=utf-8"), ("Content-Transfer-Encoding", "base64")],
                b64(markup.encode()))


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def image_part(filename: str | None = "shot.png", cid: str | None = None) -> bytes:
    headers = [("Content-Type", "image/png"), ("Content-Transfer-Encoding", "base64")]
    if filename:
        headers.append(("Content-Disposition", f'attachment; filename="{filename}"'))
    if cid:
        headers.append(("Content-ID", cid))
    return part(headers, b64(PNG))


def parse(raw: bytes, **kwargs) -> ParsedMail:
    return parse_mail(raw, own_addresses=OWN, own_message_id_domains=OWN_DOMAINS, **kwargs)


GBK_TEXT = "您好，我是王喆，订单 123 一直没有发货。"  # 喆 is in GBK but not in GB2312
ZH_TEXT = "您好，订单 123 一直没有发货，请尽快处理。"

NESTED = eml([("Subject", "nested"), ("MIME-Version", "1.0"),
              ("Content-Type", 'multipart/mixed; boundary="outer"')],
             multipart("outer", [
                 part([("Content-Type", 'multipart/related; boundary="rel"; type="multipart/alternative"')],
                      multipart("rel", [
                          part([("Content-Type", 'multipart/alternative; boundary="alt"')],
                               multipart("alt", [plain_part("纯文本正文 plain body"),
                                                 html_part("<p>HTML 正文</p><img src='cid:img1'>")])),
                          image_part(None, cid="<img1>"),
                      ])),
                 part([("Content-Type", "application/pdf; name=invoice.pdf"),
                       ("Content-Disposition", "attachment; filename=invoice.pdf"),
                       ("Content-Transfer-Encoding", "base64")], b64(b"%PDF-1.4 fake")),
             ]))

TRUNCATED = eml([("Subject", "cut off"), ("MIME-Version", "1.0"),
                 ("Content-Type", 'multipart/mixed; boundary="cut"')],
                multipart("cut", [plain_part("截图见附件，订单 123 无法支付。"), image_part("a.png")],
                          close=False)[:-300])

RFC822_ATTACHED = eml([("Subject", "forwarding the old mail"), ("MIME-Version", "1.0"),
                       ("Content-Type", 'multipart/mixed; boundary="fw"')],
                      multipart("fw", [plain_part("See the mail below."),
                                       part([("Content-Type", "message/rfc822"),
                                             ("Content-Disposition", "attachment")],
                                            b"From: someone@else.cn\nSubject: inner\n\nINNER BODY TEXT\n")]))

BOUNCE = eml([("From", "Mail Delivery System <MAILER-DAEMON@mx.customer.cn>"),
              ("Subject", "Undelivered Mail Returned to Sender"), ("MIME-Version", "1.0"),
              ("Auto-Submitted", "auto-replied"),
              ("Content-Type", 'multipart/report; report-type=delivery-status; boundary="dsn"')],
             multipart("dsn", [
                 part([("Content-Type", "text/plain")], "Your message could not be delivered."),
                 part([("Content-Type", "message/delivery-status")],
                      "Reporting-MTA: dns; mx.customer.cn\n\nFinal-Recipient: rfc822; x@y.cn\nAction: failed\n"
                      "Status: 5.1.1\n"),
                 part([("Content-Type", "text/rfc822-headers")], "Subject: hello\n"),
             ]))

CORPUS: list[bytes] = [
    text_mail(ZH_TEXT), text_mail(GBK_TEXT.encode("gbk"), "gb2312"), NESTED, TRUNCATED, RFC822_ATTACHED,
    BOUNCE, text_mail("<p>您好</p><p>订单 123 未发货</p>", subtype="html"),
    text_mail(b64(ZH_TEXT.encode("gb18030")), "GB18030", "base64"),
    text_mail("=E6=82=A8=E5=A5=BD=\n world", cte="quoted-printable"),
]


# --- charsets ----------------------------------------------------------------------------------

def test_gbk_body_declared_gb2312_is_decoded_as_gb18030_with_a_note():
    mail = parse(text_mail(GBK_TEXT.encode("gbk"), "gb2312", "base64"))
    assert mail.text == GBK_TEXT
    assert "喆" in mail.text
    assert mail.charset_note == "declared gb2312, decoded as gb18030"
    assert "undecodable_charset" not in mail.defects


@pytest.mark.parametrize("label", ["GB2312", "gb_2312-80", "x-gbk", "cp936", "GBK", "gb18030", "x-euc-cn"])
def test_chinese_labels_as_real_clients_spell_them(label):
    mail = parse(text_mail(ZH_TEXT.encode("gbk"), label))
    assert mail.text == ZH_TEXT
    assert mail.charset_note is None


@pytest.mark.parametrize(("text", "charset"), [
    ("繁體中文的訂單還沒有到", "big5"),
    ("こんにちは、注文がまだ届きません", "iso-2022-jp"),
    ("café crème, naïve", "iso-8859-1"),
    ("“quoted” – 10 €", "windows-1252"),
    ("Grüße aus München", "utf8"),
])
def test_other_charsets(text, charset):
    mail = parse(text_mail(text.encode(charset), charset))
    assert mail.text == text
    assert mail.charset_note is None


def test_latin1_label_on_windows_1252_bytes_is_read_as_browsers_do():
    assert parse(text_mail("price 10 € “ok”".encode("cp1252"), "iso-8859-1")).text == "price 10 € “ok”"


def test_utf7_label_of_old_clients():
    assert parse(text_mail(b"Hi Mom -+Jjo--!", "unicode-1-1-utf-7", "7bit")).text == "Hi Mom -☺-!"


@pytest.mark.parametrize(("data", "expected", "note"), [
    (ZH_TEXT.encode("utf-8"), ZH_TEXT, "declared x-klingon, decoded as utf-8"),
    (GBK_TEXT.encode("gbk"), GBK_TEXT, "declared x-klingon, decoded as gb18030"),
    (b"caf\xe9 au lait", "café au lait", "declared x-klingon, decoded as latin-1"),
])
def test_unknown_label_falls_back_utf8_gb18030_latin1(data, expected, note):
    mail = parse(text_mail(data, "x-klingon"))
    assert mail.text == expected
    assert mail.charset_note == note


@pytest.mark.parametrize(("data", "expected", "note"), [
    (ZH_TEXT.encode("utf-8"), ZH_TEXT, None),
    (GBK_TEXT.encode("gbk"), GBK_TEXT, "undeclared 8-bit, decoded as gb18030"),
    (b"caf\xe9 au lait", "café au lait", "undeclared 8-bit, decoded as latin-1"),
])
def test_undeclared_8bit(data, expected, note):
    mail = parse(text_mail(data, charset=None))
    assert mail.text == expected
    assert mail.charset_note == note


def test_utf8_mislabelled_as_gb2312_is_recognised():
    mail = parse(text_mail(ZH_TEXT.encode("utf-8"), "gb2312"))
    assert mail.text == ZH_TEXT
    assert mail.charset_note == "declared gb2312, decoded as utf-8"


def test_replacement_decoding_is_the_last_resort_and_is_flagged():
    mostly_fine = ("订单 123 没有发货。" * 20).encode("utf-8") + b"\xff" + "请回复".encode()
    mail = parse(text_mail(mostly_fine, "utf-8"))
    assert "订单 123 没有发货" in mail.text and mail.text.endswith("请回复")
    assert "undecodable_charset" in mail.defects
    assert "with replacements" in mail.charset_note


def test_multibyte_character_cut_at_the_end_is_dropped_not_replaced():
    result = decode_bytes(ZH_TEXT.encode("utf-8")[:-1], "utf-8")
    assert result.text == ZH_TEXT[:-1] and result.truncated and not result.lossy


# --- headers -----------------------------------------------------------------------------------

def test_encoded_words_b_q_adjacent_and_split_inside_a_character():
    raw_subject = "订单问题".encode()
    split = (f"=?UTF-8?B?{base64.b64encode(raw_subject[:4]).decode()}?= "
             f"=?UTF-8?B?{base64.b64encode(raw_subject[4:]).decode()}?=")  # 订 + first byte of 单 | rest
    mail = parse(eml([("Subject", split + " =?utf-8?Q?=E5=BE=88_=E6=80=A5?=")], "x"))
    assert mail.subject == "订单问题很 急"


def test_encoded_word_with_mislabelled_charset():
    word = base64.b64encode("王喆的订单".encode("gbk")).decode()
    mail = parse(eml([("Subject", f"=?gb2312?B?{word}?=")], "x"))
    assert mail.subject == "王喆的订单"
    assert mail.charset_note == "declared gb2312, decoded as gb18030"


@pytest.mark.parametrize("codec", ["utf-8", "gbk"])
def test_raw_8bit_subject_and_from(codec):
    mail = parse(eml([("From", "王喆 <Wang.Zhe@Customer.CN>".encode(codec)),
                      ("Subject", "订单 123 未发货".encode(codec))], "x"))
    assert mail.subject == "订单 123 未发货"
    assert mail.from_name == "王喆"
    assert mail.from_address == "wang.zhe@customer.cn"
    assert "raw_8bit_header" in mail.defects


def test_subject_whitespace_is_collapsed_and_folding_undone():
    mail = parse(eml([("Subject", "  order \t 123\n   still   missing  ")], "x"))
    assert mail.subject == "order 123 still missing"


@pytest.mark.parametrize(("value", "name", "address"), [
    ('"Zhang, San" <Zhang.San@Customer.CN>', "Zhang, San", "zhang.san@customer.cn"),
    ("=?utf-8?B?5byg5LiJ?= <zs@customer.cn>", "张三", "zs@customer.cn"),
    ("zs@customer.cn", None, "zs@customer.cn"),
    ("=?utf-8?B?" + base64.b64encode("张三 <zs@customer.cn>".encode()).decode() + "?=", "张三", "zs@customer.cn"),
    ("undisclosed", "undisclosed", None),
])
def test_from_parsing(value, name, address):
    mail = parse(eml([("From", value), ("Subject", "s")], "x"))
    assert (mail.from_name, mail.from_address) == (name, address)


def test_recipients_include_delivery_headers_but_payload_does_not():
    mail = parse(eml([("To", "Support@Example.com, a@b.cn"), ("Cc", "C <c@b.cn>, a@b.cn"),
                      ("Delivered-To", "complaints@example.com"), ("X-Original-To", "complaints@example.com"),
                      ("Subject", "s")], "x"))
    assert mail.to_addresses == ("support@example.com", "a@b.cn", "c@b.cn", "complaints@example.com")
    assert mail.payload()["to"] == ["support@example.com", "a@b.cn", "c@b.cn"]


@pytest.mark.parametrize(("header", "expected"), [
    ("  <abc.123@customer.cn>  ", "<abc.123@customer.cn>"),
    ("abc.123@customer.cn", "<abc.123@customer.cn>"),
    ("<abc.123\n @customer.cn>", "<abc.123@customer.cn>"),
    ("", None),
    ("<>", None),
])
def test_message_id_normalisation(header, expected):
    mail = parse(eml([("Message-ID", header), ("Subject", "s")], "x"))
    assert mail.message_id == expected


def test_thread_headers():
    mail = parse(eml([("Subject", "Re: s"), ("In-Reply-To", "<a@x.cn> (Zhang's message of Monday) <b@x.cn>"),
                      ("References", "<r1@x.cn>\n <r2@x.cn> <r1@x.cn>\n\t<a@x.cn>")], "x"))
    assert mail.in_reply_to == "<a@x.cn>"
    assert mail.references == ("<r1@x.cn>", "<r2@x.cn>", "<a@x.cn>")


@pytest.mark.parametrize(("header", "expected"), [
    ("Mon, 05 Oct 2026 10:00:00 +0800", datetime(2026, 10, 5, 2, 0, tzinfo=UTC)),
    ("5 Oct 2026 10:00:00 +0800 (CST)", datetime(2026, 10, 5, 2, 0, tzinfo=UTC)),
    ("Mon, 05 Oct 2026 10:00:00 -0000", datetime(2026, 10, 5, 10, 0, tzinfo=UTC)),
    ("2026-10-05T10:00:00+08:00", datetime(2026, 10, 5, 2, 0, tzinfo=UTC)),
    ("yesterday at noon", None),
    ("2026-10-05 10:00:00", None),  # no zone: not guessed
])
def test_date_is_utc_or_none(header, expected):
    mail = parse(eml([("Date", header), ("Subject", "s")], "x"))
    assert mail.date == expected
    assert mail.date is None or mail.date.utcoffset().total_seconds() == 0
    assert ("bad_date" in mail.defects) == (expected is None)


def test_missing_date_is_none_without_defect():
    mail = parse(eml([("From", "a@b.cn"), ("Subject", "s")], "x", base=False))
    assert mail.date is None and "bad_date" not in mail.defects


# --- transfer encodings and line endings -------------------------------------------------------

def test_quoted_printable_body_with_soft_breaks():
    qp = "=E6=82=A8=E5=A5=BD=EF=BC=8C=E8=AE=A2=E5=8D=95 123 =\n=E6=9C=AA=E5=8F=91=E8=B4=A7=20\n"
    assert parse(text_mail(qp, cte="quoted-printable")).text == "您好，订单 123 未发货"


@pytest.mark.parametrize(("mangle", "defect"), [
    (lambda s: s.rstrip("=\n") + "\n", True),              # padding dropped
    (lambda s: s.replace("=", "") + "=\n", True),           # padding misplaced
    (lambda s: s[:-6] + "!!" + s[-6:], True),              # junk characters
    (lambda s: s.rstrip("\n") + "Q\n", True),              # a lone 6-bit tail
    (lambda s: s.replace("\n", "\n\n", 1), False),         # a blank line inside is legal
])
def test_broken_base64_still_decodes(mangle, defect):
    encoded = b64(ZH_TEXT.encode("utf-8") + b"!!")
    assert encoded.endswith("==\n")
    mail = parse(text_mail(mangle(encoded), cte="base64"))
    assert mail.text == ZH_TEXT + "!!"
    assert ("bad_base64" in mail.defects) == defect


def test_two_base64_blocks_concatenated():
    data = base64.b64encode("您好".encode()) + base64.b64encode("，订单".encode())
    assert parse(text_mail(data, cte="base64")).text == "您好，订单"


def test_crlf_and_lf_parse_alike():
    for raw in CORPUS:
        lf, crlf = parse(raw), parse(raw.replace(b"\n", b"\r\n"))
        assert lf.text == crlf.text and lf.subject == crlf.subject
        assert lf.content_hash() == crlf.content_hash()
        assert "\r" not in crlf.text


# --- structure ---------------------------------------------------------------------------------

def test_nested_mixed_related_alternative_prefers_plain_and_keeps_inline_image():
    mail = parse(NESTED)
    assert mail.text == "纯文本正文 plain body"
    assert mail.body_source == "plain"
    assert [(a.content_type, a.filename) for a in mail.attachments] == [
        ("image/png", None), ("application/pdf", "invoice.pdf")]
    assert mail.attachments[0].data == PNG and mail.attachments[0].size == len(PNG)


def test_alternative_with_empty_plain_uses_html():
    raw = eml([("Subject", "s"), ("Content-Type", "multipart/alternative; boundary=b")],
              multipart("b", [plain_part(" \n"), html_part("<div>only <b>HTML</b> has it</div>")]))
    mail = parse(raw)
    assert (mail.text, mail.body_source) == ("only HTML has it", "html")


def test_text_attachment_is_not_the_body():
    raw = eml([("Subject", "log attached"), ("Content-Type", "multipart/mixed; boundary=b")],
              multipart("b", [plain_part("Please see the log."),
                              part([("Content-Type", "text/plain; charset=utf-8"),
                                    ("Content-Disposition", "attachment")], "ERROR line 1\nERROR line 2\n")]))
    mail = parse(raw)
    assert mail.text == "Please see the log."
    assert len(mail.attachments) == 1
    assert mail.attachments[0].content_type == "text/plain"
    assert mail.attachments[0].data == b"ERROR line 1\nERROR line 2\n"


def test_missing_boundary_parameter_is_repaired():
    raw = eml([("Subject", "s"), ("MIME-Version", "1.0"), ("Content-Type", "multipart/mixed")],
              multipart("----=_Part_7_123", [plain_part("正文还在"), image_part("x.png")]))
    mail = parse(raw)
    assert mail.text == "正文还在"
    assert [a.filename for a in mail.attachments] == ["x.png"]
    assert {"missing_boundary", "boundary_repaired"} <= set(mail.defects)


def test_multipart_without_any_delimiter_is_read_as_text():
    raw = eml([("Subject", "s"), ("Content-Type", "multipart/alternative")], "Just some text.\n")
    assert parse(raw).text == "Just some text."


def test_truncated_multipart_keeps_the_text_part():
    mail = parse(TRUNCATED)
    assert mail.text == "截图见附件，订单 123 无法支付。"
    assert "unclosed_multipart" in mail.defects
    assert len(mail.attachments) == 1 and 0 < mail.attachments[0].size < len(PNG)


@pytest.mark.parametrize("boundary", ["----=_NextPart_000_0001_01DB", "--dashes--inside--", "with space ok"])
def test_dashed_and_quoted_boundaries(boundary):
    raw = eml([("Subject", "s"), ("Content-Type", f'multipart/mixed;\n boundary="{boundary}"')],
              multipart(boundary, [plain_part("body text"), image_part()]))
    mail = parse(raw)
    assert mail.text == "body text" and len(mail.attachments) == 1


def test_no_blank_line_between_headers_and_body():
    raw = b"From: a@b.cn\nSubject: hello\nContent-Type: text/plain; charset=utf-8\n\xe6\x82\xa8\xe5\xa5\xbd body\n"
    mail = parse(raw)
    assert mail.subject == "hello" and mail.text == "您好 body"
    assert "no_header_body_separator" in mail.defects


def test_empty_body_keeps_subject():
    mail = parse(eml([("Subject", "更新后闪退"), ("Content-Type", "text/plain; charset=utf-8")], ""))
    assert (mail.text, mail.body_source, mail.subject) == ("", "none", "更新后闪退")


def test_message_rfc822_is_an_attachment_not_the_body():
    mail = parse(RFC822_ATTACHED)
    assert mail.text == "See the mail below."
    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]
    assert b"INNER BODY TEXT" in mail.attachments[0].data
    assert "INNER" not in mail.text


@pytest.mark.parametrize("body", [b"--zz--\n", b""])
def test_multipart_with_zero_parts(body):
    mail = parse(eml([("Subject", "nothing inside"), ("Content-Type", "multipart/mixed; boundary=zz")], body))
    assert (mail.subject, mail.text, mail.attachments) == ("nothing inside", "", ())
    assert "empty_multipart" in mail.defects


def test_body_split_around_an_inline_image_is_joined():
    raw = eml([("Subject", "s"), ("Content-Type", "multipart/mixed; boundary=b")],
              multipart("b", [plain_part("before the picture"), image_part("p.png"), plain_part("after it")]))
    assert parse(raw).text == "before the picture\n\nafter it"


def test_html_body_with_a_plain_footer_part_keeps_the_html_body():
    raw = eml([("Subject", "s"), ("Content-Type", "multipart/mixed; boundary=b")],
              multipart("b", [html_part("<p>the real message</p>"), plain_part("-- list footer --")]))
    mail = parse(raw)
    assert (mail.text, mail.body_source) == ("the real message", "html")


# --- HTML and text normalisation ---------------------------------------------------------------

def test_html_paragraphs_become_one_blank_line():
    assert html_to_text("<p>您好</p><p>订单 123 未发货</p>") == "您好\n\n订单 123 未发货"


def test_html_to_text_drops_invisible_parts_and_keeps_structure():
    markup = """<html><head><title>T</title><style>p {color: red}</style></head>
    <body><script>alert('x')</script><h1>标题</h1><div>第一行<br>第二行</div>
    <ul><li>one</li><li>two &amp; three</li></ul><p>   lots    of
    space&nbsp;here </p><p></p><p></p><table><tr><td>a</td><td>b</td></tr></table></body></html>"""
    assert html_to_text(markup) == "标题\n\n第一行\n第二行\n\none\ntwo & three\n\nlots of space here\n\na b"


def test_html_with_an_unclosed_head_still_shows_the_body():
    assert html_to_text("<html><head><meta charset=utf-8><body><p>visible</p>") == "visible"


def test_html_only_mail_has_no_tags_and_keeps_the_sentence():
    markup = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head>'
              '<body style="font-family: Microsoft YaHei"><p>您好：<br>订单 123 已经十天没有发货了。</p></body></html>')
    mail = parse(text_mail(markup.encode("gbk"), charset=None, subtype="html"))
    assert mail.body_source == "html"
    assert "订单 123 已经十天没有发货了。" in mail.text
    assert "<" not in mail.text and "font-family" not in mail.text
    assert mail.charset_note is None  # the <meta> charset was used


def test_text_normalisation():
    assert normalise_text("a  \r\nb\x00c\t\r\n\r\n\rd   ") == "a\nbc\n\n\nd"
    mail = parse(text_mail(b"line one   \r\nline\x00 two\t\r\n"))
    assert mail.text == "line one\nline two"


def test_text_is_truncated_to_max_text_chars():
    mail = parse(text_mail("字" * 500), max_text_chars=100)
    assert mail.text == "字" * 100
    assert "text_truncated" in mail.defects
    assert "text_truncated" not in parse(text_mail("字" * 500)).defects


# --- classification ----------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "reason"), [
    ([("From", "Support Team <SUPPORT@example.com>")], "From is our own address"),
    ([("Message-ID", "<ack.1@mail.ourcompany.cn>")], "Message-ID domain is ours"),
    ([("X-Feedback-Outbox", "1")], "X-Feedback-Outbox header present"),
])
def test_own_mail(headers, reason):
    mail = parse(eml([("Subject", "您的反馈已收到"), ("Auto-Submitted", "auto-replied"), *headers], "x"))
    assert (mail.kind, mail.kind_reason) == ("own", reason)


def test_own_near_misses_are_feedback():
    mail = parse(eml([("From", "support@example.com.evil.cn"), ("Message-ID", "<a@sub.mail.ourcompany.cn>"),
                      ("Subject", "Re: 您的反馈已收到"), ("References", "<ack.1@mail.ourcompany.cn>")], "x"))
    assert (mail.kind, mail.kind_reason) == ("feedback", None)


def test_bounce_multipart_report_wins_over_auto_submitted():
    mail = parse(BOUNCE)
    assert (mail.kind, mail.kind_reason) == ("bounce", "multipart/report delivery-status")
    assert mail.text == "Your message could not be delivered."


def test_bounce_by_delivery_status_part_anywhere():
    raw = eml([("From", "mx@relay.cn"), ("Subject", "Notice"), ("Content-Type", "multipart/mixed; boundary=b")],
              multipart("b", [plain_part("failed"), part([("Content-Type", "message/delivery-status")],
                                                         "Reporting-MTA: dns; x\n\nAction: failed\n")]))
    assert parse(raw).kind_reason == "message/delivery-status part"


@pytest.mark.parametrize(("sender", "subject"), [
    ("MAILER-DAEMON@mx.customer.cn", "Undelivered Mail Returned to Sender"),
    ("postmaster@qq.com", "系统退信"),
    ("Postmaster <POSTMASTER@corp.cn>", "Delivery Status Notification (Failure)"),
    ("mailer-daemon@googlemail.com", "Returned mail: see transcript for details"),
    ("postmaster@outlook.com", "Undeliverable: 订单问题"),
])
def test_bounce_by_sender_and_subject(sender, subject):
    mail = parse(eml([("From", sender), ("Subject", subject)], "The message could not be delivered."))
    assert mail.kind == "bounce"
    assert mail.kind_reason.endswith("sender with bounce subject")


@pytest.mark.parametrize(("sender", "subject"), [
    ("customer@qq.com", "Undeliverable parcel: 订单 123"),       # a customer, bounce-like subject
    ("postmaster@corp.cn", "Question about our contract"),     # a postmaster writing as a person
])
def test_bounce_near_misses_are_feedback(sender, subject):
    assert parse(eml([("From", sender), ("Subject", subject)], "text")).kind == "feedback"


@pytest.mark.parametrize(("header", "reason"), [
    (("Auto-Submitted", "auto-replied"), "Auto-Submitted: auto-replied"),
    (("Auto-Submitted", "auto-generated; owner-email=x@y.cn"), "Auto-Submitted: auto-generated"),
    (("Auto-Submitted", "auto-secret-value"), "Auto-Submitted: other"),
    (("X-Autoreply", "yes"), "x-autoreply present"),
    (("X-Autorespond", "Out of office"), "x-autorespond present"),
    (("Precedence", "bulk"), "Precedence: bulk"),
    (("Precedence", "auto_reply"), "Precedence: auto_reply"),
    (("Precedence", "junk"), "Precedence: junk"),
    (("Precedence", "list"), "Precedence: list"),
])
def test_auto_reply_headers(header, reason):
    mail = parse(eml([("Subject", "订单问题"), header], "我在休假"))
    assert (mail.kind, mail.kind_reason) == ("auto_reply", reason)


@pytest.mark.parametrize("header", [("Auto-Submitted", "no"), ("Auto-Submitted", " No "), ("X-Autoreply", "no"),
                                    ("Precedence", "normal"), ("X-Auto-Response-Suppress", "All"),
                                    ("X-Auto-Response-Suppress", "DR, OOF, AutoReply")])
def test_auto_reply_near_misses_are_feedback(header):
    """X-Auto-Response-Suppress asks *us* not to auto-reply; Outlook sets it on ordinary mail."""
    assert parse(eml([("Subject", "订单问题"), header], "text")).kind == "feedback"


@pytest.mark.parametrize("subject", [
    "Auto: 订单问题", "Automatic reply: We received your feedback", "自动回复: 您的反馈已收到", "自动回复：Re: 关于",
    "【自动回复】您好", "Out of Office: Re: Your ticket", "Out of Office AutoReply: ticket", "休假中，请联系同事",
    "休假通知", "休假：10月8日返回", "[Auto-Reply] your ticket", "Automatische Antwort: Ihr Ticket",
])
def test_auto_reply_by_subject_alone(subject):
    mail = parse(eml([("Subject", subject)], "text"))
    assert (mail.kind, mail.kind_reason) == ("auto_reply", "subject looks automatic")


@pytest.mark.parametrize("subject", [
    "Re: 订单问题", "回复：订单 123", "休假期间订单没有发货", "自动回复功能不好用", "Out of office hours support?",
    "Automatic renewal charged twice", "Autopay failed", "关于自动回复的问题",
])
def test_customer_subjects_are_feedback(subject):
    assert parse(eml([("Subject", subject)], "text")).kind == "feedback"


def test_read_receipt_is_not_feedback():
    raw = eml([("Subject", "Read: 订单问题"),
               ("Content-Type", "multipart/report; report-type=disposition-notification; boundary=b")],
              multipart("b", [plain_part("Your message was read."),
                              part([("Content-Type", "message/disposition-notification")],
                                   "Disposition: manual-action/MDN-sent-manually; displayed\n")]))
    assert parse(raw).kind == "auto_reply"


# --- attachments -------------------------------------------------------------------------------

@pytest.mark.parametrize(("disposition", "expected"), [
    ("attachment; filename*=UTF-8''%E6%88%AA%E5%9B%BE%201.png", "截图 1.png"),
    ("attachment;\n filename*0*=UTF-8''%E6%88%AA%E5%9B%BE;\n filename*1=.png", "截图.png"),
    ("attachment; filename*=gb2312''%CD%F5%B4%B4.png", "王创.png"),
    ("attachment; filename=\"=?UTF-8?B?5oiq5Zu+LnBuZw==?=\"", "截图.png"),
    ('attachment; filename="..\\..\\evil.exe"', "evil.exe"),
    ('attachment; filename="/etc/passwd"', "passwd"),
    ('attachment; filename="C:evil.bat"', "evil.bat"),
    ('attachment; filename=".."', None),
    ("inline", None),
])
def test_attachment_filenames(disposition, expected):
    raw = eml([("Subject", "s"), ("Content-Type", "multipart/mixed; boundary=b")],
              multipart("b", [plain_part("see attachment"),
                              part([("Content-Type", "image/png"), ("Content-Disposition", disposition),
                                    ("Content-Transfer-Encoding", "base64")], b64(PNG))]))
    (attachment,) = parse(raw).attachments
    assert attachment.filename == expected


def test_raw_gbk_filename_and_content_type_name():
    raw = eml([("Subject", "s"), ("Content-Type", "multipart/mixed; boundary=b")],
              multipart("b", [plain_part("see attachment"),
                              part([("Content-Type", "application/octet-stream; name=\"发票.pdf\"".encode("gbk")),
                                    ("Content-Transfer-Encoding", "base64")], b64(b"%PDF"))]))
    (attachment,) = parse(raw).attachments
    assert attachment.filename == "发票.pdf"
    assert attachment.content_type == "application/octet-stream"


def test_attachment_meta_and_identity():
    attachment = parse(NESTED).attachments[1]
    assert attachment.meta() == {"filename": "invoice.pdf", "content_type": "application/pdf",
                                 "size": len(b"%PDF-1.4 fake"),
                                 "sha256": hashlib.sha256(b"%PDF-1.4 fake").hexdigest()}
    assert "data" not in repr(attachment)
    assert attachment == Attachment("invoice.pdf", "application/pdf", attachment.size, attachment.sha256, b"")
    json.dumps(attachment.meta())


def test_uppercase_content_type_is_lowercased():
    raw = eml([("Subject", "s"), ("Content-Type", "multipart/mixed; boundary=b")],
              multipart("b", [plain_part("x"), part([("Content-Type", "IMAGE/PNG")], "abc")]))
    assert parse(raw).attachments[0].content_type == "image/png"


# --- refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"", b"  \r\n\r\n", PNG, b'{"subject": "hi", "body": "order"}',
                                 b"\x00" * 64, "纯文本，没有邮件头".encode()])
def test_not_a_mail(raw):
    with pytest.raises(InvalidItem) as caught:
        parse(raw)
    assert caught.value.reason == "not_a_mail"
    assert "hi" not in caught.value.detail and "纯文本" not in caught.value.detail


def test_leading_garbage_before_the_headers_is_skipped():
    mail = parse(b"garbage line\n" + text_mail("body"))
    assert mail.text == "body" and "leading_garbage" in mail.defects


def test_no_content():
    with pytest.raises(InvalidItem) as caught:
        parse(eml([("From", "zhang.san@customer.cn"), ("Content-Type", "text/plain")], "\n  \n", base=False))
    assert caught.value.reason == "no_content"
    assert "zhang" not in caught.value.detail


def test_attachment_alone_is_content():
    raw = eml([("Content-Type", "image/png"), ("Content-Transfer-Encoding", "base64")], b64(PNG))
    mail = parse(raw)
    assert mail.subject is None and mail.text == "" and mail.attachments[0].data == PNG


def test_operator_facing_fields_carry_no_personal_data():
    secrets = ("zhang.san", "13800138000", "王喆", "customer.cn", "订单")
    raws = [text_mail(GBK_TEXT.encode("gbk") + b" 13800138000", "x-klingon",
                      subject="王喆 13800138000".encode("gbk"), extra=[("Auto-Submitted", "王喆 13800138000")]),
            eml([("From", "MAILER-DAEMON@customer.cn"), ("Subject", "退信 王喆 13800138000"),
                 ("Content-Type", 'multipart/mixed; boundary="x"; charset="王喆"')], "--y\n\n王喆\n")]
    for raw in raws + CORPUS:
        mail = parse(raw)
        reported = " ".join([*mail.defects, mail.charset_note or "", mail.kind_reason or ""])
        assert not any(s in reported for s in secrets), reported
        assert all(re.fullmatch(r"[a-z0-9_]+", code) for code in mail.defects)


# --- identity and payload ----------------------------------------------------------------------

def _delivered_copy(raw: bytes) -> bytes:
    """The same mail as a second mailbox/folder stores it: other trace headers, CRLF line ends."""
    trace = (b"Return-Path: <zhang.san@customer.cn>\nDelivered-To: complaints@example.com\n"
             b"Received: from mx1.example.com by imap.example.com; Tue, 06 Oct 2026 01:00:00 +0000\n"
             b"X-Spam-Score: 0.1\nX-Folder: Archive/2026\n")
    return (trace + raw).replace(b"\n", b"\r\n")


@pytest.mark.parametrize("raw", CORPUS)
def test_same_message_twice_hashes_the_same(raw):
    first, second = parse(raw), parse(_delivered_copy(raw))
    assert first.content_hash() == second.content_hash()
    assert first.payload() == second.payload()


def test_different_content_hashes_differently():
    base = parse(text_mail(ZH_TEXT))
    assert base.content_hash() != parse(text_mail(ZH_TEXT + "!")).content_hash()
    assert base.content_hash() != parse(text_mail(ZH_TEXT, subject="Other")).content_hash()
    with_file = eml([("Subject", "s"), ("Content-Type", "multipart/mixed; boundary=b")],
                    multipart("b", [plain_part("x"), image_part("a.png")]))
    other_file = with_file.replace(b64(PNG).encode()[:20], b64(b"\x00" * 15).encode())
    assert parse(with_file).content_hash() != parse(other_file).content_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", base.content_hash())


def test_content_hash_is_stable_across_processes():
    code = ("import sys; from feedback.channels.mail.parse import parse_mail; "
            "print(parse_mail(sys.stdin.buffer.read()).content_hash())")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT / "include")}
    out = subprocess.run([sys.executable, "-c", code], input=NESTED, capture_output=True, env=env, check=True)
    assert out.stdout.decode().strip() == parse_mail(NESTED).content_hash()


def test_payload_is_json_and_has_no_delivery_path():
    mail = parse(_delivered_copy(NESTED))
    payload = mail.payload()
    text = json.dumps(payload, ensure_ascii=False)
    assert set(payload) == {"subject", "body", "contact", "message_id", "in_reply_to", "references", "to",
                            "date", "attachments", "body_source", "charset_note", "defects"}
    assert payload["contact"] == {"name": "Zhang San", "email": "zhang.san@customer.cn"}
    assert payload["date"] == "2026-10-05T02:00:00+00:00"
    assert payload["attachments"][1]["filename"] == "invoice.pdf"
    for leak in ("mx1.example.com", "Archive", "complaints@example.com", "X-Spam", "Received"):
        assert leak not in text


# --- robustness --------------------------------------------------------------------------------

def _never_raises_other_than_invalid_item(raw: bytes) -> None:
    try:
        mail = parse_mail(raw)
    except InvalidItem as bad:
        assert bad.reason in ("not_a_mail", "no_content"), (bad.reason, bad.detail)
        return
    json.dumps(mail.payload(), ensure_ascii=False).encode("utf-8")
    mail.content_hash()
    assert mail.kind in ("feedback", "bounce", "auto_reply", "own", "spam", "report", "list")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes(raw):
    _never_raises_other_than_invalid_item(raw)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CORPUS), st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from("xdit"),
                                                   st.binary(min_size=1, max_size=8)), max_size=6))
def test_mutated_corpus_mails(raw, edits):
    data = bytearray(raw)
    for pos, op, chunk in edits:
        pos %= len(data) + 1
        if op == "x":
            data[pos:pos + len(chunk)] = chunk
        elif op == "d":
            del data[pos:pos + len(chunk) * 8]
        elif op == "i":
            data[pos:pos] = chunk
        else:
            del data[pos:]
    _never_raises_other_than_invalid_item(bytes(data))


def test_deeply_nested_multipart_does_not_crash():
    raw = b"Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"
    for i in range(1, 120):
        raw += f"--b{i - 1}\nContent-Type: multipart/mixed; boundary=b{i}\n\n".encode()
    raw += b"--b119\nContent-Type: text/plain\n\ndeep text\n"
    mail = parse(raw)
    assert mail.subject == "deep"
    assert "nesting_too_deep" in mail.defects


# --- the sample generator's mails --------------------------------------------------------------

def test_every_sample_mail_parses_and_is_classified_as_generated():
    sample = generate(seed=7, volume=300, month="2026-10")
    assert sample.emails
    for item in sample.emails:
        mail = parse_mail(item.raw, own_addresses=frozenset({"support@example.com", "complaints@example.com"}))
        assert (mail.kind != "feedback") == item.not_feedback, (item.variant, mail.kind, mail.kind_reason)
        if not item.not_feedback and item.variant != "empty_body":
            assert mail.text, item.variant
        if item.malformed == "bad_charset":
            assert mail.charset_note == "declared gb2312, decoded as gb18030"
            assert "\ufffd" not in mail.text
        if item.variant == "truncated_mime":
            assert "unclosed_multipart" in mail.defects
        if item.variant == "html_only":
            assert mail.body_source == "html" and "<" not in mail.text
        if item.variant == "bounce":
            assert mail.kind == "bounce"
        if item.variant == "auto_reply":
            assert mail.kind == "auto_reply"


# --- mail as it really arrives (issue 13, item 5) ----------------------------------------------

@pytest.mark.parametrize(("raw_name", "expected"), [
    (b"Fr\xf6sche", "Frösche"), (b"L\xfctkebohle", "Lütkebohle"), (b"r\xe1pido", "rápido"),
])
@pytest.mark.parametrize("declared", [None, "us-ascii", "iso-8859-1", "gb2312"])
def test_raw_latin_8bit_headers_are_never_read_as_gb18030(raw_name, expected, declared):
    extra = [("MIME-Version", "1.0"), ("Content-Type", f"text/plain; charset={declared}")] if declared else []
    raw = eml([("From", b"Sabine " + raw_name + b" <sabine@example.de>"), ("Subject", b"Bestellung " + raw_name),
               *extra], "Hallo")
    mail = parse(raw)
    assert mail.from_name == f"Sabine {expected}"
    assert mail.subject == f"Bestellung {expected}"


def test_raw_gbk_header_is_still_chinese():
    raw = eml([("From", "王喆".encode("gbk") + b" <wz@customer.cn>"), ("Subject", "订单没有发货".encode("gbk"))], "x")
    mail = parse(raw)
    assert (mail.from_name, mail.subject) == ("王喆", "订单没有发货")


def test_raw_header_in_the_declared_charset_of_the_message():
    raw = eml([("Subject", "Заказ не пришёл".encode("cp1251")), ("MIME-Version", "1.0"),
               ("Content-Type", "text/plain; charset=windows-1251")], "Привет".encode("cp1251"))
    mail = parse(raw)
    assert mail.subject == "Заказ не пришёл" and mail.text == "Привет"


def test_undeclared_latin_body_is_not_gb18030():
    mail = parse(eml([("Subject", "x")], b"... pc va demasiado r\xe1pido ..."))
    assert mail.text == "... pc va demasiado rápido ..."


def test_long_undeclared_text_goes_through_the_detector():
    text = "Příliš žluťoučký kůň úpěl ďábelské ódy, příliš žluťoučký kůň úpěl ďábelské ódy"
    mail = parse(eml([("Subject", "x")], text.encode("cp1250")))
    assert mail.text == text
    assert mail.charset_note == "undeclared 8-bit, decoded as cp1250"


@pytest.mark.parametrize("disposition", [
    "attachment; filename*=iso-2022-jp''%1B%24BJs9p%3Dq%2D%21%1B%28B%2Etxt",         # RFC 2231, NEC row 13
    "attachment; filename=\"=?ISO-2022-JP?B?GyRCSnM5cD1xLSEbKEI=?=.txt\"",            # RFC 2047
    "attachment; filename*0*=iso-2022-jp''%1B%24BJs9p; filename*1*=%3Dq%2D%21%1B%28B.txt",  # continuations
])
def test_iso_2022_jp_attachment_names(disposition):
    raw = eml([("Subject", "x"), ("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="b"')],
              multipart("b", [plain_part("see file"),
                              part([("Content-Type", "text/plain"), ("Content-Disposition", disposition)], "hi")]))
    assert [a.filename for a in parse(raw).attachments] == ["報告書①.txt"]


def test_rfc2231_utf8_attachment_name():
    raw = eml([("Subject", "x"), ("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="b"')],
              multipart("b", [plain_part("see file"),
                              part([("Content-Type", "application/pdf"),
                                    ("Content-Disposition", "attachment; filename*=UTF-8''Documentaci%C3%B3n.pdf")],
                                   "%PDF")]))
    assert [a.filename for a in parse(raw).attachments] == ["Documentación.pdf"]


def test_text_enriched_is_the_body_when_there_is_no_plain_or_html():
    body = "<bold>Order 123</bold> never\narrived.\n\n<param>red</param><color>Please</color> refund <<now>."
    mail = parse(eml([("Subject", "x"), ("MIME-Version", "1.0"), ("Content-Type", "text/enriched")], body))
    assert mail.text == "Order 123 never arrived.\nPlease refund <now>."
    assert mail.body_source == "other"


def test_text_x_part_is_the_body_inside_a_multipart_and_an_attachment_when_plain_exists():
    inner = part([("Content-Type", "text/x-log; charset=utf-8")], "app crashed at login")
    alone = eml([("Subject", "x"), ("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="b"')],
                multipart("b", [inner]))
    assert parse(alone).text == "app crashed at login"
    both = eml([("Subject", "x"), ("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="b"')],
               multipart("b", [plain_part("see the log"), inner]))
    mail = parse(both)
    assert mail.text == "see the log"
    assert [a.content_type for a in mail.attachments] == ["text/x-log"]   # kept, not dropped


def test_a_message_forwarded_inline_contributes_its_body():
    raw = eml([("Subject", "Fwd: complaint"), ("MIME-Version", "1.0"),
               ("Content-Type", 'multipart/mixed; boundary="fw"')],
              multipart("fw", [plain_part("Please handle this one."),
                               part([("Content-Type", "message/rfc822")],
                                    b"From: c@else.cn\nSubject: broken kettle\n\nMy kettle broke after 2 days.\n")]))
    mail = parse(raw)
    assert mail.text.startswith("Please handle this one.")
    assert "broken kettle" in mail.text and "My kettle broke after 2 days." in mail.text
    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]


def test_a_mail_that_is_only_an_attached_message_has_its_body():
    raw = eml([("Subject", "Fwd"), ("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="fw"')],
              multipart("fw", [part([("Content-Type", "message/rfc822"), ("Content-Disposition", "attachment")],
                                    b"From: c@else.cn\nSubject: s\n\nThe forwarded text.\n")]))
    mail = parse(raw)
    assert "The forwarded text." in mail.text and mail.body_source == "forwarded"


def test_a_forwarded_bounce_does_not_make_the_mail_a_bounce():
    raw = eml([("Subject", "Fwd: why did this bounce?"), ("MIME-Version", "1.0"),
               ("Content-Type", 'multipart/mixed; boundary="fw"')],
              multipart("fw", [plain_part("My mail to you bounced, see below."),
                               part([("Content-Type", "message/rfc822")], BOUNCE)]))
    assert parse(raw).kind == "feedback"


@pytest.mark.parametrize(("headers", "kind"), [
    ([("X-Spam-Flag", "YES")], "spam"),
    ([("X-Spam-Status", "Yes, score=22.4 required=5")], "spam"),
    ([("List-Id", "Shop news <news.shop.example>")], "list"),
    ([("List-Unsubscribe", "<mailto:leave@shop.example>")], "list"),
    ([("X-Spam-Status", "No, score=0.1")], "feedback"),
    ([("X-Spam-Flag", "NO")], "feedback"),
])
def test_spam_and_list_mail_are_not_feedback(headers, kind):
    mail = parse(text_mail("hello", extra=headers))
    assert mail.kind == kind
    assert (mail.kind_reason is None) == (kind == "feedback")


def test_arf_and_other_reports_are_skipped_kinds():
    arf = eml([("From", "abuse@isp.example"), ("Subject", "FW: abuse report"), ("MIME-Version", "1.0"),
               ("Content-Type", 'multipart/report; report-type=feedback-report; boundary="arf"')],
              multipart("arf", [plain_part("This is an email abuse report."),
                                part([("Content-Type", "message/feedback-report")],
                                     "Feedback-Type: abuse\nUser-Agent: x/1.0\nVersion: 1\n"),
                                part([("Content-Type", "message/rfc822")], b"From: a@b.cn\nSubject: s\n\nspam\n")]))
    mail = parse(arf)
    assert (mail.kind, mail.kind_reason) == ("report", "ARF feedback report")
    other = eml([("Subject", "report"), ("MIME-Version", "1.0"),
                 ("Content-Type", 'multipart/report; report-type=tlsrpt; boundary="r"')],
                multipart("r", [plain_part("TLS report")]))
    assert parse(other).kind == "report"


def test_line_endings_and_trailing_whitespace_do_not_change_the_content_hash():
    raw = eml([("Subject", "x"), ("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="b"')],
              multipart("b", [part([("Content-Type", "text/plain; charset=iso-8859-1"),
                                    ("Content-Transfer-Encoding", "quoted-printable")],
                                   "Gr=FC=DFe, a long line that was soft=\nwrapped\n"),
                              part([("Content-Type", "text/plain"), ("Content-Disposition", "attachment; filename=a.txt")],
                                   "line one\nline two\n"),
                              part([("Content-Type", "message/rfc822")], b"Subject: s\n\ninner text\n")]))
    padded = re.sub(rb"(?<=[^\n])\n", b"  \n", raw)
    hashes = {parse(v).content_hash() for v in (raw, raw.replace(b"\n", b"\r\n"), padded,
                                                 padded.replace(b"\n", b"\r\n"))}
    assert len(hashes) == 1
    assert "soft wrapped" not in parse(padded).text and "softwrapped" in parse(padded).text


def test_top_received_header_date_is_kept_apart_from_the_sender_date():
    raw = eml([("Received", "from mx1 by mx.example.com; Mon, 12 Oct 2026 09:01:05 +0800"),
               ("Received", "from laptop by mx1; Mon, 12 Oct 2026 09:00:59 +0800"),
               ("Date", "Sat, 06 Feb 1993 10:00:00 +0800"), ("Subject", "x")], "hello")
    mail = parse(raw)
    assert mail.received_date == datetime(2026, 10, 12, 1, 1, 5, tzinfo=UTC)
    assert mail.date == datetime(1993, 2, 6, 2, 0, tzinfo=UTC)
    assert "received" not in json.dumps(mail.payload())
