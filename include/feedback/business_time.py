"""The business time zone: settings.yaml `timezone`, the one source for every time people read or schedule by.

Times are stored in UTC. Mails, pages, reports and retention cut-offs show and count
them in this zone, and the DAGs' cron timetables run in it (feedback_airflow.defaults
takes it from here; tests/dags/test_dag_integrity.py checks that they agree). Nothing
else names a zone: a deployment in another zone changes one line of settings.yaml.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from feedback.paths import config_dir
from feedback.settings import load_settings


def business_zone(directory: Path | None = None) -> ZoneInfo:
    """The zone of settings.yaml in `directory` (default: the configuration in use); a bad name is a ConfigError."""
    return _zone_of(directory or config_dir())


@lru_cache(maxsize=8)
def _zone_of(directory: Path) -> ZoneInfo:
    return ZoneInfo(load_settings(directory).timezone)
