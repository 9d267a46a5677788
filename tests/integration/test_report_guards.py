"""Report guards: a future or empty period is refused, a dry run archives and mails nothing, and the
scheduled run does not mail management an empty month (its data-quality section says it is empty)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import ROOT, load_dag, scalar

from feedback_dev import smtp_sink


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path / "local"))
    return tmp_path / "local"


def feedback(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    return subprocess.run([sys.executable, "-m", "feedback.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def add_october_items(engine, count: int = 4) -> None:
    with engine.begin() as conn:
        for n in range(1, count + 1):
            received = datetime(2026, 10, 5, 2, tzinfo=UTC) + timedelta(days=n)
            conn.execute(sa.text(
                """INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at,
                                                  description, priority, status, category, department)
                   VALUES (:no, 'webform', 'test', :t, :t, '订单未到账', 'medium', 'assigned',
                           ARRAY['function_problem'], '客服部')"""),
                {"no": f"{received:%Y%m%d}-{n:03d}", "t": received})


def archived(engine) -> int:
    return scalar(engine, "SELECT count(*) FROM feedback.report_archive")


def queued(engine) -> int:
    return scalar(engine, "SELECT count(*) FROM feedback.outbox WHERE kind = 'report'")


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    return lines[0]


def test_a_month_in_the_future_is_refused_with_one_line(register, local):
    add_october_items(register)
    next_year = f"{date.today().year + 1}-06"
    line = _one_error_line(feedback("report", "monthly", "--month", next_year))
    assert next_year in line and "has not started yet" in line and "--force" in line
    week = date.today() + timedelta(days=21)
    line = _one_error_line(feedback("report", "weekly", "--week", f"{week.isocalendar().year}-W"
                                                                   f"{week.isocalendar().week:02d}"))
    assert "has not started yet" in line
    assert archived(register) == 0 and queued(register) == 0


def test_a_month_without_items_is_refused_unless_forced(register, local):
    add_october_items(register)
    line = _one_error_line(feedback("report", "monthly", "--month", "2026-05"))
    assert "no feedback item was received in 2026-05" in line and "--force" in line
    line = _one_error_line(feedback("report", "weekly", "--week", "2026-W20"))
    assert "no feedback item was received in 2026-W20" in line
    assert archived(register) == 0 and queued(register) == 0

    forced = feedback("report", "monthly", "--month", "2026-05", "--force")
    assert forced.returncode == 0, forced.stderr[-2000:]
    result = json.loads(forced.stdout)
    assert (result["version"], result["empty"], result["mails_queued"], result["quality_passed"]) == (1, True, 1, False)
    workbook = openpyxl.load_workbook(local / "archive" / "monthly" / "2026-05" / "v1" / "feedback-report-2026-05.xlsx")
    cells = [str(v) for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for v in row if v]
    assert any("本期未收到任何反馈事项" in c for c in cells), "the data-quality section says the month is empty"


def test_a_dry_run_renders_into_a_folder_and_archives_and_mails_nothing(register, local, tmp_path):
    add_october_items(register)
    out = tmp_path / "preview"
    proc = feedback("report", "monthly", "--month", "2026-10", "--dry-run", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["dry_run_folder"] == str(out) and result["items"] == 4 and result["mails_queued"] == 0
    workbook = openpyxl.load_workbook(io.BytesIO((out / "feedback-report-2026-10.xlsx").read_bytes()))
    assert workbook.sheetnames
    assert (out / "feedback-report-2026-10.pdf").read_bytes().startswith(b"%PDF")
    assert archived(register) == 0 and queued(register) == 0
    assert not (local / "archive").exists()

    # Without --out: a new temporary folder, named on stderr and in the result.
    default = feedback("report", "weekly", "--week", "2026-W41", "--dry-run", "--locale", "en")
    assert default.returncode == 0, default.stderr[-2000:]
    folder = json.loads(default.stdout)["dry_run_folder"]
    assert folder in default.stderr and os.path.isdir(folder)
    assert sorted(os.listdir(folder)) == ["feedback-weekly-2026-W41.pdf", "feedback-weekly-2026-W41.xlsx"]
    assert archived(register) == 0 and queued(register) == 0
    # --out alone is a mistake said in one line.
    assert "--out goes with --dry-run" in _one_error_line(feedback("report", "monthly", "--month", "2026-10",
                                                                   "--out", str(out)))


def test_a_backfill_skips_empty_months_with_a_line_each_and_renders_the_others(register, local):
    add_october_items(register)
    proc = feedback("report", "monthly", "--from", "2026-09", "--to", "2026-10")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "monthly report 2026-09: skipped: no feedback item was received in 2026-09" in proc.stderr
    assert [json.loads(line)["period"] for line in proc.stdout.splitlines()] == ["2026-10"]
    with register.connect() as conn:
        months = conn.execute(sa.text("SELECT DISTINCT period_start FROM feedback.report_archive")).scalars().all()
    assert months == [date(2026, 10, 1)]


def test_the_scheduled_run_archives_an_empty_month_but_does_not_mail_it(register, local, airflow_db, monkeypatch):
    add_october_items(register)
    sink = smtp_sink.start(local / "smtp")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_SMTP", f"smtp://127.0.0.1:{sink.port}?disable_ssl=true&disable_tls=true")
    monthly = load_dag("feedback_report_monthly.py", "feedback_report_monthly")
    try:
        # Nov 1 06:05 in Shanghai reports October (items); Dec 1 reports November (none).
        assert monthly.test(logical_date=datetime(2026, 10, 31, 22, 5, tzinfo=UTC)).state == "success"
        assert monthly.test(logical_date=datetime(2026, 11, 30, 22, 5, tzinfo=UTC)).state == "success"
    finally:
        sink.stop()
    with register.connect() as conn:
        months = conn.execute(sa.text("SELECT DISTINCT period_start FROM feedback.report_archive ORDER BY 1")
                              ).scalars().all()
        mails = conn.execute(sa.text("SELECT payload->'report'->>'period' FROM feedback.outbox WHERE kind = 'report'")
                             ).scalars().all()
    assert months == [date(2026, 10, 1), date(2026, 11, 1)], "the empty month is archived (on record)"
    assert mails == ["2026-10"], "only the month with items is mailed to management"
    assert len(list((local / "smtp").glob("*.eml"))) == 1
    workbook = openpyxl.load_workbook(local / "archive" / "monthly" / "2026-11" / "v1" / "feedback-report-2026-11.xlsx")
    cells = [str(v) for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for v in row if v]
    assert any("本期未收到任何反馈事项" in c for c in cells)


def test_the_quality_check_keeps_great_expectations_chatter_out_of_the_log(register):
    """A fresh process (GX not yet imported) at INFO, as a task runs: the suite's lines, none of GX's ~220."""
    code = (
        "import logging, sys\n"
        "from datetime import datetime, UTC\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "from feedback.db.engine import get_engine\n"
        "from feedback.reports import quality\n"
        "checks = quality.check_period(get_engine(), datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))\n"
        "print(len(checks), all(c.passed for c in checks))\n"
    )
    add_october_items(register)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "include")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[1] == "True" and int(proc.stdout.split()[0]) >= 10
    chatter = [line for line in proc.stderr.splitlines() if "great_expectations" in line]
    assert not chatter, f"{len(chatter)} Great Expectations line(s) in the log, e.g. {chatter[:2]}"
