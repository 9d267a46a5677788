"""Retention: personal data is kept only as long as the work needs it.

Three set-based steps, each safe to run twice and each able to say first what it
would do (`dry_run`):
1. **Raw payloads** in `intake` (they hold contacts as the customer wrote them) are
   replaced by a purge marker once older than `retention.raw_payload_days`, for rows
   triage has finished with; mail attachments no remaining payload refers to are deleted.
   Web-form submissions landed by the intake endpoint lose their fields the same way once
   moved into intake.
2. **Vault entries** lose their ciphertext once every item that refers to them has
   been closed for `retention.contact_days_after_close` (the keyed identity hash stays,
   so repeat-complaint statistics still work without the contact).
3. **Closed items** older than `retention.archive_closed_after_months` are exported,
   masked columns only, to one Parquet file per month of closure in the archive
   location; an exported month is never rewritten.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

PAYLOAD_DUE = """FROM feedback.intake WHERE received_at < :cutoff AND status IN ('triaged', 'skipped')
                 AND NOT (payload ? 'purged_at')"""
VAULT_DUE = """
WITH refs AS (
    SELECT f.status, f.closed_at, f.contact_vault_id AS vault_id FROM feedback.feedback f
    WHERE f.contact_vault_id IS NOT NULL
    UNION ALL
    SELECT f.status, f.closed_at, r.value::bigint FROM feedback.feedback f, jsonb_each_text(f.contact_refs) r
), verdict AS (
    SELECT vault_id, bool_and(status IN ('closed', 'unsolvable') AND closed_at < :cutoff) AS expired
    FROM refs GROUP BY vault_id
)
SELECT v.id FROM feedback.contact_vault v JOIN verdict ON verdict.vault_id = v.id
WHERE v.ciphertext IS NOT NULL AND verdict.expired
"""
ATTACHMENT_REFS = """
SELECT DISTINCT a->>'ref' FROM feedback.intake i,
       jsonb_array_elements(CASE WHEN jsonb_typeof(i.payload->'attachments') = 'array'
                                 THEN i.payload->'attachments' ELSE '[]'::jsonb END) a
