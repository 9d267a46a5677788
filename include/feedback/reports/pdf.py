"""A `Report` as a short PDF summary (A4, at most `max_pages` pages); the full tables are in the workbook.

The monthly report of `feedback.reports.sections` (it has the SLA, response-time, satisfaction
and high-frequency sections) is laid out as the document a general manager reads, in the seed
documents' order (domain.md §6), standing on its own in two to four full pages:

1. headline figures as tiles, each with its month-on-month and year-on-year change (▲/▼, in
   percentage points for shares; green where the change is good news, red where it is bad);
2. volume by type, channel and priority side by side, and the daily trend;
3. SLA attainment per priority × stage (a pivot: on-time share and on-time/due per cell);
4. average first-response and handling times per priority, and the speed on urgent items;
5. satisfaction (pie in semantic colours: satisfied green, dissatisfied red, unreachable grey)
   and its trend against the previous month and a year ago, then the top 3 causes;
6. overdue reasons and the first overdue items;
7. high-frequency problems (category + problem; those above the threshold marked);
8. repeat-complaint rate, praise, and open items (first rows and the total).

Columns holding codes (`key`, or `priority` beside `priority_label`) are never shown; every
time is in the report's business zone. The page limit is kept by showing fewer rows per list,
then dropping the daily trend chart, then the overdue-items list.

Any other report (the weekly one, or a caller's own) gets the generic summary. Contents, in order: title and period; the data-quality status (a failed check stated in a
red box with its detail, before any figure); the headline figures as tiles; two or three
charts (`reportlab.graphics`: a vertical bar chart, a line chart for a daily trend, a pie)
taken from the sections that have a `Chart`; the first rows of the "top" sections
(high-frequency problems, causes of dissatisfaction, overdue items), each cut with
"… N more rows (see the workbook)"; and a pointer to the workbook's sheets.

The page limit is kept by building with fewer rows per table, then fewer charts, then
fewer tables, until the document fits (a build takes about 0.1 s).

Chinese text uses an embedded TrueType CJK font (`fonts.cjk_font()`); the output is
deterministic (reportlab's invariant mode, creation date = `report.generated_at`).
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from feedback.reports.fonts import cjk_fonts
from feedback.reports.model import (
    UNAVAILABLE,
    Chart,
    Column,
    Headline,
    Kind,
    Label,
    Report,
    Section,
    is_code_column,
)
from feedback.reports.xlsx import SATISFACTION_RGB, format_value, outcome_of
from feedback.reports.xlsx import L as XL

log = logging.getLogger(__name__)

# Sections whose first rows the summary shows, in this order, when the caller names none.
DEFAULT_HIGHLIGHTS: tuple[str, ...] = ("top_issues", "dissatisfaction_causes", "overdue_items")
MAX_CHARTS = 3
MAX_CELL_CHARS = 60

PAGE_W, PAGE_H = A4
MARGIN = 16 * mm
FRAME_W = PAGE_W - 2 * MARGIN

# A TableStyle command: opcode, first cell, last cell, then the opcode's own arguments (reportlab types them Any).
_StyleCommand = tuple[Any, ...]
NAVY = colors.HexColor("#1F4E79")
GREY = colors.HexColor("#595959")
LIGHT = colors.HexColor("#F2F5F9")
RULE = colors.HexColor("#BFBFBF")
RED = colors.HexColor("#9C0006")
RED_BG = colors.HexColor("#FFC7CE")
GREEN = colors.HexColor("#006100")
GREEN_BG = colors.HexColor("#C6EFCE")
# Satisfaction outcomes in the colours a reader expects, wherever they are drawn (the workbook's, as #RRGGBB).
SATISFACTION_HEX = {k: f"#{v}" for k, v in SATISFACTION_RGB.items()}
SATISFACTION_COLOURS = {k: colors.HexColor(v) for k, v in SATISFACTION_HEX.items()}
PALETTE = [colors.HexColor(c) for c in ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B",
                                         "#E377C2", "#7F7F7F")]

T = {
    "period": Label("统计周期", "Period"),
    "generated": Label("生成于", "generated"),
    "quality_failed": Label("数据质量：{n} 项检查未通过，相关数字可能不完整，请谨慎解读。",
                            "Data quality: {n} check(s) FAILED. Affected figures may be incomplete."),
    "quality_passed": Label("数据质量：全部 {n} 项检查通过。", "Data quality: all {n} checks passed."),
    "quality_none": Label("数据质量：未运行检查。", "Data quality: no checks were run."),
    "failed": Label("未通过", "FAILED"),
    "passed_list": Label("已通过：{names}", "Passed: {names}"),
    "headline": Label("主要指标", "Headline figures"),
    "charts": Label("图表", "Charts"),
    "top": Label("重点问题", "Key issues"),
    "more_rows": Label("… 另有 {n} 行（见 Excel 工作簿）", "… {n} more rows (see the workbook)"),
    "no_rows": Label("本期无数据。", "No data this period."),
    "workbook": Label("完整数据表见 Excel 工作簿（每部分一张工作表）：{names}。",
                      "Full tables are in the Excel workbook, one sheet per section: {names}."),
    "page": Label("第 {n} 页", "Page {n}"),
    "sep": Label("、", ", "),
    "hours_unit": Label(" 小时", " h"),
    "mom": Label("环比", "vs last month"),
    "yoy": Label("同比", "vs a year ago"),
    "prev_value": Label("上月 {v}", "was {v}"),
    "ya_value": Label("去年 {v}", "was {v}"),
    "points": Label("{v} 个百分点", "{v} pts"),
    "no_compare": Label("无可比数据", "nothing to compare"),
    "volume": Label("反馈量", "Volume"),
    "total": Label("合计", "Total"),
    "in_all": Label("（共 {n} 项）", " ({n} in all)"),
    "sla_cell": Label("{share}（{on_time}/{due}）", "{share} ({on_time}/{due})"),
    "sla_key": Label("单元格：达标率（按时/到期）；低于 80% 标红，95% 及以上标绿。",
                     "Cells: on-time share (on time / due); below 80% in red, 95% and above in green."),
    "priority": Label("优先级", "Priority"),
}


@dataclass(frozen=True)
class _Plan:
    rows: int          # rows shown per highlight table
    charts: int        # charts shown
    tables: int        # highlight tables shown


def _plans(n_charts: int, n_tables: int) -> list[_Plan]:
    """Layouts from fullest to shortest: fewer rows per table, then fewer charts, then fewer tables."""
    plans = [_Plan(rows, n_charts, n_tables) for rows in (10, 8, 6, 5, 4, 3)]
    plans += [_Plan(3, c, n_tables) for c in range(n_charts - 1, -1, -1)]
    plans += [_Plan(3, 0, t) for t in range(n_tables - 1, -1, -1)]
    return plans


def render_pdf(report: Report, *, max_pages: int = 4, highlights: Sequence[str] | None = None) -> bytes:
    """The PDF's bytes: at most `max_pages` A4 pages; the same Report always gives the same bytes.

    `highlights`: keys of the sections whose first rows are shown (default: those of
    `DEFAULT_HIGHLIGHTS` the report has, else its first sections without a chart). The monthly
    document (`is_monthly_document`) has a fixed order of its own and shows every section it names.
    """
    if max_pages < 1:
        raise ValueError("max_pages must be at least 1")
    if is_monthly_document(report):
        pdf, pages = b"", 0
        for mplan in _monthly_plans():
            pdf, pages = _build_monthly(report, mplan)
            if pages <= max_pages:
                return pdf
        log.warning("report summary needs %d pages even at its shortest (limit %d)", pages, max_pages)
        return pdf
    keys = _highlight_keys(report, highlights)
    charts = _pick_charts(report)
    pdf, pages = b"", 0
    for plan in _plans(len(charts), len(keys)):
        pdf, pages = _build(report, plan, charts[: plan.charts], keys[: plan.tables])
        if pages <= max_pages:
            return pdf
    log.warning("report summary needs %d pages even at its shortest (limit %d)", pages, max_pages)
    return pdf


# --- choosing what to show -------------------------------------------------------------------------


def _highlight_keys(report: Report, highlights: Sequence[str] | None) -> list[str]:
    present = [s.key for s in report.sections]
    if highlights is not None:
        missing = [k for k in highlights if k not in present]
        if missing:
            raise ValueError(f"report has no section(s) {', '.join(missing)}")
        return list(highlights)
    keys = [k for k in DEFAULT_HIGHLIGHTS if k in present]
    return keys or [s.key for s in report.sections if s.chart is None][:3]


def _pick_charts(report: Report) -> list[Section]:
    """Up to MAX_CHARTS chart sections: the first of each kind (bar, line, pie), then others, in report order."""
    candidates = [s for s in report.sections if s.chart is not None and s.rows]
    chosen: list[Section] = []
    for kind in ("bar", "line", "pie"):
        first = next((s for s in candidates if s.chart is not None and s.chart.kind == kind), None)
        if first is not None:
            chosen.append(first)
    chosen += [s for s in candidates if s not in chosen][: max(0, MAX_CHARTS - len(chosen))]
    chosen = chosen[:MAX_CHARTS]
    return [s for s in candidates if s in chosen]


# --- building --------------------------------------------------------------------------------------


class _Styles:
    def __init__(self, locale: str):
        regular, bold = cjk_fonts()
        self.font, self.bold = regular, bold
        wrap = "CJK" if locale == "zh-CN" else None
        base = ParagraphStyle("base", fontName=regular, fontSize=9, leading=12.5, wordWrap=wrap)
        self.body = base
        self.title = ParagraphStyle("title", base, fontName=bold, fontSize=20, leading=26, textColor=NAVY)
        self.subtitle = ParagraphStyle("subtitle", base, fontSize=10, leading=14, textColor=GREY)
        self.h2 = ParagraphStyle("h2", base, fontName=bold, fontSize=13, leading=18, textColor=NAVY,
                                 spaceBefore=8, spaceAfter=4)
        self.h3 = ParagraphStyle("h3", base, fontName=bold, fontSize=10.5, leading=14, textColor=NAVY,
                                 spaceBefore=6, spaceAfter=3)
        self.note = ParagraphStyle("note", base, fontSize=8, leading=11, textColor=GREY)
        self.cell = ParagraphStyle("cell", base, fontSize=8, leading=10.5)
        self.cell_r = ParagraphStyle("cell_r", self.cell, alignment=TA_RIGHT)
        self.head = ParagraphStyle("head", self.cell, fontName=bold, textColor=colors.white)
        self.head_r = ParagraphStyle("head_r", self.head, alignment=TA_RIGHT)
        self.tile_value = ParagraphStyle("tile_value", base, fontName=bold, fontSize=16, leading=20,
                                         textColor=NAVY, alignment=TA_LEFT)
        self.tile_label = ParagraphStyle("tile_label", base, fontSize=8, leading=10.5, textColor=GREY)
        self.tile_compare = ParagraphStyle("tile_compare", base, fontSize=7.5, leading=10, textColor=GREY)
        self.alert = ParagraphStyle("alert", base, fontName=bold, fontSize=11, leading=15, textColor=RED)
        self.alert_body = ParagraphStyle("alert_body", base, textColor=RED)
        self.ok = ParagraphStyle("ok", base, fontName=bold, fontSize=10, leading=14, textColor=GREEN)


def _build(report: Report, plan: _Plan, charts: list[Section], highlights: list[str]) -> tuple[bytes, int]:
    loc = report.locale
    st = _Styles(loc)
    story: list[Any] = [
        Paragraph(escape(report.title(loc)), st.title),
        Paragraph(escape(_subtitle(report)), st.subtitle),
        Spacer(1, 4 * mm),
        _quality_box(report, st),
        Spacer(1, 2 * mm),
        Paragraph(escape(T["headline"](loc)), st.h2),
        _tiles(report, st),
    ]
    if charts:
        story += [Paragraph(escape(T["charts"](loc)), st.h2), *_chart_grid(charts, loc, st)]
    for i, key in enumerate(highlights):
        block = _highlight(report.section(key), plan.rows, loc, st)
        if i == 0:      # the heading stays with the first table
            block = [KeepTogether([Paragraph(escape(T["top"](loc)), st.h2), *block])]
        story += block
    names = T["sep"](loc).join(s.title(loc) for s in report.sections)
    story += [Spacer(1, 4 * mm), Paragraph(escape(T["workbook"](loc).format(names=names)), st.note)]
    return _document(report, story, st)


def _document(report: Report, story: list[Any], st: _Styles) -> tuple[bytes, int]:
    """The story as A4 pages with the footer, stamped with the report's time; bytes and page count."""
    loc = report.locale
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=MARGIN + 4 * mm,
        title=report.title(loc), author="feedback-pipeline", subject=_subtitle(report),
        creator="feedback-pipeline", invariant=1, lang=loc,
        initialFontName=st.font,     # else every page declares a (non-embedded) Helvetica
    )
    footer = f"{report.title(loc)} · {report.period_start:%Y-%m-%d} – {report.period_end:%Y-%m-%d}"

    def on_page(canv: Canvas, doc_: SimpleDocTemplate) -> None:
        canv.saveState()
        canv.setFont(st.font, 7.5)
        canv.setFillColor(GREY)
        canv.drawString(MARGIN, MARGIN - 2 * mm, footer)
        canv.drawRightString(PAGE_W - MARGIN, MARGIN - 2 * mm, T["page"](loc).format(n=doc_.page))
        canv.restoreState()

    stamp = _pdf_date(report.local(report.generated_at))

    class _StampedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: stamp)

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page, canvasmaker=_StampedCanvas)
    return buf.getvalue(), doc.page


