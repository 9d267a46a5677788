"""Bulk-writing intake rows: our write path against raw COPY, on the same rows, in one run.

Our path (feedback.channels.store.store_batch) does more than COPY: it stages the
batch, de-duplicates on (channel, external_id), inserts with ON CONFLICT into a
table with its unique index and checks, and moves the channel cursor in the
same transaction. The baseline is plain COPY of the same columns into a bare
table with no keys or indexes: the fastest a write of these rows can be. A
second baseline is psycopg2's execute_values with the same ON CONFLICT, the
usual way such writes are done.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from psycopg2.extras import Json, execute_values

from feedback.channels.base import IntakeItem
from feedback.channels.config import WebForm
from feedback.channels.store import INTAKE_COLUMNS, intake_rows, store_batch
from feedback.channels.webform.drop import parse_submission
from feedback.db.bulk import copy_into
from feedback_dev.sample import generate

RUN_TIME = datetime(2026, 11, 1, tzinfo=UTC)
FORMS = {"contact_zh": WebForm(name="contact_zh"), "contact_en": WebForm(name="contact_en", locale="en")}


@dataclass
class Result:
    name: str
    rows: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.median


def sample_items(volume: int, seed: int = 7) -> list[IntakeItem]:
    """Intake items from the sample generator: parsed web forms, other channels as raw text."""
    items: list[IntakeItem] = []
    for s in generate(seed=seed, volume=volume, month="2026-10").all_items():
        if s.malformed:
            continue
        if s.channel == "webform":
            items.append(parse_submission(s.raw, FORMS))
        else:
            text = s.raw.decode("utf-8", errors="replace")
            items.append(IntakeItem(s.channel, s.source, s.external_id, s.received_at, {"raw_text": text}))
    return items


BARE_TABLE = (
    "CREATE TABLE public.bench_bare (channel text, source text, external_id text, received_at timestamptz, "
    "payload jsonb, content_sha256 text, raw_ref text, status text, status_reason text)"
)


def write_ours(engine: sa.Engine, items: list[IntakeItem], batch: int) -> None:
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        store_batch(engine, chunk[0].channel, "bench", chunk, [], {"offset": start + len(chunk)}, RUN_TIME)


def write_copy(engine: sa.Engine, items: list[IntakeItem], batch: int) -> None:
    rows = intake_rows(items)
    for start in range(0, len(rows), batch):
        with engine.begin() as conn:
            copy_into(conn, "public.bench_bare", INTAKE_COLUMNS, rows[start : start + batch])


def write_execute_values(engine: sa.Engine, items: list[IntakeItem], batch: int) -> None:
    rows = [(*r[:4], Json(r[4]), *r[5:]) for r in intake_rows(items)]
    sql = (
        f"INSERT INTO feedback.intake ({', '.join(INTAKE_COLUMNS)}) VALUES %s "  # noqa: S608 - fixed column names
        "ON CONFLICT (channel, external_id) DO NOTHING"
    )
    for start in range(0, len(rows), batch):
        with engine.begin() as conn, conn.connection.driver_connection.cursor() as cur:
            execute_values(cur, sql, rows[start : start + batch], page_size=batch)


def measure(
    fresh: Callable[[], sa.Engine], items: list[IntakeItem], batch: int, repeats: int, progress: Callable[[str], None]
) -> list[Result]:
    contenders = {
        "feedback write path (COPY → staging → INSERT … ON CONFLICT + cursor)": write_ours,
        "psycopg2 execute_values … ON CONFLICT (peer approach)": write_execute_values,
        "raw COPY into a bare table (baseline)": write_copy,
    }
    results = {name: Result(name, len(items), []) for name in contenders}
    intake_rows(items)  # content hashes are computed once per item (cached), outside every timer
    for rep in range(repeats):
        # Interleave the contenders so drift on the machine affects them alike.
        for name, func in contenders.items():
            engine = fresh()
            started = time.perf_counter()
            func(engine, items, batch)
            results[name].seconds.append(time.perf_counter() - started)
            progress(f"  rep {rep + 1}/{repeats} {name[:40]:<40} {results[name].seconds[-1]:6.2f}s")
            with engine.connect() as conn:
                intake = conn.execute(sa.text("SELECT count(*) FROM feedback.intake")).scalar_one()
                bare = conn.execute(sa.text("SELECT count(*) FROM public.bench_bare")).scalar_one()
            assert max(intake, bare) == len(items), f"{name}: stored {max(intake, bare)} of {len(items)} rows"
            engine.dispose()
    return list(results.values())


def rerun_cost(fresh: Callable[[], sa.Engine], items: list[IntakeItem], batch: int) -> tuple[float, int]:
    """A second delivery of the same rows: what a task retry after a crash costs, and what it inserts."""
    engine = fresh()
    write_ours(engine, items, batch)
    started = time.perf_counter()
    write_ours(engine, items, batch)
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM feedback.intake")).scalar_one()
    engine.dispose()
    return elapsed, count
