"""The register engine and the outgoing mail server as seen from inside an Airflow task.

Connections come from the product's one lookup (`feedback.connections.value`), which in
an Airflow deployment is `feedback_airflow.connections.AirflowConnections`: an
`AIRFLOW_CONN_<ID>` variable, the UI (metadata database) or a secrets backend. With
no `feedback_db` anywhere, the embedded register is used, as in the demo.
"""

from __future__ import annotations

import os

from feedback import connections


def feedback_db_uri() -> str | None:
    """The feedback_db connection's URI from Airflow, or None to use the defaults.

    None when `AIRFLOW_CONN_FEEDBACK_DB` is set: `feedback.db.engine` reads it itself and
    names it in its messages.
    """
    if os.environ.get(connections.env_name("feedback_db")):
        return None
    return connections.value("feedback_db")


def register_engine():
    """A checked engine on the register; raises one clear line if it is unreachable."""
    from feedback.db.engine import get_engine

    return get_engine(feedback_db_uri())


def connection_uri(conn_id: str) -> str | None:
    """A connection's URI or JSON value from the deployment's lookup; None if it is not set anywhere."""
    return connections.value(conn_id)


def smtp_uri() -> str | None:
    """The feedback_smtp connection's URI (outgoing mail)."""
    return connection_uri("feedback_smtp")


def smtp_settings():
    """The outgoing mail server from feedback_smtp, or None (the sender then reads its own defaults)."""
    from feedback.notify.sender import SmtpSettings

    uri = smtp_uri()
    return SmtpSettings.from_uri(uri, "the feedback_smtp connection") if uri else None
