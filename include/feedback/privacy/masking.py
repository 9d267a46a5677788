"""Find and mask personal data in free-text customer feedback (Chinese and English).

Triage masks every item before anything leaves ``intake``/``contact_vault``, so this
runs on every piece of feedback (the triage benchmark: 100,000 items). It is
therefore pure regular expressions plus checksums, compiled once per ``Masker``;
``phonenumbers`` is only asked to validate a few candidates per text (landlines,
numbers written with a country code).

What counts as personal data and how it is masked is configuration
(``include/config/privacy.yaml``, model :class:`MaskConfig`): per kind whether it is
detected at all (``enabled``), whether it is replaced (``mask``) and the replacement
template (``format``, e.g. ``"{first3}****{last4}"`` gives ``138****5678``).

Detection works on a copy of the text in which the compatibility characters that
customers type instead of ASCII (full-width ``１３８``, ``＠``, ``－``, ideographic
and no-break spaces) are replaced by their NFKC form. Only the NFKC mappings onto
a single ASCII character are applied, so the copy has exactly the length of the
original and every span found in it is the span to replace in the original.

Rules worth knowing (the labelled set ``tests/data/pii_cases.yaml`` pins them down):

* A number glued to ASCII letters or to more digits is never personal data: that
  is what keeps order numbers (``DD20261003123456``), tracking numbers
  (``SF1234567890123``), model numbers and longer digit runs out.
* Mobiles need a real mainland prefix (13x, 145-149, 15x but 154, 162/165-167,
  170-178, 18x, 19x but 194), landlines a real area code (checked by phonenumbers).
  Numbers without ``+``/``00`` are read as Chinese; other countries' numbers are
  found only when written with their country code (``+1 415 555 2671``).
* ID card numbers need a province code, a real birth date between
  ``id_card.min_birth_year`` and ``max_birth_year`` (default: this year) and the
  GB 11643 check character; bank cards 16-19 digits, a configured prefix and Luhn.
* Order context: a number that would be a bank card or an ID card is left alone
  when the nearest keyword in the ``order_context.window`` characters before it is
  an order keyword (``订单``, ``单号``, ``order`` ...) rather than a card/ID keyword
  (``卡``, ``card``, ``身份证`` ...).
* QQ numbers and WeChat ids are only recognised right after a context word
  (``QQ``, ``微信``, ``vx`` ...), separated at most by ``window`` spaces, colons or
  words like 是/为/号. A WeChat id must also look like one: ``wxid_...``, or contain
  a digit or ``_``, or follow an explicit marker (``:``, ``号``, ``是``, ``ID``), so
  ``WeChat support`` is prose, not an id.
* E-mail addresses are found first and blanked out for the other patterns:
  ``13812345678@163.com`` is one address (masked ``138****5678@***``), and a mobile
  written straight after an address is still a mobile.
* Overlaps: the leftmost, then longest span wins; on a tie the order of
  :data:`KINDS` decides (an 18-digit number that is both a valid ID and passes Luhn
  is an ID card).
* Masking is idempotent: formats that would leave their kind detectable are refused
  when the ``Masker`` is built, and ``mask`` takes a second look at its own output.

``Finding.raw`` and ``Finding.normalized`` are personal data: they go to the vault
and to hashing, never to logs (their ``repr`` hides them).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata
from pydantic import Field, ValidationInfo, field_validator, model_validator

from feedback.configfile import Strict, load_file
from feedback.errors import ConfigError
from feedback.paths import config_dir

KINDS: tuple[str, ...] = (
    "email",
    "id_card",
    "mobile",
    "landline",
    "service_number",
    "intl_phone",
    "bank_card",
    "qq",
    "wechat",
)
"""Every kind a Finding can have; also the tie-break order when two spans are identical."""

PHONE_KINDS = frozenset({"mobile", "landline", "service_number", "intl_phone"})

CONFIG_FILE = "privacy.yaml"

# --- configuration -----------------------------------------------------------------------------

_COMMON_FIELDS = frozenset({"first3", "first6", "last2", "last4"})
_FIELDS: dict[str, frozenset[str]] = {
    "mobile": _COMMON_FIELDS | {"cc"},
    "landline": _COMMON_FIELDS | {"cc", "area"},
    "service_number": _COMMON_FIELDS | {"cc"},
    "intl_phone": _COMMON_FIELDS | {"cc"},
    "email": _COMMON_FIELDS | {"local", "domain"},
    "id_card": _COMMON_FIELDS,
    "bank_card": _COMMON_FIELDS,
    "qq": _COMMON_FIELDS,
    "wechat": _COMMON_FIELDS,
}
"""Placeholders a kind's ``format`` may use (see ``_fields`` for their values)."""

Word = Annotated[str, Field(min_length=1, max_length=20)]


class KindRule(Strict):
    """How one kind of personal data is treated: detected? replaced? replaced by what?"""

    enabled: bool = True
    mask: bool = True
    format: str = Field(min_length=1, max_length=60)


