"""Shaping rows into cells every section shares: the code/items/share columns, shares and
business hours with nothing to divide as None, notes that say what a list or a duration leaves out.
"""

from __future__ import annotations

from typing import Any

from feedback.reports.model import Column, Label

C_KEY = Column("key", Label("代码", "Code"))

C_ITEMS = Column("items", Label("数量", "Items"), "int")

C_SHARE = Column("share", Label("占比", "Share"), "pct")


def share_of(part: int | float | None, whole: int | float | None) -> float | None:
    if not whole:
        return None
    return (part or 0) / whole


def hours_of(seconds: float | None, count: int = 1) -> float | None:
    if seconds is None or not count:
        return None
    return round(float(seconds) / count / 3600, 6)


def in_order(rows: list[dict[str, Any]], order: tuple[str, ...], key: str = "key") -> list[dict[str, Any]]:
    """Rows in a fixed order of known codes, unknown codes after them by code."""
    rank = {code: i for i, code in enumerate(order)}
    return sorted(rows, key=lambda r: (rank.get(r[key], len(order)), r[key] or ""))


def listed_note(note: Label, shown: int, total: int) -> Label:
    if shown >= total:
        return note
    return Label(f"{note.zh} 共 {total:,} 条，此处列出前 {shown:,} 条（完整清单见登记库）。",
                 f"{note.en} {total:,} in all; the first {shown:,} are listed here (the full list is in the register).")


def excluded_note(note: Label, excluded: int | None) -> Label:
    """`note`, plus how many rows were left out of the durations for an infinite or pre-2000 time."""
    if not excluded:
        return note
    return Label(f"{note.zh} 另有 {excluded:,} 条因时间不合理（无穷或早于2000年）未计入时长。",
                 f"{note.en} {excluded:,} row(s) with an implausible time (infinite or before 2000) are left out "
                 "of the durations.")
