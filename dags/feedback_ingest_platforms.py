"""
### feedback_ingest_platforms

Pulls feedback from third-party complaint, review and helpdesk platforms' REST APIs into the
register's `intake` table, each item exactly once.

* **Which platforms**: the enabled entries of `platforms:` in `include/config/channels.yaml` whose
  connection `feedback_platform_<name>` exists (one mapped task each). An enabled platform without a
  connection is named in the `platforms_to_pull` log and not pulled.
* **How**: the declarative REST source — auth from the connection, pagination, `since` with an
  overlap window, rate limits and retries, JMESPath mapping; see docs/adding-a-channel.md.
* **Exactly once**: each page is one transaction with its rows and the position that resumes after
  it. Repeated items are duplicates; an item the customer edited becomes a revision that triage
  records on the registered item, never a second item.
* **Bad input**: records that break the mapping are parked in `quarantine` with the reason.
* **Outage**: the task fails after its retries with one line naming the platform and request; the
  next run resumes from the last stored page.
* **Output**: when it stored rows, updates the `feedback://register/intake` asset, which triggers triage.
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
    dag_id="feedback_ingest_platforms",
    schedule=timedelta(minutes=30),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=tags("ingest", "platform"),
    doc_md=__doc__,
    default_args=default_args(),
)
def feedback_ingest_platforms():
    @task(execution_timeout=TIMEOUTS["lookup"])
    def platforms_to_pull() -> list[str]:
        """Names only; each platform becomes one mapped task."""
        from feedback.channels.rest.ingest import pullable
        from feedback_airflow.register import connection_uri

        return pullable("platform", connection_uri)

    @task(retries=3, retry_delay=timedelta(minutes=2), outlets=[INTAKE_ALIAS], execution_timeout=TIMEOUTS["pull"])
    def ingest_platform(name: str, **context) -> dict:
        """Counts for XCom: pages, records, inserted, duplicates, edits, quarantined, requests, retries."""
        from feedback.channels.rest.ingest import ingest_configured
        from feedback_airflow.register import connection_uri, register_engine

        return announce_intake(context, ingest_configured(register_engine(), "platform", name, connection_uri,
                                                          run_instant(context)))

    ingest_platform.expand(name=platforms_to_pull())


feedback_ingest_platforms()
