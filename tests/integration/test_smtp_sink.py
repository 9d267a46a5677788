"""The local SMTP capture server stores each received message as an .eml file, byte for byte."""

from __future__ import annotations

import email
import smtplib
from email.message import EmailMessage
from email.policy import default

from feedback_dev import smtp_sink


def test_every_message_becomes_an_eml_file(tmp_path):
    sink = smtp_sink.start(tmp_path)
    try:
        for n in range(2):
            msg = EmailMessage()
            msg["From"] = "pipeline@example.com"
            msg["To"] = "ops@example.com"
            msg["Subject"] = f"月度报告 {n}"
            msg["Message-ID"] = f"<report-{n}@feedback.local>"
            msg.set_content("报告已生成。")
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
                smtp.send_message(msg)
    finally:
        sink.stop()
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 2
    parsed = [email.message_from_bytes(p.read_bytes(), policy=default) for p in files]
    assert [m["Message-ID"] for m in parsed] == ["<report-0@feedback.local>", "<report-1@feedback.local>"]
    assert parsed[1]["Subject"] == "月度报告 1"
    assert parsed[0].get_content().strip() == "报告已生成。"