def _pdf_date(stamp: datetime) -> str:
    """PDF date string (D:YYYYMMDDHHmmSS+HH'mm') for the report's stamp, in its own offset."""
    text = stamp.strftime("D:%Y%m%d%H%M%S")
    offset = stamp.utcoffset()
    if offset is None:
        return text
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


def _subtitle(report: Report) -> str:
    loc = report.locale
    period = f"{T['period'](loc)}：" if loc == "zh-CN" else f"{T['period'](loc)}: "
    period += f"{report.period_start:%Y-%m-%d} {XL['to'](loc)} {report.period_end:%Y-%m-%d}"
    kind = XL[report.kind](loc) if report.kind in ("monthly", "weekly") else report.kind
    return f"{period} · {kind} · {T['generated'](loc)} {report.local(report.generated_at):%Y-%m-%d %H:%M}"


def _quality_box(report: Report, st: _Styles) -> Table:
    loc = report.locale
    failed = [q for q in report.quality if not q.passed]
    missing = report.unavailable
    sep = "：" if loc == "zh-CN" else ": "
    if failed or missing:
        lines: list[Any] = []
        if failed:
            lines.append(Paragraph(escape(T["quality_failed"](loc).format(n=len(failed))), st.alert))
        for q in failed:
            detail = f"{sep}{q.detail}" if q.detail else ""
            lines.append(Paragraph(f"<b>{escape(T['failed'](loc))}</b> · {escape(q.name(loc))}{escape(detail)}",
                                   st.alert_body))
        for s in missing:   # every held section by name, whether or not the summary shows it
            lines.append(Paragraph(f"<b>{escape(s.title(loc))}</b>{escape(sep)}{escape(UNAVAILABLE(loc))}",
                                   st.alert_body))
        passed = [q.name(loc) for q in report.quality if q.passed]
        if passed:
            lines.append(Paragraph(escape(T["passed_list"](loc).format(names=T["sep"](loc).join(passed))), st.note))
        fg, bg = RED, RED_BG
    else:
        text = (T["quality_passed"](loc).format(n=len(report.quality)) if report.quality
                else T["quality_none"](loc))
        lines = [Paragraph(escape(text), st.ok if report.quality else st.body)]
        fg, bg = GREEN, GREEN_BG
    box = Table([[lines]], colWidths=[FRAME_W])
    box.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), st.font), ("BACKGROUND", (0, 0), (-1, -1), bg),
        ("BOX", (0, 0), (-1, -1), 1.2 if failed or missing else 0.6, fg),
        ("LEFTPADDING", (0, 0), (-1, -1), 8), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    return box


