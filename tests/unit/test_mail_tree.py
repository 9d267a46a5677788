"""The sliced MIME tree equals the standard parser's, mail for mail, broken mail included.

`feedback.channels.mail.tree.message_from_bytes` replaces ``email.message_from_bytes`` in the mail parser for
speed; everything the parser reads (headers, payloads, preambles, epilogues, defaults,
defects) must come out the same, or fidelity would silently change. Compared here on the
real corpus, the sample mails, hand-made edge cases, and mutilated and fuzzed copies.
"""

from __future__ import annotations

import email
import os
import random
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.channels.mail import tree
from feedback_dev.sample import generate

ROOT = Path(__file__).resolve().parents[2]


def difference(a: Message, b: Message, path: str = "root") -> str | None:
    """Where two compat32 trees differ, or None."""
    for attr in ("_headers", "_unixfrom", "preamble", "epilogue", "_default_type", "_charset"):
        if getattr(a, attr) != getattr(b, attr):
            return f"{path}.{attr}: {getattr(a, attr)!r:.200} != {getattr(b, attr)!r:.200}"
    if [type(d) for d in a.defects] != [type(d) for d in b.defects]:
        return f"{path}.defects: {a.defects} != {b.defects}"
    pa, pb = a._payload, b._payload
    if isinstance(pa, list) != isinstance(pb, list):
        return f"{path}: payload {type(pa).__name__} != {type(pb).__name__}"
    if not isinstance(pa, list):
        return None if pa == pb else f"{path}: payload {pa!r:.200} != {pb!r:.200}"
    if len(pa) != len(pb):
        return f"{path}: {len(pa)} parts != {len(pb)}"
    for n, (x, y) in enumerate(zip(pa, pb, strict=True)):
        found = difference(x, y, f"{path}[{n}]")
        if found:
            return found
    return None


def check(raw: bytes) -> None:
    found = difference(tree.message_from_bytes(raw), email.message_from_bytes(raw))
    assert found is None, found


