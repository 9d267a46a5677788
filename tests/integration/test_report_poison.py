"""One bad value costs a report one section, never the whole period: held, marked, released, reissued.

On the hand-worked month of test_report_sections (expected figures there), each test plants a
value that breaks one section, runs `produce` on the real register and checks: the report is
archived and mailed on the first run, the other sections' figures are exactly those of the clean
month, the broken section is marked unavailable in the workbook, the PDF and the mail and named
by the data-quality checks, the hold is listed by `feedback.holds`; after the fix and the release
the next run archives a new, complete version. Also: the receipt time of the issue ('-infinity')
no longer breaks anything (left out of durations and counted), and a lost connection still fails
the run.

The poison of the first test is a deadline stamped before year 1 on an open item: the ledger
shows its next deadline, which Python cannot represent. If a later change makes the ledger show
such a deadline, pick another value that breaks exactly one section.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import load_dag, scalar
from test_report_sections import L, O, build_month

from feedback import holds
from feedback.reports.model import UNAVAILABLE
from feedback.reports.produce import period_for_run, produce
from feedback.reports.sections import (
    SECTION_KEYS_MONTHLY,
    Period,
    assemble,
    monthly_sections,
    queries,
    weekly_sections,
)

AT = datetime(2026, 11, 1, 6, 5, tzinfo=UTC)
CLEAN_HEADLINE = [15, 3, pytest.approx(16 / 22), pytest.approx(0.4), 8, 2]   # test_monthly_headline_and_order


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    return tmp_path


def october():
    return period_for_run("monthly", None, None, "2026-10", "Asia/Shanghai")


def figures(engine, **kw):
    with engine.connect() as conn:
        headline, parts = monthly_sections(conn, Period.month("2026-10"), **kw)
    return headline, {s.key: s for s in parts}


def add_open_item(engine, no: str, received, *, priority: str = "medium", status: str = "assigned",
                  deadline: tuple | None = None) -> int:
    """An item outside October's volumes (no complaint, no callback): it reaches only the sections named."""
    with engine.begin() as conn:
        fid = conn.execute(sa.text(
            """INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at, description,
                                              category, department, priority, status, sla_preset)
               VALUES (:no, 'email', 'fixture', CAST(:rec AS timestamptz), now(), '(masked text)', ARRAY['other'],
                       'finance', :prio, :status, 'A') RETURNING id"""),
            {"no": no, "rec": received, "prio": priority, "status": status}).scalar_one()
        if deadline:
            starts, due, met = deadline
            conn.execute(sa.text(
                """INSERT INTO feedback.feedback_deadline (feedback_id, stage, handling_cycle, starts_at, due_at,
                                                           calendar, rule, met_at)
                   VALUES (:f, 'first_response', 1, CAST(:s AS timestamptz), CAST(:d AS timestamptz), :c, 'fixture',
                           CAST(:m AS timestamptz))"""),
                {"f": fid, "s": starts, "d": due, "m": met, "c": "always" if priority == "urgent" else "default"})
    return fid


def archived_workbook(local, version: int) -> openpyxl.Workbook:
    path = local / "archive" / "monthly" / "2026-10" / f"v{version}" / "feedback-report-2026-10.xlsx"
    return openpyxl.load_workbook(io.BytesIO(path.read_bytes()))


def pdf_text(local, version: int) -> str | None:
    if shutil.which("pdftotext") is None:
        return None
    path = local / "archive" / "monthly" / "2026-10" / f"v{version}" / "feedback-report-2026-10.pdf"
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def summary_values(wb: openpyxl.Workbook) -> dict[str, object]:
    return {row[0]: row[1] for row in wb["概览"].iter_rows(values_only=True) if row and row[0]}


