"""A `Report` as an Excel workbook: a summary sheet, then one sheet per section with a native chart.

Layout, the same for every report:

* `概览` / `Summary`: title, period, generation stamp, overall data-quality status, the
  headline figures, every quality check (a failed one in red, "未通过"/"FAILED", with its
  detail) and a list of the section sheets (links).
* one sheet per section, named from its title in the report's locale: the header in row 1
  (bold, filled, frozen below: `freeze_panes == "A2"`, autofilter over the table), data from
  row 2, number formats by column kind, widths fitted (CJK characters count double), the
  section's note two rows under the table, and where the section has a `Chart` a native
  Excel chart (bar / line / pie) referencing the table's cells, placed to the right of it.

The output is deterministic: the same `Report` gives the same bytes. The document
properties' created/modified and every zip entry's time are `report.generated_at`; openpyxl
writes no other time.

Datetimes: Excel has no time zones, so an aware datetime is shown in the zone of
`report.generated_at` (when that is aware) and written without its zone.
"""

from __future__ import annotations

import io
import math
import os
import unicodedata
import zipfile
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, Literal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.chart import BarChart, LineChart, PieChart, Reference
from openpyxl.chart.axis import DateAxis
from openpyxl.chart.label import DataLabelList
from openpyxl.chart.marker import DataPoint
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

if TYPE_CHECKING:
    from _typeshed import SizedBuffer

from feedback.reports.model import UNAVAILABLE, Chart, Headline, Kind, Label, Report, Section, is_code_column

