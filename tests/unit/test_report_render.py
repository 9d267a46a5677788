"""The report files: the Excel workbook (read back with openpyxl) and the PDF summary (read with poppler).

Poppler's tools (pdftotext, pdfinfo, pdffonts, pdftoppm) are needed for the PDF checks; without
them those tests are skipped on a workstation and fail under CI (CI=true).
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
import time
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, LineChart, PieChart
from report_samples import GENERATED_AT, SHANGHAI, long_report, sample_report

from feedback.reports import fonts
from feedback.reports.model import Chart, Column, Label, QualityCheck, Report, Section
from feedback.reports.pdf import render_pdf
from feedback.reports.xlsx import NUMBER_FORMATS, display_width, render_xlsx

ZH_SHEETS = ["概览", "渠道分布", "优先级分布", "每日受理与办结趋势", "问题分类", "高频问题", "时效达成",
             "各部门处理情况", "回访满意度", "不满意原因", "超期未办结", "重开工单", "回访覆盖率 按部门"]
EN_SHEETS = ["Summary", "Volume by channel", "Volume by priority", "Daily intake and resolution", "Categories",
             "Top issues", "Deadline compliance", "Workload by department", "Callback satisfaction",
             "Causes of dissatisfaction", "Overdue items", "Reopened items", "Callback coverage by department"]
CHART_TYPES = {"bar": BarChart, "line": LineChart, "pie": PieChart}
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


# --- shared fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zh_report() -> Report:
    return sample_report()


@pytest.fixture(scope="module")
def zh_book(zh_report):
    return openpyxl.load_workbook(io.BytesIO(render_xlsx(zh_report)))


@pytest.fixture(scope="module")
def en_book():
    return openpyxl.load_workbook(io.BytesIO(render_xlsx(sample_report("en"))))


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if _ci():
            pytest.fail(f"{tool} (poppler-utils) is required under CI")
        pytest.skip(f"{tool} not installed (apt-get install poppler-utils)")
    return path


def _need_cjk_truetype() -> str:
    name = fonts.cjk_font()
    if not fonts.is_embedded(name):
        if _ci():
            pytest.fail("no CJK TrueType font under CI (apt-get install fonts-wqy-microhei)")
        pytest.skip("no CJK TrueType font installed (apt-get install fonts-wqy-microhei)")
    return name


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def pdf_dir(tmp_path_factory, zh_report) -> Path:
    out = tmp_path_factory.mktemp("pdf")
    (out / "zh.pdf").write_bytes(render_pdf(zh_report))
    (out / "en.pdf").write_bytes(render_pdf(sample_report("en")))
    (out / "long.pdf").write_bytes(render_pdf(long_report(300)))
    return out


def _text(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return _run(_need("pdftotext"), "-enc", "UTF-8", *pages, str(pdf), "-")


def _pages(pdf: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", _run(_need("pdfinfo"), str(pdf)), re.M).group(1))


# --- workbook: sheets ------------------------------------------------------------------------------


def test_sheet_names_follow_the_locale(zh_book, en_book):
    assert zh_book.sheetnames == ZH_SHEETS
    assert en_book.sheetnames == EN_SHEETS


def test_sheet_names_are_valid_and_unique():
    base = sample_report()
    tricky = [
        Label("历史/记录: [A]*?\\x", "x"),
        Label("历史/记录: [A]*?\\x", "x"),                       # duplicate after cleaning
        Label("很" * 40, "x"),                                   # too long
        Label("很" * 40, "x"),                                   # too long and duplicate
        Label("History", "x"),                                  # reserved by Excel
        Label("'引号'", "x"),                                     # may not start or end with '
        Label("[]:*?/\\", "x"),                                  # nothing left: the key is used
        Label("概览", "x"),                                       # the summary's name
    ]
    sections = tuple(replace(base.sections[0], key=f"s{i}", title=t) for i, t in enumerate(tricky))
    names = openpyxl.load_workbook(io.BytesIO(render_xlsx(replace(base, sections=sections)))).sheetnames[1:]
    assert names == ["历史 记录 A x", "历史 记录 A x (2)", "很" * 31, "很" * 27 + " (2)", "History (2)", "引号",
                     "s6", "概览 (2)"]
    for name in names:
        assert len(name) <= 31 and not set(name) & set("[]:*?/\\") and name[0] != "'" and name[-1] != "'"
    assert len({n.casefold() for n in names}) == len(names)


def test_section_sheet_header_freeze_filter_and_note(zh_book, zh_report):
    ws = zh_book["高频问题"]
    section = zh_report.section("top_issues")
    assert [c.value for c in ws[1]][:6] == ["排名", "问题", "分类", "次数", "占比", "上月次数"]
    assert all(c.font.b and c.fill.fgColor.rgb.endswith("1F4E79") for c in ws[1][:6])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:F{1 + len(section.rows)}" == "A1:F46"
    assert ws.cell(48, 1).value == section.note.zh          # two rows under the last data row
    assert ws.max_row == 48


def test_figures_land_in_their_cells(zh_book, zh_report):
    channel = zh_book["渠道分布"]
    assert [channel[f"A{r}"].value for r in (2, 3, 4)] == ["邮件", "网页表单", "平台工单"]
    assert [channel[f"B{r}"].value for r in (2, 3, 4)] == [512, 437, 285]
    assert channel["C2"].value == pytest.approx(512 / 1234)

    issues = zh_book["高频问题"]
    rows = zh_report.section("top_issues").rows
    assert issues["B2"].value == rows[0]["issue"] == "支付成功后订单仍显示未支付"
    assert issues["D46"].value == rows[44]["count"]
    assert issues["F6"].value is None                        # None stays an empty cell
    # a customer's text starting with "=" is text, never a formula
    assert issues["B11"].value == "=号开头的备注导出后显示为公式" and issues["B11"].data_type == "s"

    overdue = zh_book["超期未办结"]
    first = zh_report.section("overdue_items").rows[0]
    assert overdue["B2"].value == first["received_at"].astimezone(SHANGHAI).replace(tzinfo=None)
    assert overdue["E2"].value == datetime.combine(first["due"], datetime.min.time())
    assert overdue["F2"].value == float(first["overdue_hours"])
    assert [overdue[f"G{r}"].value for r in (2, 3)] == ["是", "否"]


def test_number_formats_by_kind(zh_book, zh_report):
    checked = set()
    for section, name in zip(zh_report.sections, ZH_SHEETS[1:], strict=True):
        ws = zh_book[name]
        for c, column in enumerate(section.columns, start=1):
            if column.kind in NUMBER_FORMATS and section.rows:
                for r in (2, 1 + len(section.rows)):
                    assert ws.cell(r, c).number_format == NUMBER_FORMATS[column.kind], (name, column.key)
                checked.add(column.kind)
    assert checked == {"int", "number", "pct", "hours", "date", "datetime"}
    assert NUMBER_FORMATS == {"int": "#,##0", "number": "#,##0.00", "pct": "0.0%", "hours": "0.0",
                              "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}


def test_column_widths_count_cjk_double(zh_book, en_book, zh_report):
    assert display_width("高频问题") == 8 and display_width("Top issues") == 10 and display_width("（１）") == 6
    ws = zh_book["高频问题"]
    longest = max(display_width(r["issue"]) for r in zh_report.section("top_issues").rows)
    assert ws.column_dimensions["B"].width == longest + 2
    assert ws.column_dimensions["A"].width < ws.column_dimensions["B"].width
    assert zh_book["概览"].column_dimensions["C"].width > 20


def test_each_chart_section_has_one_native_chart_over_its_rows(zh_book, zh_report):
    for section, name in zip(zh_report.sections, ZH_SHEETS[1:], strict=True):
        charts = zh_book[name]._charts
        if section.chart is None:
            assert charts == [], name
            continue
        assert len(charts) == 1, name
        chart = charts[0]
        assert isinstance(chart, CHART_TYPES[section.chart.kind]), name
        assert chart.title.tx.rich.p[0].r[0].t == section.chart.title.zh
        keys = [c.key for c in section.columns]
        last = 1 + len(section.rows)
        values = section.chart.values[:1] if section.chart.kind == "pie" else section.chart.values
        assert len(chart.series) == len(values)
        for series, key in zip(chart.series, values, strict=True):
            col = "ABCDEFGHIJ"[keys.index(key)]
            assert series.val.numRef.f == f"'{name}'!${col}$2:${col}${last}"
            assert series.tx.strRef.f == f"'{name}'!{col}1"
            cat = series.cat.numRef or series.cat.strRef
            cat_col = "ABCDEFGHIJ"[keys.index(section.chart.category)]
            assert cat.f == f"'{name}'!${cat_col}$2:${cat_col}${last}"
        # beside the table: the anchor's column is right of the last table column
        assert chart.anchor._from.col >= len(section.columns)


def test_chart_titles_follow_the_locale(en_book):
    assert en_book["Daily intake and resolution"]._charts[0].title.tx.rich.p[0].r[0].t == "Received and resolved per day"


def _summary(ws) -> dict[str, tuple]:
    return {ws.cell(r, 1).value: (ws.cell(r, 2), ws.cell(r, 3)) for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value}


def test_summary_sheet_shows_headline_and_a_failed_check(zh_book):
    ws = zh_book["概览"]
    assert ws["A1"].value == "客户反馈月度报告"
    rows = _summary(ws)
    assert rows["统计周期"][0].value == "2026-10-01 至 2026-10-31"
    assert rows["生成时间"][0].value == datetime(2026, 11, 1, 6, 30)
    assert rows["生成时间"][0].number_format == "yyyy-mm-dd hh:mm"
    status = rows["数据质量"][0]
    assert status.value.startswith("1 项未通过") and status.font.color.rgb.endswith("9C0006")
    total = rows["受理总量"][0]
    assert total.value == 1234 and total.number_format == "#,##0"
    assert rows["办结率"][0].number_format == "0.0%"
    result, detail = rows["各渠道每日均有数据"]
    assert result.value == "未通过" and result.font.b and result.font.color.rgb.endswith("9C0006")
    assert result.fill.fgColor.rgb.endswith("FFC7CE")
    assert detail.value.startswith("平台工单 2026-10-17 为 0 条")
    assert rows["工单均已分类"][0].value == "通过"
    link = rows["高频问题"][0]
    assert link.value == 45 and ws[f"A{link.row}"].hyperlink.location == "'高频问题'!A1"


def test_summary_in_english_and_all_passed(en_book):
    rows = _summary(en_book["Summary"])
    assert rows["Every channel has data every day"][0].value == "FAILED"
    passed = openpyxl.load_workbook(io.BytesIO(render_xlsx(sample_report("en", failed_check=False))))
    rows = _summary(passed["Summary"])
    assert rows["Data quality"][0].value == "All 5 checks passed"
    assert rows["Every channel has data every day"][0].value == "PASSED"


def test_empty_section_has_no_chart_and_says_so(zh_report):
    empty = replace(zh_report.sections[0], rows=())
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(replace(zh_report, sections=(empty,)))))
    ws = book["渠道分布"]
    assert ws._charts == [] and ws["A2"].value == "（本期无数据）" and ws.auto_filter.ref == "A1:C1"


def test_chart_on_a_missing_column_is_an_error(zh_report):
    bad = replace(zh_report.sections[0], chart=Chart("bar", "channel", ("nope",), Label("x", "x")))
    with pytest.raises(ValueError, match="nope"):
        render_xlsx(replace(zh_report, sections=(bad,)))


def test_workbook_is_deterministic(zh_report, monkeypatch):
    first = render_xlsx(zh_report)
    monkeypatch.setattr(time, "time", lambda: 4_102_444_800.0)     # 2100-01-01: another "now"
    assert render_xlsx(zh_report) == first
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert {i.date_time for i in z.infolist()} == {(2026, 11, 1, 6, 30, 0)}
        core = z.read("docProps/core.xml").decode()
    stamp = GENERATED_AT.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert core.count(stamp) == 2 and "2026-10-31T22:30:00Z" in core
    later = replace(zh_report, generated_at=GENERATED_AT.replace(hour=7))
    assert render_xlsx(later) != first


# --- PDF -------------------------------------------------------------------------------------------


def test_pdf_chinese_text_and_figures(pdf_dir):
    _need_cjk_truetype()
    page1 = _text(pdf_dir / "zh.pdf", 1, 1)
    for expected in ("客户反馈月度报告", "统计周期：2026-10-01 至 2026-10-31", "主要指标", "1,234", "93.6%",
                     "3.4 小时", "受理总量", "1 项检查未通过", "各渠道每日均有数据", "平台工单 2026-10-17 为 0 条",
                     "每日受理与办结", "各渠道受理量", "回访结果构成"):
        assert expected in page1, expected
    text = _text(pdf_dir / "zh.pdf")
    for expected in ("高频问题", "支付成功后订单仍显示未支付", "不满意原因", "超期未办结", "FB-202610-01000",
                     "另有 35 行（见 Excel 工作簿）", "另有 7 行", "完整数据表见 Excel 工作簿"):
        assert expected in text, expected
    assert re.search(r"第\s*1\s*页", text) and re.search(r"第\s*2\s*页", text)


def test_pdf_english(pdf_dir):
    text = _text(pdf_dir / "en.pdf")
    for expected in ("Customer feedback monthly report", "Headline figures", "Data quality: 1 check(s) FAILED",
                     "Top issues", "Causes of dissatisfaction", "Overdue items", "35 more rows (see the workbook)",
                     "1,234", "3.4 h"):
        assert expected in text, expected
    assert not CJK.search(text), CJK.findall(text)[:10]


def test_pdf_page_count_within_limits(pdf_dir, zh_report):
    assert 2 <= _pages(pdf_dir / "zh.pdf") <= 4
    assert 2 <= _pages(pdf_dir / "long.pdf") <= 4
    assert "另有 290 行" in _text(pdf_dir / "long.pdf")


@pytest.mark.parametrize("max_pages", [4, 2, 1])
def test_pdf_shrinks_to_the_page_limit(tmp_path, max_pages):
    report = long_report(300)
    pdf = tmp_path / "all.pdf"
    # every section as a highlight table: far more than fits, so rows, charts and tables are dropped
    pdf.write_bytes(render_pdf(report, max_pages=max_pages, highlights=[s.key for s in report.sections]))
    assert _pages(pdf) == max_pages


def test_pdf_embeds_the_cjk_font(pdf_dir):
    _need_cjk_truetype()
    out = _run(_need("pdffonts"), str(pdf_dir / "zh.pdf")).splitlines()[2:]
    assert out, "no fonts listed"
    for line in out:
        emb = line.split()[-5]       # name type encoding emb sub uni object ID
        assert emb == "yes", line
    assert any("WenQuanYi" in line or "+" in line.split()[0] for line in out)


def test_pdf_page1_renders_to_png(pdf_dir):
    tool = _need("pdftoppm")
    target = Path("/tmp/report-page1")
    subprocess.run([tool, "-r", "50", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf_dir / "zh.pdf"), str(target)],
                   check=True, capture_output=True, timeout=60)
    png = target.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_pdf_is_deterministic_and_dated(zh_report, monkeypatch, tmp_path):
    first = render_pdf(zh_report)
    monkeypatch.setattr(time, "time", lambda: 4_102_444_800.0)
    assert render_pdf(zh_report) == first
    assert b"/CreationDate (D:20261101063000+08'00')" in first
    assert b"/ModDate (D:20261101063000+08'00')" in first


def test_pdf_highlights_must_exist(zh_report):
    with pytest.raises(ValueError, match="nope"):
        render_pdf(zh_report, highlights=["nope"])


def test_pdf_without_default_highlights_or_rows(zh_report):
    other = tuple(replace(s, key=f"x_{s.key}", rows=() if s.key == "satisfaction" else s.rows)
                  for s in zh_report.sections)
    pdf = render_pdf(replace(zh_report, sections=other, quality=()))
    assert pdf.startswith(b"%PDF") and b"%%EOF" in pdf[-10:]


# --- fonts -----------------------------------------------------------------------------------------


def test_font_from_the_environment(monkeypatch):
    path = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    if not Path(path).is_file():
        pytest.skip("fonts-wqy-microhei not installed")
    monkeypatch.setenv(fonts.FONT_ENV, path)
    assert fonts.cjk_font() == "CJK-wqy-microhei" and fonts.is_embedded("CJK-wqy-microhei")
    assert fonts.cjk_font_bold() == "CJK-wqy-microhei"          # no bold face on this machine


def test_cff_fonts_and_non_cjk_fonts_are_skipped(tmp_path, monkeypatch, caplog):
    otf = tmp_path / "NotoSansCJK-Regular.otf"
    otf.write_bytes(b"OTTO" + b"\x00\x01" + b"\x00" * 6 + b"CFF " + b"\x00" * 12)
    ttc = tmp_path / "NotoSansCJK-Regular.ttc"
    ttc.write_bytes(b"ttcf\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x10OTTO" + b"\x00" * 40)
    assert not fonts._has_truetype_outlines(otf) and not fonts._has_truetype_outlines(ttc)
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if dejavu.is_file():
        assert fonts._has_truetype_outlines(dejavu) and fonts._register(str(dejavu)) is None   # no CJK glyphs
    monkeypatch.setenv(fonts.FONT_ENV, str(otf))
    monkeypatch.setattr(fonts, "KNOWN_FONTS", (str(ttc),))
    monkeypatch.setattr(fonts, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="feedback.reports.fonts"):
        assert fonts.cjk_font() == fonts.FALLBACK_FONT
    assert "not a usable CJK TrueType font" in caplog.text


def test_fallback_to_builtin_cid_font_warns_once_and_still_renders(monkeypatch, caplog, zh_report):
    monkeypatch.delenv(fonts.FONT_ENV, raising=False)
    monkeypatch.setattr(fonts, "KNOWN_FONTS", ("/nonexistent/font.ttc",))
    monkeypatch.setattr(fonts, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="feedback.reports.fonts"):
        assert fonts.cjk_font() == "STSong-Light" and fonts.cjk_font_bold() == "STSong-Light"
        pdf = render_pdf(zh_report)
        monkeypatch.setattr(fonts, "KNOWN_FONTS", ("/another/missing.ttf",))   # a fresh lookup
        assert fonts.cjk_font() == "STSong-Light"
    warnings = [r for r in caplog.records if "fonts-wqy-microhei" in r.getMessage()]
    assert len(warnings) == 1
    assert not fonts.is_embedded("STSong-Light")
    assert b"/STSong-Light" in pdf and pdf.startswith(b"%PDF")


def test_model_column_kinds_are_all_covered():
    kinds = {"text", "int", "number", "pct", "hours", "date", "datetime", "bool"}
    section = Section("k", Label("全部类型", "All kinds"), tuple(Column(k, Label(k, k), k) for k in sorted(kinds)),
                      ({"text": "文本", "int": 1, "number": 1.5, "pct": 0.5, "hours": 2.25, "date": GENERATED_AT.date(),
                        "datetime": GENERATED_AT, "bool": True},
                       # what Excel cannot hold or would misread: NaN, a formula-like text, a date in a text column
                       {"text": GENERATED_AT.date(), "int": None, "number": float("nan"), "pct": Decimal("Infinity"),
                        "hours": Decimal("1.25"), "date": None, "datetime": None, "bool": False}))
    report = replace(sample_report(), sections=(section,), quality=(QualityCheck(Label("a", "a"), True),))
    ws = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))["全部类型"]
    values = {ws.cell(1, c).value: ws.cell(2, c) for c in range(1, len(kinds) + 1)}
    assert values["bool"].value == "是" and values["text"].number_format == "General"
    assert values["datetime"].value == datetime(2026, 11, 1, 6, 30)
    second = {ws.cell(1, c).value: ws.cell(3, c).value for c in range(1, len(kinds) + 1)}
    assert second == {"text": "2026-11-01", "int": None, "number": None, "pct": None, "hours": 1.25, "date": None,
                      "datetime": None, "bool": "否"}
    assert render_pdf(report).startswith(b"%PDF")


# --- issue 16: semantic colours, print setup, names not codes, comparisons, business time -------------


def test_pdf_pie_and_workbook_pie_use_semantic_satisfaction_colours(zh_report):
    from feedback.reports.pdf import SATISFACTION_HEX, slice_colours

    section = zh_report.section("satisfaction")           # 满意, 一般, 不满意, 未接通: matched by name
    fills = [c.hexval()[2:].upper() for c in slice_colours(section, "zh-CN")]
    assert fills == ["2EA121", "F0A020", "D83931", "8F959E"]
    assert SATISFACTION_HEX["satisfied"] == "#2EA121" and SATISFACTION_HEX["unreachable"] == "#8F959E"
    other = zh_report.section("volume_by_channel")          # not outcomes: the ordinary palette
    assert [c.hexval()[2:].upper() for c in slice_colours(other, "zh-CN")] == ["1F77B4", "FF7F0E", "2CA02C"]
    with zipfile.ZipFile(io.BytesIO(render_xlsx(zh_report))) as z:
        pies = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/")
                and re.search(r"<(c:)?pieChart>", z.read(n).decode())]
    assert len(pies) == 1
    assert re.findall(r'<(?:c:)?dPt><(?:c:)?idx val="(\d)"\s*/>.*?srgbClr val="([0-9A-F]{6})"', pies[0]) == [
        ("0", "2EA121"), ("1", "F0A020"), ("2", "D83931"), ("3", "8F959E")]


def test_every_sheet_prints_landscape_one_page_wide_with_its_header_row(zh_report):
    held = replace(zh_report.sections[1], rows=(), unavailable=True)
    report = replace(zh_report, sections=(zh_report.sections[0], held, *zh_report.sections[2:]))
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))
    for ws in book.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert int(ws.page_setup.fitToWidth) == 1 and int(ws.page_setup.fitToHeight) == 0, ws.title
        assert (ws.print_title_rows or "").replace("$", "") == "1:1", ws.title
        assert ws.page_setup.paperSize in (9, "9"), ws.title     # A4


def test_code_columns_are_hidden_in_the_workbook_and_absent_from_the_pdf(tmp_path):
    from feedback.reports.model import Column, is_code_column

    section = Section(
        "sla_attainment", Label("各级别响应时效达标率", "SLA attainment"),
        (Column("priority", Label("优先级代码", "Priority code")), Column("priority_label", Label("优先级", "Priority")),
         Column("key", Label("代码", "Code")), Column("due", Label("到期", "Due"), "int")),
        ({"priority": "urgent", "priority_label": Label("紧急", "Urgent"), "key": "function_problem", "due": 3},))
    assert [is_code_column(section, c) for c in section.columns] == [True, False, True, False]
    report = replace(sample_report(), sections=(section,))
    ws = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))["各级别响应时效达标率"]
    assert ws.column_dimensions["A"].hidden and ws.column_dimensions["C"].hidden
    assert not ws.column_dimensions["B"].hidden and ws["B2"].value == "紧急"     # a Label is written in the locale
    pdf = tmp_path / "codes.pdf"
    pdf.write_bytes(render_pdf(report, highlights=["sla_attainment"]))
    text = _text(pdf)
    assert "紧急" in text and "urgent" not in text and "function_problem" not in text and "优先级代码" not in text


def test_headline_change_arrows():
    from feedback.reports.model import Headline
    from feedback.reports.pdf import GREEN, GREY, NAVY, RED, change_text
    from feedback.reports.xlsx import change_text as sheet_change

    items = Headline(Label("反馈总量", "Items"), 220, "int", previous=170, year_ago=0)
    assert change_text(items, items.previous, "zh-CN") == ("▲ 29.4%", NAVY)       # neither good nor bad
    assert change_text(items, items.year_ago, "zh-CN") == ("–", GREY)            # nothing to divide by
    share = Headline(Label("满意率", "Satisfied"), 0.72, "pct", previous=0.75, better="up")
    assert change_text(share, share.previous, "zh-CN") == ("▼ 3.0 个百分点", RED)
    assert change_text(share, share.previous, "en") == ("▼ 3.0 pts", RED)
    open_items = Headline(Label("期末未结事项", "Open"), 70, "int", previous=80, better="down")
    assert change_text(open_items, 80, "en") == ("▼ 12.5%", GREEN)
    assert change_text(open_items, 70, "en") == ("= 0", GREY)
    assert change_text(open_items, None, "en") == ("–", GREY)
    assert sheet_change(share, 0.75, "zh-CN") == ("▼ 3.0 个百分点", "9C0006")
    assert sheet_change(open_items, 80, "en") == ("▼ 12.5%", "006100")


def test_times_are_shown_in_the_reports_business_zone(tmp_path, zh_report):
    report = replace(zh_report, generated_at=datetime(2026, 10, 31, 22, 30, tzinfo=UTC), zone="Asia/Shanghai")
    rows = _summary(openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))["概览"])
    assert rows["生成时间"][0].value == datetime(2026, 11, 1, 6, 30)
    pdf = tmp_path / "zone.pdf"
    pdf.write_bytes(render_pdf(report))
    text = _text(pdf, 1, 1)
    assert "生成于 2026-11-01 06:30" in text and "22:30" not in text
    assert b"/CreationDate (D:20261101063000+08'00')" in pdf.read_bytes()
