"""
### feedback_retention

Keeps personal data only as long as the work needs it (settings.yaml → `retention`):

* raw intake payloads (contacts as the customer wrote them) older than `raw_payload_days` (90) are replaced by a
  purge marker, once triage is done with them; mail attachments nothing refers to any more are deleted;
* contact-vault entries lose their ciphertext `contact_days_after_close` (365) after every item referring to them
  was closed (the keyed identity hash stays, for repeat-complaint statistics);
* closed items older than `archive_closed_after_months` (12) are exported (masked columns) to Parquet, one file
  per month of closure, in the report archive (`closed-items/closed-items-YYYY-MM.parquet`).

Param `dry_run` reports what would be done and changes nothing. Counts only in XCom.
"""

from airflow.sdk import Param, dag, task

from feedback_airflow.defaults import START_DATE, TIMEOUTS, business_cron, default_args, run_instant, tags


@dag(
    dag_id="feedback_retention",
    schedule=business_cron("30 3 * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=tags("privacy", "retention"),
    doc_md=__doc__,
    default_args=default_args(),
    params={"dry_run": Param(False, type="boolean")},
)
def feedback_retention():
    @task(retries=2, execution_timeout=TIMEOUTS["retention"])
    def apply_retention(params=None, **context) -> dict:
        """Purged payloads, attachments and vault entries, exported months: counts only."""
        from feedback.privacy.retention import run_retention
        from feedback_airflow.register import register_engine

        return run_retention(register_engine(), run_instant(context), dry_run=bool(params.get("dry_run"))).as_dict()

    apply_retention()


feedback_retention()