class IdCardRule(KindRule):
    """ID card numbers: a birth date outside these years means it is some other number."""

    min_birth_year: int = Field(1900, ge=1800, le=2100)
    max_birth_year: int | None = Field(None, ge=1800, le=2100, description="default: the current year")


class BankCardRule(KindRule):
    """Bank cards: which issuer prefixes count (62 UnionPay, 4 Visa, 5 Mastercard by default)."""

    prefixes: list[Annotated[str, Field(pattern=r"^[0-9]{1,6}$")]] = Field(min_length=1)


class ContextRule(KindRule):
    """QQ / WeChat: only recognised right after one of ``context`` (case-insensitive)."""

    context: list[Word] = Field(min_length=1)
    window: int = Field(6, ge=0, le=20)


class OrderContext(Strict):
    """Keywords that turn a card- or ID-like number back into an order/transaction number."""

    words: list[Word] = []
    override_words: list[Word] = []
    window: int = Field(12, ge=0, le=40)
    kinds: list[Annotated[str, Field(pattern=r"^(bank_card|id_card)$")]] = ["bank_card", "id_card"]


class MaskConfig(Strict):
    """``include/config/privacy.yaml``. The defaults here are exactly the shipped file."""

    mobile: KindRule = KindRule(format="{first3}****{last4}")
    landline: KindRule = KindRule(format="{area}-****{last4}")
    service_number: KindRule = KindRule(mask=False, format="{first3}****{last4}")
    intl_phone: KindRule = KindRule(format="{cc}****{last4}")
    email: KindRule = KindRule(format="{local}@***")
    id_card: IdCardRule = IdCardRule(format="{first6}********{last4}")
    bank_card: BankCardRule = BankCardRule(format="************{last4}", prefixes=["62", "4", "5"])
    qq: ContextRule = ContextRule(format="****{last2}", context=["QQ", "qq号", "扣扣"])
    wechat: ContextRule = ContextRule(
        format="****{last2}", context=["微信", "微信号", "WeChat", "weixin", "vx", "v信"]
    )
    order_context: OrderContext = OrderContext(
        words=["订单", "单号", "order", "交易号", "流水号", "运单", "编号", "tracking"],
        override_words=["卡", "card", "身份证", "证件", "id number", "id card", "id no"],
    )

    @field_validator(*KINDS)
    @classmethod
    def _known_placeholders(cls, rule: KindRule, info: ValidationInfo) -> KindRule:
        assert info.field_name is not None  # a field validator always knows its field
        allowed = _FIELDS[info.field_name]
        try:
            parts = list(string.Formatter().parse(rule.format))
        except ValueError as exc:
            raise ValueError(f"format: not a valid template ({exc}); write e.g. '{{first3}}****{{last4}}'") from None
        for _, name, spec, conversion in parts:
            if name is None:
                continue
            if name not in allowed or spec or conversion:
                raise ValueError(
                    f"format: unknown placeholder {{{name}}} (allowed: "
                    + ", ".join("{" + f + "}" for f in sorted(allowed)) + ")"
                )
        return rule

    @model_validator(mode="after")
    def _years(self) -> MaskConfig:
        rule = self.id_card
        if rule.max_birth_year is not None and rule.max_birth_year < rule.min_birth_year:
            raise ValueError("id_card: max_birth_year is before min_birth_year")
        return self


