"""What the endpoint writes to the register: rate-limit hits and landed submissions.

Both live in the register rather than in a worker's memory because Airflow's API
server runs several workers: a limit counted per process would multiply by their
number, and an idempotent retry may reach another worker than the first attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_receipt_id(now: datetime) -> str:
    """`wf-` + a 26-character ULID (48-bit milliseconds, 80 random bits): unique and time-ordered."""
    value = (int(now.timestamp() * 1000) & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD[digit])
    return "wf-" + "".join(reversed(chars))


def client_hash(address: str, key: bytes) -> str:
    """A keyed hash of the client address: enough to count its requests, useless to find who it was."""
    return hmac.new(key, f"webform-client:{address}".encode(), hashlib.sha256).hexdigest()


def window_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def retry_after_seconds(now: datetime) -> int:
    """Whole seconds until the current one-minute window ends (at least 1)."""
    remaining = window_of(now) + timedelta(minutes=1) - now
    return max(1, int(-(-remaining.total_seconds() // 1)))


def count_hit(conn: sa.Connection, client: str, form: str, now: datetime) -> int:
    """Record one request of `client` to `form` in the current minute; returns the minute's hits so far."""
    hits: int = conn.execute(
        sa.text(
            """INSERT INTO feedback.webform_rate (client_hash, form, window_start, hits)
               VALUES (:c, :f, :w, 1)
               ON CONFLICT (client_hash, form, window_start) DO UPDATE
               SET hits = feedback.webform_rate.hits + 1
               RETURNING hits"""
        ),
        {"c": client, "f": form, "w": window_of(now)},
    ).scalar_one()
    return hits


@dataclass(frozen=True)
class Landing:
    """A validated submission, ready to be written."""

    form: str
    idempotency_key: str | None
    received_at: datetime
    locale: str
    fields: dict[str, str]
    attachments: list[dict[str, Any]]
    client_hash: str
    signature: str | None = None            # sha256 of an accepted HMAC signature (verify: hmac)
    signature_expires_at: datetime | None = None


def land(conn: sa.Connection, landing: Landing) -> tuple[str, bool]:
    """Insert the submission; (receipt id, True) when it was landed before: same idempotency key, or
    the same signed request replayed inside its window.

    ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit, so two
    simultaneous retries (or replays) also end with one row and one receipt.
    """
    receipt = new_receipt_id(landing.received_at)
    if landing.signature is not None:
        earlier = _remember_signature(conn, landing, receipt)
        if earlier is not None:
            return earlier, True
    stored, replayed = _insert(conn, landing, receipt)
    if landing.signature is not None and stored != receipt:
        # An idempotent retry, signed anew: the signature stands for the receipt actually given.
        conn.execute(
            sa.text("UPDATE feedback.webform_signature SET receipt_id = :r WHERE form = :f AND signature_sha256 = :s"),
            {"r": stored, "f": landing.form, "s": landing.signature},
        )
    return stored, replayed


def _remember_signature(conn: sa.Connection, landing: Landing, receipt: str) -> str | None:
    """Record the signature with the receipt about to be given; the earlier receipt if it was seen before.

    Expired memories of the form are deleted first: a request that old is refused as expired
    before it gets here, so forgetting it cannot let a replay through.
    """
    conn.execute(
        # SKIP LOCKED: two workers purging at once never wait on (or deadlock over) each other's rows.
        sa.text(
            """DELETE FROM feedback.webform_signature WHERE (form, signature_sha256) IN (
                   SELECT form, signature_sha256 FROM feedback.webform_signature
                   WHERE form = :f AND expires_at < :now LIMIT 1000 FOR UPDATE SKIP LOCKED)"""
        ),
        {"f": landing.form, "now": landing.received_at},
    )
    fresh = conn.execute(
        sa.text(
            """INSERT INTO feedback.webform_signature (form, signature_sha256, receipt_id, expires_at)
               VALUES (:f, :s, :r, :e)
               ON CONFLICT (form, signature_sha256) DO NOTHING
               RETURNING receipt_id"""
        ),
        {"f": landing.form, "s": landing.signature, "r": receipt, "e": landing.signature_expires_at},
    ).scalar()
    if fresh is not None:
        return None
    earlier: str = conn.execute(
        sa.text("SELECT receipt_id FROM feedback.webform_signature WHERE form = :f AND signature_sha256 = :s"),
        {"f": landing.form, "s": landing.signature},
    ).scalar_one()
    return earlier


def _earlier(conn: sa.Connection, landing: Landing) -> str:
    receipt: str = conn.execute(
        sa.text("SELECT receipt_id FROM feedback.webform_submission WHERE form = :f AND idempotency_key = :k"),
        {"f": landing.form, "k": landing.idempotency_key},
    ).scalar_one()
    return receipt


def _insert(conn: sa.Connection, landing: Landing, receipt: str) -> tuple[str, bool]:
    stored = conn.execute(
        sa.text(
            """INSERT INTO feedback.webform_submission
                   (form, receipt_id, idempotency_key, received_at, locale, fields, attachments, client_hash)
               VALUES (:form, :receipt, :key, :at, :locale, CAST(:fields AS jsonb), CAST(:attachments AS jsonb),
                       :client)
               ON CONFLICT (form, idempotency_key) DO NOTHING
               RETURNING receipt_id"""
        ),
        {"form": landing.form, "receipt": receipt, "key": landing.idempotency_key, "at": landing.received_at,
         "locale": landing.locale, "fields": json.dumps(landing.fields, ensure_ascii=False),
         "attachments": json.dumps(landing.attachments, ensure_ascii=False), "client": landing.client_hash},
    ).scalar()
    if stored is not None:
        return stored, False
    return _earlier(conn, landing), True
