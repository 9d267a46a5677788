"""The masker's shortcuts find exactly what the plain way finds (issue 17: faster, same output).

Each shortcut in ``feedback.privacy.masking`` skips work that provably cannot find anything; these
tests hold each one against the plain computation it replaces, on text built from the fragments
that make the rules interesting (addresses glued to numbers, masked values, context words,
case-folding oddities such as the Kelvin sign and the dotted capital I).
"""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.privacy import masking
from feedback.privacy.masking import EMAIL_RE

_FRAGMENTS = st.sampled_from([
    "13812345678", "+86 177 6184 4748", "0086-13812345678", "(+1) 415 555 2671", "+44 20 7946 0958",
    "010-87654321", "(0571)88776655", "400-123-4567", "11010519491231002X", "6222021234567890128",
    "zhangsan@qq.com", "13812345678@163.com", "a.b-c@x.y.com", "@***", "xx@", "@1.cc", "a.@b.cc",
    "QQ", "qq号", "扣扣", "微信号", "WeChat", "vx", "wxid_abc123", "zhang_san88", "781234567",
    "订单", "DD20261003123456", "2026-10-15", "¥1,565.50", "１３８", "＠", "（", "：", "，",
    "İ", "K", "ſ", "ς", "@", "+", "00", "0", "1", "8", "-", " ", ".", "(", ")", "\n", "x", "_", "%", "*", "\x00",
])
_TEXTS = st.lists(_FRAGMENTS, max_size=25).map("".join)
_SETTINGS = settings(max_examples=600, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


def _emails_plainly(t: str) -> list[tuple[int, int, str, str]]:
    """``_emails`` without its shortcuts: one search from 65 characters before every ``@``."""
    found: list[tuple[int, int, str, str]] = []
    at, floor = t.find("@"), 0
    while at >= 0:
        m = EMAIL_RE.search(t, max(floor, at - 65), at + 256)
        if m is not None and m.start() <= at:
            found.append((m.start(), m.end(), "email", m.group(0).lower()))
            floor = m.end()
            at = t.find("@", floor)
        else:
            at = t.find("@", at + 1)
    return found


@_SETTINGS
@given(_TEXTS)
def test_email_search_from_the_local_part_finds_the_same_addresses(text):
    folded = masking.fold(text)
    assert masking._emails(folded) == _emails_plainly(folded)


def test_email_shortcuts_on_hand_picked_texts():
    for text in ["a@b.cc", "@b.cc", "a@", "a@*", "a.@b.cc", "-@b.cc", "x@y@z.cc", "ab@cd@ef.gh", "zhangsan@***",
                 "a" * 70 + "@b.cc", "a@b.cc@d.ee", "13812345678@163.com", "电话13812345678-a@b.cc"]:
        assert masking._emails(text) == _emails_plainly(text), text


@_SETTINGS
@given(_TEXTS)
def test_islands_are_those_of_the_plain_pattern(text):
    plain = re.compile(r"[0-9](?:[ .()+\-/]*[0-9]){7,}")
    folded = masking.fold(text)
    assert [m.span() for m in masking._LONG_ISLAND_RE.finditer(folded)] == [m.span() for m in plain.finditer(folded)]


@_SETTINGS
@given(st.text(max_size=40) | _TEXTS)
def test_fold_is_the_translate_table(text):
    assert masking.fold(text) == text.translate(masking._fold_table())


@pytest.mark.parametrize("words", [["QQ", "qq号", "扣扣"], ["微信", "WeChat", "weixin", "vx", "v信"],
                                   ["İd", "ſs", "Kq", "ς号", "K", "id"]])
@_SETTINGS
@given(text=_TEXTS)
def test_context_matches_are_those_of_finditer(words, text):
    pattern = masking._context_re(words, masking._QQ_VALUE, 6)
    first = masking._first_chars_re(words)
    folded = masking.fold(text)
    assert [m.span() for m in masking._context_finditer(pattern, first, folded)] == [
        m.span() for m in pattern.finditer(folded)
    ]


def test_chinese_fixed_lines_are_what_phonenumbers_says():
    rng = random.Random(17)
    numbers = [str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 11)))
               for _ in range(20000)]
    numbers += ["1087654321", "57188776655", "2112345678", "75523456789", "4001234567", "13812345678"]
    for national in numbers:
        parsed = phonenumbers.PhoneNumber(country_code=86, national_number=int(national))
        expected = national if phonenumbers.number_type(parsed) in masking._FIXED else None
        assert masking._cn_fixed_line(national) == expected, national
