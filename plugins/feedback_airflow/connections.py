"""The connection lookup of an Airflow deployment: Airflow's own stores, not only the environment.

Registered as the `feedback.connections` entry point (pyproject.toml), so every part of
the product that asks `feedback.connections.value(conn_id)` (tasks, the web app on
the API server, the `feedback` CLI in the image) sees a connection however the operator
set it: an `AIRFLOW_CONN_<ID>` variable, the UI (Airflow's metadata database) or a
secrets backend.
"""

from __future__ import annotations

import logging
import os
import sys

from feedback.connections import EnvironmentConnections

log = logging.getLogger(__name__)

# Any of these says this process belongs to an Airflow installation whose stores can be read.
AIRFLOW_SETTINGS = ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__SECRETS__BACKEND")


class AirflowConnections:
    """`AIRFLOW_CONN_<ID>` first (no Airflow import), then Airflow's secrets backends and metadata database."""

    def get(self, conn_id: str) -> str | None:
        value = EnvironmentConnections().get(conn_id)
        if value or not (_in_task() or any(os.environ.get(name) for name in AIRFLOW_SETTINGS)):
            # Outside Airflow (no settings) a lookup would create ~/airflow/airflow.db to find nothing in it.
            return value
        try:
            return _stored(conn_id)
        except Exception as exc:  # noqa: BLE001 - an unreadable store means "not set"; said once in the log
            log.warning("cannot read connection %s from Airflow: %s", conn_id, type(exc).__name__)
            return None


def _stored(conn_id: str) -> str | None:
    """The connection's URI from Airflow, by the road Airflow allows in this process.

    Inside a task (Task SDK supervisor present) only the execution API may be asked:
    `airflow.sdk.Connection.get`. Elsewhere (the API server, the CLI)
    `Connection.get_connection_from_secrets` reads the configured secrets backends, the
    environment and the metadata database, as `airflow connections get` does.
    """
    from airflow.exceptions import AirflowNotFoundException

    try:
        if _in_task():
            from airflow.sdk import Connection

            return Connection.get(conn_id).get_uri()
        from airflow.models.connection import Connection as StoredConnection

        return StoredConnection.get_connection_from_secrets(conn_id).get_uri()
    except AirflowNotFoundException:
        return None



def _in_task() -> bool:
    """Inside a task run by the Task SDK supervisor (which then holds the only road to the stores)."""
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None
