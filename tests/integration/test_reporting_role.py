"""The reporting role reads masked views only; the vault and intake payloads are refused (real logins)."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
import sqlalchemy as sa


@pytest.fixture
def reporting_login(register):
    name = f"rep_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    with register.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE feedback_reporting")
    url = register.url
    yield {"host": url.host, "port": url.port, "dbname": url.database, "user": name, "password": password}
    with register.begin() as conn:
        conn.exec_driver_sql(f"DROP OWNED BY {name}")
        conn.exec_driver_sql(f"DROP ROLE {name}")


def _query(login, sql):
    with psycopg2.connect(**login) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


@pytest.mark.parametrize(
    "view", ["v_feedback", "v_feedback_event", "v_feedback_deadline", "v_sla_breach", "v_callback_task",
             "v_report_archive", "v_intake_summary", "v_feedback_identity"],
)
def test_reporting_reads_the_masked_views(reporting_login, view):
    assert _query(reporting_login, f"SELECT count(*) FROM feedback.{view}") == [(0,)]


@pytest.mark.parametrize(
    "table", ["contact_vault", "intake", "feedback", "feedback_event", "quarantine", "contact_reveal", "outbox"],
)
def test_reporting_is_refused_the_tables(reporting_login, table):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _query(reporting_login, f"SELECT * FROM feedback.{table} LIMIT 1")


def test_masked_views_expose_no_vault_reference_or_payload(register):
    with register.connect() as conn:
        columns = set(
            conn.execute(
                sa.text("SELECT column_name FROM information_schema.columns WHERE table_schema = 'feedback' "
                        "AND table_name LIKE 'v\\_%'")
            ).scalars()
        )
    assert not columns & {"contact_vault_id", "contact_refs", "payload", "ciphertext", "raw_encrypted"}


def test_every_report_section_runs_as_the_reporting_role(reporting_login, register):
    """Reports read masked views only: the month's and the week's sections all run under the role."""
    from datetime import date

    from feedback.reports.sections import Period, monthly_sections, weekly_sections

    url = register.url.set(username=reporting_login["user"], password=reporting_login["password"])
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            headline, monthly = monthly_sections(conn, Period.month("2026-10"))
            _, weekly = weekly_sections(conn, Period.week_before(date(2026, 10, 26)))
    finally:
        engine.dispose()
    assert len(monthly) >= 17 and len(weekly) == 3
    assert headline[0].value == 0