def headline_text(value: Any, kind: Kind, locale: str) -> str:
    """A headline figure as the summary shows it (hours carry their unit)."""
    text = format_value(value, kind, locale)
    return text + T["hours_unit"](locale) if kind == "hours" and text else text or "–"


def _tiles(report: Report, st: _Styles) -> Table | Spacer:
    loc = report.locale
    if not report.headline:
        return Spacer(1, 1)
    per_row = 4
    cells: list[list[Paragraph] | str] = [[Paragraph(escape(headline_text(h.value, h.kind, loc)), st.tile_value),
              Paragraph(escape(h.label(loc)), st.tile_label)] for h in report.headline]
    cells += [""] * (-len(cells) % per_row)
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    gap = 3 * mm
    table = Table(rows, colWidths=[FRAME_W / per_row] * per_row)
    style: list[_StyleCommand] = [("FONTNAME", (0, 0), (-1, -1), st.font), ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 7),
             ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]
    for i in range(len(report.headline)):
        r, c = divmod(i, per_row)
        style += [("BACKGROUND", (c, r), (c, r), LIGHT), ("LINEBEFORE", (c, r), (c, r), 2.5, NAVY),
                  ("LINEBELOW", (c, r), (c, r), gap, colors.white)]
    table.setStyle(TableStyle(style))
    return table


