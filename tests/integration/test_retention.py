"""Retention against a real register: raw payloads, vault entries, old closed items — and the dry run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback.privacy import vault
from feedback.privacy.retention import run_retention

NOW = datetime(2027, 12, 1, 3, 30, tzinfo=UTC)
PHONE = "13812345678"


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    return tmp_path


def add_intake(conn, n, received, status="triaged", attachment=None):
    payload = {"body": f"请回电 {PHONE}", "contact": {"phone": PHONE},
               "attachments": [{"filename": "a.png", "ref": attachment, "stored": True}] if attachment else []}
    return conn.execute(sa.text(
        """INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256, status)
           VALUES ('email', 'support', :e, :t, CAST(:p AS jsonb), :h, :s) RETURNING id"""),
        {"e": f"<r{n}@x>", "t": received, "p": json.dumps(payload), "h": "0" * 64, "s": status}).scalar_one()


def add_item(conn, n, vault_id, status, closed_at=None):
    conn.execute(sa.text(
        """INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at, description,
                                          priority, status, closed_at, contact_vault_id, contact_refs)
           VALUES (:no, 'email', 'support', :t, :t, '请回电 138****5678', 'medium', :s, :c, :v,
                   CAST(:refs AS jsonb))"""),
        {"no": f"20260101-{n:03d}", "t": (closed_at or NOW) - timedelta(days=3), "s": status, "c": closed_at,
         "v": vault_id, "refs": json.dumps({"phone": vault_id})})


def test_retention_purges_what_expired_and_a_dry_run_changes_nothing(register, local):
    attachments = local / "attachments" / "ab"
    attachments.mkdir(parents=True)
    (attachments / "ab-old").write_bytes(b"old screenshot")
    (attachments / "ab-shared").write_bytes(b"shared")
    with register.begin() as conn:
        add_intake(conn, 1, NOW - timedelta(days=120), attachment="ab/ab-old")
        add_intake(conn, 2, NOW - timedelta(days=120), attachment="ab/ab-shared")
        add_intake(conn, 3, NOW - timedelta(days=10), attachment="ab/ab-shared")   # recent: keeps the file alive
        add_intake(conn, 4, NOW - timedelta(days=120), status="new")                # triage not done: kept
        old, kept, open_ = vault.store_contacts(conn, [("phone", "13800000001"), ("phone", "13800000002"),
                                                       ("phone", "13800000003")], NOW - timedelta(days=800))
        add_item(conn, 1, old, "closed", NOW - timedelta(days=400))          # closed > 1 year: purge
        add_item(conn, 2, kept, "closed", NOW - timedelta(days=100))         # closed recently: keep
        add_item(conn, 3, open_, "closed", NOW - timedelta(days=500))
        add_item(conn, 4, open_, "in_progress")                              # same customer, still open: keep
        add_item(conn, 5, kept, "closed", NOW - timedelta(days=700))

    planned = run_retention(register, NOW, dry_run=True)
    assert (planned.payloads, planned.vault_entries) == (2, 1)
    assert planned.exported_months == ["2025-12", "2026-07", "2026-10"] and planned.exported_items == 3
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE payload ? 'purged_at'") == 0
    assert scalar(register, "SELECT count(*) FROM feedback.contact_vault WHERE ciphertext IS NULL") == 0
    assert not (local / "archive" / "closed-items").exists()

    done = run_retention(register, NOW)
    assert (done.payloads, done.attachments, done.vault_entries) == (2, 1, 1)
    assert not (attachments / "ab-old").exists() and (attachments / "ab-shared").exists()
    with register.connect() as conn:
        payloads = dict(conn.execute(sa.text("SELECT external_id, payload FROM feedback.intake")).all())
    assert PHONE not in json.dumps(payloads["<r1@x>"]) and "purged_at" in payloads["<r1@x>"]
    assert PHONE in json.dumps(payloads["<r3@x>"]) and PHONE in json.dumps(payloads["<r4@x>"])
    assert scalar(register, "SELECT id FROM feedback.contact_vault WHERE ciphertext IS NULL") == old
    assert scalar(register, "SELECT identity_hash FROM feedback.contact_vault WHERE id = :i", i=old)
    with pytest.raises(Exception, match="purged"):
        with register.begin() as conn:
            vault.reveal(conn, old, actor="test", purpose="check", at=NOW)

    exported = sorted((local / "archive" / "closed-items").glob("*.parquet"))
    assert [p.name for p in exported] == ["closed-items-2025-12.parquet", "closed-items-2026-07.parquet",
                                          "closed-items-2026-10.parquet"]
    table = pq.read_table(exported[0]).to_pylist()
    assert [r["feedback_no"] for r in table] == ["20260101-005"]
    assert "13800000002" not in json.dumps(table, default=str)

    again = run_retention(register, NOW)
    assert (again.payloads, again.attachments, again.vault_entries, again.exported_months) == (0, 0, 0, [])


def test_landed_web_form_fields_are_purged_once_moved_and_old(register, local):
    rows = [("wf-" + "a" * 26, NOW - timedelta(days=200), NOW - timedelta(days=200)),   # moved, old: purged
            ("wf-" + "b" * 26, NOW - timedelta(days=200), None),                          # not moved yet: kept
            ("wf-" + "c" * 26, NOW - timedelta(days=5), NOW - timedelta(days=5))]         # moved, recent: kept
    with register.begin() as conn:
        for receipt, received, moved in rows:
            conn.execute(sa.text(
                """INSERT INTO feedback.webform_submission (form, receipt_id, received_at, fields, client_hash,
                                                            moved_at)
                   VALUES ('contact_zh', :r, :t, CAST(:f AS jsonb), 'h', :m)"""),
                {"r": receipt, "t": received, "m": moved, "f": json.dumps({"phone": PHONE, "message": "请回电"})})
    assert run_retention(register, NOW, dry_run=True).landed == 1
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission WHERE fields ? 'purged_at'") == 0
    assert run_retention(register, NOW).landed == 1
    kept = scalar(register, "SELECT string_agg(fields::text, ' ') FROM feedback.webform_submission")
    assert kept.count(PHONE) == 2
    assert scalar(register, "SELECT fields ? 'purged_at' FROM feedback.webform_submission WHERE receipt_id = :r",
                  r="wf-" + "a" * 26)
    assert run_retention(register, NOW).landed == 0