def test_a_section_one_value_breaks_is_held_and_the_report_still_goes_out(register, local):
    build_month(register)
    _, clean = figures(register)
    # The poison: an open item (received in September) whose first-response deadline was imported
    # stamped 0001 BC; the open-items ledger lists its next deadline, which Python cannot hold.
    poison = add_open_item(register, "20260920-901", L(2026, 9, 20, 10),
                           deadline=("0001-01-01 00:00:00+00 BC", "0001-01-01 04:00:00+00 BC", None))

    first = produce(register, "monthly", october(), generated_at=AT)
    assert (first.version, first.new_version, first.mails_queued) == (1, True, 1)
    assert (first.held, first.held_sections) == (1, ["open_ledger"])
    assert first.quality_passed is False

    [hold] = holds.list_held(register, stage="reports")
    assert (hold.table_name, hold.row_ref, hold.reason) == ("report_section", "monthly:2026-10:open_ledger",
                                                            "value_error")
    assert hold.detail.startswith("section open_ledger: ValueError")
    assert "20260920-901" not in hold.detail

    # Every other section exactly as on the clean month; the ledger is the only one missing.
    errors = []
    headline, poisoned = figures(register, on_error=lambda key, error: errors.append(key))
    assert errors == ["open_ledger"] and poisoned["open_ledger"].unavailable
    for key in SECTION_KEYS_MONTHLY:
        if key != "open_ledger":
            assert poisoned[key].rows == clean[key].rows, key
            assert not poisoned[key].unavailable
    assert [h.value for h in headline] == CLEAN_HEADLINE[:4] + [None, 2]

    # The archived files say so: the ledger sheet carries the line, the summary and its checks name it.
    wb = archived_workbook(local, 1)
    assert wb["未了事宜台帐"]["A1"].value == UNAVAILABLE.zh
    assert wb["各渠道反馈量"].max_row >= 4 and wb["表扬"]["A2"].value == "20261015-001"
    summary = summary_values(wb)
    assert summary["反馈总量"] == 15 and summary["表扬"] == 2 and summary["期末未结事项"] is None
    assert summary["未了事宜台帐"] == "不可用（已暂扣）"
    assert summary["各部分数据齐全"] == "未通过"
    cells = [str(v) for row in wb["概览"].iter_rows(values_only=True) for v in row if v]
    assert any("未了事宜台帐" in c and "暂缺" in c for c in cells)
    text = pdf_text(local, 1)
    if text is not None:
        flat = "".join(text.split())
        assert "".join(UNAVAILABLE.zh.split()) in flat and "未了事宜台帐" in flat
    with register.connect() as conn:
        subject, body = conn.execute(sa.text("SELECT subject, body FROM feedback.outbox WHERE kind = 'report'")).one()
    assert "数据质量未通过" in subject
    assert f"未了事宜台帐: {UNAVAILABLE.zh}" in body

    # While the hold is open a re-run skips the section: same figures, nothing archived or mailed.
    again = produce(register, "monthly", october(), generated_at=AT + timedelta(hours=1))
    assert (again.version, again.new_version, again.mails_queued, again.held) == (1, False, 0, 1)
    assert holds.list_held(register, stage="reports")[0].hold_count == 1

    # The fix, the release, the re-run: version 2, complete, mailed once.
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET starts_at = :s, due_at = :d WHERE feedback_id = :f"),
                     {"s": L(2026, 9, 20, 10), "d": L(2026, 9, 21, 10), "f": poison})
    assert holds.release(register, [hold.id], AT + timedelta(hours=2)) == 1
    full = produce(register, "monthly", october(), generated_at=AT + timedelta(hours=3))
    assert (full.version, full.new_version, full.mails_queued, full.held, full.held_sections) == (2, True, 1, 0, [])
    assert holds.list_held(register, stage="reports") == []
    wb = archived_workbook(local, 2)
    ledger = wb["未了事宜台帐"]
    assert ledger["A1"].value == "反馈编号"
    assert [ledger.cell(r, 1).value for r in range(2, 4)] == ["20260920-901", "20260928-001"]
    assert summary_values(wb)["期末未结事项"] == 9
    assert summary_values(wb)["各部分数据齐全"] == "通过"
    assert scalar(register, "SELECT count(DISTINCT version) FROM feedback.report_archive") == 2