# --- charts ----------------------------------------------------------------------------------------


def _num(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return 0.0
    if isinstance(value, int | float | Decimal) and math.isfinite(value):
        return float(value)
    return 0.0


def _category(value: Any, kind: Kind, loc: str, limit: int = 10) -> str:
    value = value(loc) if isinstance(value, Label) else value
    if isinstance(value, datetime | date) and kind in ("date", "datetime"):
        return f"{value:%m-%d}"
    text = format_value(value, kind, loc)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chart_grid(charts: list[Section], loc: str, st: _Styles) -> list[Any]:
    """Line charts full width; bar and pie charts two to a row."""
    half = FRAME_W / 2
    rows: list[list[Any]] = []
    pending: list[Any] = []
    for section in charts:
        if _spec(section).kind == "line":
            rows.append([_line(section, loc, st, FRAME_W)])
        else:
            pending.append(_bar(section, loc, st, half) if _spec(section).kind == "bar" else _pie(section, loc, st, half))
            if len(pending) == 2:
                rows.append(pending)
                pending = []
    if pending:
        rows.append([*pending, Spacer(1, 1)])
    out = []
    for row in rows:
        widths = [FRAME_W] if len(row) == 1 else [half, half]
        t = Table([row], colWidths=widths)
        t.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), st.font), ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                               ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        out.append(KeepTogether([t]))
    return out


def _spec(section: Section) -> Chart:
    """The section's chart: only sections with one reach the drawing code, so a missing one is a bug."""
    if section.chart is None:
        raise ValueError(f"section {section.key!r} has no chart to draw")
    return section.chart


def _columns(section: Section) -> tuple[Column, list[Column]]:
    by_key = {c.key: c for c in section.columns}
    spec = _spec(section)
    missing = [k for k in (spec.category, *spec.values) if k not in by_key]
    if missing:
        raise ValueError(f"section {section.key!r}: chart refers to missing column(s) {', '.join(missing)}")
    return by_key[spec.category], [by_key[k] for k in spec.values]


def _titled(width: float, height: float, title: str, st: _Styles) -> Drawing:
    d = Drawing(width, height)
    # the renderer's starting font (else it declares Helvetica); reportlab's stubs leave it out
    d.initialFontName = st.font  # type: ignore[attr-defined]
    d.add(String(4, height - 12, title, fontName=st.bold, fontSize=10, fillColor=NAVY))
    return d


def _legend(d: Drawing, names: list[str], st: _Styles, x: float, y: float, columns: int = 4) -> None:
    legend = Legend()
    legend.x, legend.y = x, y  # type: ignore[assignment]  # stubs say int; reportlab takes float points
    legend.fontName, legend.fontSize = st.font, 7.5
    legend.alignment = "right"
    legend.columnMaximum = 1 if columns > 1 else len(names)
    legend.dx, legend.dy = 7, 7
    legend.deltax = 70
    legend.boxAnchor = "sw"
    legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], n) for i, n in enumerate(names)]
    d.add(legend)


def _bar(section: Section, loc: str, st: _Styles, width: float) -> Drawing:
    cat, vals = _columns(section)
    height = 175
    d = _titled(width, height, _spec(section).title(loc), st)
    chart = VerticalBarChart()
    chart.x, chart.y = 38, 30 + (12 if len(vals) > 1 else 0)
    chart.width, chart.height = width - 52, height - chart.y - 30  # type: ignore[assignment]  # stubs say int; reportlab takes float points
    chart.data = [[_num(r.get(v.key)) for r in section.rows] for v in vals]
    chart.categoryAxis.categoryNames = [_category(r.get(cat.key), cat.kind, loc, 8) for r in section.rows]
    chart.categoryAxis.labels.fontName = st.font
    chart.categoryAxis.labels.fontSize = 7.5
    chart.categoryAxis.labels.boxAnchor = "n"
    if len(section.rows) > 6:
        chart.categoryAxis.labels.angle = 30
        chart.categoryAxis.labels.boxAnchor = "ne"
    _value_axis(chart, st)
    if vals[0].kind == "pct":
        chart.valueAxis.labelTextFormat = lambda v: f"{v * 100:.0f}%"
    chart.barSpacing = 2
    chart.groupSpacing = 8
    for i, v in enumerate(vals):
        chart.bars[i].fillColor = (SATISFACTION_COLOURS["satisfied"] if _is_satisfaction_share(section, v.key)
                                   else PALETTE[i % len(PALETTE)])
        chart.bars[i].strokeColor = None
    if len(vals) == 1 and _spec(section).kind == "bar":
        fills = slice_colours(section, loc)      # a bar per outcome: each in its outcome's colour
        if any(f in SATISFACTION_COLOURS.values() for f in fills):
            for j, fill in enumerate(fills):
                chart.bars[(0, j)].fillColor = fill
    chart.barLabelFormat = lambda v, kind=vals[0].kind: format_value(v, kind, loc)
    chart.barLabels.fontName = st.font
    chart.barLabels.fontSize = 7
    chart.barLabels.nudge = 6
    d.add(chart)
    if len(vals) > 1:
        _legend(d, [v.label(loc) for v in vals], st, 38, 2)
    return d


def _value_axis(chart: VerticalBarChart | HorizontalLineChart, st: _Styles) -> None:
    """The value axis every chart shares: from zero, light grid lines, the report's font."""
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = st.font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = RULE
    chart.valueAxis.gridStrokeWidth = 0.3