def load_mask_config(path: Path | None = None) -> MaskConfig:
    """Load ``privacy.yaml`` (default: the configuration folder); mistakes are one-line ConfigErrors."""
    return load_file(path or config_dir() / CONFIG_FILE, MaskConfig)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One span of personal data in a text.

    ``start``/``end`` index the original text. ``raw`` is the span as written and
    ``normalized`` the canonical value (E.164 phones, lower-case e-mail, digits for
    IDs and cards) for the vault and for hashing; both are hidden from ``repr`` so a
    stray log line shows only the kind and position.
    """

    kind: str
    start: int
    end: int
    raw: str = field(repr=False)
    normalized: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MaskResult:
    """The masked text and everything that was found in it (masked or not, see ``KindRule.mask``)."""

    text: str
    findings: list[Finding]


# --- text normalisation ------------------------------------------------------------------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_KEPT_TAGS = ("<wide>", "<narrow>", "<noBreak>", "<compat>", "<small>")


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """NFKC for the characters customers type instead of ASCII, as a 1:1 translate table.

    Limited to mappings onto one ASCII character (so positions stay valid) from the
    full-width/narrow/small/no-break/compat forms; superscripts, circled digits and
    math letters are left alone because folding them could glue digits together
    (``①13812345678``). Dashes map to ``-`` because people type them as separators.
    """
    table: dict[int, str] = {ord(ch): "-" for ch in _DASHES}
    for cp in range(0x80, 0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        decomposition = unicodedata.decomposition(ch)
        if not decomposition.startswith(_KEPT_TAGS):
            continue
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) == 1 and folded.isascii() and folded != ch:
            table[cp] = folded
    return table


@lru_cache(maxsize=1)
def _folding() -> tuple[Callable[[str], list[str]], dict[str, str]]:
    """(every foldable character of a text, in order; character -> its ASCII form)."""
    table = _fold_table()
    chars = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(table)) + "]")
    return chars.findall, {chr(cp): folded for cp, folded in table.items()}


def fold(text: str) -> str:
    """The detection copy of ``text``: same length, compatibility forms folded to ASCII.

    Detection patterns are ASCII, and customers type ``１３８``, ``＠`` and ``（0571）``;
    keeping the length lets every span found in the copy index the original. A text holds
    a few distinct such characters (``，``, ``：``): one C-level replace each is quicker than
    visiting every run of them (the replacements are ASCII, so no replace makes work for another).
    """
    if text.isascii():
        return text
    find_all, folded = _folding()
    for ch in set(find_all(text)):
        text = text.replace(ch, folded[ch])
    return text


# --- patterns ----------------------------------------------------------------------------------
# All patterns run on the folded text. L/R: a number must not touch letters or more digits.
_L = r"(?<![0-9A-Za-z_])(?<![0-9]\.)(?<![¥$€£])"
_R = r"(?![0-9A-Za-z_])(?!\.[0-9])"
_MOBILE_HEAD = r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[25-7]|7[0-8]|8[0-9]|9[0-35-9])"

EMAIL_RE = re.compile(
    r"(?P<local>[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,63}[A-Za-z0-9_%+\-])?)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![A-Za-z\-])"
)
MOBILE_RE = re.compile(
    _L + r"(?:\(?(?:\+|00) ?86\)?[ \-]?|86[ \-]?)?"
    r"(?P<num>" + _MOBILE_HEAD + r"[ \-]?[0-9]{4}[ \-]?[0-9]{4})" + _R
)
LANDLINE_RE = re.compile(
    _L + r"(?:\((?P<a1>0[1-9][0-9]{1,2})\)|(?P<a2>0[1-9][0-9]{1,2}))[ \-]?"
    r"(?P<sub>[2-9][0-9]{2,3}[ \-]?[0-9]{4})" + _R
)
SERVICE_RE = re.compile(_L + r"(?P<num>[48]00[ \-]?[0-9]{3}[ \-]?[0-9]{4})" + _R)
# A number written with "+" is a phone even when a word is glued to it ("+44 20 7946 0958thanks").
_R_INTL = r"(?![0-9_])(?!\.[0-9])"
# "+" or "00" and a country code (also bracketed: "(+1)"), then groups separated by one
# space, dot, dash or slash: +1 415 555 2671, (+1) 415-555-2671, +3670/977-8379.
INTL_RE = re.compile(
    _L + r"(?:\((?:\+|00) ?[0-9]{1,4}\) ?|(?:\+|00) ?(?:\([0-9]++\)|[0-9]++))"
    r"(?:[ .\-/]?(?:\([0-9]++\)|[0-9]++)){0,6}" + _R_INTL
)
ID_RE = re.compile(
    _L + r"(?P<id>[1-8][0-9]{5}[ \-]?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[ \-]?[0-9]{3}[0-9Xx])" + _R
)
CARD_RE = re.compile(_L + r"(?P<card>[0-9]{16,19}|[0-9]{4}(?:[ \-][0-9]{4}){3}(?:[ \-]?[0-9]{1,3})?)" + _R)
_QQ_VALUE = r"(?P<value>[1-9][0-9]{4,10})(?![0-9A-Za-z_])"
_WECHAT_VALUE = r"(?P<value>wxid_[A-Za-z0-9_\-]{4,30}|[A-Za-z][A-Za-z0-9_\-]{5,19})(?![A-Za-z0-9_\-@])"
_GAP = r"(?:[ \t:：=\-/#，,是为號号码碼]|ID|is|number|no\.?)"
_WECHAT_MARKERS = re.compile(r"[:：是为號号]|id", re.IGNORECASE)
_DIGIT = re.compile(r"[0-9]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Stretches of digits and the separators numbers are written with: the only places where a
# phone, ID or card can be, so the number patterns run on these windows, not the whole text.
_ISLAND_RE = re.compile(r"[0-9](?:[0-9 .()+\-/]*[0-9])?")
_MIN_ISLAND_DIGITS = 8  # the shortest phone number with a country code
_DIGIT_RUN = re.compile(r"[0-9]{5,}")

_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 "
    "71 81 82 83 91".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _context_re(words: list[str], value: str, window: int) -> re.Pattern[str]:
    """``<context word><up to window gap chars><value>``; ASCII words must stand alone."""
    alts = []
    for word in sorted(set(words), key=len, reverse=True):
        piece = re.escape(word)
        if word[0].isascii() and word[0].isalnum():
            piece = r"(?<![A-Za-z0-9])" + piece
        if word[-1].isascii() and word[-1].isalpha():
            piece += r"(?![A-Za-z])"
        alts.append(piece)
    return re.compile(
        r"(?P<ctx>" + "|".join(alts) + r")(?P<gap>" + _GAP + r"{0," + str(window) + r"}?)" + value,
        re.IGNORECASE,
    )


def _first_chars_re(words: list[str]) -> re.Pattern[str]:
    """The characters a context word starts with, case-insensitive as ``_context_re`` reads them."""
    return re.compile("[" + "".join(sorted({re.escape(w[0]) for w in words})) + "]", re.IGNORECASE)


def _context_finditer(pattern: re.Pattern[str], first: re.Pattern[str], t: str) -> Iterator[re.Match[str]]:
    """``pattern.finditer(t)`` for a ``_context_re`` pattern, tried only where a context word can start.

    A match starts with a context word. The pattern opens with lookbehinds, so the regex
    engine cannot skip to such a place and tries every position of the text; ``first``, one
    character class, is skipped to in C. Matches are taken left to right without overlap,
    exactly as ``finditer`` does.
    """
    pos = 0
    while (start := first.search(t, pos)) is not None:
        m = pattern.match(t, start.start())
        if m is None:
            pos = start.start() + 1
        else:
            yield m
            pos = m.end()


def _keywords_re(words: list[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)), re.IGNORECASE)


# --- validators --------------------------------------------------------------------------------


def _digits(text: str) -> str:
    if text.isascii():  # what the patterns match: one C-level pass
        return text.translate(_NON_DIGITS_DROPPED)
    return "".join(ch for ch in text if ch.isdigit())


_NON_DIGITS_DROPPED = str.maketrans("", "", "".join(chr(c) for c in range(128) if not chr(c).isdigit()))


def luhn_ok(digits: str) -> bool:
    """Luhn check used by every bank card scheme; random digit runs pass only 1 time in 10."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def id_card_ok(value: str, min_year: int = 1900, max_year: int | None = None) -> bool:
    """GB 11643 check character, province code and a real birth date in the allowed years."""
    if len(value) != 18 or value[:2] not in _PROVINCES:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if "10X98765432"[total % 11] != value[17].upper():
        return False
    year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    if not min_year <= year <= (max_year or date.today().year):
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _parse_phone(number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def _e164(parsed: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


_FIXED = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
_CN_MOBILE = (phonenumbers.PhoneNumberType.MOBILE,)


def _cn_fixed_line(national: str) -> str | None:
    """``national`` (area code without its 0, then the subscriber number) when it is a Chinese fixed line.

    This is ``phonenumbers.number_type(+86 national) in _FIXED``, asked of China's metadata
    directly (see ``_cn_number_descs``): the pattern already split off the trunk 0, and parsing,
    then looking the region up again for every number, was most of the time on text with landlines.
    """
    general, others, fixed_line = _cn_number_descs()
    if not _matches(national, general) or any(_matches(national, desc) for desc in others):
        return None
    return national if _matches(national, fixed_line) else None


_Desc = tuple[frozenset[int], re.Pattern[str]] | None


def _matches(national: str, desc: _Desc) -> bool:
    """phonenumbers' test of a national number against one number description of the metadata."""
    if desc is None:
        return False
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


@lru_cache(maxsize=1)
def _cn_number_descs() -> tuple[_Desc, tuple[_Desc, ...], _Desc]:
    """China's number descriptions in the order ``phonenumbers.number_type`` tries them.

    (general, the types it tries before fixed lines, fixed line): a number is a fixed line
    when it fits the general description, none of the earlier types and the fixed-line one
    (whether it could also be a mobile makes it FIXED_LINE_OR_MOBILE, which counts too).
    Read from the installed metadata, so a phonenumbers update changes the rules here as well.
    """
    metadata = PhoneMetadata.metadata_for_region("CN")
    assert metadata is not None  # shipped with every phonenumbers release

    def desc(number_desc: Any) -> _Desc:
        if number_desc is None or not number_desc.national_number_pattern:
            return None
        return frozenset(number_desc.possible_length or ()), re.compile(number_desc.national_number_pattern)

    earlier = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")
    return (
        desc(metadata.general_desc),
        tuple(desc(getattr(metadata, name)) for name in earlier),
        desc(metadata.fixed_line),
    )


def _cn_area_length(national: str) -> int:
    """Digits of the area code of a Chinese fixed line: 10 and 2x (Beijing, the big cities) are two."""
    return 2 if national[0] == "2" or national.startswith("10") else 3


def _classify_intl(digits: str) -> tuple[str, str] | None:
    """(kind, E.164) of ``+<digits>``; Chinese numbers get their own kinds (mobile, landline, 400/800)."""
    parsed = _parse_phone("+" + digits, None)
    if parsed is None:
        return None
    if parsed.country_code != 86:
        return "intl_phone", _e164(parsed)
    national = str(parsed.national_number)
    kind = phonenumbers.number_type(parsed)
    if kind in _CN_MOBILE and re.fullmatch(_MOBILE_HEAD + r"[0-9]{8}", national):
        return "mobile", "+86" + national
    if kind in _FIXED:
        return "landline", _e164(parsed)
    if re.fullmatch(r"[48]00[0-9]{7}", national):
        return "service_number", "+86" + national
    return None


# --- the masker --------------------------------------------------------------------------------

# Synthetic values (not anyone's data) used to check that each configured format hides its kind.
_SELF_CHECK = {
    "mobile": "电话13812345678",
    "landline": "电话010-87654321",
    "service_number": "热线400-123-4567",
    "intl_phone": "phone +44 20 7946 0958",
    "email": "mail zhangsan@qq.com 13812345678@163.com",
    "id_card": "身份证11010519491231002X",
    "bank_card": "卡号6222021234567890128",
    "qq": "QQ：781234567",
    "wechat": "微信号：zhang_san88",
}


class Masker:
    """Detects and masks personal data according to a :class:`MaskConfig`.

    Build one and reuse it: construction compiles the context patterns and checks
    that every configured ``format`` really hides its kind (masking twice must
    change nothing), raising a one-line :class:`ConfigError` otherwise.
    """

    def __init__(self, config: MaskConfig | None = None) -> None:
        self.config = config or MaskConfig()
        cfg = self.config
        self._rules: dict[str, KindRule] = {kind: getattr(cfg, kind) for kind in KINDS}
        self._enabled = frozenset(k for k, r in self._rules.items() if r.enabled)
        self._masked = frozenset(k for k in self._enabled if self._rules[k].mask)
        self._priority = {kind: i for i, kind in enumerate(KINDS)}
        # Cheap gates for the context patterns: any context word in the lower-cased text (one search).
        self._qq_words = re.compile("|".join(re.escape(w) for w in sorted({w.lower() for w in cfg.qq.context})))
        self._wechat_words = re.compile(
            "|".join(re.escape(w) for w in sorted({w.lower() for w in cfg.wechat.context})))
        # Both kinds' words in one search: most texts have neither, and then one search is all they cost.
        context_words = {w.lower() for k in ("qq", "wechat") if k in self._enabled for w in getattr(cfg, k).context}
        self._any_context_word = re.compile("|".join(re.escape(w) for w in sorted(context_words))) \
            if context_words else None
        # The kinds worth running on a window, by the longest digit stretch in it (see `_NEEDS`).
        self._on_by_digits = [frozenset(k for k in self._enabled if _NEEDS.get(k, 0) <= digits)
                              for digits in range(_MOST_NEEDED + 1)]
        self._qq_re = _context_re(cfg.qq.context, _QQ_VALUE, cfg.qq.window)
        self._wechat_re = _context_re(cfg.wechat.context, _WECHAT_VALUE, cfg.wechat.window)
        self._qq_first = _first_chars_re(cfg.qq.context)
        self._wechat_first = _first_chars_re(cfg.wechat.context)
        self._order_re = _keywords_re(cfg.order_context.words)
        self._override_re = _keywords_re(cfg.order_context.override_words)
        self._order_kinds = frozenset(cfg.order_context.kinds)
        self._card_prefixes = tuple(cfg.bank_card.prefixes)
        self._self_check()

    # -- public API --

    @property
    def masked_kinds(self) -> frozenset[str]:
        """Kinds that ``mask`` replaces; findings of other kinds (400/800 numbers) stay in the text."""
        return self._masked

    def find(self, text: str) -> list[Finding]:
        """Every personal span in ``text``, in text order, without overlaps."""
        return self._find(text)

    def _find(self, text: str, near: list[tuple[int, int]] | None = None, folded: str | None = None) -> list[Finding]:
        """``find``; ``folded`` is ``fold(text)`` when the caller has it already."""
        if folded is None:
            folded = fold(text)
        candidates = self._candidates(folded, near)
        if not candidates:
            return []
        candidates.sort(key=lambda c: (c[0], -(c[1] - c[0]), self._priority[c[2]]))
        findings: list[Finding] = []
        last_end = -1
        for start, end, kind, normalized in candidates:
            if start >= last_end:
                findings.append(Finding(kind, start, end, text[start:end], normalized))
                last_end = end
        return findings

    def mask(self, text: str) -> MaskResult:
        """Replace each finding of a kind with ``mask: true`` by its ``format``; report all findings.

        The result is checked once more: if cutting a span out left something detectable
        behind (only seen in contrived text such as a phone glued to an address with a
        dash), that is masked as well, so masked text never yields a finding to mask.
        Numbers are looked for again only near what was replaced: elsewhere the text and
        everything a number's rules read around it (``_RECHECK_MARGIN``) are as before.
        """
        folded = fold(text)
        findings = self._find(text, None, folded)
        masked, folded, changed = self._apply(text, folded, findings)
        for _ in range(3):
            if not changed:
                break
            left = [f for f in self._find(masked, changed, folded) if f.kind in self._masked]
            if not left:
                break
            masked, folded, changed = self._apply(masked, folded, left)
        return MaskResult(masked, findings)

    def _apply(self, text: str, folded: str, findings: list[Finding]) -> tuple[str, str, list[tuple[int, int]]]:
        """``text`` with the masked kinds replaced, its folded copy, and where the replacements are.

        Folding works character by character, so the folded copy of the result is the folded
        copy of ``text`` with the folded replacements: the second look does not fold again.
        """
        out: list[str] = []
        out_folded: list[str] = []
        changed: list[tuple[int, int]] = []
        pos = length = 0
        for f in findings:
            if f.kind not in self._masked:
                continue
            before = text[pos : f.start]
            rendered = self._render(f.kind, f.normalized)
            out += (before, rendered)
            out_folded += (folded[pos : f.start], fold(rendered))
            length += len(before)
            changed.append((length, length + len(rendered)))
            length += len(rendered)
            pos = f.end
        if not out:
            return text, folded, []
        out.append(text[pos:])
        out_folded.append(folded[pos:])
        return "".join(out), "".join(out_folded), changed

    def mask_contact(self, kind: str, value: str) -> str:
        """Mask a contact field (``phone``, ``email`` or ``name``) for display in the register.

        Contact fields hold one value, so it is always masked with its kind's ``format``
        (whatever ``mask`` says for free text). A value that is not recognisable is still
        never shown whole: a phone keeps first 3 + last 4 of its digits (``****`` when it
        has fewer than 11), an e-mail the part before ``@`` (``***`` without one).
        """
        if kind == "phone":
            found = _phone_kind(value)
            if found is not None:
                return self._render(found[0], found[1])
            digits = _digits(unicodedata.normalize("NFKC", value))
            return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 11 else "****"
        if kind == "email":
            normalized = normalize_email(value)
            if normalized is not None:
                return self._render("email", normalized)
            local = value.strip().split("@", 1)[0]
            return f"{_mask_local(local)}@***" if "@" in value else "***"
        if kind == "name":
            return mask_name(value)
        raise ValueError(f"unknown contact kind {kind!r}; expected 'phone', 'email' or 'name'")

    # -- internals --

    def _render(self, kind: str, normalized: str) -> str:
        return self._rules[kind].format.format_map(_fields(kind, normalized))

    def _candidates(self, t: str, near: list[tuple[int, int]] | None = None) -> list[tuple[int, int, str, str]]:
        """Every candidate span; with ``near``, numbers only in windows within ``_RECHECK_MARGIN`` of those spans."""
        on = self._enabled
        out: list[tuple[int, int, str, str]] = []
        if "@" in t and "email" in on:
            emails = _emails(t)
            if emails:
                out += emails
                # Blank the addresses out so that nothing is found inside them (a QQ number or a
                # mobile used as the prefix) and a number glued to an address still stands alone.
                parts, pos = [], 0
                for start, end, _, _ in emails:
                    parts += [t[pos:start], "\x00" * (end - start)]
                    pos = end
                t = "".join(parts) + t[pos:]
        for lo, hi, digits in _windows(t):
            if near is None or any(lo < b + _RECHECK_MARGIN and a - _RECHECK_MARGIN < hi for a, b in near):
                self._numbers(t, lo, hi, out, digits)
        if self._any_context_word is None:
            return out
        lower = t.lower()
        if not self._any_context_word.search(lower):
            return out
        if "qq" in on and self._qq_words.search(lower):
            for m in _context_finditer(self._qq_re, self._qq_first, t):
                out.append((m.start("value"), m.end("value"), "qq", m.group("value")))
        if "wechat" in on and self._wechat_words.search(lower):
            for m in _context_finditer(self._wechat_re, self._wechat_first, t):
                value = m.group("value")
                if (
                    value.lower().startswith("wxid_")
                    or _DIGIT.search(value)
                    or "_" in value
                    or _WECHAT_MARKERS.search(m.group("ctx") + m.group("gap"))
                ):
                    out.append((m.start("value"), m.end("value"), "wechat", value.lower()))
        return out

    def _numbers(self, t: str, lo: int, hi: int, out: list[tuple[int, int, str, str]], digits: int = 99) -> None:
        """Phones, ID and card numbers in ``t[lo:hi]`` (patterns still see the text before ``lo``).

        ``digits``: the longest digit stretch in the window; patterns needing more are skipped.
        """
        # Every pattern starts with a digit, "(" or "+" that stands alone (_L): where none does, as in
        # an order number glued to its letters, there is nothing to find; else scanning starts there.
        first = _NUMBER_START_RE.search(t, lo, hi)
        if first is None:
            return
        lo = first.start()
        on = self._on_by_digits[min(digits, _MOST_NEEDED)]
        mobile_ends: dict[int, int] = {}
        if "mobile" in on:
            for m in MOBILE_RE.finditer(t, lo, hi):
                out.append((m.start(), m.end(), "mobile", "+86" + _digits(m.group("num"))))
                mobile_ends[m.start()] = m.end()
        if "landline" in on and t.find("0", lo, hi) >= 0:  # the trunk 0 of the area code
            for m in LANDLINE_RE.finditer(t, lo, hi):
                national = _cn_fixed_line((m.group("a1") or m.group("a2"))[1:] + _digits(m.group("sub")))
                if national is not None:
                    out.append((m.start(), m.end(), "landline", "+86" + national))
        # A company number is 400 or 800 written together: where neither is, the pattern cannot match.
        if "service_number" in on and (t.find("400", lo, hi) >= 0 or t.find("800", lo, hi) >= 0):
            for m in SERVICE_RE.finditer(t, lo, hi):
                out.append((m.start(), m.end(), "service_number", "+86" + _digits(m.group("num"))))
        for m in INTL_RE.finditer(t, lo, hi) if t.find("+", lo, hi) >= 0 or t.find("00", lo, hi) >= 0 else ():
            if mobile_ends.get(m.start(), -1) >= m.end():
                # A mobile starts here and reaches at least as far: whatever phonenumbers makes of
                # the candidate, the mobile (sorted first) is the one that is kept, so don't ask it.
                continue
            found = _intl_span(m.group(0))
            if found is not None and found[1] in on:
                length, kind, normalized = found
                out.append((m.start(), m.start() + length, kind, normalized))
        if "id_card" in on:
            rule = self.config.id_card
            for m in ID_RE.finditer(t, lo, hi):
                value = m.group("id").replace(" ", "").replace("-", "").upper()
                if id_card_ok(value, rule.min_birth_year, rule.max_birth_year) and not self._order_ctx(
                    t, m.start(), "id_card"
                ):
                    out.append((m.start(), m.end(), "id_card", value))
        if "bank_card" in on:
            for m in CARD_RE.finditer(t, lo, hi):
                value = _digits(m.group("card"))
                if (
                    16 <= len(value) <= 19
                    and value.startswith(self._card_prefixes)
                    and luhn_ok(value)
                    and not self._order_ctx(t, m.start(), "bank_card")
                ):
                    out.append((m.start(), m.end(), "bank_card", value))

    def _order_ctx(self, t: str, start: int, kind: str) -> bool:
        """True when the nearest keyword before ``start`` says order/transaction, not card/ID."""
        if kind not in self._order_kinds or self._order_re is None:
            return False
        window = t[max(0, start - self.config.order_context.window) : start]
        orders = [m.end() for m in self._order_re.finditer(window)]
        if not orders:
            return False
        overrides = [m.end() for m in self._override_re.finditer(window)] if self._override_re else []
        return not overrides or max(orders) > max(overrides)

    def _self_check(self) -> None:
        for kind, sample in _SELF_CHECK.items():
            if kind not in self._masked:
                continue
            again = [f.kind for f in self.find(self.mask(sample).text) if f.kind in self._masked]
            if again:
                raise ConfigError(
                    f"{CONFIG_FILE}: {kind}.format: masked values would still be detected as {again[0]} "
                    "(keep fewer characters of the original, e.g. '{first3}****{last4}')"
                )


def _emails(t: str) -> list[tuple[int, int, str, str]]:
    """E-mail addresses, searched only around each ``@`` (a local part has at most 65 characters)."""
    found: list[tuple[int, int, str, str]] = []
    at = t.find("@")
    floor = 0
    while at >= 0:
        lo = max(floor, at - 65)
        if t.find("@", lo, at) < 0:
            # An address starting at or before this "@" has its "@" at the first one after its
            # start: here, as no other is in between. So a domain must start right after it and the
            # local part end right before it (a masked "zhangsan@***" fails at once, where the
            # search would read on through the next 256 characters), and the address can only
            # start in the run of local-part characters before it: the search starts there.
            if t[at + 1 : at + 2] not in _ALNUM or t[at - 1 : at] not in _LOCAL_END:
                at = t.find("@", at + 1)
                continue
            lo += len(t[lo:at].rstrip(_LOCAL_CHARS))
        m = EMAIL_RE.search(t, lo, at + 256)
        if m is not None and m.start() <= at:
            found.append((m.start(), m.end(), "email", m.group(0).lower()))
            floor = m.end()
            at = t.find("@", floor)
        else:
            at = t.find("@", at + 1)
    return found


_NUMBER_START_RE = re.compile(_L + r"[0-9(+]")
_ALNUM = frozenset(string.ascii_letters + string.digits)
# EMAIL_RE's local part: its characters, and those it may end with.
_LOCAL_CHARS = string.ascii_letters + string.digits + "._%+-"
_LOCAL_END = _ALNUM | {"_", "%", "+", "-"}


def _windows(t: str) -> list[tuple[int, int, int]]:
    """Merged ``(lo, hi, digits)`` windows around digit stretches long enough to hold a phone, ID or card.

    ``lo`` reaches back for a ``+``/``(``/``00`` prefix, ``hi`` forward for an ID's final
    ``X`` and for the characters the right-boundary checks look at. ``digits`` is the most
    digits of one stretch in the window: every pattern matches inside one stretch, so a
    pattern that needs more digits than that is not run there.
    """
    windows: list[tuple[int, int, int]] = []
    length = len(t)
    for m in _LONG_ISLAND_RE.finditer(t):
        run = m.group()
        digits = len(run) - len(run.translate(_DIGITS_DROPPED))
        start, end = m.span()
        lo, hi = max(0, start - 8), min(length, end + 3)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], hi, max(digits, windows[-1][2]))
        else:
            windows.append((lo, hi, digits))
    return windows


