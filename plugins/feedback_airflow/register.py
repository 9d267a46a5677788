"""The register engine as seen from inside an Airflow task.

`AIRFLOW_CONN_FEEDBACK_DB` is read by `feedback.db.engine` directly; a
`feedback_db` connection stored in Airflow's metadata database (set in the UI or
a secrets backend) is looked up here and passed down. With neither, the embedded
register is used, as in the demo.
"""

from __future__ import annotations

import os


def feedback_db_uri() -> str | None:
    """The feedback_db connection's URI from Airflow, or None to use the defaults."""
    if os.environ.get("AIRFLOW_CONN_FEEDBACK_DB"):
        return None
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection("feedback_db")
    except AirflowNotFoundException:
        return None
    return conn.get_uri()


def register_engine():
    """A checked engine on the register; raises one clear line if it is unreachable."""
    from feedback.db.engine import get_engine

    return get_engine(feedback_db_uri())


def connection_uri(conn_id: str) -> str | None:
    """A connection's URI: its AIRFLOW_CONN_<ID> variable, or Airflow's stored connection; None if neither."""
    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if value:
        return value
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id).get_uri()
    except AirflowNotFoundException:
        return None


def smtp_uri() -> str | None:
    """The feedback_smtp connection's URI (outgoing mail)."""
    return connection_uri("feedback_smtp")


def smtp_settings():
    """The outgoing mail server from feedback_smtp, or None (the sender then reads its own defaults)."""
    from feedback.notify.sender import SmtpSettings

    uri = smtp_uri()
    return SmtpSettings.from_uri(uri, "the feedback_smtp connection") if uri else None