def _line(section: Section, loc: str, st: _Styles, width: float) -> Drawing:
    cat, vals = _columns(section)
    height = 170
    d = _titled(width, height, _spec(section).title(loc), st)
    chart = HorizontalLineChart()
    chart.x, chart.y = 40, 42
    chart.width, chart.height = width - 56, height - chart.y - 26  # type: ignore[assignment]  # stubs say int; reportlab takes float points
    chart.data = [[_num(r.get(v.key)) for r in section.rows] for v in vals]
    n = len(section.rows)
    step = max(1, -(-n // 12))     # at most ~12 labels along the axis
    chart.categoryAxis.categoryNames = [
        _category(r.get(cat.key), cat.kind, loc, 8) if i % step == 0 or i == n - 1 else ""
        for i, r in enumerate(section.rows)
    ]
    chart.categoryAxis.labels.fontName = st.font
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.boxAnchor = "n"
    _value_axis(chart, st)
    chart.joinedLines = 1
    for i in range(len(vals)):
        chart.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
        chart.lines[i].strokeWidth = 1.5
    d.add(chart)
    _legend(d, [v.label(loc) for v in vals], st, 40, 4)
    return d


def _pie(section: Section, loc: str, st: _Styles, width: float) -> Drawing:
    cat, vals = _columns(section)
    height = 175
    d = _titled(width, height, _spec(section).title(loc), st)
    data = [_num(r.get(vals[0].key)) for r in section.rows]
    total = sum(data)
    if total <= 0:
        d.add(String(width / 2, height / 2, T["no_rows"](loc), fontName=st.font, fontSize=9,
                     fillColor=GREY, textAnchor="middle"))
        return d
    pie = Pie()
    size = min(height - 50, width / 2 - 20)
    pie.x, pie.y = 18, (height - 16 - size) / 2  # type: ignore[assignment]  # stubs say int; reportlab takes float points
    pie.width = pie.height = size  # type: ignore[assignment]  # stubs say int; reportlab takes float points
    pie.data = data
    pie.labels = [f"{v / total * 100:.1f}%" if v / total >= 0.04 else "" for v in data]
    pie.simpleLabels = 1
    pie.slices.fontName = st.font
    pie.slices.fontSize = 7
    pie.slices.strokeColor = colors.white
    pie.slices.strokeWidth = 0.8
    pie.slices.labelRadius = 0.7
    pie.slices.fontColor = colors.white
    pie.startAngle = 90
    pie.direction = "clockwise"
    fills = slice_colours(section, loc)
    for i in range(len(data)):
        pie.slices[i].fillColor = fills[i]
    d.add(pie)
    names = [f"{_category(r.get(cat.key), cat.kind, loc, 12)}  {format_value(v, vals[0].kind, loc)}"
             for r, v in zip(section.rows, data, strict=True)]
    legend = Legend()
    legend.x, legend.y = pie.x + size + 18, pie.y + size - 4  # type: ignore[assignment]  # stubs say int; reportlab takes float points
    legend.fontName, legend.fontSize = st.font, 8
    legend.alignment = "right"
    legend.boxAnchor = "nw"
    legend.columnMaximum = 12
    legend.dx, legend.dy, legend.deltay = 8, 8, 13
    legend.colorNamePairs = list(zip(fills, names, strict=True))
    d.add(legend)
    return d


def slice_colours(section: Section, locale: str) -> list[colors.Color]:
    """One fill per row: semantic for satisfaction outcomes (green, amber, red, grey), else the palette."""
    outcomes = [outcome_of(r, _spec(section).category, locale) for r in section.rows]
    semantic = sum(o is not None for o in outcomes) >= 2
    return [SATISFACTION_COLOURS[o] if semantic and o is not None else PALETTE[i % len(PALETTE)]
            for i, o in enumerate(outcomes)]


def _is_satisfaction_share(section: Section, value_key: str) -> bool:
    return section.key in ("satisfaction_trend", "satisfaction_tiers") or value_key in ("satisfied_share", "satisfied")


# --- highlight tables ------------------------------------------------------------------------------

_NUMERIC = ("int", "number", "pct", "hours")


def _cell_text(value: Any, kind: Kind, loc: str, report: Report | None = None) -> str:
    if isinstance(value, Label):
        value = value(loc)
    if isinstance(value, datetime) and value.tzinfo is not None and report is not None:
        value = report.local(value).replace(tzinfo=None)     # business time, never UTC
    text = " ".join(format_value(value, kind, loc).split())
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def shown_columns(section: Section) -> tuple[Column, ...]:
    """The columns people read: codes (`key`, `priority` beside `priority_label` …) left out."""
    return tuple(c for c in section.columns if not is_code_column(section, c))


def _widths(columns: Sequence[Column], texts: list[list[str]], loc: str, st: _Styles,
            frame: float = FRAME_W) -> list[float]:
    """Column widths that fit the frame: natural widths, text columns squeezed first (they wrap)."""
    pad = 10
    natural = []
    for i, column in enumerate(columns):
        body = max([stringWidth(row[i], st.font, 8) for row in texts] + [0])
        head = min(stringWidth(column.label(loc), st.bold, 8), 70)   # long headers wrap
        natural.append(max(body, head, 24) + pad)
    excess = sum(natural) - frame
    if excess > 0:
        wide = [i for i, c in enumerate(columns) if c.kind == "text" and natural[i] > 70]
        room = sum(natural[i] - 70 for i in wide)
        if room > 0:
            cut = min(excess, room)
            for i in wide:
                natural[i] -= cut * (natural[i] - 70) / room
            excess -= cut
    if excess > 0:
        scale = frame / sum(natural)
        natural = [w * scale for w in natural]
    return natural


def _highlight(section: Section, limit: int, loc: str, st: _Styles, report: Report | None = None,
               heading_text: str | None = None) -> list[Any]:
    heading = Paragraph(escape(heading_text or section.title(loc)), st.h3)
    if section.unavailable:
        return [KeepTogether([heading, Paragraph(escape(UNAVAILABLE(loc)), st.alert_body)])]
    columns = shown_columns(section)
    if not section.rows or not columns:
        return [KeepTogether([heading, Paragraph(escape(T["no_rows"](loc)), st.note)])]
    shown = section.rows[:limit]
    table = _table(columns, shown, loc, st, report)
    if any(c.key == "flagged" and c.kind == "bool" for c in columns):    # problems above the threshold stand out
        table.setStyle(TableStyle([("BACKGROUND", (0, i), (-1, i), RED_BG) for i, r in enumerate(shown, 1)
                                   if r.get("flagged")]))
    out: list[Any] = [heading, table]
    rest = max(len(section.rows), section.total_rows or 0) - len(shown)
    if rest > 0:
        out.append(Paragraph(escape(T["more_rows"](loc).format(n=f"{rest:,}")), st.note))
    if section.note is not None:
        out.append(Paragraph(escape(section.note(loc)), st.note))
    return [KeepTogether(out)]


def _table(columns: Sequence[Column], rows: Sequence[dict[str, Any]], loc: str, st: _Styles,
           report: Report | None = None, frame: float = FRAME_W,
           cells: dict[str, Any] | None = None) -> Table:
    """A header row and `rows` in the summary's table style; `cells` overrides a column's text (key -> fn(row))."""
    cells = cells or {}
    texts = [[cells[c.key](r) if c.key in cells else _cell_text(r.get(c.key), c.kind, loc, report)
              for c in columns] for r in rows]
    widths = _widths(columns, [[re.sub(r"<[^>]+>", "", t) for t in row] for row in texts], loc, st, frame)
    header = [Paragraph(escape(c.label(loc)), st.head_r if c.kind in _NUMERIC else st.head) for c in columns]
    body = [[Paragraph(t if c.key in cells else escape(t), st.cell_r if c.kind in _NUMERIC else st.cell)
             for t, c in zip(row, columns, strict=True)] for row in texts]
    table = Table([header, *body], colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), st.font), ("BACKGROUND", (0, 0), (-1, 0), NAVY),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, LIGHT]),
        ("LINEBELOW", (0, -1), (-1, -1), 0.5, RULE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ]))
    return table


