"""Defaults every feedback DAG shares: owner, retries, timeouts, the failure alert, start date, the intake asset."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pendulum
from airflow.sdk import Asset, AssetAlias, CronDataIntervalTimetable, CronTriggerTimetable

from feedback.business_time import business_zone

OWNER = "feedback-ops"
# Every schedule runs in the business time zone of settings.yaml (read when the DAG files are parsed),
# so "06:00 on the 1st" means the office's 06:00; tests/dags/test_dag_integrity.py checks they agree.
ZONE = business_zone().key
START_DATE = pendulum.datetime(2026, 1, 1, tz=ZONE)
# Updated by an ingest task when it stored new intake rows; triage is scheduled on it.
INTAKE_ASSET = Asset("feedback://register/intake")
# What ingest tasks declare as their outlet. An Asset outlet gets an event on every successful
# run; through the alias an event is emitted only when `announce_intake` adds one, i.e. only
# when rows were stored, so triage is not started for nothing every five minutes.
INTAKE_ALIAS = AssetAlias("feedback-intake-stored")

# How long a task may run before Airflow stops it, by the kind of work it does. With
# max_active_runs=1 a hung task holds back every later run of its DAG, so every task has
# one; the figures are a few times the work measured at scale (docs/benchmarks.md).
TIMEOUTS = {
    "lookup": timedelta(minutes=2),      # read the configuration, list what to map over
    "deliver": timedelta(minutes=10),    # send pending outbox rows (SMTP, webhooks)
    "ingest": timedelta(minutes=10),     # one mailbox / drop folder / landing batch per run
    "pull": timedelta(minutes=25),       # a platform's paged API, within its 30-minute schedule
    "register": timedelta(minutes=10),   # set-based SQL over the register (monitor, callbacks)
    "triage": timedelta(minutes=30),     # ~1,000 items/s with the leak gate: a 1M-item backlog
    "train": timedelta(minutes=30),      # retrain the learned classifier on corrections
    "report": timedelta(minutes=30),     # figures, checks, Excel and PDF of a month (1M items < 1 min)
    "retention": timedelta(hours=1),     # purge and export closed items month by month
}

log = logging.getLogger(__name__)


def alert_on_failure(context) -> None:
    """A task failed for good: write one pipeline-failure alert per DAG run into the outbox.

    Same road as the SLA digests (escalation.yaml's e-mail and chat recipients, delivered
    by the next sender run); ids and the exception's type only, never its message. It
    must never raise: a failing alert is logged, the task's own failure stands.
    """
    ti = context.get("ti") or context.get("task_instance")
    try:
        from feedback.notify.pipeline_failure import Failure, enqueue_failure
        from feedback_airflow.register import register_engine

        dag_run = context.get("dag_run")
        error = context.get("exception")
        failure = Failure(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            failed_at=pendulum.now("UTC"),
            try_number=getattr(ti, "try_number", None),
            map_index=getattr(ti, "map_index", None),
            logical_date=getattr(dag_run, "logical_date", None) or context.get("logical_date"),
            error_type=type(error).__name__ if isinstance(error, BaseException) else None,
            log_url=_log_url(ti),
        )
        written = enqueue_failure(register_engine(), failure)
        log.warning("pipeline failure alert for %s/%s: %s row(s) written to the outbox", ti.dag_id, ti.run_id,
                    written)
    except Exception as exc:  # noqa: BLE001 - the alert must not mask the task's own failure
        log.error("could not write the pipeline failure alert for %s: %s", getattr(ti, "dag_id", "?"),
                  type(exc).__name__)


def _log_url(ti) -> str | None:
    try:
        return ti.log_url
    except Exception:  # noqa: BLE001 - a link is a convenience
        return None


def default_args(**overrides) -> dict:
    """I/O-bound tasks retry with backoff; a register restart should not page anyone, a final failure does."""
    args = {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": TIMEOUTS["register"],
        "on_failure_callback": alert_on_failure,
    }
    args.update(overrides)
    return args


def rows_stored(counts) -> int:
    """Intake rows an ingest task stored: every `inserted` count in its (nested) result."""
    if isinstance(counts, dict):
        return sum(int(v) if k == "inserted" and isinstance(v, int) else rows_stored(v) for k, v in counts.items())
    if isinstance(counts, list | tuple):
        return sum(rows_stored(v) for v in counts)
    return 0


def announce_intake(context, counts):
    """Update the intake asset (through INTAKE_ALIAS) when the task stored rows; returns `counts` for XCom."""
    stored = rows_stored(counts)
    if stored:
        context["outlet_events"][INTAKE_ALIAS].add(INTAKE_ASSET, extra={"rows": stored})
    return counts


def send_outbox(outbox_owner: str, now: datetime) -> dict:
    """Deliver the pending outbox rows of the kinds `outbox_owner` owns (feedback.notify.owners); counts only.

    Each DAG's send task calls this with its own owner name, so no run sends another DAG's messages.
    """
    from feedback.notify.owners import kinds_of
    from feedback.notify.sender import send_pending
    from feedback_airflow.register import register_engine, smtp_settings

    return send_pending(register_engine(), smtp=smtp_settings(), now=now, kinds=kinds_of(outbox_owner))


def business_cron(expression: str) -> CronTriggerTimetable:
    """A cron schedule in business time: runs at the office's hours, whatever zone the workers are in."""
    return CronTriggerTimetable(expression, timezone=ZONE)


def business_cron_interval(expression: str) -> CronDataIntervalTimetable:
    """A cron schedule in business time whose runs cover the interval just ended (reports' week or month)."""
    return CronDataIntervalTimetable(expression, timezone=ZONE)


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
