"""A source's position (`feedback.channel_cursor`): where the next run starts reading.

Each channel keeps its own kind of position (IMAP UIDVALIDITY and last UID, an API
cursor or `since` timestamp, the last drop file) as JSON per (channel, source). The
position is only ever moved by `commit_cursor`, inside the transaction that stores the
rows it covers (`store.store_batch`): a crash before commit leaves both the rows and the
old position, and the next run reads the same items again, which the upsert makes
harmless.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def read_cursor(engine: Engine, channel: str, source: str) -> dict[str, Any] | None:
    """The position the last stored batch left, or None before a source's first batch."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT position FROM feedback.channel_cursor WHERE channel = :c AND source = :s"),
            {"c": channel, "s": source},
        ).scalar()
    return row


def commit_cursor(
    conn: sa.Connection, channel: str, source: str, position: dict[str, Any], inserted: int, at: datetime,
) -> None:
    """Move the position on `conn`, the open transaction that writes the batch it covers.

    Takes a connection, not an engine, so the position cannot be written in a
    transaction of its own: it commits or rolls back with the rows. `inserted` adds to
    the source's running item count (`items_total`).
    """
    conn.execute(
        sa.text(
            """INSERT INTO feedback.channel_cursor (channel, source, position, items_total, updated_at)
               VALUES (:c, :s, CAST(:p AS jsonb), :n, :t)
               ON CONFLICT (channel, source) DO UPDATE
               SET position = EXCLUDED.position,
                   items_total = feedback.channel_cursor.items_total + EXCLUDED.items_total,
                   updated_at = EXCLUDED.updated_at"""
        ),
        {"c": channel, "s": source, "p": json.dumps(position), "n": inserted, "t": at},
    )