# --- the monthly document --------------------------------------------------------------------------

# Sections that make a report the monthly document of feedback.reports.sections.
MONTHLY_CORE: tuple[str, ...] = ("sla_attainment", "response_times", "satisfaction", "high_frequency")
STAGE_ORDER: tuple[str, ...] = ("first_response", "engaged", "solution", "resolution", "closed")


def is_monthly_document(report: Report) -> bool:
    """A monthly report with the sections of `sections.monthly_sections` (else the generic summary)."""
    keys = {s.key for s in report.sections}
    return report.kind == "monthly" and all(k in keys for k in MONTHLY_CORE)


@dataclass(frozen=True)
class _MonthlyPlan:
    rows: int            # rows per list (problems, overdue items, open items, praise …)
    trend_chart: bool    # the daily trend line chart
    overdue_list: bool   # the first overdue items under their reasons


def _monthly_plans() -> list[_MonthlyPlan]:
    plans = [_MonthlyPlan(rows, True, True) for rows in (10, 8, 6, 5, 4, 3)]
    return plans + [_MonthlyPlan(3, False, True), _MonthlyPlan(3, False, False), _MonthlyPlan(2, False, False)]


def change_text(h: Headline, other: Any, loc: str) -> tuple[str, colors.Color]:
    """`▲ 12.0%` (counts) or `▼ 2.1 个百分点` (shares) and its colour: green good news, red bad, grey neither."""
    change = h.change(other)
    if change is None:
        return "–", GREY
    if abs(change) < 0.0005:
        return "= 0", GREY
    arrow = "▲" if change > 0 else "▼"
    size = f"{abs(change) * 100:.1f}"
    text = f"{arrow} " + (T["points"](loc).format(v=size) if h.kind == "pct" else f"{size}%")
    if h.better is None:
        return text, NAVY
    good = (change > 0) == (h.better == "up")
    return text, GREEN if good else RED


def _tile_compare(h: Headline, loc: str) -> str:
    parts = []
    for label, other, was in ((T["mom"], h.previous, T["prev_value"]), (T["yoy"], h.year_ago, T["ya_value"])):
        text, colour = change_text(h, other, loc)
        before = headline_text(other, h.kind, loc) if other is not None else ""
        tail = f" <font color='#595959'>({escape(was(loc).format(v=before))})</font>" if before else ""
        parts.append(f"{escape(label(loc))} <font color='#{colour.hexval()[2:]}'>{escape(text)}</font>{tail}")
    return "<br/>".join(parts)


def _compare_tiles(report: Report, st: _Styles) -> Table | Spacer:
    loc = report.locale
    if not report.headline:
        return Spacer(1, 1)
    per_row = 3
    cells: list[Any] = [[Paragraph(escape(headline_text(h.value, h.kind, loc)), st.tile_value),
                         Paragraph(escape(h.label(loc)), st.tile_label),
                         Paragraph(_tile_compare(h, loc), st.tile_compare)] for h in report.headline]
    cells += [""] * (-len(cells) % per_row)
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    table = Table(rows, colWidths=[FRAME_W / per_row] * per_row)
    style: list[_StyleCommand] = [("FONTNAME", (0, 0), (-1, -1), st.font), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("LEFTPADDING", (0, 0), (-1, -1), 7), ("TOPPADDING", (0, 0), (-1, -1), 5),
             ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]
    for i in range(len(report.headline)):
        r, c = divmod(i, per_row)
        style += [("BACKGROUND", (c, r), (c, r), LIGHT), ("LINEBEFORE", (c, r), (c, r), 2.5, NAVY),
                  ("LINEBELOW", (c, r), (c, r), 3 * mm, colors.white)]
    table.setStyle(TableStyle(style))
    return table


