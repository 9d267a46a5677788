"""Session advisory locks that keep one reader per source (a mail folder, a platform).

A manual run beside the schedule, or the CLI beside a task, must not read the same
source twice at once: the second reader would store nothing new but would race the
first for the cursor. The lock is taken on its own autocommit connection so the
batches' transactions commit independently while it is held.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@contextmanager
def source_lock(engine: Engine, key: str) -> Iterator[bool]:
    """Yields True while this process holds the lock for `key`, False when another reader has it."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock_conn:
        held = bool(lock_conn.execute(sa.text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key}).scalar())
        try:
            yield held
        finally:
            if held:
                lock_conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