def test_the_infinite_receipt_time_of_the_issue_is_left_out_of_durations_and_counted(register, local):
    build_month(register)
    _, clean = figures(register)
    # The issue's case: an open item received '-infinity'; beside it one received in 1970, and an urgent
    # item of October whose first-response clock starts at '-infinity' (met on Tue 20 Oct 09:00).
    add_open_item(register, "19700101-901", "-infinity")
    add_open_item(register, "19700101-902", datetime(1970, 1, 1, tzinfo=UTC))
    add_open_item(register, "20261020-901", O(20, 8), priority="urgent", status="closed",
                  deadline=("-infinity", O(20, 10), O(20, 9)))

    result = produce(register, "monthly", october(), generated_at=AT)
    assert (result.version, result.held, result.held_sections) == (1, 0, [])
    assert holds.list_held(register, stage="reports") == []

    _, s = figures(register)      # strict: any section failing raises here
    ledger = s["open_ledger"]
    assert [r["feedback_no"] for r in ledger.rows[:2]] == ["19700101-901", "19700101-902"]
    assert [(r["received_on"], r["days_open"]) for r in ledger.rows[:2]] == [(None, None), (None, None)]
    assert ledger.rows[2:] == clean["open_ledger"].rows          # the others as on the clean month
    assert "另有 2 条因时间不合理" in ledger.note.zh and "2 row(s) with an implausible time" in ledger.note.en

    urgent, clean_urgent = s["urgent_speed"].rows[0], clean["urgent_speed"].rows[0]
    assert (urgent["items"], urgent["responded"]) == (clean_urgent["items"] + 1, clean_urgent["responded"] + 1)
    assert urgent["avg_minutes"] == clean_urgent["avg_minutes"]
    assert urgent["median_minutes"] == clean_urgent["median_minutes"]
    assert "另有 1 条" in s["urgent_speed"].note.zh

    times = {r["key"]: r for r in s["response_times"].rows}
    clean_times = {r["key"]: r for r in clean["response_times"].rows}
    assert times["urgent"]["fr_count"] == clean_times["urgent"]["fr_count"]
    assert times["urgent"]["fr_avg_hours"] == clean_times["urgent"]["fr_avg_hours"]
    assert times["all"]["fr_p90_hours"] == clean_times["all"]["fr_p90_hours"]
    assert "另有 1 条" in s["response_times"].note.zh

    with register.connect() as conn:
        _, week = weekly_sections(conn, Period.week_before(date(2026, 10, 27)))
    monitor = week[0]
    assert "另有 1 条" in monitor.note.zh
    assert all(isinstance(r["fr_avg_hours"], float | None) for r in monitor.rows)

    wb = archived_workbook(local, 1)
    summary = summary_values(wb)
    assert summary["受理与计时起点时间合理"] == "未通过" and summary["各部分数据齐全"] == "通过"
    cells = [str(v) for row in wb["概览"].iter_rows(values_only=True) for v in row if v]
    assert any(c.startswith("3 个事项的受理或计时起点时间不合理") for c in cells)


