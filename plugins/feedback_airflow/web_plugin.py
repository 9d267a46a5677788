"""Airflow plugin `feedback_web`: serves the feedback web app at /feedback on Airflow's API server.

Every Airflow component imports plugins, so this module only builds the app: the
register, the configuration and the secrets are resolved by the first request.
URLs: POST /feedback/intake/<form>, GET /feedback/forms/<form>, /feedback/static/…,
/feedback/survey/<token>, /feedback/console/ (the callback team's console), /feedback/healthz.
"""

from __future__ import annotations

import logging
import os

from airflow.plugins_manager import AirflowPlugin

from feedback.web import console_auth
from feedback.web.app import URL_PREFIX, create_app
from feedback_airflow.console_login import AirflowLogin

log = logging.getLogger(__name__)


def _register_engine():
    """The register: AIRFLOW_CONN_FEEDBACK_DB, else the feedback_db connection stored in Airflow."""
    from feedback.db.engine import CONN_ENV, get_engine

    return get_engine(None if os.environ.get(CONN_ENV) else _connection_value("feedback_db"))


def _connection_value(conn_id: str) -> str | None:
    """AIRFLOW_CONN_<ID>, else the connection stored in Airflow (UI or secrets backend); None if neither."""
    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if value:
        return value
    try:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.models.connection import Connection
    except ImportError:
        return None
    try:
        return Connection.get_connection_from_secrets(conn_id).get_uri()
    except AirflowNotFoundException:
        return None
    except Exception as exc:  # noqa: BLE001 - an unreadable secrets backend means "not configured" (503)
        log.error("cannot read connection %s from Airflow: %s", conn_id, type(exc).__name__)
        return None


# The console's FEEDBACK_CONSOLE_AUTH=airflow mode: Airflow's login, which the product does not import.
console_auth.use_host_login(AirflowLogin())


class FeedbackWebPlugin(AirflowPlugin):
    name = "feedback_web"
    fastapi_apps = [
        {
            "app": create_app(engine=_register_engine, connection_lookup=_connection_value),
            "url_prefix": URL_PREFIX,
            "name": "Feedback: form intake, survey, callback console",
        }
    ]
