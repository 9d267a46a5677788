"""What a report is, independent of how it is computed or rendered.

The SQL sections produce `Section`s; the Excel and PDF renderers read only these
types. Keeping the contract small lets each side be tested alone: the figures on
hand-worked fixtures, the files on a fixed `Report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

# Label: a name in both languages, the vocabulary's own class, so a priority's name is a report cell as is.
from feedback.vocabulary import LOCALES as LOCALES
from feedback.vocabulary import Label as Label

ReportKind = Literal["monthly", "weekly"]
Kind = Literal["text", "int", "number", "pct", "hours", "date", "datetime", "bool"]


@dataclass(frozen=True)
class Column:
    key: str
    label: Label
    kind: Kind = "text"       # pct: a share 0..1 shown as a percentage; hours: business hours, 1 decimal


@dataclass(frozen=True)
class Chart:
    kind: Literal["bar", "line", "pie"]
    category: str             # the column key along the axis (or the slices)
    values: tuple[str, ...]   # column keys plotted, one series each
    title: Label


def is_code_column(section: Section, column: Column) -> bool:
    """A column holding internal codes (`key`, or `priority` beside `priority_label`): kept for
    machines (filters, pivots), never shown to people as a label."""
    keys = {c.key for c in section.columns}
    return column.key == "key" or f"{column.key}_label" in keys


@dataclass(frozen=True)
class Section:
    key: str                  # stable id, e.g. "volume_by_channel"; also the sheet's internal name
    title: Label
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]   # one dict per row, keyed by column key
    chart: Chart | None = None
    note: Label | None = None  # one line under the table (e.g. how a figure is defined)
    total_rows: int | None = None  # a list section showing only its first rows: how many there are in all
    unavailable: bool = False  # could not be computed this run (held as poison): shown as such, never as "no data"


# The line a section that could not be computed shows instead of its table (workbook, PDF, mail).
UNAVAILABLE = Label("本节数据暂不可用（已记录，见 feedback quarantine list）",
                    "This section could not be computed (held; see feedback quarantine list)")


@dataclass(frozen=True)
class Headline:
    label: Label
    value: Any
    kind: Kind = "int"
    previous: Any = None       # the same figure for the period before (环比); None: not computed or nothing to compare
    year_ago: Any = None       # the same figure a year earlier (同比)
    better: Literal["up", "down"] | None = None   # which way is good news (colours the arrows); None: neither

    def change(self, other: Any) -> float | None:
        """This period minus `other`: a relative change for counts, percentage points (as a share) for shares."""
        if not _number(self.value) or not _number(other):
            return None
        if self.kind == "pct":
            return float(self.value) - float(other)
        if not other:
            return None
        return (float(self.value) - float(other)) / float(other)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


@dataclass(frozen=True)
class QualityCheck:
    name: Label
    passed: bool
    detail: str = ""          # counts only, never personal data


@dataclass(frozen=True)
class Report:
    kind: ReportKind
    period_start: date        # first day, inclusive
    period_end: date          # last day, inclusive
    locale: str
    generated_at: datetime
    headline: tuple[Headline, ...]
    sections: tuple[Section, ...]
    quality: tuple[QualityCheck, ...] = ()
    title: Label = field(default_factory=lambda: Label("客户反馈月度报告", "Customer feedback monthly report"))
    zone: str | None = None   # the business time zone: every time in the documents is shown in it

    def local(self, stamp: datetime) -> datetime:
        """`stamp` as wall-clock time in the report's business zone (an aware stamp; a naive one is already local)."""
        if stamp.tzinfo is None or self.zone is None:
            return stamp
        from zoneinfo import ZoneInfo

        return stamp.astimezone(ZoneInfo(self.zone))

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    @property
    def unavailable(self) -> tuple[Section, ...]:
        """The sections this version lacks (held); the report says so wherever it shows them."""
        return tuple(s for s in self.sections if s.unavailable)

    @property
    def quality_passed(self) -> bool:
        return all(c.passed for c in self.quality)
