"""
### feedback_ingest_webforms

Moves web-form submissions into the register's `intake` table, each exactly once.

* **Source**: the drop folders listed under `webforms.drops` in `include/config/channels.yaml`
  (one JSON file per submission, named `<timestamp>-<submission id>.json`).
* **Exactly once**: rows are upserted on `(channel, external_id)`; the folder's cursor (last file
  stored) moves in the same transaction as the rows, in batches of `intake.batch_size`.
* **Bad input**: a file that is not a valid submission is parked in `quarantine` with its reason
  (invalid_json, missing_field, unknown_form, oversize, bad_timestamp); the batch goes on.
* **Output**: updates the `feedback://register/intake` asset, which triggers triage.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from feedback_airflow.defaults import INTAKE_ASSET, START_DATE, default_args, run_instant, tags


@dag(
    dag_id="feedback_ingest_webforms",
    schedule=timedelta(minutes=15),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=tags("ingest", "webform"),
    doc_md=__doc__,
    default_args=default_args(),
)
def feedback_ingest_webforms():
    @task(retries=3, outlets=[INTAKE_ASSET])
    def ingest_drop_folders(**context) -> dict:
        """Returns counts only (files, inserted, duplicates, quarantined) for XCom."""
        from feedback.channels.webform_drop import ingest_configured_drops
        from feedback_airflow.register import register_engine

        return ingest_configured_drops(register_engine(), run_time=run_instant(context))

    ingest_drop_folders()


feedback_ingest_webforms()
