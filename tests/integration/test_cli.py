"""The operator CLI as a user runs it: real processes, real register, one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def feedback(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "include"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "feedback.cli", *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_migrate_then_status(register):
    # The register fixture is already migrated: migrate reports nothing to do.
    from feedback.db.migrations import discover

    migrations = discover()
    out = feedback("migrate")
    assert out.returncode == 0, out.stderr
    assert f"0 applied, {len(migrations)} already present" in out.stderr
    status = feedback("status", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["tables"]["intake"] == 0
    assert doc["migrations"] == [f"{m.version}_{m.name}" for m in migrations]
    assert "password" not in doc["register"]


def test_status_counts_rows_per_channel(register):
    import sqlalchemy as sa

    with register.begin() as conn:
        for i, channel in enumerate(["email", "email", "webform"]):
            conn.execute(
                sa.text(
                    "INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256)"
                    " VALUES (:c, 's', :e, now(), '{}', :h)"
                ),
                {"c": channel, "e": f"x{i}", "h": "0" * 64},
            )
    out = feedback("status")
    assert out.returncode == 0, out.stderr
    assert "intake by channel:" in out.stdout
    lines = [line.split() for line in out.stdout.splitlines()]
    assert ["email", "2"] in lines and ["webform", "1"] in lines


def test_unreachable_register_is_one_line_naming_host_port_and_setting():
    port = _closed_port()
    out = feedback("status", env={"AIRFLOW_CONN_FEEDBACK_DB": f"postgresql://u:secretpw@127.0.0.1:{port}/reg"})
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "AIRFLOW_CONN_FEEDBACK_DB" in lines[0]
    assert "Traceback" not in out.stderr and "secretpw" not in out.stderr


def test_bad_connection_value_is_one_line():
    out = feedback("migrate", env={"AIRFLOW_CONN_FEEDBACK_DB": "mysql://x@h/db"})
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: AIRFLOW_CONN_FEEDBACK_DB: expected a postgres:// or postgresql:// URI, got scheme 'mysql'"
    )


def test_config_check_reports_the_bad_key(tmp_path):
    (tmp_path / "settings.yaml").write_text("timezone: Asia/Shanghai\n")
    (tmp_path / "channels.yaml").write_text("webforms:\n  forms:\n    - name: a\n      max_bytes: lots\n")
    out = feedback("config", "check", "--dir", str(tmp_path))
    assert out.returncode == 2
    assert "channels.yaml: webforms.forms[0].max_bytes: expected a whole number, got 'lots'" in out.stderr
    assert "Traceback" not in out.stderr


def test_config_check_accepts_the_shipped_files():
    out = feedback("config", "check")
    assert out.returncode == 0, out.stderr
    assert "configuration OK" in out.stderr


def test_config_check_keeps_its_older_spelling(tmp_path):
    (tmp_path / "settings.yaml").write_text("timezone: Mars/Olympus\n")
    out = feedback("config-check", "--dir", str(tmp_path))
    assert out.returncode == 2
    assert "settings.yaml: timezone: unknown time zone 'Mars/Olympus'" in out.stderr


def test_db_url_prints_a_libpq_url(register):
    out = feedback("db-url")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("postgresql://") and out.stdout.strip().endswith(register.url.database)


@pytest.mark.parametrize("args", [["--help"], ["status", "--help"]])
def test_help_works_without_a_register(args):
    assert feedback(*args).returncode == 0


def test_psql_passes_its_arguments_through(register):
    out = feedback("psql", "-At", "-c", "SELECT min(version) FROM feedback.schema_migrations")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "001"


def test_unknown_arguments_are_refused_for_other_commands():
    out = feedback("status", "--bogus")
    assert out.returncode == 2 and "unrecognized arguments: --bogus" in out.stderr


def test_classify_shows_the_whole_decision_with_masked_text():
    out = feedback("classify", "--json", "支付失败了，扣了钱订单没成功！请联系13812345678")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["priority"] == "urgent" and doc["categories"] == ["function_problem"]
    assert doc["department"] and doc["rule_ids"] and 0 <= doc["confidence"] <= 1
    assert "138****5678" in doc["masked_text"] and "13812345678" not in out.stdout
    preset_b = json.loads(feedback("classify", "--json", "--preset", "B", "多扣费了，优惠也没生效").stdout)
    assert "fee_dispute" in preset_b["categories"]


def test_vip_add_stores_hashes_only(register):
    import sqlalchemy as sa

    out = feedback("vip", "add", "138 1234 5678", "VIP@Example.com", "not-a-contact")
    assert out.returncode == 1 and "2 contact(s) stored" in out.stderr and "1 not a phone" in out.stderr
    with register.connect() as conn:
        stored = conn.execute(sa.text("SELECT kind, identity_hash FROM feedback.customer_tier ORDER BY kind")).all()
    assert [k for k, _ in stored] == ["email", "phone"]
    assert all("1381234" not in h and "example" not in h for _, h in stored)


def test_vault_rotate_keys_reports_counts(register):
    out = feedback("vault", "rotate-keys")
    assert out.returncode == 0, out.stderr
    assert "'contact_vault': 0" in out.stderr


def test_sla_recompute_reports_counts(register):
    out = feedback("sla", "recompute", "--reason", "2027 holidays added")
    assert out.returncode == 0, out.stderr
    assert "deadlines recomputed: 0 open item(s) checked" in out.stderr


def test_quarantine_list_and_retry(register):
    from datetime import UTC, datetime

    from feedback.channels.base import Rejected
    from feedback.channels.store import store_batch

    good = (b"From: a@example.net\nSubject: refund\nMessage-ID: <cli1@example.net>\n\n"
            b"Refund not received, call 13812345678\n")
    store_batch(register, "email", "support/INBOX", [], [
        Rejected("email", "support/INBOX", "uid:1", "parse_error", "ValueError while parsing 90 bytes", good),
        Rejected("email", "support/INBOX", "uid:2", "not_a_mail", "no header block", b"\x00\x01junk"),
    ], {"uidvalidity": 1, "last_uid": 2}, datetime(2026, 10, 1, tzinfo=UTC))
    listed = feedback("quarantine", "list")
    assert listed.returncode == 0, listed.stderr
    assert "uid:1" in listed.stdout and "not_a_mail" in listed.stdout
    assert "13812345678" not in listed.stdout
    assert "2 parked item(s)" in listed.stderr
    as_json = json.loads(feedback("quarantine", "list", "--reason", "not_a_mail", "--json").stdout)
    assert [r["external_ref"] for r in as_json] == ["uid:2"]
    refused = feedback("quarantine", "retry")
    assert refused.returncode == 2 and "--all" in refused.stderr
    retried = feedback("quarantine", "retry", "--all", "--channel", "email")
    assert retried.returncode == 0, retried.stderr
    assert "1 now in intake, 1 still parked" in retried.stderr
    with register.connect() as conn:
        stored = conn.exec_driver_sql("SELECT external_id FROM feedback.intake").scalars().all()
    assert stored == ["<cli1@example.net>"]


def test_an_unmigrated_register_says_run_migrate(empty_db):
    url = empty_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    out = feedback("report", "monthly", "--month", "2026-10", env={"AIRFLOW_CONN_FEEDBACK_DB": url})
    assert out.returncode == 2, out.stderr[-2000:]
    assert "run `feedback migrate`" in out.stderr and "Traceback" not in out.stderr


def _old_intake_with_a_legal_hold(register, now):
    """Three raw payloads past retention; a constraint (a DBA's legal hold) refuses the purge of one."""
    import sqlalchemy as sa

    with register.begin() as conn:
        ids = [conn.execute(sa.text(
            """INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256, status)
               VALUES ('email', 'support', :e, :t, CAST(:p AS jsonb), repeat('0', 64), 'triaged') RETURNING id"""),
            {"e": f"<cli-old{n}@x>", "t": now - timedelta(days=120),
             "p": json.dumps({"body": "请回电 13812345678"})}).scalar_one() for n in range(3)]
        conn.execute(sa.text(f"ALTER TABLE feedback.intake ADD CONSTRAINT legal_hold_chk "
                             f"CHECK (id <> {ids[1]} OR NOT (payload ? 'purged_at'))"))
    return ids


def test_run_a_dag_now_then_list_and_release_its_held_row(airflow_db, register, tmp_path):
    import sqlalchemy as sa

    now = datetime(2027, 12, 1, 3, 30, tzinfo=UTC)
    ids = _old_intake_with_a_legal_hold(register, now)
    env = {"FEEDBACK_LOCAL_DIR": str(tmp_path)}

    ran = feedback("run", "feedback_retention", "--at", "2027-12-01T11:30", env=env)   # business time (+08:00)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "apply_retention" in ran.stderr and "success" in ran.stderr
    with register.connect() as conn:
        purged = set(conn.execute(sa.text("SELECT id FROM feedback.intake WHERE payload ? 'purged_at'")).scalars())
    assert purged == {ids[0], ids[2]}

    listed = feedback("quarantine", "list")
    assert listed.returncode == 0, listed.stderr
    [line] = [x for x in listed.stdout.splitlines() if "retention" in x]
    assert "feedback.intake" in line and f"row {ids[1]}" in line and "check_violation" in line
    assert "13812345678" not in listed.stdout
    assert "1 held row(s)" in listed.stderr
    as_json = json.loads(feedback("quarantine", "list", "--stage", "retention", "--json").stdout)
    [hold] = as_json
    assert (hold["kind"], hold["stage"], hold["row_ref"]) == ("held", "retention", str(ids[1]))

    refused = feedback("quarantine", "release")
    assert refused.returncode == 2 and "--all" in refused.stderr
    bad = feedback("quarantine", "release", "17")
    assert bad.returncode == 2 and "held:<n>" in bad.stderr
    with register.begin() as conn:   # the fix: the legal hold ends
        conn.execute(sa.text("ALTER TABLE feedback.intake DROP CONSTRAINT legal_hold_chk"))
    released = feedback("quarantine", "release", "--all", "--stage", "retention")
    assert released.returncode == 0 and "released 1 hold(s)" in released.stderr

    again = feedback("run", "feedback_retention", "--at", "2027-12-02T11:30", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    with register.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM feedback.intake WHERE payload ? 'purged_at'")).scalar() == 3
    assert "0 held row(s)" in feedback("quarantine", "list", "--stage", "retention").stderr


def test_run_says_one_line_for_an_unknown_dag_and_for_a_failed_task(airflow_db, register, tmp_path):
    unknown = feedback("run", "feedback_nonesuch")
    assert unknown.returncode == 2
    [line] = [x for x in unknown.stderr.splitlines() if x.startswith("error:")]
    assert "no DAG 'feedback_nonesuch'" in line and "feedback_retention" in line
    assert "Traceback" not in unknown.stderr

    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "probe.py").write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import dag, task\n\n\n"
        "@dag(dag_id='probe_fails', schedule=None, start_date=datetime(2026, 1, 1), catchup=False, doc_md='probe')\n"
        "def probe_fails():\n"
        "    @task(retries=0)\n"
        "    def works():\n"
        "        return 1\n\n"
        "    @task(retries=0)\n"
        "    def breaks(_):\n"
        "        raise RuntimeError('broken on purpose')\n\n"
        "    breaks(works())\n\n\n"
        "probe_fails()\n")
    failed = feedback("run", "probe_fails", "--at", "2026-10-16T10:00+08:00",
                      env={"AIRFLOW__CORE__DAGS_FOLDER": str(folder)})
    assert failed.returncode == 2, failed.stderr[-3000:]
    [line] = [x for x in failed.stderr.splitlines() if x.startswith("error:")]
    assert "probe_fails" in line and "breaks" in line and "works" not in line.split("not successful")[1]
    bad_time = feedback("run", "feedback_retention", "--at", "yesterday")
    assert bad_time.returncode == 2 and "--at: not a time" in bad_time.stderr


def test_reclassify_with_a_malformed_number_names_the_format():
    for bad in ("2026-10-14-3", "abc", "20261014003"):
        out = feedback("reclassify", bad, "service_complaint")
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "e.g. 20261014-003" in lines[0] and "Traceback" not in out.stderr, out.stderr
