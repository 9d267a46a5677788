"""Working the quarantine: list what is parked, and re-run it through today's parsers.

Parked items keep their raw bytes (encrypted), so after a parser fix or a
configuration change (a form added, a limit raised) an operator re-runs them with
`feedback quarantine retry` and they enter intake exactly as if they had just
arrived: same identities, so a retry can never create a duplicate. An item that
still fails stays parked with the new reason and a higher retry count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.channels.base import IntakeItem, InvalidItem, Rejected
from feedback.channels.config import load_channels
from feedback.channels.store import INTAKE_COLUMNS, intake_rows
from feedback.db.bulk import upsert
from feedback.paths import local_dir
from feedback.privacy import keys
from feedback.settings import load_settings

LIST_COLUMNS = ("id", "channel", "source", "external_ref", "reason", "detail", "status", "retry_count", "parked_at")


@dataclass(frozen=True)
class RetryResult:
    resolved: int
    still_parked: int
    not_retryable: int

    def as_dict(self) -> dict[str, int]:
        return self.__dict__.copy()


def list_parked(engine: Engine, *, channel: str | None = None, reason: str | None = None,
                status: str = "parked", limit: int = 100) -> list[dict[str, Any]]:
    """Quarantine rows without their raw bytes (reasons and references only, no personal data)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"""SELECT {", ".join(LIST_COLUMNS)} FROM feedback.quarantine
                        WHERE status = :status AND (CAST(:channel AS text) IS NULL OR channel = :channel)
                          AND (CAST(:reason AS text) IS NULL OR reason = :reason)
                        ORDER BY parked_at, id LIMIT :limit"""),  # noqa: S608 - fixed column list
            {"status": status, "channel": channel, "reason": reason, "limit": limit},
        ).mappings().all()
    return [dict(r) for r in rows]


def _reparse(channel: str, source: str, external_ref: str, raw: bytes, parked_at: datetime) -> IntakeItem | Rejected:
    """The raw bytes through the channel's current parser, as on first arrival.

    A mail's received_at comes from the mail itself (its top Received: header, our MTA's),
    else from when we parked it: the retry happens later, and the retry's time would
    number the item and start its deadlines as if the customer had just written.
    """
    if channel == "email":
        from feedback.channels.mail.ingest import mailbox_config
        from feedback.channels.mail.items import MailRules, judge

        mailbox_name, _, folder = source.partition("/")
        mailbox = mailbox_config(mailbox_name)
        rules = MailRules.for_mailbox(mailbox, load_settings(), local_dir())
        return judge(raw, rules, folder_source=source, source_ref=external_ref, raw_ref=f"quarantine:{external_ref}",
                     outbound=folder == mailbox.sent_folder, arrived_at=None, run_time=parked_at,
                     size=len(raw))
    if channel == "webform":
        from feedback.channels.webform.drop import parse_submission

        forms = {f.name: f for f in load_channels().webforms.forms}
        try:
            return parse_submission(raw, forms)
        except InvalidItem as bad:
            return Rejected(channel, source, external_ref, bad.reason, bad.detail, raw)
    raise InvalidItem("not_retryable", f"no parser for channel {channel!r} yet")


def retry(engine: Engine, run_time: datetime, *, ids: Sequence[int] | None = None, channel: str | None = None,
          limit: int = 500) -> RetryResult:
    """Re-run parked items (the given ids, or every parked one of a channel); one transaction."""
    from feedback.channels.mail.items import resolve_reused_ids

    resolved = still = skipped = 0
    fernet = keys.cipher()
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text("""SELECT id, channel, source, external_ref, reason, raw_encrypted, parked_at FROM feedback.quarantine
                       WHERE status = 'parked' AND (CAST(:ids AS bigint[]) IS NULL OR id = ANY(:ids))
                         AND (CAST(:channel AS text) IS NULL OR channel = :channel)
                       ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"""),
            {"ids": list(ids) if ids else None, "channel": channel, "limit": limit},
        ).all()
        for row in rows:
            if row.reason == "oversize" and row.channel == "email":
                # Only the headers were kept; the mail itself is still on the server (see the detail).
                skipped += 1
                continue
            raw = keys.decrypt(row.raw_encrypted, fernet)
            try:
                outcome = _reparse(row.channel, row.source, row.external_ref or "", raw, row.parked_at or run_time)
            except InvalidItem as bad:
                outcome = Rejected(row.channel, row.source, row.external_ref or "", bad.reason, bad.detail, raw)
            if isinstance(outcome, IntakeItem):
                items = resolve_reused_ids(conn, [outcome]) if outcome.channel == "email" else [outcome]
                upsert(conn, "feedback.intake", INTAKE_COLUMNS, intake_rows(items), ("channel", "external_id"))
                conn.execute(sa.text("""UPDATE feedback.quarantine SET status = 'resolved', retried_at = :t,
                                        retry_count = retry_count + 1 WHERE id = :id"""), {"t": run_time, "id": row.id})
                resolved += 1
            else:
                conn.execute(sa.text("""UPDATE feedback.quarantine SET retried_at = :t, retry_count = retry_count + 1,
                                        reason = :reason, detail = :detail WHERE id = :id"""),
                             {"t": run_time, "id": row.id, "reason": outcome.reason, "detail": outcome.detail})
                still += 1
    return RetryResult(resolved, still, skipped)
