"""
### feedback_callbacks

The closing loop (回访), every hour: no item is closed until its customer has been asked.

1. **release_expired_claims**: callback tasks whose agent's claim lapsed (`queue.claim_minutes`, default 30) go
   back to the queue.
2. **apply_item_status**: applies the events recorded since the SLA monitor's last run (resolutions, and the
   closes and reopens written by callback answers) to the items, with the monitor's own function under its
   lock — so a resolution recorded a minute ago gets its callback in this run, and a reopen starts a new
   handling cycle with new deadlines exactly as the monitor would.
3. **schedule_callbacks**: every item resolved (or recorded as unsolvable) in its current handling cycle gets one
   callback task: due 3 working days after the resolution on the item's business calendar, 24 h for urgent
   items and VIP customers; assigned round-robin or least-loaded over the callback team (independent of the
   handling department); a `callback_scheduled` event each. A second resolution after a reopen is a new cycle,
   so it gets a second callback. Open tasks whose item moved on are cancelled.
4. **send_surveys**: an e-mail survey (signed link, valid 7 days) for each new task with an e-mail contact, and
   one reminder after 2 days without an answer — outbox rows addressed `vault:<id>`, each written once.
5. **deliver_outbox**: delivers the surveys, reminders and supervisors' notices through `feedback_smtp`.

Answers come from agents (the console, `feedback callbacks record`) and from the survey page
(`/feedback/survey/<token>`): satisfied → closed; neutral → closed (configurable); dissatisfied → reopened and
escalated to the department's supervisor. Rules: `include/config/callbacks.yaml`. XComs carry counts only.
"""

from airflow.sdk import dag, task

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
    dag_id="feedback_callbacks",
    schedule=business_cron("0 * * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=tags("callbacks"),
    doc_md=__doc__,
    default_args=default_args(),
)
def feedback_callbacks():
    @task(execution_timeout=TIMEOUTS["register"])
    def release_expired_claims(**context) -> dict:
        """Counts only: claims released."""
        from feedback.callbacks.queue import release_expired
        from feedback_airflow.register import register_engine

        return {"released": release_expired(register_engine(), run_instant(context))}

    @task(execution_timeout=TIMEOUTS["register"])
    def apply_item_status(**context) -> dict:
        """Counts only: events applied, items changed."""
        from feedback.callbacks.outcomes import apply_item_status as apply_events
        from feedback_airflow.register import register_engine

        return apply_events(register_engine(), run_instant(context))

    @task(execution_timeout=TIMEOUTS["register"])
    def schedule_callbacks(**context) -> dict:
        """Counts only: tasks scheduled (per due rule), without contact, cancelled."""
        from feedback.callbacks.schedule import schedule_callbacks as schedule
        from feedback_airflow.register import register_engine

        return schedule(register_engine(), run_instant(context))

    @task(execution_timeout=TIMEOUTS["register"])
    def send_surveys(**context) -> dict:
        """Counts only: surveys and reminders written to the outbox."""
        from feedback.callbacks.survey import send_surveys as write_surveys
        from feedback.callbacks.tokens import survey_key
        from feedback_airflow.register import connection_uri, register_engine

        key = survey_key(connection_uri("feedback_survey"))
        return write_surveys(register_engine(), run_instant(context), key=key)

    @task(retries=3, execution_timeout=TIMEOUTS["deliver"])
    def deliver_outbox(outbox_owner: str, **context) -> dict:
        """Counts only: sent, failed (will retry), gave up; the kinds this DAG owns (notify.owners)."""
        return send_outbox(outbox_owner, run_instant(context))

    (release_expired_claims() >> apply_item_status() >> schedule_callbacks() >> send_surveys()
     >> deliver_outbox(outbox_owner="feedback_callbacks"))


feedback_callbacks()