# The stretches of _ISLAND_RE with at least _MIN_ISLAND_DIGITS digits, found by the regex engine
# (separators never end a stretch, so the match starting at a stretch's first digit is all of it).
# Only a stretch's first digit can start one, hence the lookbehind (after the digit, so the engine
# still skips to digits in C); nothing can follow a stretch's end, hence no backtracking (*+, {7,}+):
# both only spare the engine the hopeless tries on dates and amounts, the matches are the same.
_LONG_ISLAND_RE = re.compile(r"[0-9](?<![0-9]{2})(?:[ .()+\-/]*+[0-9]){" + str(_MIN_ISLAND_DIGITS - 1) + ",}+")
_DIGITS_DROPPED = str.maketrans("", "", "0123456789")
# How far a number's rules read beyond its window: the order keywords before it (order_context.window,
# at most 40) and the lookbehinds; a replacement further away cannot change what is found there.
_RECHECK_MARGIN = 64
# The fewest digits in one stretch each pattern can match: mobile 11, landline 0 + area + 7,
# company 400/800 10, ID card 17 and its check character, bank card 16.
_NEEDS = {"mobile": 11, "landline": 10, "service_number": 10, "id_card": 17, "bank_card": 16}
_MOST_NEEDED = max(_NEEDS.values())