def _heading(number: int, text: str, st: _Styles) -> Paragraph:
    return Paragraph(f"{number}. {escape(text)}", st.h2)


def _body(section: Section | None, loc: str, st: _Styles, body: Callable[[], list[Any]],
          heading: Paragraph | None = None) -> list[Any]:
    """A section's body (built only when it has rows) with its note, kept together; or the one line
    saying it is unavailable or empty."""
    if section is None:
        return []
    top = [heading] if heading is not None else []
    if section.unavailable:
        return [KeepTogether([*top, Paragraph(escape(UNAVAILABLE(loc)), st.alert_body)])]
    if not section.rows:
        return [KeepTogether([*top, Paragraph(escape(T["no_rows"](loc)), st.note)])]
    note = [Paragraph(escape(section.note(loc)), st.note)] if section.note is not None else []
    return [KeepTogether([*top, *body(), *note])]


def _volume_row(report: Report, st: _Styles) -> list[Any]:
    """Volume by type, channel and priority: three small tables side by side."""
    loc = report.locale
    keys = [k for k in ("volume_by_type", "volume_by_channel", "volume_by_priority")
            if any(s.key == k for s in report.sections)]
    if not keys:
        return []
    width = FRAME_W / len(keys)
    cells: list[list[Flowable]] = []
    for key in keys:
        section = report.section(key)
        title = Paragraph(escape(section.title(loc)), st.h3)
        if section.unavailable:
            cells.append([title, Paragraph(escape(UNAVAILABLE(loc)), st.alert_body)])
            continue
        rows = [r for r in section.rows if r.get("items")] or list(section.rows)
        cells.append([title, _table(shown_columns(section), rows, loc, st, report, frame=width - 6)])
    grid = Table([cells], colWidths=[width] * len(keys))
    grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 6), ("FONTNAME", (0, 0), (-1, -1), st.font)]))
    return [grid]


def _sla_pivot(section: Section, report: Report, st: _Styles) -> list[Any]:
    """SLA attainment per priority (rows) × stage (columns), with a total column and row."""
    loc = report.locale
    stages = sorted({r["stage"] for r in section.rows},
                    key=lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER), s))
    stage_names = {r["stage"]: r.get("stage_label") or r["stage"] for r in section.rows}
    priorities: list[str] = []
    for r in section.rows:
        if r["priority"] not in priorities:
            priorities.append(r["priority"])
    names = {r["priority"]: r.get("priority_label") or r["priority"] for r in section.rows}
    cell = {(r["priority"], r["stage"]): (r["on_time"], r["due"]) for r in section.rows}

    def text(on_time: int, due: int) -> Paragraph:
        if not due:
            return Paragraph("–", st.cell_r)
        share = on_time / due
        colour = RED if share < 0.8 else GREEN if share >= 0.95 else colors.black
        body = T["sla_cell"](loc).format(share=f"{share * 100:.1f}%", on_time=f"{on_time:,}", due=f"{due:,}")
        return Paragraph(f"<font color='#{colour.hexval()[2:]}'>{escape(body)}</font>", st.cell_r)

    def name(value: Any) -> str:
        return escape(value(loc) if isinstance(value, Label) else str(value))

    header = [Paragraph(escape(T["priority"](loc)), st.head)]
    header += [Paragraph(name(stage_names[s]), st.head_r) for s in stages]
    header += [Paragraph(escape(T["total"](loc)), st.head_r)]
    body = []
    for prio in priorities:
        row = [Paragraph(name(names[prio]), st.cell)]
        row += [text(*cell.get((prio, s), (0, 0))) for s in stages]
        row += [text(sum(cell.get((prio, s), (0, 0))[0] for s in stages),
                     sum(cell.get((prio, s), (0, 0))[1] for s in stages))]
        body.append(row)
    totals = [Paragraph(f"<b>{escape(T['total'](loc))}</b>", st.cell)]
    totals += [text(sum(cell.get((p, s), (0, 0))[0] for p in priorities),
                    sum(cell.get((p, s), (0, 0))[1] for p in priorities)) for s in stages]
    totals += [text(sum(v[0] for v in cell.values()), sum(v[1] for v in cell.values()))]
    body.append(totals)
    first = 60.0
    other = (FRAME_W - first) / (len(stages) + 1)
    table = Table([header, *body], colWidths=[first] + [other] * (len(stages) + 1), repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), st.font), ("BACKGROUND", (0, 0), (-1, 0), NAVY),
        ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, LIGHT]),
        ("LINEABOVE", (0, -1), (-1, -1), 0.6, NAVY), ("LINEBELOW", (0, -1), (-1, -1), 0.5, RULE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ]))
    return [table, Paragraph(escape(T["sla_key"](loc)), st.note)]


def _trend_cells(report: Report) -> dict[str, Any]:
    """The satisfaction trend's change column as arrows (percentage points), coloured like the tiles."""
    loc = report.locale
    share = Headline(Label("", ""), None, "pct", better="up")

    def change(row: dict[str, Any]) -> str:
        if row.get("change") is None:
            return "–" if row.get("key") != "current" else ""
        probe = Headline(share.label, row["change"], "pct", better="up")
        text, colour = change_text(probe, 0.0, loc)
        return f"<font color='#{colour.hexval()[2:]}'>{escape(text)}</font>"

    return {"change": change}


