"""Defaults every feedback DAG shares: owner, retries, start date, the intake asset."""

from __future__ import annotations

from datetime import datetime, timedelta

import pendulum
from airflow.sdk import Asset

OWNER = "feedback-ops"
START_DATE = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
# Produced by every ingest DAG when it stores new intake rows; triage is scheduled on it.
INTAKE_ASSET = Asset("feedback://register/intake")


def default_args(**overrides) -> dict:
    """I/O-bound tasks retry with backoff; a register restart should not page anyone."""
    args = {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    }
    args.update(overrides)
    return args


def tags(*extra: str) -> list[str]:
    return ["feedback", *extra]


def run_instant(context) -> datetime:
    """The instant a run stands for: its data interval's end, or when it was due (manual runs).

    Business logic takes times from here, never from the wall clock, so a re-run of
    the same interval writes the same values.
    """
    end = context.get("data_interval_end")
    if end is not None:
        return end
    return context["dag_run"].run_after