def _intl_span(candidate: str) -> tuple[int, str, str] | None:
    """Longest leading part of a ``+CC …`` candidate that is a valid number: (length, kind, E.164)."""
    groups = list(re.finditer(r"[0-9]+\)?", candidate))
    for n in range(len(groups), 0, -1):
        end = groups[n - 1].end()
        if candidate[end - 1] == ")":
            continue
        digits = _digits(candidate[:end])
        if digits.startswith("00"):
            digits = digits[2:]
        if not 8 <= len(digits) <= 15:
            continue
        found = _classify_intl(digits)
        if found is not None:
            return end, found[0], found[1]
    return None


def _phone_kind(raw: str) -> tuple[str, str] | None:
    """(kind, E.164) when ``raw`` is exactly one phone number in any accepted spelling."""
    text = fold(unicodedata.normalize("NFKC", raw)).strip()
    found = _phone_masker().find(text)
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(text) and found[0].kind in PHONE_KINDS:
        return found[0].kind, found[0].normalized
    return None


def _mask_local(local: str) -> str:
    """An e-mail local part with any number in it (a phone, a QQ number) masked."""

    def repl(m: re.Match[str]) -> str:
        run = m.group(0)
        if len(run) == 11 and re.fullmatch(_MOBILE_HEAD + r"[0-9]{8}", run):
            return f"{run[:3]}****{run[-4:]}"
        return "****" + run[-2:]

    return _DIGIT_RUN.sub(repl, local)


