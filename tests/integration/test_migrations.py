"""The migration runner and schema v1, against a real PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback.db.migrations import discover, migrate
from feedback.errors import MigrationError
from feedback.paths import migrations_dir

DESIGN_TABLES = {
    "intake", "feedback", "feedback_event", "contact_vault", "quarantine", "channel_cursor",
    "sla_breach", "outbox", "callback_task", "report_archive", "schema_migrations",
}


def _tables(engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'feedback'")
            ).scalars()
        )


def test_applies_every_design_table_and_records_checksums(empty_db):
    report = migrate(empty_db)
    assert report.applied == [m.path.name for m in discover()]
    assert DESIGN_TABLES <= _tables(empty_db)
    with empty_db.connect() as conn:
        recorded = dict(conn.execute(sa.text("SELECT version, checksum FROM feedback.schema_migrations")).tuples().all())
    assert recorded == {m.version: m.checksum for m in discover()}


def test_second_run_applies_nothing(empty_db):
    migrate(empty_db)
    again = migrate(empty_db)
    assert again.applied == []
    assert len(again.skipped) == len(discover())


def test_edited_applied_file_is_refused(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    migrate(empty_db, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match=rf"{first.name} was edited after it was applied"):
        migrate(empty_db, folder)


def test_new_file_is_applied_after_existing_ones(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    migrate(empty_db, folder)
    (folder / "900_add_probe.sql").write_text("CREATE TABLE probe (id int);")
    report = migrate(empty_db, folder)
    assert report.applied == ["900_add_probe.sql"]
    assert "probe" in _tables(empty_db)


def test_failed_migration_leaves_nothing_recorded(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    migrate(empty_db, folder)
    (folder / "901_broken.sql").write_text("CREATE TABLE half (id int);\nTHIS IS NOT SQL;")
    with pytest.raises(sa.exc.ProgrammingError):
        migrate(empty_db, folder)
    assert "half" not in _tables(empty_db)
    assert scalar(empty_db, "SELECT count(*) FROM feedback.schema_migrations WHERE version = '901'") == 0


@pytest.mark.parametrize("bad_name", ["1_short.sql", "002-dash.sql", "003_Upper.sql"])
def test_misnamed_files_are_rejected(tmp_path, bad_name):
    (tmp_path / bad_name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="must be named NNN_lowercase_name.sql"):
        discover(tmp_path)


def test_duplicate_numbers_are_rejected(tmp_path):
    (tmp_path / "004_a.sql").write_text("SELECT 1;")
    (tmp_path / "004_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="two migrations share number 004"):
        discover(tmp_path)


def test_applied_migration_missing_on_disk_is_an_error(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    (folder / "950_extra.sql").write_text("SELECT 1;")
    migrate(empty_db, folder)
    (folder / "950_extra.sql").unlink()
    with pytest.raises(MigrationError, match="950.*not in"):
        migrate(empty_db, folder)


def test_concurrent_runners_apply_each_file_once(empty_db, tmp_path):
    """Two runners at once: the advisory lock serialises them; each file applies exactly once."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    # A slow migration widens the window in which the two runners overlap.
    (folder / "960_slow.sql").write_text("SELECT pg_sleep(0.5); CREATE TABLE slow_probe (id int);")
    results, errors = [], []

    def run():
        try:
            results.append(migrate(empty_db, folder))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    applied = sorted(name for r in results for name in r.applied)
    assert applied == sorted(p.name for p in folder.glob("*.sql"))
    assert scalar(empty_db, "SELECT count(*) FROM feedback.schema_migrations") == len(applied)


# --- schema constraints ------------------------------------------------------------------------

NOW = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)


def _intake(conn, external_id="m-1", channel="email"):
    return conn.execute(
        sa.text(
            "INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256) "
            "VALUES (:c, 'support', :e, :t, '{}', :h) RETURNING id"
        ),
        {"c": channel, "e": external_id, "t": NOW, "h": "0" * 64},
    ).scalar_one()


def _feedback(conn, no="20261005-001", intake_id=None):
    return conn.execute(
        sa.text(
            "INSERT INTO feedback.feedback (feedback_no, intake_id, channel, source, received_at, registered_at, "
            "description, priority) VALUES (:n, :i, 'email', 'support', :t, :t, 'x', 'medium') RETURNING id"
        ),
        {"n": no, "i": intake_id, "t": NOW},
    ).scalar_one()


def test_intake_is_unique_per_channel_and_external_id(register):
    with register.begin() as conn:
        _intake(conn, "m-1", "email")
        _intake(conn, "m-1", "webform")  # same id on another channel is another item
    with pytest.raises(sa.exc.IntegrityError, match="intake_channel_external_id_key"), register.begin() as conn:
        _intake(conn, "m-1", "email")


def test_feedback_number_is_unique_and_well_formed(register):
    with register.begin() as conn:
        _feedback(conn, "20261005-001")
    with pytest.raises(sa.exc.IntegrityError, match="feedback_feedback_no_key"), register.begin() as conn:
        _feedback(conn, "20261005-001")
    with pytest.raises(sa.exc.IntegrityError, match="feedback_no_check"), register.begin() as conn:
        _feedback(conn, "2026-10-05/1")


def test_one_item_per_intake_row(register):
    with register.begin() as conn:
        intake_id = _intake(conn)
        _feedback(conn, "20261005-001", intake_id)
    with pytest.raises(sa.exc.IntegrityError, match="feedback_intake_id_key"), register.begin() as conn:
        _feedback(conn, "20261005-002", intake_id)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE feedback.feedback_event SET actor = 'someone'",
        "DELETE FROM feedback.feedback_event",
        "TRUNCATE feedback.feedback_event CASCADE",
    ],
)
def test_events_are_append_only(register, statement):
    with register.begin() as conn:
        item = _feedback(conn)
        conn.execute(
            sa.text(
                "INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at) VALUES (:f, 'created', :t)"
            ),
            {"f": item, "t": NOW},
        )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), register.begin() as conn:
        conn.execute(sa.text(statement))
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event") == 1


@pytest.mark.parametrize(
    ("table", "insert"),
    [
        (
            "feedback_event",
            "INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, dedup_key) "
            "VALUES (:f, 'created', :t, 'created:' || :f) ON CONFLICT (dedup_key) DO NOTHING",
        ),
        (
            "sla_breach",
            "INSERT INTO feedback.sla_breach (feedback_id, stage, kind, deadline_at, detected_at) "
            "VALUES (:f, 'first_response', 'breach', :t, :t) ON CONFLICT ON CONSTRAINT sla_breach_once_key DO NOTHING",
        ),
    ],
)
def test_natural_keys_make_reruns_harmless(register, table, insert):
    with register.begin() as conn:
        item = _feedback(conn)
    for _ in range(3):
        with register.begin() as conn:
            conn.execute(sa.text(insert), {"f": item, "t": NOW})
    assert scalar(register, f"SELECT count(*) FROM feedback.{table}") == 1


def test_outbox_customer_recipient_must_be_a_vault_reference(register):
    with pytest.raises(sa.exc.IntegrityError, match="outbox_customer_by_reference_chk"), register.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO feedback.outbox (kind, dedup_key, recipient, created_at) "
                "VALUES ('ack', 'ack:1', 'vault:7', :t)"
            ),
            {"t": NOW},
        )


def test_open_items_are_indexed_by_next_deadline(register):
    indexdef = scalar(
        register,
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'feedback' AND indexname = 'feedback_open_deadline_idx'",
    )
    assert indexdef is not None and "next_deadline_at" in indexdef and "WHERE" in indexdef