def corpus() -> list[Path]:
    folder = Path(os.environ.get("FEEDBACK_CORPORA") or ROOT.parent / "shared" / "corpora") / "mail"
    if not folder.is_dir():
        pytest.skip(f"no mail corpus at {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower() != "readme.txt")


def sample_mails() -> list[bytes]:
    return [item.raw for seed in (1, 2) for item in generate(seed=seed, volume=300, month="2026-10").emails]


def test_real_corpus_trees_are_identical():
    files = corpus()
    for path in files:
        found = difference(tree.message_from_bytes(path.read_bytes()), email.message_from_bytes(path.read_bytes()))
        assert found is None, f"{path.name}: {found}"


def test_sample_mail_trees_are_identical_and_take_the_short_cut(monkeypatch):
    mails = sample_mails()
    expected = [email.message_from_bytes(raw) for raw in mails]
    fell_back = []
    real = email.message_from_bytes

    def counting(data: bytes) -> Message:
        fell_back.append(data)
        return real(data)

    monkeypatch.setattr(tree.email, "message_from_bytes", counting)
    for raw, want in zip(mails, expected, strict=True):
        found = difference(tree.message_from_bytes(raw), want)
        assert found is None, found
    # Only the deliberately broken sample mails (truncated MIME, bounces' delivery-status) need the stdlib.
    assert len(fell_back) < len(mails) * 0.1


MULTI = (b"From: a@example.net\nSubject: x\nMIME-Version: 1.0\n"
         b'Content-Type: multipart/mixed; boundary="BB"\n\n')
EDGE_CASES = {
    "plain": b"From: a@example.net\nSubject: hi\n\nbody\nline two\n",
    "crlf": b"From: a@example.net\r\nSubject: hi\r\n\r\nbody\r\n",
    "lone cr": b"From: a@example.net\rSubject: hi\r\rbody\r",
    "mixed cr": b"From: a@example.net\r\nSubject: hi\n\nbo\rdy\n",
    "no body": b"From: a@example.net\nSubject: hi\n",
    "no separator": b"From: a@example.net\nSubject: hi\nbody without blank line\n",
    "unix from": b"From someone Mon Oct 12 01:00:00 2026\nFrom: a@example.net\n\nbody\n",
    "late unix from": b"From: a@example.net\nFrom x\nSubject: s\n\nbody\n",
    "last line unix from": b"From: a@example.net\nFrom x\n\nbody\n",
    "continuation first": b" folded\nFrom: a@example.net\n\nbody\n",
    "folded": b"From: a@example.net\nSubject: one\n two\n\tthree\n\nbody",
    "colon first": b"From: a@example.net\n: nothing\n\nbody\n",
    "8bit header": "From: 张三 <a@example.net>\nSubject: 你好\n\n正文\n".encode("gbk"),
    "multipart": MULTI + b"pre\n--BB\nContent-Type: text/plain\n\none\n--BB\n\ntwo\n\n--BB--\nepi\n",
    "multipart crlf": (MULTI + b"--BB\r\nContent-Type: text/plain\r\n\r\none\r\n--BB--\r\n").replace(b"\n", b"\r\n")
    .replace(b"\r\r", b"\r"),
    "no preamble no epilogue": MULTI + b"--BB\n\none\n--BB--",
    "empty preamble line": MULTI + b"\n--BB\n\none\n--BB--\n",
    "boundary with spaces": MULTI + b"--BB \t\n\none\n--BB-- \n\n",
    "boundary lookalike": MULTI + b"--BB\n\n--BBX\n--BB x\n --BB\n--BB--x\n--BB\n\ntwo\n--BB--\n",
    "no close": MULTI + b"--BB\n\none\n",
    "no start": MULTI + b"just text\n",
    "close first": MULTI + b"--BB--\n--BB\n\none\n--BB--\n",
    "doubled delimiter": MULTI + b"--BB\n--BB\n\none\n--BB--\n",
    "delimiter at end": MULTI + b"--BB\n\none\n--BB\n",
    "no boundary": b"From: a@example.net\nContent-Type: multipart/mixed\n\n--BB\n\none\n--BB--\n",
    "bad cte": MULTI.replace(b"\n\n", b"\nContent-Transfer-Encoding: base64\n\n") + b"--BB\n\none\n--BB--\n",
    "part without headers or blank": MULTI + b"--BB\none\n--BB--\n",
    "nested": MULTI + b"--BB\nContent-Type: multipart/alternative; boundary=CC\n\n--CC\n\na\n--CC\n"
    b"Content-Type: text/html\n\n<p>b</p>\n--CC--\ninner epi\n\n--BB\n\nc\n--BB--\n",
    "nested empty epilogue": MULTI + b"--BB\nContent-Type: multipart/alternative; boundary=CC\n\n--CC\n\na\n--CC--\n"
    b"--BB--\n",
    "inner unclosed": MULTI + b"--BB\nContent-Type: multipart/alternative; boundary=CC\n\n--CC\n\na\n--BB--\n",
    "outer boundary in headers": MULTI + b"--BB\nContent-Type: text/plain\n--BB--\n",
    "rfc822": MULTI + b"--BB\nContent-Type: message/rfc822\n\nFrom: b@example.net\nSubject: fwd\n\ninner\n"
    b"--BB--\n",
    "rfc822 empty": MULTI + b"--BB\nContent-Type: message/rfc822\n\n--BB--\n",
    "rfc822 top": b"From: a@example.net\nContent-Type: message/rfc822\n\nFrom: b@example.net\n\nx\n",
    "delivery status": MULTI + b"--BB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
    b"Final-Recipient: rfc822; y\n--BB--\n",
    "digest": b"From: a@example.net\nContent-Type: multipart/digest; boundary=DD\n\n--DD\n\nFrom: b@example.net\n"
    b"\nx\n--DD\nContent-Type: text/plain\n\ny\n--DD--\n",
    "quoted boundary with specials": b'From: a@example.net\nContent-Type: multipart/mixed; boundary="a.b(c)+?*"\n\n'
    b"--a.b(c)+?*\n\none\n--a.b(c)+?*--\n",
    "rfc2231 boundary": b"From: a@example.net\nContent-Type: multipart/mixed; boundary*=''x%20y\n\n--x y\n\n1\n--x y--\n",
    "surrogates in body": MULTI + b"--BB\nContent-Type: text/plain; charset=gbk\n\n\xc4\xe3\xba\xc3\n--BB--\n",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_trees_are_identical(name):
    check(EDGE_CASES[name])


def _mutations(raw: bytes, rng: random.Random) -> list[bytes]:
    lines = raw.split(b"\n")
    out = [raw[:rng.randrange(len(raw) + 1)] for _ in range(3)]
    for _ in range(3):
        copy = list(lines)
        del copy[rng.randrange(len(copy))]
        out.append(b"\n".join(copy))
        copy = list(lines)
        n = rng.randrange(len(copy))
        copy.insert(n, copy[n])
        out.append(b"\n".join(copy))
    out.append(raw.replace(b"\n", b"\r\n"))
    out.append(raw.replace(b"\n\n", b"\n", 1))
    return out


def test_mutilated_sample_mails_give_identical_trees():
    rng = random.Random(17)
    mails = [raw for raw in sample_mails() if b"multipart" in raw][:80] + list(EDGE_CASES.values())
    for raw in mails:
        for mutated in _mutations(raw, rng):
            check(mutated)


_PIECES = [b"\n", b"\r\n", b"\r", b"--BB", b"--BB--", b"--CC", b" ", b"\t", b"x", b"From ", b":", b"Subject: s",
           b"Content-Type: multipart/mixed; boundary=CC", b"Content-Type: message/rfc822",
           b"Content-Type: text/plain", b"\xe4", b"--"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_fuzzed_multiparts_give_identical_trees(pieces):
    check(MULTI + b"".join(pieces))


# --- the parser's other short cuts give what the long way gives ------------------------------------

_ADDRESS_PIECES = ["a", "Zq", "0", ".", "_", "%", "+", "-", "@", "example", "com", "<", ">", '"', " ", "\t", "=?",
                   "?=", "(", ")", ",", ";", ":", "\\", "張", "\udce4", "..", "x.y"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_ADDRESS_PIECES), max_size=14))
def test_address_short_cut_equals_email_utils(pieces):
    from email.utils import getaddresses, parseaddr

    from feedback.channels.mail.parse import split_address, split_addresses

    value = "".join(pieces)
    assert split_address(value) == parseaddr(value)
    assert split_addresses(value) == getaddresses([value])


@pytest.mark.parametrize("value", ["customer1@example.net", " a.b+c@mx.example.cn ", "Zhang San <zs@example.cn>",
                                   '"Zhang, San" <zs@example.cn>', "=?utf-8?b?5byg5LiJ?= <zs@example.cn>",
                                   "<zs@example.cn>", 'Name<a@b.c>', '"" <a@b.c>', "a@b.c, d@e.f", "a@b", "a@b.c (x)"])
def test_address_short_cut_on_common_forms(value):
    from email.utils import getaddresses, parseaddr

    from feedback.channels.mail.parse import split_address, split_addresses

    assert split_address(value) == parseaddr(value)
    assert split_addresses(value) == getaddresses([value])


def _b64_long_way(data: bytes) -> tuple[bytes, bool]:
    """b64decode_lenient as it was before its strict-mode short cut: (bytes, repaired)."""
    import binascii
    import re

    from feedback.channels.mail import text

    compact = data.translate(None, text._WHITESPACE)
    cleaned = compact.translate(None, text._NOT_BASE64)
    junk = len(compact) - len(cleaned)
    if junk > len(compact) // 20 + 1:
        return data, True
    body = cleaned.rstrip(b"=")
    if (not junk and len(cleaned) % 4 == 0 and len(cleaned) - len(body) <= 2
            and not any(c in body for c in (b"=", b"-", b"_"))):
        return binascii.a2b_base64(cleaned), False
    out = []
    for chunk in re.split(rb"=+", cleaned.translate(text._B64_URLSAFE)):
        chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk
        if chunk:
            out.append(binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4)))
    return b"".join(out), True


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from([b"QUJD", b"QQ", b"QUI", b"=", b"==", b"\n", b"\r\n", b" ", b"-", b"_", b"*", b"A",
                                 b"ZGVm\n", b"4pyT"]), max_size=20))
def test_base64_short_cut_equals_the_long_way(pieces):
    from feedback.channels.mail.text import Notes, b64decode_lenient

    data = b"".join(pieces)
    notes = Notes()
    want, repaired = _b64_long_way(data)
    assert b64decode_lenient(data, notes) == want
    assert ("bad_base64" in notes.defects) == repaired