def _fields(kind: str, normalized: str) -> dict[str, str]:
    """Values for a ``format``: ``{first3}`` etc. count over the national digits."""
    values: dict[str, str] = {}
    core = normalized
    if kind in ("mobile", "service_number") and normalized.startswith("+86"):
        values["cc"] = "+86"
        core = normalized[3:]
    elif kind == "landline" and normalized.startswith("+86"):
        values["cc"] = "+86"
        core = normalized[3:]
        values["area"] = "0" + core[: _cn_area_length(core)]
        core = "0" + core
    elif kind in PHONE_KINDS:
        parsed = phonenumbers.parse(normalized, None)
        values["cc"] = f"+{parsed.country_code}"
        core = phonenumbers.national_significant_number(parsed)
        if kind == "landline":
            area_len = phonenumbers.length_of_geographical_area_code(parsed) or 2
            values["area"] = "0" + core[:area_len]
            core = "0" + core
    elif kind == "email":
        local, _, domain = normalized.partition("@")
        values["local"] = _mask_local(local)
        values["domain"] = domain
        core = local
    values.update(first3=core[:3], first6=core[:6], last2=core[-2:], last4=core[-4:])
    return values


def mask_name(name: str) -> str:
    """``张三`` → ``张*``, ``Zhang San`` → ``Z*** S***``: the first character of each word stays."""
    name = name.strip()
    if not name:
        return ""
    if _CJK.search(name):
        return name[0] + "*" * max(1, len(name) - 1)
    return " ".join(word[0] + "***" for word in name.split())


@lru_cache(maxsize=1)
def _phone_masker() -> Masker:
    """Phones and e-mail only, shipped formats: what the module-level helpers recognise."""
    off = {"enabled": False}
    base = MaskConfig()
    return Masker(
        base.model_copy(
            update={
                kind: getattr(base, kind).model_copy(update=off)
                for kind in ("id_card", "bank_card", "qq", "wechat")
            }
        )
    )


def normalize_phone(raw: str) -> str | None:
    """E.164 (``+8613812345678``) for any spelling the detector accepts, ``None`` otherwise.

    The vault and the hash of a contact use this, so ``138 1234 5678``,
    ``+86-138-1234-5678`` and ``１３８１２３４５６７８`` are the same customer.
    """
    found = _phone_kind(raw)
    return found[1] if found else None


def normalize_email(raw: str) -> str | None:
    """The lower-cased address when ``raw`` is exactly one e-mail address, ``None`` otherwise."""
    text = fold(unicodedata.normalize("NFKC", raw)).strip()
    m = EMAIL_RE.fullmatch(text)
    return m.group(0).lower() if m else None