NUMBER_FORMATS: dict[str, str] = {
    "int": "#,##0",
    "number": "#,##0.00",
    "pct": "0.0%",
    "hours": "0.0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}
HEADER_ROW = 1
FREEZE = "A2"
MAX_SHEET_NAME = 31
MAX_CELL_TEXT = 32_767
_FORBIDDEN_IN_SHEET_NAME = str.maketrans({c: " " for c in "[]:*?/\\"})

L = {
    "summary": Label("概览", "Summary"),
    "period": Label("统计周期", "Period"),
    "kind": Label("报告类型", "Report type"),
    "monthly": Label("月报", "Monthly"),
    "weekly": Label("周报", "Weekly"),
    "generated": Label("生成时间", "Generated at"),
    "quality_status": Label("数据质量", "Data quality"),
    "all_passed": Label("全部通过（{n} 项）", "All {n} checks passed"),
    "n_failed": Label("{n} 项未通过，相关数字可能不完整", "{n} check(s) FAILED: affected figures may be incomplete"),
    "no_checks": Label("未运行检查", "No checks run"),
    "headline": Label("主要指标", "Headline figures"),
    "figure": Label("指标", "Figure"),
    "value": Label("数值", "Value"),
    "quality": Label("数据质量检查", "Data-quality checks"),
    "check": Label("检查项", "Check"),
    "result": Label("结果", "Result"),
    "detail": Label("说明", "Detail"),
    "passed": Label("通过", "PASSED"),
    "failed": Label("未通过", "FAILED"),
    "contents": Label("各部分数据", "Sections"),
    "sheet": Label("工作表", "Sheet"),
    "rows": Label("行数", "Rows"),
    "no_data": Label("（本期无数据）", "(no data this period)"),
    "unavailable": Label("不可用（已暂扣）", "unavailable (held)"),
    "yes": Label("是", "Yes"),
    "no": Label("否", "No"),
    "to": Label("至", "to"),
    "previous": Label("上月", "Last month"),
    "mom": Label("环比", "Change vs last month"),
    "year_ago": Label("去年同期", "A year ago"),
    "yoy": Label("同比", "Change vs a year ago"),
}
# Satisfaction outcomes in the colours a reader expects (the PDF uses the same): by outcome code or name.
SATISFACTION_RGB = {"satisfied": "2EA121", "neutral": "F0A020", "dissatisfied": "D83931", "unreachable": "8F959E",
                    "": "C9CDD4"}
_OUTCOME_NAMES = {"满意": "satisfied", "satisfied": "satisfied", "一般": "neutral", "一般/基本满意": "neutral",
                  "基本满意": "neutral", "neutral": "neutral", "不满意": "dissatisfied", "dissatisfied": "dissatisfied",
                  "未联系上": "unreachable", "未接通": "unreachable", "unreachable": "unreachable",
                  "未记录": "", "not recorded": ""}

_AnyChart = PieChart | LineChart | BarChart

_BOLD = Font(bold=True)
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
_TITLE_FONT = Font(bold=True, size=16, color="1F4E79")
_SUBTITLE_FONT = Font(bold=True, size=12, color="1F4E79")
_NOTE_FONT = Font(italic=True, color="595959")
_PASS_FONT = Font(bold=True, color="006100")
_PASS_FILL = PatternFill("solid", fgColor="C6EFCE")
_FAIL_FONT = Font(bold=True, color="9C0006")
_FAIL_FILL = PatternFill("solid", fgColor="FFC7CE")
_LINK_FONT = Font(color="0563C1", underline="single")
_THIN = Side(style="thin", color="BFBFBF")
_HEADER_BORDER = Border(bottom=_THIN)


def render_xlsx(report: Report) -> bytes:
    """The workbook's bytes; the same Report always gives the same bytes."""
    loc = report.locale
    wb = Workbook()
    summary = wb.active
    if not isinstance(summary, Worksheet):     # a new Workbook always opens on one worksheet
        raise TypeError("openpyxl's new workbook has no active worksheet")
    summary.title = L["summary"](loc)
    names = _sheet_names(report, reserved=summary.title)
    for section, name in zip(report.sections, names, strict=True):
        _section_sheet(wb.create_sheet(name), section, report)
    _summary_sheet(summary, report, names)

    stamp = _naive(report.generated_at, UTC)
    props = wb.properties
    props.creator = "feedback-pipeline"
    props.lastModifiedBy = None
    props.title = report.title(loc)
    props.subject = _period_text(report)
    props.language = loc
    props.created = props.modified = stamp.replace(microsecond=0)

    buf = io.BytesIO()
    archive = _StampedZip(buf, "w", zipfile.ZIP_DEFLATED, date_time=_zip_time(report.generated_at))
    ExcelWriter(wb, archive).save()   # not save_workbook(): that stamps `modified` with now()
    return buf.getvalue()


# --- values --------------------------------------------------------------------------------------


def format_value(value: Any, kind: Kind, locale: str) -> str:
    """A value as text, the way the workbook's number format shows it (used by the PDF and for widths)."""
    if isinstance(value, Label):
        value = value(locale)
    if value is None or value == "" or not _finite(value):
        return ""
    if kind == "bool":
        return (L["yes"] if value else L["no"])(locale)
    if kind in ("int", "number", "pct", "hours") and isinstance(value, int | float | Decimal):
        v = float(value)
        if kind == "int":
            return f"{v:,.0f}"
        if kind == "number":
            return f"{v:,.2f}"
        if kind == "pct":
            return f"{v * 100:.1f}%"
        return f"{v:,.1f}"
    if kind == "datetime" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if kind in ("date", "datetime") and isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def display_width(text: str) -> int:
    """Width in Excel character units: East Asian wide and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _naive(value: datetime, tz: tzinfo | None) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(tz).replace(tzinfo=None) if tz is not None else value.replace(tzinfo=None)


def _finite(value: Any) -> bool:
    """False for NaN and infinities, which Excel cannot store."""
    if isinstance(value, float | Decimal):
        return math.isfinite(value)
    return True


def _zone(report: Report) -> tzinfo | None:
    """Where aware times are shown: the report's business zone, else the zone of its stamp."""
    if report.zone:
        from zoneinfo import ZoneInfo

        return ZoneInfo(report.zone)
    return report.generated_at.tzinfo


def _excel_value(value: Any, kind: Kind, report: Report) -> Any:
    if isinstance(value, Label):
        value = value(report.locale)
    if value is None or not _finite(value):
        return None
    if kind == "bool":
        return (L["yes"] if value else L["no"])(report.locale)
    if kind == "text":
        return ILLEGAL_CHARACTERS_RE.sub("", str(value))[:MAX_CELL_TEXT]
    if isinstance(value, datetime):
        value = _naive(value, _zone(report))
        return value if kind == "datetime" else value.date() if kind == "date" else value
    if isinstance(value, date | int | float | Decimal) and not isinstance(value, bool):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    return text[:MAX_CELL_TEXT]


def _put(cell: Cell | MergedCell, value: Any, kind: Kind, report: Report) -> Cell | MergedCell:
    cell.value = _excel_value(value, kind, report)
    if cell.data_type in ("f", "e"):     # text such as "=…" or "#N/A" from a customer stays text
        cell.data_type = "s"
    if kind in NUMBER_FORMATS:
        cell.number_format = NUMBER_FORMATS[kind]
    return cell


# --- sheet names -----------------------------------------------------------------------------------


def _sheet_names(report: Report, *, reserved: str) -> list[str]:
    """One valid, unique sheet name per section: ≤31 characters, none of []:*?/\\, not quoted at the ends."""
    taken = {reserved.casefold(), "history"}   # Excel reserves "History"
    names = []
    for section in report.sections:
        base = " ".join(section.title(report.locale).translate(_FORBIDDEN_IN_SHEET_NAME).split()).strip("'")
        base = base or section.key.translate(_FORBIDDEN_IN_SHEET_NAME).strip("'") or "Sheet"
        name, n = base[:MAX_SHEET_NAME], 1
        while name.casefold() in taken:
            n += 1
            suffix = f" ({n})"
            name = base[: MAX_SHEET_NAME - len(suffix)].rstrip("'") + suffix
        taken.add(name.casefold())
        names.append(name)
    return names


# --- section sheets --------------------------------------------------------------------------------


def _print_setup(ws: Worksheet, title_rows: str | None = f"{HEADER_ROW}:{HEADER_ROW}") -> None:
    """Landscape, one page wide (as many pages tall as it takes), the header row on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    if title_rows:
        ws.print_title_rows = title_rows


def _section_sheet(ws: Worksheet, section: Section, report: Report) -> None:
    loc = report.locale
    _print_setup(ws)
    if section.unavailable:      # held this run: one clear line, never an empty table that reads as "none"
        line = ws.cell(HEADER_ROW, 1, UNAVAILABLE(loc))
        line.font, line.fill = _FAIL_FONT, _FAIL_FILL
        ws.column_dimensions["A"].width = min(display_width(UNAVAILABLE(loc)) + 4, 100)
        return
    columns = section.columns
    for c, column in enumerate(columns, start=1):
        cell = ws.cell(HEADER_ROW, c, column.label(loc))
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=False)
    for r, row in enumerate(section.rows, start=HEADER_ROW + 1):
        for c, column in enumerate(columns, start=1):
            _put(ws.cell(r, c), row.get(column.key), column.kind, report)
    last_row = HEADER_ROW + len(section.rows)
    if columns:
        ws.freeze_panes = FREEZE
        ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(columns))}{max(last_row, HEADER_ROW)}"
    _fit_widths(ws, section, loc)
    for c, column in enumerate(columns, start=1):   # codes stay for filters and pivots, out of sight and print
        if is_code_column(section, column):
            ws.column_dimensions[get_column_letter(c)].hidden = True

    below = last_row + 2
    if not section.rows:
        ws.cell(HEADER_ROW + 1, 1, L["no_data"](loc)).font = _NOTE_FONT
        below = HEADER_ROW + 3
    if section.note is not None:
        ws.cell(below, 1, section.note(loc)).font = _NOTE_FONT
    if section.chart is not None and section.rows:
        chart = _chart(ws, section, section.chart, loc)
        ws.add_chart(chart, f"{get_column_letter(len(columns) + 2)}{HEADER_ROW + 1}")


def _fit_widths(ws: Worksheet, section: Section, loc: str) -> None:
    for c, column in enumerate(section.columns, start=1):
        widest = display_width(column.label(loc)) + 3      # room for the autofilter button
        for row in section.rows:
            widest = max(widest, display_width(format_value(row.get(column.key), column.kind, loc)))
        ws.column_dimensions[get_column_letter(c)].width = min(max(widest + 2, 8), 60)


def _column_index(section: Section, key: str) -> int:
    for i, column in enumerate(section.columns, start=1):
        if column.key == key:
            return i
    raise ValueError(f"section {section.key!r}: chart refers to column {key!r}, which the section does not have")


def _chart(ws: Worksheet, section: Section, spec: Chart, loc: str) -> _AnyChart:
    first, last = HEADER_ROW + 1, HEADER_ROW + len(section.rows)
    cat_col = _column_index(section, spec.category)
    cats = Reference(ws, min_col=cat_col, min_row=first, max_row=last)
    values = [_column_index(section, key) for key in spec.values]
    if not values:
        raise ValueError(f"section {section.key!r}: chart has no value columns")
    cat_kind = section.columns[cat_col - 1].kind

    chart: _AnyChart
    if spec.kind == "pie":
        chart = PieChart()
        values = values[:1]                    # a pie shows one series
        chart.dataLabels = labels = DataLabelList()
        labels.showPercent = True
        labels.showVal = False
        labels.showCatName = False
        labels.showSerName = False
        labels.showLeaderLines = True
        chart.width, chart.height = 12, 8
    elif spec.kind == "line":
        chart = line = LineChart()
        if cat_kind in ("date", "datetime"):
            line.x_axis = date_axis = DateAxis(crossAx=100)   # axId 500; the value axis (axId 100) crosses it
            line.y_axis.crossAx = 500
            date_axis.number_format = "mm-dd"
            date_axis.majorTimeUnit = "days"
        # openpyxl's stubs read the class default (15) as int; the size is centimetres, any float
        chart.width = max(16, min(30, 0.5 * len(section.rows)))   # type: ignore[assignment]
        chart.height = 8
    elif spec.kind == "bar":
        chart = bar = BarChart()
        bar.type = "col"
        bar.grouping = "clustered"
        # openpyxl's stubs read the class default (15) as int; the size is centimetres, any float
        chart.width = max(14, min(30, 1.6 * len(section.rows) * len(values)))   # type: ignore[assignment]
        chart.height = 8
    else:
        raise ValueError(f"section {section.key!r}: unknown chart kind {spec.kind!r}")

    for col in values:
        chart.add_data(Reference(ws, min_col=col, min_row=HEADER_ROW, max_row=last), titles_from_data=True)
    chart.set_categories(cats)
    _satisfaction_colours(chart, section, spec, loc)
    chart.title = spec.title(loc)
    chart.style = 10
    if not isinstance(chart, PieChart):
        # openpyxl 3.1 leaves `delete` unset, which Excel reads as "hide the axis"
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        chart.x_axis.axPos = "b"
        kind = section.columns[values[0] - 1].kind
        chart.y_axis.number_format = NUMBER_FORMATS.get(kind, "General")
        if len(values) == 1:
            chart.legend = None
        elif chart.legend is not None:
            chart.legend.position = "b"
    elif chart.legend is not None:
        chart.legend.position = "r"
    return chart


def outcome_of(row: dict[str, Any], category: str, locale: str) -> str | None:
    """The satisfaction outcome a row stands for, by its `key` code or its name; else None."""
    key = row.get("key")
    if isinstance(key, str) and key in SATISFACTION_RGB:
        return key
    name = row.get(category)
    name = name(locale) if isinstance(name, Label) else name
    return _OUTCOME_NAMES.get(str(name).strip().lower()) if name is not None else None


def _satisfaction_colours(chart: _AnyChart, section: Section, spec: Chart, loc: str) -> None:
    """Satisfied green, dissatisfied red, unreachable grey: a pie's slices (or bars) by outcome; a
    satisfied-share series green."""
    outcomes = [outcome_of(r, spec.category, loc) for r in section.rows]
    if sum(o is not None for o in outcomes) >= 2 and chart.series:
        series = chart.series[0]
        for i, outcome in enumerate(outcomes):
            if outcome is not None:
                point = DataPoint(idx=i)
                point.graphicalProperties = GraphicalProperties(solidFill=SATISFACTION_RGB[outcome])
                point.graphicalProperties.line.solidFill = "FFFFFF"
                series.dPt.append(point)
        return
    for series, key in zip(chart.series, spec.values, strict=False):
        if key in ("satisfied_share", "satisfied") or section.key == "satisfaction_trend":
            series.graphicalProperties = GraphicalProperties(solidFill=SATISFACTION_RGB["satisfied"])


# --- summary ---------------------------------------------------------------------------------------


def _period_text(report: Report) -> str:
    return f"{report.period_start:%Y-%m-%d} {L['to'](report.locale)} {report.period_end:%Y-%m-%d}"


def change_text(h: Headline, other: Any, locale: str) -> tuple[str, str | None]:
    """`▲ 12.0%` for counts, `▼ 2.1 个百分点` for shares, and its colour (green good news, red bad, None neither)."""
    change = h.change(other)
    if change is None:
        return "–", None
    if abs(change) < 0.0005:
        return "= 0", None
    size = f"{abs(change) * 100:.1f}"
    unit = (" 个百分点" if locale == "zh-CN" else " pts") if h.kind == "pct" else "%"
    text = f"{'▲' if change > 0 else '▼'} {size}{unit}"
    if h.better is None:
        return text, "1F4E79"
    return text, "006100" if (change > 0) == (h.better == "up") else "9C0006"


def _summary_sheet(ws: Worksheet, report: Report, names: list[str]) -> None:
    loc = report.locale
    _print_setup(ws, "1:1")
    ws.sheet_view.showGridLines = False
    ws.cell(1, 1, report.title(loc)).font = _TITLE_FONT
    facts: list[tuple[Label, Any, Kind]] = [
        (L["period"], _period_text(report), "text"),
        (L["kind"], L[report.kind](loc) if report.kind in ("monthly", "weekly") else report.kind, "text"),
        (L["generated"], report.generated_at, "datetime"),
    ]
    r = 3
    for label, value, kind in facts:
        ws.cell(r, 1, label(loc)).font = _BOLD
        _put(ws.cell(r, 2), value, kind, report).alignment = Alignment(horizontal="left")
        r += 1
    failed = [q for q in report.quality if not q.passed]
    ws.cell(r, 1, L["quality_status"](loc)).font = _BOLD
    status = ws.cell(r, 2)
    if failed:
        status.value = L["n_failed"](loc).format(n=len(failed))
        status.font, status.fill = _FAIL_FONT, _FAIL_FILL
    elif report.quality:
        status.value = L["all_passed"](loc).format(n=len(report.quality))
        status.font, status.fill = _PASS_FONT, _PASS_FILL
    else:
        status.value = L["no_checks"](loc)

    r += 2
    ws.cell(r, 1, L["headline"](loc)).font = _SUBTITLE_FONT
    r += 1
    compared = any(h.previous is not None or h.year_ago is not None for h in report.headline)
    extra = [L["previous"](loc), L["mom"](loc), L["year_ago"](loc), L["yoy"](loc)] if compared else []
    _header(ws, r, [L["figure"](loc), L["value"](loc), *extra])
    for h in report.headline:
        r += 1
        ws.cell(r, 1, h.label(loc))
        _put(ws.cell(r, 2), h.value, h.kind, report).alignment = Alignment(horizontal="right")
        if compared:
            for c, other in ((3, h.previous), (5, h.year_ago)):
                _put(ws.cell(r, c), other, h.kind, report).alignment = Alignment(horizontal="right")
                text, colour = change_text(h, other, loc)
                change = ws.cell(r, c + 1, text)
                change.alignment = Alignment(horizontal="right")
                if colour:
                    change.font = Font(color=colour)

    r += 2
    ws.cell(r, 1, L["quality"](loc)).font = _SUBTITLE_FONT
    r += 1
    _header(ws, r, [L["check"](loc), L["result"](loc), L["detail"](loc)])
    for q in report.quality:
        r += 1
        ws.cell(r, 1, q.name(loc))
        result = ws.cell(r, 2, (L["passed"] if q.passed else L["failed"])(loc))
        result.font, result.fill = (_PASS_FONT, _PASS_FILL) if q.passed else (_FAIL_FONT, _FAIL_FILL)
        result.alignment = Alignment(horizontal="center")
        _put(ws.cell(r, 3), q.detail, "text", report)
        if not q.passed:
            ws.cell(r, 1).font = _FAIL_FONT
            ws.cell(r, 3).font = Font(color="9C0006")

    r += 2
    ws.cell(r, 1, L["contents"](loc)).font = _SUBTITLE_FONT
    r += 1
    _header(ws, r, [L["sheet"](loc), L["rows"](loc)])
    for section, name in zip(report.sections, names, strict=True):
        r += 1
        link = ws.cell(r, 1, name)
        link.hyperlink = Hyperlink(ref=link.coordinate, location=f"{quote_sheetname(name)}!A1")
        link.font = _LINK_FONT
        if section.unavailable:
            ws.cell(r, 2, L["unavailable"](loc)).font = _FAIL_FONT
        else:
            _put(ws.cell(r, 2), len(section.rows), "int", report)

    texts_a = [report.title(loc)[:20]] + [lbl(loc) for lbl, _, _ in facts] + [h.label(loc) for h in report.headline]
    texts_a += [q.name(loc) for q in report.quality] + names
    ws.column_dimensions["A"].width = min(max(display_width(t) for t in texts_a) + 4, 50)
    texts_b = [_period_text(report), status.value or ""]
    texts_b += [format_value(h.value, h.kind, loc) for h in report.headline]
    ws.column_dimensions["B"].width = min(max(display_width(t) for t in texts_b) + 4, 60)
    ws.column_dimensions["C"].width = min(max([display_width(q.detail) for q in report.quality] + [20]) + 4, 80)


def _header(ws: Worksheet, row: int, labels: list[str]) -> None:
    for c, text in enumerate(labels, start=1):
        cell = ws.cell(row, c, text)
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER


# --- deterministic zip -----------------------------------------------------------------------------


def _zip_time(stamp: datetime) -> tuple[int, int, int, int, int, int]:
    t = stamp.replace(tzinfo=None)
    if t.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second - t.second % 2)


class _StampedZip(zipfile.ZipFile):
    """A ZipFile whose entries all carry one fixed time.

    zipfile stamps `writestr(name, …)` with the wall clock and `write(path)` with the file's
    mtime; openpyxl uses both (worksheets go through temporary files).
    """

    def __init__(self, file: IO[bytes], mode: Literal["w"], compression: int, *,
                 date_time: tuple[int, int, int, int, int, int]) -> None:
        super().__init__(file, mode, compression)
        self._date_time = date_time

    def writestr(self, zinfo_or_arcname: str | zipfile.ZipInfo, data: SizedBuffer | str,
                 compress_type: int | None = None, compresslevel: int | None = None) -> None:
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=self._date_time)
            info.compress_type = self.compression if compress_type is None else compress_type
            info.external_attr = 0o600 << 16
            zinfo_or_arcname = info
        else:
            zinfo_or_arcname.date_time = self._date_time
        super().writestr(zinfo_or_arcname, data, compress_type=compress_type, compresslevel=compresslevel)

    def write(self, filename: str | os.PathLike[str], arcname: str | os.PathLike[str] | None = None,
              compress_type: int | None = None, compresslevel: int | None = None) -> None:
        with open(filename, "rb") as f:
            data = f.read()
        self.writestr(os.fspath(arcname or filename), data, compress_type=compress_type, compresslevel=compresslevel)
