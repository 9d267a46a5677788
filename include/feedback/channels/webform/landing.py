"""Submissions the intake endpoint landed (`feedback.webform_submission`) into intake, each exactly once.

A landed row becomes the same drop-folder document a form provider would export
and goes through the drop folder's parser (`webform.drop.parse_submission`), so
triage sees one payload shape whichever way a form arrived, and a row parked in
quarantine can be re-run by `feedback quarantine retry` like any parked file.

The cursor is the row's own pending flag (`moved_at IS NULL`), set in the
transaction that writes intake: the API server's workers commit ids out of order,
so "the highest id moved" would skip a row committed late. Rows are claimed with
`FOR UPDATE SKIP LOCKED`, so overlapping runs share the work instead of doubling it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.channels.base import IntakeItem, InvalidItem, Rejected
from feedback.channels.config import WebForm, load_channels
from feedback.channels.store import INTAKE_COLUMNS, QUARANTINE_COLUMNS, intake_rows
from feedback.channels.webform.drop import CHANNEL, parse_submission
from feedback.db.bulk import upsert
from feedback.db.rows import TextRow
from feedback.privacy import keys

log = logging.getLogger(__name__)
# Rate-limit windows older than this are of no use to anyone (they count one minute each).
RATE_WINDOWS_KEPT = timedelta(hours=1)

_CLAIM = sa.text(
    """SELECT id, form, receipt_id, received_at, locale, fields, attachments
       FROM feedback.webform_submission
       WHERE moved_at IS NULL
       ORDER BY id
       LIMIT :n
       FOR UPDATE SKIP LOCKED"""
)


def as_drop_document(row: TextRow) -> bytes:
    """A landed row as the JSON a drop folder holds; the bytes quarantine keeps (encrypted) if it fails."""
    doc = {
        "submission_id": row.receipt_id,
        "form": row.form,
        "submitted_at": row.received_at.isoformat(),
        "locale": row.locale,
        "fields": row.fields,
        "attachments": [
            {"filename": a.get("name"), "content_type": a.get("content_type"), "size": a.get("size"),
             "sha256": a.get("sha256")}
            for a in row.attachments or []
        ],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def to_item(row: TextRow, forms: dict[str, WebForm]) -> IntakeItem | Rejected:
    """The row's intake item, or a Rejected when it no longer validates (its form was removed, …).

    The size limit was enforced on the request body when the row landed; the document built
    here is not that body, so its own length is not held against the form's limit again.
    """
    raw = as_drop_document(row)
    form = forms.get(row.form)
    relaxed = {form.name: form.model_copy(update={"max_bytes": max(form.max_bytes, len(raw))})} if form else {}
    try:
        return parse_submission(raw, relaxed)
    except InvalidItem as bad:
        return Rejected(CHANNEL, row.form, row.receipt_id, bad.reason, bad.detail, raw)


def _move_batch(engine: Engine, forms: dict[str, WebForm], run_time: datetime, batch_size: int) -> dict[str, int]:
    with engine.begin() as conn:
        rows = conn.execute(_CLAIM, {"n": batch_size}).all()
        if not rows:
            return {"rows": 0, "inserted": 0, "duplicates": 0, "quarantined": 0}
        outcomes = [to_item(row, forms) for row in rows]
        items = [o for o in outcomes if isinstance(o, IntakeItem)]
        rejected = [o for o in outcomes if isinstance(o, Rejected)]
        inserted = upsert(conn, "feedback.intake", INTAKE_COLUMNS, intake_rows(items), ("channel", "external_id"))
        fernet = keys.cipher() if rejected else None
        parked = upsert(
            conn,
            "feedback.quarantine",
            QUARANTINE_COLUMNS,
            [(r.channel, r.source, r.external_ref, r.reason, r.detail, keys.encrypt(r.raw, fernet), r.raw_sha256,
              run_time) for r in rejected],
            ("channel", "source", "raw_sha256"),
        )
        conn.execute(
            sa.text("UPDATE feedback.webform_submission SET moved_at = :t WHERE id = ANY(:ids)"),
            {"t": run_time, "ids": [r.id for r in rows]},
        )
    return {"rows": len(rows), "inserted": inserted, "duplicates": len(items) - inserted, "quarantined": parked}


def prune_rate_windows(engine: Engine, run_time: datetime) -> int:
    """Drop rate-limit counters of windows long past; returns how many."""
    with engine.begin() as conn:
        return conn.execute(
            sa.text("DELETE FROM feedback.webform_rate WHERE window_start < :before"),
            {"before": run_time - RATE_WINDOWS_KEPT},
        ).rowcount


def move_landed(engine: Engine, run_time: datetime, batch_size: int = 500,
                forms: dict[str, WebForm] | None = None) -> dict[str, int]:
    """Move every pending landed submission into intake, one transaction per batch; counts only.

    `forms` defaults to channels.yaml's; a row whose form is no longer configured is
    parked in quarantine (reason unknown_form) and marked moved.
    """
    if forms is None:
        forms = {f.name: f for f in load_channels().webforms.forms}
    totals = {"batches": 0, "moved": 0, "inserted": 0, "duplicates": 0, "quarantined": 0}
    while True:
        batch = _move_batch(engine, forms, run_time, batch_size)
        if batch["rows"] == 0:
            break
        totals["batches"] += 1
        totals["moved"] += batch["rows"]
        for key in ("inserted", "duplicates", "quarantined"):
            totals[key] += batch[key]
        log.info("webform landing: batch %d moved %d (inserted %d, quarantined %d)", totals["batches"],
                 batch["rows"], batch["inserted"], batch["quarantined"])
    totals["rate_windows_pruned"] = prune_rate_windows(engine, run_time)
    return totals
