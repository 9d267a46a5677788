"""The monthly PDF and workbook as their readers get them, rendered from a register with sample data.

The register holds three months of sample feedback classified by the shipped taxonomy
(`report_register.fill`); `produce(..., dry_run_to=…)` renders October 2026 the way the DAG
does, in Chinese and in English. The PDF is read back with poppler's pdftotext and the
reportlab drawing it was made from; the workbook with openpyxl and its chart XML.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import _admin_engine, _drop
from report_register import fill

from feedback.reports import pdf as pdf_mod
from feedback.reports.model import Report
from feedback.reports.pdf import SATISFACTION_HEX, render_pdf
from feedback.reports.produce import period_for_run, produce
from feedback.reports.sections import TITLES, Period, monthly_sections

AT = datetime(2026, 11, 1, 6, 5, tzinfo=UTC)          # 14:05 in Shanghai
# What the monthly PDF must contain, in this order (domain.md §6), by section key.
PDF_SECTIONS = ("sla_attainment", "response_times", "urgent_speed", "satisfaction", "satisfaction_trend",
                "dissatisfaction_causes", "overdue_reasons", "overdue_items", "high_frequency", "repeat_complaints",
                "praise", "open_ledger", "volume_by_type", "volume_by_channel", "volume_by_priority")
ORDERED = ("volume_by_type", "sla_attainment", "response_times", "satisfaction", "dissatisfaction_causes",
           "overdue_reasons", "high_frequency", "repeat_complaints", "praise", "open_ledger")
NUMBERED = ("sla_attainment", "response_times", "satisfaction", "overdue_reasons", "high_frequency",
            "repeat_complaints", "praise", "open_ledger")
CODES = ("function_problem", "service_complaint", "customer_service", "cs_management", "product_engineering",
         "first_response", "waiting_customer", "spare_parts", "in_progress", "a.fp.", "a.sc.", "Label(")
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
UTC_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture(scope="module")
def sample_db(server_url, template_db):
    """One register with the sample months for the whole module (filling it takes a few seconds)."""
    admin = _admin_engine(server_url)
    name = f"feedback_doc_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    engine = sa.create_engine(server_url.set(database=name), poolclass=sa.pool.NullPool)
    fill(engine)
    yield engine
    engine.dispose()
    _drop(admin, name)
    admin.dispose()


@pytest.fixture(scope="module")
def rendered(sample_db, tmp_path_factory):
    """locale -> folder with the PDF and the workbook of October 2026."""
    out = {}
    for locale in ("zh-CN", "en"):
        folder = tmp_path_factory.mktemp(locale)
        produce(sample_db, "monthly", period_for_run("monthly", None, None, "2026-10", "Asia/Shanghai"),
                generated_at=AT, locale=locale, dry_run_to=folder)
        out[locale] = folder
    return out


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} (poppler-utils) is required for the document tests")
    return path


def _text(pdf: Path) -> str:
    return subprocess.run([_tool("pdftotext"), "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _pdf(folder: Path) -> Path:
    return folder / "feedback-report-2026-10.pdf"


def _xlsx(folder: Path) -> Path:
    return folder / "feedback-report-2026-10.xlsx"


def _heading_problems(text: str, locale: str) -> list[str]:
    """Sections whose heading is missing from the PDF's text, or out of the seed documents' order."""
    lines = [line.strip() for line in text.splitlines()]

    def heading_at(key: str, start: int = 0) -> int | None:
        title = TITLES[key](locale)
        for i, line in enumerate(lines[start:], start):
            if key in NUMBERED:      # a numbered heading: "6. 超时原因", never a column called the same
                match = re.match(r"^\d+\.\s*(.*)$", line)
                if match is None:
                    continue
                line = match.group(1)
            if line == title or line.startswith((title + "（共", title + " (")):
                return i
        return None

    problems = [f"{key}: missing" for key in PDF_SECTIONS if heading_at(key) is None]
    last = -1
    for key in ORDERED:
        if f"{key}: missing" not in problems:
            at = heading_at(key, last + 1)
            if at is None:
                problems.append(f"{key}: out of order")
            else:
                last = at
    return problems


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_pdf_has_every_section_in_order_on_two_to_four_pages(rendered, locale):
    pdf = _pdf(rendered[locale])
    assert 2 <= _pages(pdf) <= 4
    text = _text(pdf)
    assert _heading_problems(text, locale) == []
    lines = [line.strip() for line in text.splitlines()]
    assert lines.index("1. " + ("主要指标" if locale == "zh-CN" else "Headline figures")) < \
        lines.index(TITLES["volume_by_type"](locale))


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_pdf_shows_names_never_codes_and_business_time(rendered, locale):
    text = _text(_pdf(rendered[locale]))
    for code in CODES:
        assert code not in text, (locale, code)
    assert not SNAKE.findall(text), SNAKE.findall(text)[:10]
    assert not UTC_ISO.search(text)
    generated = "生成于 2026-11-01 14:05" if locale == "zh-CN" else "generated 2026-11-01 14:05"
    assert generated in text                  # 06:05 UTC is 14:05 in the business zone
    names = ("功能问题", "产品技术部", "首次响应", "紧急") if locale == "zh-CN" else \
        ("Function problem", "Product & Engineering", "First response", "Urgent")
    for name in names:
        assert _flat(name) in _flat(text), (locale, name)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_pdf_headline_has_month_on_month_and_year_on_year_arrows(rendered, locale):
    text = _text(_pdf(rendered[locale]))
    first = text[: text.index("反馈量" if locale == "zh-CN" else "Volume")]
    assert re.search(r"[▲▼]", first)
    mom, yoy = ("环比", "同比") if locale == "zh-CN" else ("vs last month", "vs a year ago")
    assert first.count(mom) == 6 and first.count(yoy) == 6
    # every compared figure shows a direction or an explicit "no change" / "nothing to compare"
    assert len(re.findall(r"[▲▼]|= 0", first)) >= 6


def test_headline_compares_with_the_month_before_and_a_year_before(sample_db):
    with sample_db.connect() as conn:
        headline, _ = monthly_sections(conn, Period.month("2026-10"))
        september, _ = monthly_sections(conn, Period.month("2026-09"))
        last_year, _ = monthly_sections(conn, Period.month("2025-10"))
    assert [h.value for h in headline][:2] == [220, headline[1].value]
    for now, before, ago in zip(headline, september, last_year, strict=True):
        assert now.previous == before.value, now.label.en
        assert now.year_ago == ago.value, now.label.en
    assert headline[0].previous == 170 and headline[0].year_ago == 120
    assert headline[0].change(headline[0].previous) == pytest.approx(50 / 170)
    sla = headline[2]
    assert sla.kind == "pct" and sla.change(sla.previous) == pytest.approx(sla.value - sla.previous)


def _monthly_report(sample_db, locale: str) -> Report:
    """The report produce() renders, built here so the drawing can be inspected."""
    from feedback.reports.model import Report as R
    from feedback.reports.sections import localize

    with sample_db.connect() as conn:
        headline, parts = monthly_sections(conn, Period.month("2026-10"))
    parts = tuple(replace(s, rows=tuple({k: localize(v, locale) for k, v in r.items()} for r in s.rows))
                  for s in parts)
    return R(kind="monthly", period_start=Period.month("2026-10").start, period_end=Period.month("2026-10").end,
             locale=locale, generated_at=AT, headline=headline, sections=parts, zone="Asia/Shanghai")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_pdf_satisfaction_pie_has_semantic_colours(sample_db, locale, monkeypatch):
    report = _monthly_report(sample_db, locale)
    drawn = []
    real_pie = pdf_mod._pie

    def spy(section, loc, st, width):
        drawing = real_pie(section, loc, st, width)
        drawn.append((section, drawing))
        return drawing

    monkeypatch.setattr(pdf_mod, "_pie", spy)
    assert render_pdf(report).startswith(b"%PDF")
    section, drawing = next((s, d) for s, d in drawn if s.key == "satisfaction")
    pie = next(c for c in drawing.contents if c.__class__.__name__ == "Pie")
    fills = {row["key"]: pie.slices[i].fillColor.hexval()[2:].upper() for i, row in enumerate(section.rows)}
    assert fills["satisfied"] == SATISFACTION_HEX["satisfied"][1:] == "2EA121"        # green
    assert fills["dissatisfied"] == SATISFACTION_HEX["dissatisfied"][1:] == "D83931"  # red
    assert fills["unreachable"] == SATISFACTION_HEX["unreachable"][1:] == "8F959E"    # grey


def test_pdf_sections_fail_when_one_vanishes(sample_db, tmp_path):
    """The heading check above notices a section that is not rendered."""
    report = _monthly_report(sample_db, "zh-CN")
    pdf = tmp_path / "whole.pdf"
    pdf.write_bytes(render_pdf(report))
    assert _heading_problems(_text(pdf), "zh-CN") == []
    without = replace(report, sections=tuple(s for s in report.sections if s.key != "overdue_reasons"))
    pdf.write_bytes(render_pdf(without))
    assert _heading_problems(_text(pdf), "zh-CN") == ["overdue_reasons: missing"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_workbook_prints_landscape_fit_to_width_with_header_rows(rendered, locale):
    book = openpyxl.load_workbook(_xlsx(rendered[locale]))
    assert len(book.worksheets) == 18
    for ws in book.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.page_setup.fitToWidth in (1, "1") and ws.page_setup.fitToHeight in (0, "0"), ws.title
        assert (ws.print_title_rows or "").replace("$", "") == "1:1", ws.title


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_workbook_satisfaction_chart_colours(rendered, locale):
    book = openpyxl.load_workbook(_xlsx(rendered[locale]))
    ws = book[TITLES["satisfaction"](locale)]
    labels = [ws.cell(r, 2).value for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value is not None]
    with zipfile.ZipFile(_xlsx(rendered[locale])) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    pie = next(c for c in charts if re.search(r"<(c:)?pieChart>", c))
    points = dict(re.findall(r'<(?:c:)?dPt><(?:c:)?idx val="(\d+)"\s*/>.*?<a:srgbClr val="([0-9A-F]{6})"', pie))
    assert points, "no slice colours in the pie"
    names = {"zh-CN": ("满意", "不满意", "未联系上"), "en": ("Satisfied", "Dissatisfied", "Unreachable")}[locale]
    for name, colour in zip(names, ("2EA121", "D83931", "8F959E"), strict=True):
        assert points[str(labels.index(name))] == colour, name


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_workbook_shows_names_and_business_time(rendered, locale):
    book = openpyxl.load_workbook(_xlsx(rendered[locale]))
    summary = book.worksheets[0]
    stamps = [summary.cell(r, 2).value for r in range(1, 12) if isinstance(summary.cell(r, 2).value, datetime)]
    assert stamps == [datetime(2026, 11, 1, 14, 5)]
    for ws in book.worksheets[1:]:
        hidden = {k for k, d in ws.column_dimensions.items() if d.hidden}
        for row in ws.iter_rows(min_row=1):
            for cell in row:
                if cell.column_letter in hidden or not isinstance(cell.value, str):
                    continue
                assert not SNAKE.fullmatch(cell.value) or cell.value in ("",), (ws.title, cell.coordinate, cell.value)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_weekly_pdf_still_renders_without_codes(sample_db, tmp_path, locale):
    produce(sample_db, "weekly", period_for_run("weekly", None, None, "2026-W43", "Asia/Shanghai"),
            generated_at=AT, locale=locale, dry_run_to=tmp_path)
    pdf = next(tmp_path.glob("*.pdf"))
    assert 1 <= _pages(pdf) <= 4
    text = _text(pdf)
    assert _flat(TITLES["response_time_monitor"](locale)) in _flat(text)
    for code in CODES:
        assert code not in text, (locale, code)
    assert not SNAKE.findall(text), SNAKE.findall(text)[:10]
