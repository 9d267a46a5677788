"""Alerts about the pipeline itself: a task failed for good (after its retries).

A hung or failing triage or SLA run with `max_active_runs=1` silently holds back every
later run, so somebody must hear about it. The alert takes the same road as the SLA
digests: rows in `outbox` (e-mail and chat robots of `include/config/escalation.yaml`),
delivered by the next `feedback_sla_monitor` run, the owner of this kind (`notify.owners`).

Who: the ladder's role `pipeline` when `roles.pipeline` is configured, otherwise the
duty desk (`groups.default`). One alert per failed DAG run and recipient (the dedup key
is dag_id + run_id), however many of its tasks fail. What: DAG, task, run, try, when,
and the exception's *type*: never its message, which may quote data (a row, a SQL
parameter); the task log, linked, has the details for those allowed to read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from feedback.notify.escalation import Ladder, Recipient, load_ladder
from feedback.notify.outbox import OutboxRow, message_id_for, write_rows
from feedback.vocabulary import OutboxKind

KIND = OutboxKind.PIPELINE_FAILURE.value
ROLE = "pipeline"


@dataclass(frozen=True)
class Failure:
    """What went wrong, in ids and names only (safe for any log, mail or chat)."""

    dag_id: str
    run_id: str
    task_id: str
    failed_at: datetime
    try_number: int | None = None
    map_index: int | None = None
    logical_date: datetime | None = None
    error_type: str | None = None
    log_url: str | None = None

    @property
    def task(self) -> str:
        return self.task_id if self.map_index is None or self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


def recipients(ladder: Ladder) -> list[Recipient]:
    """The `pipeline` role when configured, else the duty desk (groups.default)."""
    return list(ladder.roles.get(ROLE) or ladder.groups["default"])


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"


def _lines(failure: Failure, locale: str, zone: ZoneInfo) -> tuple[str, list[str]]:
    if locale == "zh-CN":
        subject = f"[流水线失败] {failure.dag_id} · {failure.task}"
        lines = [
            f"DAG：{failure.dag_id}",
            f"任务：{failure.task}（第 {failure.try_number or '?'} 次尝试，重试已用完）",
            f"运行：{failure.run_id}",
            f"逻辑时间：{_when(failure.logical_date, zone)}",
            f"失败时间：{_when(failure.failed_at, zone)}",
            f"错误类型：{failure.error_type or '未知'}",
            f"日志：{failure.log_url or '见 Airflow 任务日志'}",
            "同一 DAG 的后续运行可能在等待本次运行；请查看日志并处理后重新运行。",
        ]
    else:
        subject = f"[Pipeline failure] {failure.dag_id} · {failure.task}"
        lines = [
            f"DAG: {failure.dag_id}",
            f"Task: {failure.task} (try {failure.try_number or '?'}, retries exhausted)",
            f"Run: {failure.run_id}",
            f"Logical date: {_when(failure.logical_date, zone)}",
            f"Failed at: {_when(failure.failed_at, zone)}",
            f"Error type: {failure.error_type or 'unknown'}",
            f"Log: {failure.log_url or 'see the task log in Airflow'}",
            "Later runs of this DAG may be waiting for this one; read the log, fix, and clear the task.",
        ]
    return subject, lines


def _webhook_json(fmt: str, failure: Failure, subject: str, lines: list[str]) -> dict[str, Any]:
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": "\n".join([f"**{subject}**", *lines])}}
    if fmt == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": subject, "text": "\n\n".join([f"### {subject}", *lines])}}
    if fmt == "slack":
        return {"text": subject, "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": subject[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        ]}
    return {
        "kind": KIND, "subject": subject, "dag_id": failure.dag_id, "task_id": failure.task_id,
        "map_index": failure.map_index, "run_id": failure.run_id, "try_number": failure.try_number,
        "failed_at": failure.failed_at.isoformat(),
        "logical_date": failure.logical_date.isoformat() if failure.logical_date else None,
        "error_type": failure.error_type, "log_url": failure.log_url,
    }


def failure_rows(failure: Failure, ladder: Ladder) -> list[OutboxRow]:
    """The outbox rows for one failure: one per recipient, keyed by DAG run (nothing written yet)."""
    if failure.failed_at.tzinfo is None:
        raise ValueError("failed_at must be timezone-aware")
    out = []
    for recipient in recipients(ladder):
        dedup_key = f"{KIND}:{recipient.key}:{failure.dag_id}:{failure.run_id}"
        subject, lines = _lines(failure, recipient.locale, ladder.timezone)
        message_id = message_id_for(dedup_key, ladder.message_id_domain, prefix="pipeline")
        base = {"locale": recipient.locale, "dag_id": failure.dag_id, "task_id": failure.task_id,
                "run_id": failure.run_id}
        if recipient.channel == "email":
            text = "\n".join(lines) + "\n"
            payload: dict[str, object] = {"channel": "email", **base, "text": text}
            out.append(OutboxRow(KIND, dedup_key, recipient.address, failure.failed_at.astimezone(UTC), subject,
                                 text, payload, message_id))
        else:
            fmt = recipient.format or "generic"
            payload = {"channel": "webhook", "format": fmt, **base,
                       "json": _webhook_json(fmt, failure, subject, lines)}
            out.append(OutboxRow(KIND, dedup_key, recipient.address, failure.failed_at.astimezone(UTC), subject,
                                 None, payload, message_id))
    return out


def enqueue_failure(engine: sa.Engine, failure: Failure, ladder: Ladder | None = None) -> int:
    """Write the alert rows of one failed task; 0 when this run's alert was already written."""
    rows = failure_rows(failure, ladder or load_ladder())
    with engine.begin() as conn:
        return write_rows(conn, rows)
