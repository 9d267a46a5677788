"""Who sends which outbox kind: each kind has exactly one owning DAG, whose send task delivers only its kinds.

The outbox decouples writing a message (in the transaction that decides it) from
delivering it. Delivery belongs to the DAG whose work the message is about, so its
cadence, retries and failures are that DAG's: receipts go out right after triage,
surveys with the hourly callback run, reports after their report. The SLA monitor,
every 5 minutes, also carries the pipeline-failure alerts: it is the most frequent
run, so an operator hears of a failure within minutes.

Both report DAGs share one shape (`feedback_airflow.report_dags`) and one owner,
`feedback_report`: either delivers whichever report mail is pending.
"""

from __future__ import annotations

from feedback.vocabulary import OutboxKind

REPORT_OWNER = "feedback_report"         # feedback_report_weekly and feedback_report_monthly
OWNERS: dict[OutboxKind, str] = {
    OutboxKind.ACK: "feedback_triage",
    OutboxKind.SLA_DIGEST: "feedback_sla_monitor",
    OutboxKind.SLA_WEBHOOK: "feedback_sla_monitor",
    OutboxKind.PIPELINE_FAILURE: "feedback_sla_monitor",
    OutboxKind.SURVEY: "feedback_callbacks",
    OutboxKind.SURVEY_REMINDER: "feedback_callbacks",
    OutboxKind.CALLBACK_ESCALATION: "feedback_callbacks",
    OutboxKind.REPORT: REPORT_OWNER,
}


def owner_of(dag_id: str) -> str:
    """The outbox owner a DAG sends for: its own id, or the report DAGs' shared one."""
    return REPORT_OWNER if dag_id.startswith(REPORT_OWNER + "_") else dag_id


def kinds_of(owner: str) -> list[str]:
    """The stored kind strings `owner` delivers (the `kinds` filter of `sender.send_pending`); never empty."""
    kinds = sorted(kind.value for kind, who in OWNERS.items() if who == owner)
    if not kinds:
        raise ValueError(f"{owner!r} owns no outbox kind (owners: {', '.join(sorted(set(OWNERS.values())))})")
    return kinds