def test_the_unguarded_ledger_query_of_the_issue_costs_only_its_section(register, local, monkeypatch):
    """The failure as reported (date arithmetic on '-infinity' in SQL): later sections on the same connection
    still compute, so the savepoint really rolled the failed statement back."""
    build_month(register)
    _, clean = figures(register)
    add_open_item(register, "19700101-901", "-infinity")
    guarded = "CASE WHEN c.plausible THEN CAST(:last_day AS date) - (c.received_at AT TIME ZONE :zone)::date END"
    original = queries.report_sql

    def unguarded(key: str) -> str:
        sql = original(key)
        if key == "open_ledger":
            assert guarded in sql
            sql = sql.replace(guarded, "CAST(:last_day AS date) - (c.received_at AT TIME ZONE :zone)::date")
        return sql

    monkeypatch.setattr(queries, "report_sql", unguarded)
    result = produce(register, "monthly", october(), generated_at=AT)
    assert (result.version, result.mails_queued, result.held_sections) == (1, 1, ["open_ledger"])
    [hold] = holds.list_held(register, stage="reports")
    assert hold.reason == "datetime_out_of_range" and "cannot subtract infinite dates" in hold.detail
    _, s = figures(register, on_error=lambda key, error: None)
    assert s["praise"].rows == clean["praise"].rows and not s["praise"].unavailable   # computed after the ledger


def test_a_lost_connection_still_fails_the_run(register, local, monkeypatch):
    build_month(register)

    def connection_lost(conn, p):
        conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))

    monkeypatch.setattr(assemble, "overdue_items", connection_lost)
    with pytest.raises(sa.exc.OperationalError):
        produce(register, "monthly", october(), generated_at=AT)
    assert holds.list_held(register, stage="reports") == []
    assert scalar(register, "SELECT count(*) FROM feedback.report_archive") == 0


def test_a_scheduled_run_with_a_poison_section_succeeds_and_mails_the_report(register, local, airflow_db,
                                                                            smtp_capture, capfd, caplog):
    """Under Airflow (dag.test): the task succeeds, logs the held section and the mail goes out once."""
    import email
    import email.policy

    build_month(register)
    add_open_item(register, "20260920-901", L(2026, 9, 20, 10),
                  deadline=("0001-01-01 00:00:00+00 BC", "0001-01-01 04:00:00+00 BC", None))
    monthly = load_dag("feedback_report_monthly.py", "feedback_report_monthly")
    assert monthly.test(logical_date=datetime(2026, 10, 31, 22, 5, tzinfo=UTC)).state == "success"
    assert [h.row_ref for h in holds.list_held(register, stage="reports")] == ["monthly:2026-10:open_ledger"]
    assert scalar(register, "SELECT count(DISTINCT version) FROM feedback.report_archive") == 1
    [mail] = sorted(smtp_capture.folder.glob("*.eml"))
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    assert UNAVAILABLE.zh in message.get_body(("plain",)).get_content()
    assert {part.get_filename() for part in message.iter_attachments()} == {
        "feedback-report-2026-10.xlsx", "feedback-report-2026-10.pdf"}
    logs = "".join(capfd.readouterr()) + caplog.text   # where the task's log lands depends on earlier tests
    assert "1 section(s) held (open_ledger)" in logs
    assert "20260920-901" not in logs


def test_an_english_report_says_so_in_english(register, local):
    build_month(register)
    add_open_item(register, "20260920-901", L(2026, 9, 20, 10),
                  deadline=("0001-01-01 00:00:00+00 BC", "0001-01-01 04:00:00+00 BC", None))
    assert produce(register, "monthly", october(), generated_at=AT, locale="en").held_sections == ["open_ledger"]
    wb = archived_workbook(local, 1)
    assert wb["Open-items ledger"]["A1"].value == UNAVAILABLE.en
    rows = {row[0]: row[1:] for row in wb["Summary"].iter_rows(values_only=True) if row and row[0]}
    assert rows["Open-items ledger"][0] == "unavailable (held)"
    assert rows["every section computed"][:2] == ("FAILED", "1 section(s) missing (held): Open-items ledger")
    text = pdf_text(local, 1)
    if text is not None:
        assert UNAVAILABLE.en in " ".join(text.split())
    with register.connect() as conn:
        body = conn.execute(sa.text("SELECT body FROM feedback.outbox WHERE kind = 'report'")).scalar_one()
    assert f"Open-items ledger: {UNAVAILABLE.en}" in body
