"""Storing a channel's batch: items, quarantined rejects and the cursor, in one transaction.

This is the only place ingest writes to the register, so the guarantee "the
cursor moves only with the rows it covers" lives in one function: the position is
committed (`cursor.commit_cursor`) in the transaction that writes the rows. A crash
before commit leaves both the rows and the old position, and the next run reads
the same items again and the upsert makes that harmless.

One item whose values the register refuses (a NUL character jsonb cannot hold, a value
out of a column's range: SQLSTATE class 22) must not keep the cursor in place for ever, re-reading the same batch
every run: the batch is written in a savepoint and, if that fails on the data, item by
item; an item that still fails is parked in `quarantine` (reason `store_error`, its
payload encrypted) and the rest of the batch and the cursor commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.channels.base import IntakeItem, Rejected
from feedback.channels.cursor import commit_cursor
from feedback.db.bulk import upsert
from feedback.holds import describe_error, is_infrastructure_error
from feedback.privacy import keys

INTAKE_COLUMNS = (
    "channel", "source", "external_id", "received_at", "payload", "content_sha256", "raw_ref", "status", "status_reason",
)
QUARANTINE_COLUMNS = (
    "channel", "source", "external_ref", "reason", "detail", "raw_encrypted", "raw_sha256", "parked_at",
)


@dataclass(frozen=True)
class StoreResult:
    inserted: int
    duplicates: int
    quarantined: int

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "duplicates": self.duplicates, "quarantined": self.quarantined}


def intake_rows(items: Sequence[IntakeItem]) -> list[tuple[object, ...]]:
    return [
        (i.channel, i.source, i.external_id, i.received_at, i.payload, i.content_sha256, i.raw_ref, i.status,
         i.status_reason)
        for i in items
    ]


def store_batch(
    engine: Engine,
    channel: str,
    source: str,
    items: Sequence[IntakeItem],
    rejected: Sequence[Rejected],
    position: dict[str, Any],
    parked_at: datetime,
    resolve: Callable[[sa.Connection, Sequence[IntakeItem]], Sequence[IntakeItem]] | None = None,
) -> StoreResult:
    """Write items (once per key), park rejects, and move the cursor, atomically.

    `resolve` may rewrite the items inside the transaction before they are written (the
    e-mail channel gives a reused Message-ID a content-hash identity there).
    """
    fernet = keys.cipher() if rejected else None
    with engine.begin() as conn:
        if resolve is not None:
            items = resolve(conn, items)
        inserted, refused = _write_items(conn, items)
        if refused:
            fernet = fernet or keys.cipher()
            rejected = [*rejected, *refused]
            items = [i for i in items if i.external_id not in {r.external_ref for r in refused}]
        parked = upsert(
            conn,
            "feedback.quarantine",
            QUARANTINE_COLUMNS,
            [
                (r.channel, r.source, r.external_ref, r.reason, r.detail, keys.encrypt(r.raw, fernet),
                 r.raw_sha256, parked_at)
                for r in rejected
            ],
            ("channel", "source", "raw_sha256"),
        )
        commit_cursor(conn, channel, source, position, inserted, parked_at)
    return StoreResult(inserted=inserted, duplicates=len(items) - inserted, quarantined=parked)


def _refused_value(error: BaseException) -> bool:
    """A value the register cannot hold (SQLSTATE class 22: NUL in text, out of range, bad encoding).

    Only these come from what a customer or a platform sent; a constraint violation (class 23)
    means our own code built a bad row, and fails the batch as before, cursor unmoved.
    """
    code = getattr(getattr(error, "orig", None) or error, "pgcode", None) or ""
    return not is_infrastructure_error(error) and code.startswith("22")


def _write_items(conn: sa.Connection, items: Sequence[IntakeItem]) -> tuple[int, list[Rejected]]:
    """Upsert the items in a savepoint; on a data error, one by one. (rows inserted, items refused)."""
    try:
        with conn.begin_nested():
            return upsert(conn, "feedback.intake", INTAKE_COLUMNS, intake_rows(items), ("channel", "external_id")), []
    except Exception as error:  # noqa: BLE001 - COPY raises the driver's own errors, unwrapped
        if not _refused_value(error):
            raise
    inserted, refused = 0, []
    for item in items:
        try:
            with conn.begin_nested():
                inserted += upsert(conn, "feedback.intake", INTAKE_COLUMNS, intake_rows([item]),
                                   ("channel", "external_id"))
        except Exception as error:  # noqa: BLE001 - see above
            if not _refused_value(error):
                raise
            reason, detail = describe_error(error)
            raw = json.dumps(item.payload, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
            refused.append(Rejected(item.channel, item.source, item.external_id, "store_error",
                                    f"the register refused the item ({reason}): {detail}", raw))
    return inserted, refused
