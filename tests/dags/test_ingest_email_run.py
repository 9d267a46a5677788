"""feedback_ingest_email run through Airflow (dag.test): one mapped task per mailbox, IMAP and drop folder."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import load_dag, scalar
from mail_samples import mail

PHONE, ADDRESS = "13912345678", "li.si.private@example.cn"


@pytest.fixture
def dag(airflow_db):
    return load_dag("feedback_ingest_email.py", "feedback_ingest_email")


def test_each_mailbox_is_read_once_over_imap_or_its_drop_folder(dag, register, imap_user, tmp_path, monkeypatch,
                                                                capfd):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    imap_user.create_folder("Sent")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_IMAP_SUPPORT", imap_user.uri("plain"))
    for n in range(1, 4):
        imap_user.append("INBOX", mail(n, sender=f"李四 <{ADDRESS}>", body=f"请回电 {PHONE}，订单 {n} 没到。"))
    # complaints has no connection: it is read from its Maildir drop folder (channels.yaml).
    maildir = tmp_path / "landing" / "mail" / "complaints"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1760000001.M1.mx").write_bytes(mail(9, sender=ADDRESS))

    first = dag.test(logical_date=datetime(2026, 10, 12, tzinfo=UTC))
    assert first.state == "success"
    mapped = [ti for ti in first.get_task_instances() if ti.task_id == "ingest_mailbox"]
    assert sorted(ti.map_index for ti in mapped) == [0, 1]
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE source = 'support'") == 3
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE source = 'complaints'") == 1

    second = dag.test(logical_date=datetime(2026, 10, 12, 0, 5, tzinfo=UTC))
    assert second.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 4

    logs = capfd.readouterr()
    text = logs.out + logs.err
    assert "ingest_mailbox" in text, "expected the task's log output to be captured"
    for secret in (PHONE, ADDRESS, "李四", imap_user.password):
        assert secret not in text, "personal data or a password appeared in the task logs"


def test_an_unreachable_imap_server_fails_the_task_with_one_clear_line(dag, register, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_IMAP_SUPPORT", "imap://ops:s3cret-pw@127.0.0.1:9?security=plain")
    for task in dag.tasks:
        monkeypatch.setattr(task, "retries", 0)
    run = dag.test(logical_date=datetime(2026, 10, 13, tzinfo=UTC))
    assert run.state == "failed"
    text = "".join(capfd.readouterr())
    assert "127.0.0.1:9" in text
    assert "s3cret-pw" not in text
