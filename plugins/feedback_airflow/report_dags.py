"""The shape both report DAGs share: produce (figures, checks, files, archive, queued mail), then send."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from feedback_airflow.defaults import (
    START_DATE,
    TIMEOUTS,
    business_cron_interval,
    default_args,
    send_outbox,
    tags,
)


def report_dag(kind: str, *, dag_id: str, cron: str, period_param: str, period_pattern: str, doc: str):
    """A report DAG on a data-interval schedule; `period_param` overrides the period for manual runs."""

    @dag(
        dag_id=dag_id,
        schedule=business_cron_interval(cron),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=tags("report"),
        doc_md=doc,
        default_args=default_args(),
        params={
            period_param: Param(None, type=["null", "string"], pattern=period_pattern),
            "resend": Param(False, type="boolean"),
            "locale": Param(None, type=["null", "string"], enum=[None, "zh-CN", "en"]),
        },
    )
    def report():
        @task(retries=2, execution_timeout=TIMEOUTS["report"])
        def produce_report(params=None, **context) -> dict:
            """Counts and file sizes only (version, new or not, mails queued, quality passed, sections held)."""
            from feedback.business_time import business_zone
            from feedback.reports.produce import period_for_run, produce
            from feedback_airflow.register import register_engine

            period = period_for_run(kind, context.get("data_interval_start"), context.get("data_interval_end"),
                                    params.get(period_param), business_zone().key)
            return produce(register_engine(), kind, period, generated_at=context["dag_run"].run_after,
                           locale=params.get("locale"), resend=bool(params.get("resend"))).as_dict()

        @task(retries=3, execution_timeout=TIMEOUTS["deliver"])
        def send_report_mail(outbox_owner: str, **context) -> dict:
            """Delivers the queued report mails (attachments, or links above the size limit)."""
            return send_outbox(outbox_owner, context["dag_run"].run_after)

        produce_report() >> send_report_mail(outbox_owner="feedback_report")

    return report()
