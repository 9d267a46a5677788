"""A report end to end: figures, checks, files, archive, one mail per version — and the DAG and the CLI."""

from __future__ import annotations

import email
import email.policy
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from conftest import ROOT, load_dag, scalar

from feedback.notify.sender import SmtpSettings, send_pending
from feedback.reports.archive import read_archived
from feedback.reports.produce import period_for_run, produce
from feedback_dev import smtp_sink

AT = datetime(2026, 11, 1, 6, 5, tzinfo=UTC)
PHONE = "13812345678"


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    return tmp_path


def add_items(engine, count: int, *, start: int = 1, description: str = "支付失败，订单未到账（已脱敏）") -> None:
    with engine.begin() as conn:
        for n in range(start, start + count):
            received = datetime(2026, 10, 1, 2, tzinfo=UTC) + timedelta(days=n % 28, hours=n % 7)
            fid = conn.execute(sa.text(
                """INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at,
                                                  description, priority, status, category, department)
                   VALUES (:no, :ch, 'test', :t, :t, :d, :p, 'assigned', :cat, :dep) RETURNING id"""),
                {"no": f"{received:%Y%m%d}-{n:03d}", "ch": ("email", "webform", "platform")[n % 3], "t": received,
                 "d": description, "p": ("urgent", "high", "medium", "low")[n % 4],
                 "cat": ["function_problem"] if n % 2 else ["service_complaint"], "dep": "客服部"}).scalar_one()
            conn.execute(sa.text(
                """INSERT INTO feedback.feedback_deadline (feedback_id, stage, handling_cycle, starts_at, due_at,
                                                           allowance, calendar, rule)
                   VALUES (:f, 'first_response', 1, :t, :d, interval '2 hours', 'default', 'test')"""),
                {"f": fid, "t": received, "d": received + timedelta(hours=2)})


def october():
    return period_for_run("monthly", None, None, "2026-10", "Asia/Shanghai")


def test_a_month_is_rendered_archived_and_mailed_once_per_version(register, local, tmp_path):
    add_items(register, 12)
    first = produce(register, "monthly", october(), generated_at=AT)
    assert (first.period, first.version, first.new_version, first.mails_queued) == ("2026-10", 1, True, 1)
    assert first.quality_passed and first.items == 12
    assert set(first.files) == {"feedback-report-2026-10.xlsx", "feedback-report-2026-10.pdf"}
    archived = local / "archive" / "monthly" / "2026-10" / "v1"
    workbook = openpyxl.load_workbook(io.BytesIO((archived / "feedback-report-2026-10.xlsx").read_bytes()))
    assert len(workbook.sheetnames) >= 10
    assert any(ws._charts for ws in workbook.worksheets)
    cells = [str(v) for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for v in row if v]
    assert not [c for c in cells if c.startswith("Label(")], "value labels must be text in the report's language"
    assert "邮件" in workbook["各渠道反馈量"]["B2"].value + workbook["各渠道反馈量"]["B3"].value + \
        workbook["各渠道反馈量"]["B4"].value

    # A rerun with the same figures (a later stamp): nothing archived, nothing mailed.
    again = produce(register, "monthly", october(), generated_at=AT + timedelta(hours=1))
    assert (again.version, again.new_version, again.mails_queued) == (1, False, 0)
    # Asked to resend: one more mail of the same version, and only one however often the sender runs.
    resent = produce(register, "monthly", october(), generated_at=AT + timedelta(hours=2), resend=True)
    assert (resent.version, resent.mails_queued) == (1, 1)
    # New figures (a late item): version 2, mailed once.
    add_items(register, 1, start=40)
    changed = produce(register, "monthly", october(), generated_at=AT + timedelta(hours=3))
    assert (changed.version, changed.new_version, changed.mails_queued) == (2, True, 1)
    assert scalar(register, "SELECT count(DISTINCT version) FROM feedback.report_archive") == 2

    sink = smtp_sink.start(tmp_path / "smtp")
    try:
        smtp = SmtpSettings.from_uri(f"smtp://127.0.0.1:{sink.port}?disable_ssl=true&disable_tls=true", "test")
        assert send_pending(register, smtp, now=AT + timedelta(hours=4), kinds=["report"])["sent"] == 3
        assert send_pending(register, smtp, now=AT + timedelta(hours=5), kinds=["report"])["sent"] == 0
    finally:
        sink.stop()
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in sorted((tmp_path / "smtp").glob("*.eml"))]
    assert [str(m["To"]) for m in mails] == ["management@example.com"] * 3
    latest = mails[-1]
    names = sorted(part.get_filename() for part in latest.iter_attachments())
    assert names == ["feedback-report-2026-10.pdf", "feedback-report-2026-10.xlsx"]
    attached = {part.get_filename(): part.get_content() for part in latest.iter_attachments()}
    with register.connect() as conn:
        locations = dict(conn.execute(sa.text("SELECT file_name, location FROM feedback.report_archive "
                                              "WHERE version = 2")).all())
    assert attached["feedback-report-2026-10.pdf"] == read_archived(locations["feedback-report-2026-10.pdf"])
    assert "v2" in str(latest["Subject"]) and "数据质量检查" in latest.get_body(("plain",)).get_content()
    # The resend carried version 1 exactly as archived (not a fresh render with a new stamp).
    resend = next(m for m in mails[:2] if "v1" in str(m["Subject"]) and m is not mails[0])
    v1 = {part.get_filename(): part.get_content() for part in resend.iter_attachments()}
    with register.connect() as conn:
        v1_locations = dict(conn.execute(sa.text("SELECT file_name, location FROM feedback.report_archive "
                                                 "WHERE version = 1")).all())
    assert all(v1[name] == read_archived(location) for name, location in v1_locations.items())


