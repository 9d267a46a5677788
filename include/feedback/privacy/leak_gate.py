"""The leak gate: no text triage is about to store outside the vault holds a contact.

Masking is the first line; this is the second, independent one (its own patterns, none
shared with feedback.privacy.masking). Before a triage batch commits, every text value of
the batch's `feedback` and `feedback_event` rows is checked for phone numbers (mainland
mobiles and international numbers in their common spellings), e-mail addresses and ID
card numbers. A hit holds the rows it was found in, so a masking gap stops those items
instead of spreading personal data into the register, reports and alerts, and every other
item goes on.

What is checked is personal data, not our own identifiers: system-made fields (feedback
numbers, ids, hashes, dedup keys, Message-IDs, rule ids, enumerations written from the
configuration) are skipped, and a number shaped like a feedback number (`19930206-001`)
is never read as a phone. An ID card number needs a real province code, a real birth
date (a calendar date, not before 1900 and not in the future) and the GB 11643 check
character, and is an order/invoice/tracking number when such a word is the nearest
keyword in the few characters before it.

Speed (issue 17: the gate may cost at most a tenth of triage time): one pass per column
over the batch. The column's values are joined with a separator no pattern can cross,
each precompiled expression runs once over the joined text, and only a hit is traced back
to its row. The expectations, as they were once run by Great Expectations, are:
for every text column of the batch's rows,
``expect_column_values_to_not_match_regex`` for :data:`MOBILE`, :data:`INTL_PHONE` and
:data:`EMAIL`, and no value holding a valid ID card number. Great Expectations still runs
the report's data-quality suite (feedback.reports.quality), not this per-batch check.

A violation names the table, column, kind and row count, never the value.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import phonenumbers

from feedback.errors import FeedbackError

# --- patterns (on purpose independent of feedback.privacy.masking) ------------------------------

_NOT_BEFORE = r"(?<![0-9A-Za-z０-９*])"
_NOT_AFTER = r"(?![0-9０-９])"
MOBILE = _NOT_BEFORE + r"(?:(?:\+|00|＋)?86[-\s]?)?[1１][3-9３-９](?:[-\s]?[\d０-９]){9}" + _NOT_AFTER
# "+" or "00", a country code, then digit groups with one separator each (space . - /) or a
# bracketed group: +3670/977-8379, +36 70 977 8379, (+1) 415-555-2671, 0044 20 7946 0958.
INTL_PHONE = (
    r"(?<![0-9A-Za-z])(?:\(\s?(?:\+|00)\s?\d{1,4}\s?\)|(?:\+|＋|(?<!\d)00)\s?\d{1,4})"
    r"(?:(?:[\s./-]|\s?\(\d{1,4}\)\s?)?\d+){1,6}(?![0-9])"
)
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
ID_CARD = r"(?<![0-9A-Za-z])\d{6}[ -]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[ -]?\d{3}[\dXx](?![0-9A-Za-z])"

_MOBILE_RE = re.compile(MOBILE)
_INTL_RE = re.compile(INTL_PHONE)
_EMAIL_RE = re.compile(EMAIL)
_ID_RE = re.compile(ID_CARD)
# Our feedback numbers (business date + serial): never a phone, whatever the date.
_OUR_NUMBER = re.compile(r"\d{8}-\d{3,}")
_DIGITS_RE = re.compile(r"\d+")
_FULLWIDTH = str.maketrans("０１２３４５６７８９＋", "0123456789+")

PROVINCES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66),
     71, 81, 82, 83, 91]
)
"""GB/T 2260 province codes (83: Taiwan residents' residence permits) and 91 (abroad)."""
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
ORDER_WORDS = ("订单号", "订单", "单号", "发票", "流水", "运单", "快递", "交易号", "编号", "工单",
               "order", "invoice", "tracking", "ref", "receipt", "transaction", "txn", "awb")
ID_WORDS = ("身份证", "证件", "id card", "id number", "id no", "identity", "passport")
CONTEXT_WINDOW = 16
_ORDER_RE = re.compile("|".join(map(re.escape, ORDER_WORDS)), re.IGNORECASE)
_IDWORD_RE = re.compile("|".join(map(re.escape, ID_WORDS)), re.IGNORECASE)

# --- what is ours, not the customer's -----------------------------------------------------------

SYSTEM_FIELDS = frozenset({
    "id", "feedback_no", "dedup_key", "message_id", "in_reply_to", "references", "external_id", "raw_ref",
    "content_sha256", "identity_hash", "rule_ids", "contact_refs", "channel", "source", "actor", "event_type",
    "status", "to_status", "from_status", "priority", "department", "handler_group", "categories", "category",
    "emotion", "language", "customer_tier", "stage", "next_deadline_stage", "taxonomy_preset", "sla_preset",
    "via", "kind", "confidence",
})
"""Columns and JSON keys written by the pipeline itself (identifiers, enumerations)."""
_SYSTEM_SUFFIXES = ("_id", "_ids", "_no", "_hash", "_sha256", "_key", "_at")
ORDER_FIELDS = frozenset({"order_ref", "order_no"})
"""Fields that hold order numbers: an ID-shaped value there is an order number, phones still count."""

# Values of one column are joined with this: no pattern crosses it (not a digit, space, dash,
# letter or address character), so neighbouring rows never combine into a match.
_SEP = "\x00\n\x00"


class LeakDetected(FeedbackError):
    """Personal data was about to be stored outside the vault; `violations` say where (no values)."""

    def __init__(self, message: str, violations: Sequence[Violation] = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)


@dataclass(frozen=True)
class Violation:
    table: str
    column: str
    kind: str
    rows: int
    positions: tuple[int, ...] = field(default=(), compare=False, repr=False)  # row indexes in the input

    def __str__(self) -> str:
        return f"{self.table}.{self.column}: {self.rows} row(s) with {self.kind}"

    @property
    def where(self) -> str:
        """`feedback.description phone`: the hold reason's detail (table, column, kind; never a value)."""
        return f"{self.table}.{self.column} {self.kind}"


def is_system_field(name: str) -> bool:
    """True for identifiers and enumerations the pipeline writes itself (skipped by the gate)."""
    return name not in ORDER_FIELDS and (name in SYSTEM_FIELDS or name.endswith(_SYSTEM_SUFFIXES))


def id_card_ok(digits: str, today: date | None = None) -> bool:
    """Province code, a real birth date (1900 to today) and the GB 11643 check character."""
    if len(digits) != 18 or not digits[:17].isdigit() or int(digits[:2]) not in PROVINCES:
        return False
    try:
        born = date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > (today or date.today()):
        return False
    return _ID_CHECK[sum(int(c) * w for c, w in zip(digits[:17], _ID_WEIGHTS, strict=True)) % 11] == digits[17].upper()


def _order_context(text: str, start: int, floor: int = 0) -> bool:
    """An order/invoice/tracking word is the nearest keyword in the few characters before `start`."""
    window = text[max(floor, start - CONTEXT_WINDOW):start]
    orders = [m.end() for m in _ORDER_RE.finditer(window)]
    if not orders:
        return False
    ids = [m.end() for m in _IDWORD_RE.finditer(window)]
    return not ids or max(orders) > max(ids)


def id_cards_in(text: Any, *, order_field: bool = False) -> str | None:
    """Valid ID card numbers in a value (joined), or None."""
    if not isinstance(text, str):
        return None
    found = list(_id_matches(text, order_field))
    return ",".join(found) if found else None


def _id_matches(text: str, order_field: bool = False) -> Iterable[str]:
    if order_field:
        return
    for m in _ID_RE.finditer(text):
        digits = m.group().replace(" ", "").replace("-", "")
        if id_card_ok(digits) and not _order_context(text, m.start()):
            yield digits


def _phone_hits(text: str) -> Iterable[int]:
    for m in _MOBILE_RE.finditer(text):
        if not _OUR_NUMBER.fullmatch(m.group().translate(_FULLWIDTH)):
            yield m.start()
    for m in _INTL_RE.finditer(text):
        if _intl_valid(m.group()):
            yield m.start()


def _intl_valid(candidate: str) -> bool:
    """A valid number for its country in some leading part of the candidate (phonenumbers' metadata)."""
    groups = _DIGITS_RE.findall(candidate.translate(_FULLWIDTH))
    if candidate.lstrip("( ").startswith("00"):
        groups[0] = groups[0][2:]
    digits = ""
    lengths = []
    for group in groups:          # a number ends where a group of digits ends, never inside one
        digits += group
        lengths.append(len(digits))
    for end in reversed(lengths):
        if not 7 <= end <= 15:
            continue
        try:
            number = phonenumbers.parse("+" + digits[:end], None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


KINDS = ("phone", "email", "id_card")


@lru_cache(maxsize=4096)
def _system(name: str) -> bool:
    return is_system_field(name)


def _texts(rows: Sequence[dict[str, Any]]) -> dict[str, list[tuple[int, str]]]:
    """(row index, text) per column; JSON values are walked, system-made keys skipped."""
    columns: dict[str, list[tuple[int, str]]] = {}
    for index, row in enumerate(rows):
        for name, value in row.items():
            if value is None or _system(name):
                continue
            if isinstance(value, str):
                if value:
                    column = columns.get(name)
                    if column is None:
                        column = columns[name] = []
                    column.append((index, value))
            elif isinstance(value, dict | list | tuple):
                parts: list[str] = []
                _strings(value, parts)
                if parts:
                    columns.setdefault(name, []).append((index, _SEP.join(parts)))
    return columns


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not _system(str(key)):
                _strings(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, out)


def _scan_column(table: str, column: str, values: list[tuple[int, str]]) -> list[Violation]:
    """One pass per pattern over the column's joined values; hits are traced back to rows."""
    joined = _SEP.join(text for _, text in values)
    starts, pos = [], 0
    for _, text in values:
        starts.append(pos)
        pos += len(text) + len(_SEP)

    def rows_of(offsets: Iterable[int]) -> tuple[int, ...]:
        return tuple(sorted({values[bisect_right(starts, o) - 1][0] for o in offsets}))

    found = []
    hits = {
        "phone": rows_of(_phone_hits(joined)),
        "email": rows_of(m.start() for m in _EMAIL_RE.finditer(joined)) if "@" in joined else (),
        "id_card": (),
    }
    if column not in ORDER_FIELDS:
        # Candidates are rare; each is checked within its own value (the context is that value's text).
        hits["id_card"] = rows_of(
            m.start() for m in _ID_RE.finditer(joined)
            if _valid_id_at(joined, m)
        )
    for kind in KINDS:
        if hits[kind]:
            found.append(Violation(table, column, kind, len(hits[kind]), hits[kind]))
    return found


def _valid_id_at(joined: str, m: re.Match[str]) -> bool:
    digits = m.group().replace(" ", "").replace("-", "")
    if not id_card_ok(digits):
        return False
    separator = joined.rfind(_SEP, 0, m.start())
    return not _order_context(joined, m.start(), floor=0 if separator < 0 else separator + len(_SEP))


def check(tables: Mapping[str, Sequence[dict[str, Any]]]) -> list[Violation]:
    """Violations per table, column and kind in the given rows (empty = clean); never a value."""
    violations: list[Violation] = []
    for table, rows in tables.items():
        if not rows:
            continue
        for column, values in _texts(rows).items():
            violations.extend(_scan_column(table, column, values))
    return violations


def message(violations: Sequence[Violation], held: bool = False) -> str:
    """One line for the operator: where (table.column: rows with kind) and what to do."""
    where = "; ".join(str(v) for v in violations)
    if held:
        return (f"leak gate: personal data outside the vault ({where}); those items were held, the rest stored. "
                "See `feedback quarantine list`: if it is a contact the masker missed, fix "
                "include/config/privacy.yaml or the masker, then `feedback quarantine release` them")
    return (f"leak gate: personal data found outside the vault ({where}); the batch was not stored. "
            "If the masker missed a contact, fix include/config/privacy.yaml or the masker, "
            "then release the held items with `feedback quarantine release`")


def enforce(tables: dict[str, Sequence[dict[str, Any]]]) -> None:
    """Raise LeakDetected naming table, column, kind and row count when a value holds a contact."""
    violations = check(tables)
    if violations:
        raise LeakDetected(message(violations), violations)
