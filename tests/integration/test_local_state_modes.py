"""Local state is private: captured mail, report files and their folders are the owner's alone (0600/0700).

The outbox holds customers' addresses and the archive the business figures; on a shared
development machine neither may be readable by other local users.
"""

from __future__ import annotations

import smtplib
import stat
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

from feedback.reports.archive import archive
from feedback.reports.produce import stage
from feedback_dev import smtp_sink


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_captured_mail_is_owner_only(tmp_path):
    folder = tmp_path / "state" / "outbox"
    sink = smtp_sink.start(folder)
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "ops@example.com", "customer@example.org", "receipt"
        msg.set_content("hello")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
            client.send_message(msg)
    finally:
        sink.stop()
    mails = list(folder.glob("*.eml"))
    assert len(mails) == 1 and b"customer@example.org" in mails[0].read_bytes()
    assert mode(mails[0]) == 0o600
    assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
    assert not list(folder.glob("*.part"))


def test_report_files_are_owner_only(register, tmp_path):
    with register.begin() as conn:
        result = archive(conn, str(tmp_path / "archive"), kind="monthly", start=date(2026, 10, 1),
                         end=date(2026, 10, 31), files={"r.pdf": b"pdf", "r.xlsx": b"xlsx"},
                         content_hash="a" * 64, created_at=datetime(2026, 11, 1, tzinfo=UTC))
    assert len(result.files) == 2
    for archived in result.files:
        assert mode(Path(archived.location)) == 0o600, archived.location
    version_dir = tmp_path / "archive" / "monthly" / "2026-10" / "v1"
    for folder in (version_dir, version_dir.parent, version_dir.parent.parent, tmp_path / "archive"):
        assert mode(folder) == 0o700, folder
    staged = stage({"r.pdf": b"pdf"}, tmp_path / "reports" / "monthly" / "2026-10" / "v1")
    assert mode(staged["r.pdf"]) == 0o600 and mode(staged["r.pdf"].parent) == 0o700