def test_a_failed_data_quality_check_is_stated_not_hidden(register, local):
    add_items(register, 3)
    add_items(register, 1, start=9, description=f"客户电话 {PHONE} 未脱敏")   # a masking failure upstream
    result = produce(register, "monthly", october(), generated_at=AT)
    assert result.quality_passed is False
    with register.connect() as conn:
        subject, body = conn.execute(sa.text("SELECT subject, body FROM feedback.outbox WHERE kind = 'report'")).one()
    assert "数据质量未通过" in subject and "数据质量检查未通过" in body
    assert PHONE not in subject + body
    pdf = local / "archive" / "monthly" / "2026-10" / "v1" / "feedback-report-2026-10.pdf"
    if subprocess.run(["which", "pdftotext"], capture_output=True).returncode == 0:
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        assert "未通过" in text and PHONE not in text


def test_the_cli_renders_a_month(register, local):
    add_items(register, 4)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    proc = subprocess.run([sys.executable, "-m", "feedback.cli", "report", "monthly", "--month", "2026-10"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["version"] == 1
    assert (local / "archive" / "monthly" / "2026-10" / "v1" / "feedback-report-2026-10.pdf").exists()
    bad = subprocess.run([sys.executable, "-m", "feedback.cli", "report", "monthly", "--month", "October"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "not a period" in bad.stderr


def test_the_scheduled_run_reports_the_period_of_its_data_interval(register, local, airflow_db, monkeypatch):
    add_items(register, 5)
    sink = smtp_sink.start(local / "smtp")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_SMTP", f"smtp://127.0.0.1:{sink.port}?disable_ssl=true&disable_tls=true")
    monthly = load_dag("feedback_report_monthly.py", "feedback_report_monthly")
    weekly = load_dag("feedback_report_weekly.py", "feedback_report_weekly")
    try:
        # Triggered on Nov 1 06:05 in Shanghai: the data interval is October, whatever the trigger time.
        assert monthly.test(logical_date=datetime(2026, 10, 31, 22, 5, tzinfo=UTC)).state == "success"
        # Triggered on Tuesday Oct 27: the week before, Monday Oct 19 to Sunday Oct 25.
        assert weekly.test(logical_date=datetime(2026, 10, 27, 1, 0, tzinfo=UTC)).state == "success"
    finally:
        sink.stop()
    with register.connect() as conn:
        periods = conn.execute(sa.text("SELECT DISTINCT report_kind, period_start::text, period_end::text "
                                       "FROM feedback.report_archive ORDER BY 1")).all()
    assert [tuple(p) for p in periods] == [("monthly", "2026-10-01", "2026-10-31"),
                                           ("weekly", "2026-10-19", "2026-10-25")]
    # October's report is mailed; the week of Oct 19-25 has no items (they are on Oct 2-6): archived, not mailed.
    assert len(list((local / "smtp").glob("*.eml"))) == 1


def test_files_above_the_size_limit_are_linked_not_attached(register, local, monkeypatch):
    import yaml

    from feedback.paths import config_dir

    conf = local / "config"
    conf.mkdir()
    for path in config_dir().glob("*.yaml"):
        (conf / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    settings = yaml.safe_load((conf / "settings.yaml").read_text(encoding="utf-8"))
    settings["reports"].update(attach_max_bytes=1000, recipients=["gm@example.com", "ops-lead@example.com"],
                               locale="en")
    (conf / "settings.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("FEEDBACK_CONFIG_DIR", str(conf))
    add_items(register, 3)
    assert produce(register, "monthly", october(), generated_at=AT).mails_queued == 2
    with register.connect() as conn:
        mails = conn.execute(sa.text("SELECT recipient, subject, body, attachments FROM feedback.outbox "
                                     "WHERE kind = 'report' ORDER BY recipient")).all()
    assert [m.recipient for m in mails] == ["gm@example.com", "ops-lead@example.com"]
    for mail in mails:
        assert mail.attachments == []
        assert "Customer feedback monthly report 2026-10" in mail.subject
        assert "download them from the archive" in mail.body
        assert "monthly/2026-10/v1/feedback-report-2026-10.xlsx" in mail.body
