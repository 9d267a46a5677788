"""Airflow plugin `feedback_web`: serves the feedback web app at /feedback on Airflow's API server.

Every Airflow component imports plugins, so this module only builds the app: the
register, the configuration and the secrets are resolved by the first request; secrets
through `feedback.connections.value`, i.e. Airflow's own stores (feedback_airflow.connections).
URLs: POST /feedback/intake/<form>, GET /feedback/forms/<form>, /feedback/static/…,
/feedback/survey/<token>, /feedback/console/ (the callback team's console), /feedback/healthz.
"""

from __future__ import annotations

import logging

from airflow.plugins_manager import AirflowPlugin

from feedback.web import console_auth
from feedback.web.app import URL_PREFIX, create_app
from feedback_airflow.console_login import AirflowLogin

log = logging.getLogger(__name__)


def _register_engine():
    """The register: AIRFLOW_CONN_FEEDBACK_DB, else the feedback_db connection stored in Airflow."""
    from feedback.db.engine import get_engine
    from feedback_airflow.register import feedback_db_uri

    return get_engine(feedback_db_uri())


# The console's FEEDBACK_CONSOLE_AUTH=airflow mode: Airflow's login, which the product does not import.
console_auth.use_host_login(AirflowLogin())


class FeedbackWebPlugin(AirflowPlugin):
    name = "feedback_web"
    fastapi_apps = [
        {
            "app": create_app(engine=_register_engine),
            "url_prefix": URL_PREFIX,
            "name": "Feedback: form intake, survey, callback console",
        }
    ]
