"""What a report is, independent of how it is computed or rendered.

The SQL sections produce `Section`s; the Excel and PDF renderers read only these
types. Keeping the contract small lets each side be tested alone: the figures on
hand-worked fixtures, the files on a fixed `Report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

Kind = Literal["text", "int", "number", "pct", "hours", "date", "datetime", "bool"]
LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class Label:
    zh: str
    en: str

    def __call__(self, locale: str) -> str:
        return self.zh if locale == "zh-CN" else self.en


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


@dataclass(frozen=True)
class QualityCheck:
    name: Label
    passed: bool
    detail: str = ""          # counts only, never personal data


@dataclass(frozen=True)
class Report:
    kind: Literal["monthly", "weekly"]
    period_start: date        # first day, inclusive
    period_end: date          # last day, inclusive
    locale: str
    generated_at: datetime
    headline: tuple[Headline, ...]
    sections: tuple[Section, ...]
    quality: tuple[QualityCheck, ...] = ()
    title: Label = field(default_factory=lambda: Label("客户反馈月度报告", "Customer feedback monthly report"))

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    @property
    def unavailable(self) -> tuple[Section, ...]:
        """The sections this version lacks (held); the report says so wherever it shows them."""
        return tuple(s for s in self.sections if s.unavailable)

    @property
    def quality_passed(self) -> bool:
        return all(c.passed for c in self.quality)
