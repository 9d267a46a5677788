"""
### feedback_sla_monitor

Watches every open item's deadlines on the business calendar, every 5 minutes.

1. **recompute_deadlines** (only with the param `recompute`): after a calendar or policy change, recomputes the
   unmet deadlines of open items from their cycle start and records an `sla_recomputed` event on each.
2. **watch_deadlines**: applies the events recorded since the last run (replies meet the first-response stage,
   `waiting_customer` pauses the clock and resuming pushes the deadlines back by the business time paused,
   `resolved` / `closed` meet their stages, `reopened` starts a new handling cycle), then records in `sla_breach`
   each deadline that newly passed its warning share (default 80%) or its due time — once — and escalates
   breaches still unmet after the ladder's wait. One digest per recipient is written to the outbox in the same
   transaction: handler group on warnings, supervisor on breaches, director for urgent items and escalations
   (`include/config/escalation.yaml`).
3. **send_notifications**: delivers the outbox kinds this DAG owns (SLA digests by e-mail through `feedback_smtp`,
   chat webhooks, pipeline-failure alerts; the table is `include/feedback/notify/owners.py`), with retries and
   backoff; a row is sent at most once.

Status comes from `feedback_event` rows: outbound replies, platform status fields, the console, or an operations
team's CRM (see docs/operating.md).
"""

from airflow.sdk import Param, dag, task

from feedback_airflow.defaults import (
    START_DATE,
    TIMEOUTS,
    business_cron,
    default_args,
    run_instant,
    send_outbox,
    tags,
)


@dag(
    dag_id="feedback_sla_monitor",
    schedule=business_cron("*/5 * * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=tags("sla"),
    doc_md=__doc__,
    default_args=default_args(),
    params={
        "recompute": Param(False, type="boolean", description="recompute open items' deadlines first"),
        "recompute_reason": Param("configuration changed", type="string"),
    },
)
def feedback_sla_monitor():
    @task(execution_timeout=TIMEOUTS["triage"])  # every open item, like a triage backlog
    def recompute_deadlines(params=None, **context) -> dict:
        """Counts only."""
        if not params.get("recompute"):
            return {"skipped": True}
        from feedback.sla.monitor import load_setup
        from feedback.sla.recompute import recompute_open_items
        from feedback_airflow.register import register_engine

        return recompute_open_items(register_engine(), load_setup(), run_instant(context),
                                    reason=params.get("recompute_reason") or "configuration changed")

    @task(execution_timeout=TIMEOUTS["register"])
    def watch_deadlines(**context) -> dict:
        """Counts only: events applied, warnings, breaches, escalations, digests written."""
        from feedback.sla.alerts import notifier
        from feedback.sla.monitor import load_setup, run_monitor
        from feedback_airflow.register import register_engine

        return run_monitor(register_engine(), run_instant(context), load_setup(), notifier()).as_dict()

    @task(retries=3, execution_timeout=TIMEOUTS["deliver"])
    def send_notifications(outbox_owner: str, **context) -> dict:
        """Counts only: sent, failed (will retry), gave up; the kinds this DAG owns (notify.owners)."""
        return send_outbox(outbox_owner, run_instant(context))

    recompute_deadlines() >> watch_deadlines() >> send_notifications(outbox_owner="feedback_sla_monitor")


feedback_sla_monitor()