def _side_by_side(left: Flowable, right: Flowable, st: _Styles) -> Table:
    half = FRAME_W / 2
    t = Table([[left, right]], colWidths=[half, half])
    t.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), st.font), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                           ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return t


def _section_or_none(report: Report, key: str) -> Section | None:
    return next((s for s in report.sections if s.key == key), None)


def _section_heading(number: int | None, section: Section, loc: str, st: _Styles, *, total: bool = False) -> Paragraph:
    """The section's title as a numbered heading (or a sub-heading), with its total for a list."""
    text = section.title(loc)
    if total and not section.unavailable:
        count = section.total_rows if section.total_rows is not None else len(section.rows)
        text += T["in_all"](loc).format(n=f"{count:,}")
    return _heading(number, text, st) if number is not None else Paragraph(escape(text), st.h3)


def _first_rows(section: Section, rows: int, report: Report, st: _Styles) -> list[Any]:
    """A list's first `rows` rows (flagged rows marked) and "… N more rows"."""
    loc = report.locale
    shown = section.rows[:rows]
    table = _table(shown_columns(section), shown, loc, st, report)
    if any(c.key == "flagged" and c.kind == "bool" for c in section.columns):   # above the threshold: marked
        table.setStyle(TableStyle([("BACKGROUND", (0, i), (-1, i), RED_BG) for i, r in enumerate(shown, 1)
                                   if r.get("flagged")]))
    out: list[Any] = [table]
    rest = max(len(section.rows), section.total_rows or 0) - len(shown)
    if rest > 0:
        out.append(Paragraph(escape(T["more_rows"](loc).format(n=f"{rest:,}")), st.note))
    return out


def _build_monthly(report: Report, plan: _MonthlyPlan) -> tuple[bytes, int]:
    loc = report.locale
    st = _Styles(loc)

    def get(key: str) -> Section | None:
        return next((s for s in report.sections if s.key == key), None)

    def table(section: Section, rows: Sequence[dict[str, Any]] | None = None, **kw: Any) -> Callable[[], list[Any]]:
        return lambda: [_table(shown_columns(section), section.rows if rows is None else rows, loc, st, report, **kw)]

    story: list[Any] = [
        Paragraph(escape(report.title(loc)), st.title),
        Paragraph(escape(_subtitle(report)), st.subtitle),
        Spacer(1, 3 * mm),
        _quality_box(report, st),
        Spacer(1, 1 * mm),
        _heading(1, T["headline"](loc), st),
        _compare_tiles(report, st),
        # 2. volume by type, channel and priority; the daily trend
        _heading(2, T["volume"](loc), st),
        *_volume_row(report, st),
    ]
    trend = get("daily_trend")
    if plan.trend_chart and trend is not None and not trend.unavailable and trend.rows and trend.chart is not None:
        story.append(KeepTogether([_line(trend, loc, st, FRAME_W)]))
    # 3. SLA attainment per priority x stage
    if (sla := get("sla_attainment")) is not None:
        story += _body(sla, loc, st, lambda: _sla_pivot(sla, report, st), _section_heading(3, sla, loc, st))
    # 4. first-response and handling times; urgent items
    if (times := get("response_times")) is not None:
        story += _body(times, loc, st, table(times), _section_heading(4, times, loc, st))
    if (urgent := get("urgent_speed")) is not None:
        story += _body(urgent, loc, st, table(urgent), _section_heading(None, urgent, loc, st))
    # 5. satisfaction and its trend (charts side by side), then the top causes of dissatisfaction
    satisfaction, sat_trend = get("satisfaction"), get("satisfaction_trend")
    if satisfaction is not None:
        def charts() -> list[Any]:
            drawn = [(_pie if s.chart.kind == "pie" else _bar)(s, loc, st, FRAME_W / 2)
                     for s in (satisfaction, sat_trend)
                     if s is not None and not s.unavailable and s.rows and s.chart is not None]
            return [_side_by_side(drawn[0], drawn[1] if len(drawn) > 1 else Spacer(1, 1), st)] if drawn else []

        story += _body(satisfaction, loc, st, charts, _section_heading(5, satisfaction, loc, st))
    if sat_trend is not None:
        story += _body(sat_trend, loc, st, table(sat_trend, cells=_trend_cells(report)),
                       _section_heading(None, sat_trend, loc, st))
    if (causes := get("dissatisfaction_causes")) is not None:
        story += _body(causes, loc, st, table(causes), _section_heading(None, causes, loc, st))
    # 6. overdue reasons, and the first overdue items
    if (reasons := get("overdue_reasons")) is not None:
        story += _body(reasons, loc, st, table(reasons, reasons.rows[: max(plan.rows, 6)]),
                       _section_heading(6, reasons, loc, st))
    if plan.overdue_list and (overdue := get("overdue_items")) is not None:
        story += _body(overdue, loc, st, lambda: _first_rows(overdue, plan.rows, report, st),
                       _section_heading(None, overdue, loc, st, total=True))
    # 7. high-frequency problems (category + problem), those above the threshold marked
    if (frequent := get("high_frequency")) is not None:
        story += _body(frequent, loc, st, lambda: _first_rows(frequent, plan.rows, report, st),
                       _section_heading(7, frequent, loc, st))
    # 8. repeat complaints; 9. praise; 10. open items (first rows and the total)
    number = 8
    for key, listed in (("repeat_complaints", False), ("praise", True), ("open_ledger", True)):
        if (section := get(key)) is None:
            continue
        body = partial(_first_rows, section, plan.rows, report, st) if listed else table(section)
        story += _body(section, loc, st, body, _section_heading(number, section, loc, st, total=listed))
        number += 1
    names = T["sep"](loc).join(s.title(loc) for s in report.sections)
    story += [Spacer(1, 3 * mm), Paragraph(escape(T["workbook"](loc).format(names=names)), st.note)]
    return _document(report, story, st)
