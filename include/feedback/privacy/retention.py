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

A row a step cannot purge (a constraint or trigger refuses it) and a month that cannot
be exported are held (`feedback.holds`, stage `retention`) and skipped until released;
each step runs in its own transactions, the batch first and one row at a time after a
data error, so one such row never keeps every other contact past its time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.business_time import business_zone
from feedback.holds import describe_error, held_refs, hold_row, is_infrastructure_error, isolate
from feedback.paths import local_dir
from feedback.settings import load_settings

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # untyped library: documents what `fs` is

log = logging.getLogger(__name__)

STAGE = "retention"
PAYLOAD_DUE = """FROM feedback.intake WHERE received_at < :cutoff AND status IN ('triaged', 'skipped')
                 AND NOT (payload ? 'purged_at') AND NOT (id = ANY(:held))"""
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
WHERE v.ciphertext IS NOT NULL AND verdict.expired AND NOT (v.id = ANY(:held))
ORDER BY v.id
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
    held: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _months_back(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    return moment.replace(year=year, month=month + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


def _held(conn: sa.Connection, table: str) -> list[int]:
    return [int(r) for r in held_refs(conn, STAGE, table) if r.isdigit()]


def _purge_isolated(engine: Engine, table: str, ids: list[int], statement: str, params: dict[str, object],
                    now: datetime, what: str) -> tuple[int, int]:
    """Run `statement` (… WHERE id = ANY(:ids)) over `ids`; rows it fails on are held. (rows changed, held)."""
    changed = [0]

    def process(conn: sa.Connection, batch: Sequence[int]) -> None:
        changed[0] += conn.execute(sa.text(statement), {**params, "ids": list(batch)}).rowcount

    def on_poison(conn: sa.Connection, row_id: int, error: BaseException) -> None:
        reason, detail = describe_error(error)
        hold_row(conn, STAGE, table, row_id, reason, f"{what}: {detail}", now)
        log.warning("retention: %s row %s held (%s)", table, row_id, reason)

    held = 0
    for start in range(0, len(ids), BATCH):
        held += isolate(engine, ids[start:start + BATCH], process, on_poison)
    return changed[0], held


BATCH = 5_000


def purge_payloads(conn: sa.Connection | Engine, cutoff: datetime, now: datetime, attachments_dir: Path,
                   dry_run: bool, result: RetentionResult | None = None) -> tuple[int, int]:
    """Raw payloads past the cutoff become a purge marker; orphaned attachment files are deleted."""
    if dry_run:
        with _connected(conn) as c:
            return c.execute(sa.text(f"SELECT count(*) {PAYLOAD_DUE}"),  # noqa: S608
                             {"cutoff": cutoff, "held": _held(c, INTAKE)}).scalar_one(), 0
    engine = conn.engine
    with engine.connect() as c:
        held = _held(c, INTAKE)
        ids = list(c.execute(sa.text(f"SELECT id {PAYLOAD_DUE} ORDER BY id"),  # noqa: S608
                             {"cutoff": cutoff, "held": held}).scalars())
        refs = set(c.execute(sa.text(ATTACHMENT_REFS.format(where="i.id = ANY(:ids)")), {"ids": ids}).scalars())
    purged, poison = _purge_isolated(
        engine, INTAKE, ids,
        """UPDATE feedback.intake SET payload = jsonb_build_object('purged_at', CAST(:now AS text))
           WHERE id = ANY(:ids) AND NOT (payload ? 'purged_at')""", {"now": now.isoformat()}, now,
        "purging its raw payload")
    if result is not None:
        result.held += poison
    with engine.connect() as c:
        still = set(c.execute(sa.text(ATTACHMENT_REFS.format(where="a->>'ref' = ANY(:refs)")),
                              {"refs": sorted(refs)}).scalars()) if refs else set()
    removed = 0
    for ref in sorted(refs - still):
        path = attachments_dir / ref
        if path.is_file():
            path.unlink()
            removed += 1
    return purged, removed


LANDED_DUE = """FROM feedback.webform_submission
                WHERE moved_at IS NOT NULL AND received_at < :cutoff AND NOT (fields ? 'purged_at')
                  AND NOT (id = ANY(:held))"""
INTAKE, LANDED, VAULT = "feedback.intake", "feedback.webform_submission", "feedback.contact_vault"


@contextmanager
def _connected(source: sa.Connection | Engine) -> Iterator[sa.Connection]:
    """A connection from a connection (used as is) or an engine (opened and closed here)."""
    if isinstance(source, sa.Connection):
        yield source
        return
    with source.connect() as own:
        yield own


def purge_landed(conn: sa.Connection | Engine, cutoff: datetime, now: datetime, dry_run: bool,
                 result: RetentionResult | None = None) -> int:
    """Landed web-form submissions already moved to intake keep their fields only as long as intake does."""
    with _connected(conn) as c:
        held = _held(c, LANDED)
        if dry_run:
            due: int = c.execute(sa.text(f"SELECT count(*) {LANDED_DUE}"),  # noqa: S608
                                 {"cutoff": cutoff, "held": held}).scalar_one()
            return due
        ids = list(c.execute(sa.text(f"SELECT id {LANDED_DUE} ORDER BY id"),  # noqa: S608
                             {"cutoff": cutoff, "held": held}).scalars())
    purged, poison = _purge_isolated(
        conn.engine, LANDED, ids,
        """UPDATE feedback.webform_submission SET fields = jsonb_build_object('purged_at', CAST(:now AS text))
           WHERE id = ANY(:ids) AND NOT (fields ? 'purged_at')""", {"now": now.isoformat()}, now,
        "purging its landed fields")
    if result is not None:
        result.held += poison
    return purged


def purge_vault(conn: sa.Connection | Engine, cutoff: datetime, now: datetime, dry_run: bool,
                result: RetentionResult | None = None) -> int:
    with _connected(conn) as c:
        ids = list(c.execute(sa.text(VAULT_DUE), {"cutoff": cutoff, "held": _held(c, VAULT)}).scalars())
    if dry_run or not ids:
        return len(ids)
    purged, poison = _purge_isolated(
        conn.engine, VAULT, ids,
        """UPDATE feedback.contact_vault SET ciphertext = NULL, purged_at = :now
           WHERE id = ANY(:ids) AND ciphertext IS NOT NULL""", {"now": now}, now, "purging its ciphertext")
    if result is not None:
        result.held += poison
    return purged


EXPORT_TABLE = "closed-items"   # held months: row_ref is the month, YYYY-MM


def export_closed(conn: sa.Connection, cutoff: datetime, archive_url: str, dry_run: bool,
                  zone: str | None = None, result: RetentionResult | None = None,
                  now: datetime | None = None) -> tuple[list[str], int]:
    """One Parquet file per month of closure (business zone) before the cutoff; exported months are left alone.

    A month that cannot be exported (a value the file cannot hold, the archive refusing
    the write) is held and skipped until released; the other months are exported.
    """
    import fsspec

    zone = zone or business_zone().key

    fs, root = fsspec.core.url_to_fs(archive_url)
    folder = f"{root.rstrip('/')}/closed-items"
    held = set(held_refs(conn, STAGE, EXPORT_TABLE))
    months = [m for m in conn.execute(sa.text(
        """SELECT DISTINCT to_char(closed_at AT TIME ZONE :zone, 'YYYY-MM') FROM feedback.feedback
           WHERE status IN ('closed', 'unsolvable') AND closed_at < :cutoff ORDER BY 1"""),
        {"cutoff": cutoff, "zone": zone}).scalars()
        if m not in held and not fs.exists(f"{folder}/closed-items-{m}.parquet")]
    total, exported = 0, []
    for month in months:
        try:
            total += _export_month(conn, fs, folder, month, cutoff, zone, dry_run)
        except Exception as error:  # noqa: BLE001 - this month is the poison: hold it, export the others

            if is_infrastructure_error(error):
                raise
            conn.rollback()
            reason, detail = describe_error(error)
            with conn.engine.begin() as c:
                hold_row(c, STAGE, EXPORT_TABLE, month, reason, f"exporting closed items: {detail}", now or cutoff)
            log.warning("retention: export of %s held (%s)", month, reason)
            if result is not None:
                result.held += 1
            continue
        exported.append(month)
    return exported, total


def _export_month(conn: sa.Connection, fs: AbstractFileSystem, folder: str, month: str, cutoff: datetime, zone: str,
                  dry_run: bool) -> int:
    query = sa.text(f"""SELECT {", ".join(EXPORT_COLUMNS)} FROM feedback.feedback
                        WHERE status IN ('closed', 'unsolvable') AND closed_at < :cutoff
                          AND to_char(closed_at AT TIME ZONE :zone, 'YYYY-MM') = :m
                        ORDER BY id""")  # noqa: S608 - fixed column list
    rows = conn.execute(query, {"cutoff": cutoff, "m": month, "zone": zone}).mappings().all()
    if dry_run:
        return len(rows)
    import pandas as pd

    frame = pd.DataFrame([dict(r) for r in rows], columns=list(EXPORT_COLUMNS))
    frame["category"] = frame["category"].map(lambda v: list(v or []))
    fs.makedirs(folder, exist_ok=True)
    target = f"{folder}/closed-items-{month}.parquet"
    with fs.open(f"{target}.part", "wb") as handle:
        frame.to_parquet(handle, index=False)
    fs.mv(f"{target}.part", target)
    return len(rows)


def run_retention(engine: Engine, now: datetime, *, dry_run: bool = False) -> RetentionResult:
    """All three steps with the configured periods; counts only (for XCom and the CLI)."""

    settings = load_settings()
    keep = settings.retention
    folder = Path(settings.mail.attachments_dir)
    attachments = folder if folder.is_absolute() else local_dir() / folder
    result = RetentionResult(dry_run=dry_run)
    # Each step in its own transactions (each is safe to run twice): a row one step cannot purge is held.
    result.payloads, result.attachments = purge_payloads(
        engine, now - timedelta(days=keep.raw_payload_days), now, attachments, dry_run, result)
    result.landed = purge_landed(engine, now - timedelta(days=keep.raw_payload_days), now, dry_run, result)
    result.vault_entries = purge_vault(engine, now - timedelta(days=keep.contact_days_after_close), now, dry_run,
                                       result)
    with engine.connect() as conn:
        result.exported_months, result.exported_items = export_closed(
            conn, _months_back(now, keep.archive_closed_after_months), settings.reports.archive_url(local_dir()),
            dry_run, business_zone().key, result, now)
    log.info("retention%s: %s", " (dry run)" if dry_run else "", result.as_dict())
    if result.held:
        log.warning("retention held %s row(s); see `feedback quarantine list --stage retention`", result.held)
    return result
