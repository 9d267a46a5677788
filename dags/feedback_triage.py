"""
### feedback_triage

Turns new `intake` rows into registered feedback items (`feedback`), in batches, exactly once.

For each item: masks contact data in every text (phone `138****5678`, e-mail prefix only), stores the raw
contact only encrypted in `contact_vault`, looks up the customer tier by keyed hash, classifies with the rules
of `include/config/taxonomy.yaml` (category, department, handler group, priority, confidence, the rules that
fired; low confidence → `needs_review`), numbers it (`20261122-001`, gap-free per day), and sets a deadline per
SLA stage from `include/config/sla_policies.yaml` on the business calendar. A reply to an existing item becomes
a `customer_replied` event on it instead of a new item; our own reply read from a mailbox's Sent folder becomes
its `responded` event (the first response the SLA monitor looks for).

* **Acknowledgements**: each new item from e-mail gets a receipt mail with its number (`ack` rows in the outbox,
  at most `mail.ack_per_sender_per_hour` per sender), delivered by `send_acknowledgements` through `feedback_smtp`.

* **Triggered** by the `feedback://register/intake` asset (any ingest DAG storing rows), with a 10-minute
  schedule as a safety net.
* **Safe to overlap and re-run**: rows are claimed with `FOR UPDATE SKIP LOCKED`; every write is keyed; a batch
  fetches the new originals its replies answer, and a reply whose original is in another run's open batch waits
  for it, so two runs at once give the result of one.
* **Leak gate**: before commit, every text the batch writes to `feedback` and `feedback_event` is checked for
  phones (also international spellings), e-mails and ID numbers (province, birth date, checksum, no order
  context); our own identifiers (feedback numbers, ids, Message-IDs, rule ids) are not checked.
* **Poison isolation**: a row the gate flags, or one that breaks a statement, is held (`intake.status = 'held'`,
  the reason names table, column and kind, never the value) and the rest of the batch commits; the task succeeds
  and returns the `held` count. `feedback quarantine list` shows held rows; release them after a fix.
* **Learned classifier**: `retrain_learned_classifier` trains on operators' corrections (`feedback reclassify`)
  when there are new ones, and triage uses the model only if it beat the rules on held-out corrections.
* **Params**: `taxonomy_preset` (A/B), `sla_preset` (A/B) override the configured defaults for a run.
"""

from airflow.sdk import AssetOrTimeSchedule, Param, dag, task

from feedback_airflow.defaults import (
    INTAKE_ASSET,
    START_DATE,
    TIMEOUTS,
    business_cron,
    default_args,
    run_instant,
    send_outbox,
    tags,
)


@dag(
    dag_id="feedback_triage",
    schedule=AssetOrTimeSchedule(
        timetable=business_cron("*/10 * * * *"), assets=[INTAKE_ASSET]
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=tags("triage"),
    doc_md=__doc__,
    default_args=default_args(),
    params={
        "taxonomy_preset": Param(None, type=["null", "string"], enum=[None, "A", "B"]),
        "sla_preset": Param(None, type=["null", "string"], enum=[None, "A", "B"]),
    },
)
def feedback_triage():
    @task(execution_timeout=TIMEOUTS["triage"])
    def triage_new_intake(params=None, **context) -> dict:
        """Counts only (registered, replies, held, per priority / category) for XCom; never item contents."""
        from feedback.settings import load_settings
        from feedback.triage.run import load_context
        from feedback.triage.workers import triage_backlog
        from feedback_airflow.register import register_engine

        engine = register_engine()
        ctx = load_context(params.get("taxonomy_preset"), params.get("sla_preset"), engine=engine)
        batch_size = load_settings().intake.batch_size
        return triage_backlog(engine, run_instant(context), ctx, batch_size).as_dict()

    @task(execution_timeout=TIMEOUTS["train"])
    def retrain_learned_classifier(params=None, **context) -> dict:
        """Retrains on operators' corrections when there are new ones; kept only if it beats the rules."""
        from feedback.triage.classify import Classifier
        from feedback.triage.corrections import retrain
        from feedback_airflow.register import register_engine

        classifier = Classifier.from_config(preset=params.get("taxonomy_preset"))
        if classifier.multi_label:
            return {"trained": False, "reason": "multi-label preset"}
        return retrain(register_engine(), classifier, run_instant(context))

    @task(retries=3, execution_timeout=TIMEOUTS["deliver"])
    def send_acknowledgements(outbox_owner: str, **context) -> dict:
        """Delivers the receipt mails this triage wrote (and any still pending); counts only."""
        return send_outbox(outbox_owner, run_instant(context))

    triaged = triage_new_intake()
    triaged >> send_acknowledgements(outbox_owner="feedback_triage")
    triaged >> retrain_learned_classifier()


feedback_triage()
