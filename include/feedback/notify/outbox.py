"""Writing notifications into the `outbox` table, inside the caller's transaction.

A side effect is recorded in the same transaction as the fact that caused it (the
monitor's breach rows), so a rolled-back run leaves no mail behind and a committed
one cannot lose its mail. Each row has a natural `dedup_key` and is inserted with
`ON CONFLICT DO NOTHING`, so re-running the same monitor run writes nothing new; its
stable `Message-ID` is fixed here, before sending, so a resend after a crash is
recognisable as the same message by every mail client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from feedback.db import setwise
from feedback.notify.digest import (
    AlertEntry,
    DepartmentLabel,
    counts,
    entries_hash,
    render_digest,
    subject_line,
    webhook_payload,
)
from feedback.notify.escalation import Ladder, Recipient
from feedback.vocabulary import OutboxKind

DIGEST_KIND = OutboxKind.SLA_DIGEST.value
WEBHOOK_KIND = OutboxKind.SLA_WEBHOOK.value


@dataclass(frozen=True)
class OutboxRow:
    """One row to insert into `feedback.outbox` (see 001_register_v1.sql for the columns)."""

    kind: str
    dedup_key: str
    recipient: str  # an address, a webhook URL, or vault:<id> for a customer
    created_at: datetime
    subject: str | None = None
    body: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    not_before: datetime | None = None
    recipient_vault_id: int | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    caused_at: datetime | None = None     # business instant behind the row (rate limits count by it)
    feedback_id: int | None = None        # the item it is about (threads the customer's answer)


def message_id_for(dedup_key: str, domain: str = "feedback.local", prefix: str = "sla") -> str:
    """A Message-ID derived from the row's natural key: the same row always gets the same id."""
    digest = hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()[:32]
    return f"<{prefix}-{digest}@{domain}>"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("run_time must be timezone-aware (the DAG run's logical instant)")
    return moment.astimezone(UTC)


def route(entries: Iterable[AlertEntry], ladder: Ladder) -> list[tuple[Recipient, list[AlertEntry]]]:
    """Each recipient with the entries the ladder sends them, in first-seen order."""
    per: dict[str, tuple[Recipient, list[AlertEntry]]] = {}
    for entry in entries:
        for recipient in ladder.recipients_for(entry):
            per.setdefault(recipient.key, (recipient, []))[1].append(entry)
    return list(per.values())


def digest_rows(run_time: datetime, entries: Sequence[AlertEntry], ladder: Ladder, *,
                department_label: DepartmentLabel | None = None) -> list[OutboxRow]:
    """The outbox rows of one monitor run: one per recipient (and channel), nothing written yet.

    Separate from `enqueue_alert_digests` so routing and rendering can be checked
    without a database.
    """
    run_utc = _utc(run_time)
    zone = ladder.timezone
    out = []
    for recipient, mine in route(entries, ladder):
        kind = DIGEST_KIND if recipient.channel == "email" else WEBHOOK_KIND
        dedup_key = f"{kind}:{recipient.key}:{run_utc.isoformat()}:{entries_hash(mine)}"
        message_id = message_id_for(dedup_key, ladder.message_id_domain)
        if recipient.channel == "email":
            digest = render_digest(mine, run_time, recipient.locale, zone, department_label,
                                   console_url=ladder.console_url)
            payload: dict[str, Any] = {"channel": "email", "locale": digest.locale, "counts": digest.counts,
                                       "html": digest.html, "text": digest.text}
            out.append(OutboxRow(kind, dedup_key, recipient.address, run_utc, digest.subject, digest.text,
                                 payload, message_id))
        else:
            assert recipient.format is not None
            body = webhook_payload(recipient.format, mine, run_time, recipient.locale, zone, department_label)
            digest_subject = subject_line(mine, run_time, recipient.locale, zone)
            payload = {"channel": "webhook", "format": recipient.format, "locale": recipient.locale,
                       "counts": counts(mine), "json": body}
            out.append(OutboxRow(kind, dedup_key, recipient.address, run_utc, digest_subject, None,
                                 payload, message_id))
    return out


_COLUMNS = ("kind", "dedup_key", "recipient", "recipient_vault_id", "subject", "body", "payload", "attachments",
            "message_id", "created_at", "not_before", "caused_at", "feedback_id")


def write_rows(conn: sa.Connection, rows: Iterable[OutboxRow]) -> int:
    """Insert rows in the caller's transaction; a row whose dedup_key exists is skipped. Returns rows written.

    One statement for all of them (triage writes a receipt per new item: a round trip each
    was a quarter of its time).
    """
    records = []
    for row in rows:
        if row.recipient.startswith("vault:") and row.recipient_vault_id is None:
            raise ValueError("an outbox row addressed to vault:<id> needs recipient_vault_id")
        records.append({column: getattr(row, column) for column in _COLUMNS})
    return len(setwise.insert(conn, "feedback.outbox", _COLUMNS, records, ("dedup_key",), returning=("id",)))


def enqueue_alert_digests(conn: sa.Connection, run_time: datetime, entries: Sequence[AlertEntry], ladder: Ladder,
                          *, department_label: DepartmentLabel | None = None) -> int:
    """Write this run's SLA digests to the outbox in the caller's transaction; returns rows written.

    One row per recipient and channel (`sla_digest` mail, `sla_webhook` chat robot),
    keyed by recipient, run time and the alerts covered, so the same run enqueued
    twice writes nothing the second time. Delivery is `sender.send_pending`'s job.
    """
    if not entries:
        return 0
    return write_rows(conn, digest_rows(run_time, entries, ladder, department_label=department_label))
