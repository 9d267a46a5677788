"""
### feedback_ingest_webforms

Moves web-form submissions into the register's `intake` table, each exactly once.

* **Sources**:
  * the intake endpoint (`POST /feedback/intake/<form>` on the API server, plugin `feedback_web`), which
    lands each accepted submission in `feedback.webform_submission`; `move_landed_submissions` moves the
    pending rows (`moved_at IS NULL`) into intake;
  * the drop folders listed under `webforms.drops` in `include/config/channels.yaml` (one JSON file per
    submission, named `<timestamp>-<submission id>.json`), read by `ingest_drop_folders`.
* **Exactly once**: rows are upserted on `(channel, external_id)` (the receipt id or submission id).
  A drop folder's cursor (last file stored) moves in the same transaction as its rows, in batches of
  `intake.batch_size`; a landed row is marked moved in the transaction that writes it to intake, and rows
  are claimed with `FOR UPDATE SKIP LOCKED`, so overlapping runs never move one twice.
  * form providers' response APIs listed under `webforms.providers` (Typeform is shipped), pulled
    like the platforms by the declarative REST source when their connection `feedback_platform_<name>`
    exists: one mapped `pull_form_provider` task each, every page committed with its position.
* **Same shape**: landed rows go through the drop folder's parser, so triage treats both sources alike.
* **Bad input**: a file that is not a valid submission, or a landed row whose form was removed from the
  configuration, is parked in `quarantine` with its reason (invalid_json, missing_field, unknown_form,
  oversize, bad_timestamp); the batch goes on.
* **Output**: when a task stored rows, it updates the `feedback://register/intake` asset, which triggers triage.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from feedback_airflow.defaults import (
    INTAKE_ALIAS,
    START_DATE,
    TIMEOUTS,
    announce_intake,
    default_args,
    run_instant,
    tags,
)


@dag(
    dag_id="feedback_ingest_webforms",
    schedule=timedelta(minutes=5),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=tags("ingest", "webform"),
    doc_md=__doc__,
    default_args=default_args(),
)
def feedback_ingest_webforms():
    @task(retries=3, outlets=[INTAKE_ALIAS], execution_timeout=TIMEOUTS["ingest"])
    def ingest_drop_folders(**context) -> dict:
        """Returns counts only (files, inserted, duplicates, quarantined) for XCom."""
        from feedback.channels.webform.drop import ingest_configured_drops
        from feedback_airflow.register import register_engine

        return announce_intake(context, ingest_configured_drops(register_engine(), run_time=run_instant(context)))

    @task(retries=3, outlets=[INTAKE_ALIAS], execution_timeout=TIMEOUTS["ingest"])
    def move_landed_submissions(**context) -> dict:
        """Returns counts only (moved, inserted, duplicates, quarantined) for XCom."""
        from feedback.channels.webform.landing import move_landed
        from feedback.settings import load_settings
        from feedback_airflow.register import register_engine

        return announce_intake(context, move_landed(register_engine(), run_time=run_instant(context),
                                                    batch_size=load_settings().intake.batch_size))

    @task(execution_timeout=TIMEOUTS["lookup"])
    def providers_to_pull() -> list[str]:
        """Names only; each form provider with a connection becomes one mapped task."""
        from feedback.channels.rest.ingest import pullable
        from feedback_airflow.register import connection_uri

        return pullable("webform", connection_uri)

    @task(retries=3, retry_delay=timedelta(minutes=2), outlets=[INTAKE_ALIAS], execution_timeout=TIMEOUTS["ingest"])
    def pull_form_provider(name: str, **context) -> dict:
        """Counts for XCom: pages, records, inserted, duplicates, quarantined, requests."""
        from feedback.channels.rest.ingest import ingest_configured
        from feedback_airflow.register import connection_uri, register_engine

        return announce_intake(context, ingest_configured(register_engine(), "webform", name, connection_uri,
                                                          run_instant(context)))

    ingest_drop_folders()
    move_landed_submissions()
    pull_form_provider.expand(name=providers_to_pull())


feedback_ingest_webforms()