WHERE a->>'ref' IS NOT NULL AND {where}
"""
EXPORT_COLUMNS = ("id", "feedback_no", "channel", "source", "received_at", "registered_at", "customer_tier",
                  "emotion", "language", "subject", "description", "category", "department", "priority", "status",
                  "handling_cycle", "resolved_at", "closed_at", "customer_name", "contact_masked")


@dataclass
class RetentionResult:
    dry_run: bool
    payloads: int = 0
    landed: int = 0
    attachments: int = 0
    vault_entries: int = 0
    exported_months: list[str] = field(default_factory=list)
    exported_items: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _months_back(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    return moment.replace(year=year, month=month + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


def purge_payloads(conn: sa.Connection, cutoff: datetime, now: datetime, attachments_dir: Path,
                   dry_run: bool) -> tuple[int, int]:
    """Raw payloads past the cutoff become a purge marker; orphaned attachment files are deleted."""
    if dry_run:
        return conn.execute(sa.text(f"SELECT count(*) {PAYLOAD_DUE}"), {"cutoff": cutoff}).scalar_one(), 0  # noqa: S608
    due = ("i.received_at < :cutoff AND i.status IN ('triaged', 'skipped') "
           "AND NOT (i.payload ? 'purged_at')")
    refs = set(conn.execute(sa.text(ATTACHMENT_REFS.format(where=due)), {"cutoff": cutoff}).scalars())
    purged = conn.execute(sa.text(
        f"""UPDATE feedback.intake SET payload = jsonb_build_object('purged_at', CAST(:now AS text))
            WHERE id IN (SELECT id {PAYLOAD_DUE})"""), {"cutoff": cutoff, "now": now.isoformat()}).rowcount  # noqa: S608
    still = set(conn.execute(sa.text(ATTACHMENT_REFS.format(where="a->>'ref' = ANY(:refs)")),
                             {"refs": sorted(refs)}).scalars()) if refs else set()
    removed = 0
    for ref in sorted(refs - still):
        path = attachments_dir / ref
        if path.is_file():
            path.unlink()
            removed += 1
    return purged, removed


LANDED_DUE = """FROM feedback.webform_submission
                WHERE moved_at IS NOT NULL AND received_at < :cutoff AND NOT (fields ? 'purged_at')"""


def purge_landed(conn: sa.Connection, cutoff: datetime, now: datetime, dry_run: bool) -> int:
    """Landed web-form submissions already moved to intake keep their fields only as long as intake does."""
    if dry_run:
        return conn.execute(sa.text(f"SELECT count(*) {LANDED_DUE}"), {"cutoff": cutoff}).scalar_one()  # noqa: S608
    return conn.execute(sa.text(
        f"""UPDATE feedback.webform_submission SET fields = jsonb_build_object('purged_at', CAST(:now AS text))
            WHERE id IN (SELECT id {LANDED_DUE})"""), {"cutoff": cutoff, "now": now.isoformat()}).rowcount  # noqa: S608


def purge_vault(conn: sa.Connection, cutoff: datetime, now: datetime, dry_run: bool) -> int:
    ids = list(conn.execute(sa.text(VAULT_DUE), {"cutoff": cutoff}).scalars())
    if dry_run or not ids:
        return len(ids)
    return conn.execute(sa.text("""UPDATE feedback.contact_vault SET ciphertext = NULL, purged_at = :now
                                   WHERE id = ANY(:ids)"""), {"now": now, "ids": ids}).rowcount


def export_closed(conn: sa.Connection, cutoff: datetime, archive_url: str, dry_run: bool,
                  zone: str = "Asia/Shanghai") -> tuple[list[str], int]:
    """One Parquet file per month of closure (business zone) before the cutoff; exported months are left alone."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(archive_url)
    folder = f"{root.rstrip('/')}/closed-items"
    months = [m for m in conn.execute(sa.text(
        """SELECT DISTINCT to_char(closed_at AT TIME ZONE :zone, 'YYYY-MM') FROM feedback.feedback
           WHERE status IN ('closed', 'unsolvable') AND closed_at < :cutoff ORDER BY 1"""),
        {"cutoff": cutoff, "zone": zone}).scalars() if not fs.exists(f"{folder}/closed-items-{m}.parquet")]
    total = 0
    for month in months:
        query = sa.text(f"""SELECT {", ".join(EXPORT_COLUMNS)} FROM feedback.feedback
                            WHERE status IN ('closed', 'unsolvable') AND closed_at < :cutoff
                              AND to_char(closed_at AT TIME ZONE :zone, 'YYYY-MM') = :m
                            ORDER BY id""")  # noqa: S608 - fixed column list
        rows = conn.execute(query, {"cutoff": cutoff, "m": month, "zone": zone}).mappings().all()
        total += len(rows)
        if dry_run:
            continue
        import pandas as pd

        frame = pd.DataFrame([dict(r) for r in rows], columns=list(EXPORT_COLUMNS))
        frame["category"] = frame["category"].map(lambda v: list(v or []))
        fs.makedirs(folder, exist_ok=True)
        target = f"{folder}/closed-items-{month}.parquet"
        with fs.open(f"{target}.part", "wb") as handle:
            frame.to_parquet(handle, index=False)
        fs.mv(f"{target}.part", target)
    return months, total


def run_retention(engine: Engine, now: datetime, *, dry_run: bool = False) -> RetentionResult:
    """All three steps with the configured periods; counts only (for XCom and the CLI)."""
    from feedback import config
    from feedback.paths import local_dir

    settings = config.settings()
    keep = settings.retention
    folder = Path(settings.mail.attachments_dir)
    attachments = folder if folder.is_absolute() else local_dir() / folder
    result = RetentionResult(dry_run=dry_run)
    with engine.begin() as conn:
        result.payloads, result.attachments = purge_payloads(
            conn, now - timedelta(days=keep.raw_payload_days), now, attachments, dry_run)
        result.landed = purge_landed(conn, now - timedelta(days=keep.raw_payload_days), now, dry_run)
        result.vault_entries = purge_vault(conn, now - timedelta(days=keep.contact_days_after_close), now, dry_run)
        result.exported_months, result.exported_items = export_closed(
            conn, _months_back(now, keep.archive_closed_after_months), settings.reports.archive_url(local_dir()),
            dry_run, settings.timezone)
    log.info("retention%s: %s", " (dry run)" if dry_run else "", result.as_dict())
    return result
