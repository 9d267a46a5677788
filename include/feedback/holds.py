"""Poison isolation: rows a stage cannot process are held with a reason, never retried forever.

One bad row must not stop a batch, a run or a stage for everyone (design.md, "Poison
isolation"). Each stage processes its rows one batch at a time; when a statement fails
on a batch, the stage retries the rows one by one, holds the ones that still fail here
with a specific reason, and lets the rest through. Held rows are skipped by their stage
until an operator releases them after a fix (`feedback quarantine list|release`).

Two kinds of hold share one listing:
- intake rows that triage cannot register: `intake.status = 'held'` with `status_reason`
  (releasing sets them back to `new`);
- rows of the recurring stages (SLA monitor, callbacks, outbox sender, reports,
  retention): a `held_row` entry keyed by stage, table and the row's id.

A reason is a machine-readable code and a detail line for the operator. Neither may
carry personal data: say the table, column and kind, never the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.errors import FeedbackError

T = TypeVar("T")

INFRASTRUCTURE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)
"""The register went away, a deadlock, a timeout: not about a row (see `is_infrastructure_error`)."""

STAGES = ("triage", "sla_monitor", "callbacks", "outbox", "reports", "retention")
_DETAIL_MAX = 300


@dataclass(frozen=True)
class Held:
    """One held row as the operator sees it (no values, only where and why)."""

    id: str              # "intake:<id>" or "held:<id>": what `release` takes
    stage: str
    table_name: str
    row_ref: str
    reason: str
    detail: str
    held_at: datetime
    hold_count: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def describe_error(error: BaseException) -> tuple[str, str]:
    """A reason code and one detail line for an exception, without the statement's parameters.

    Database errors carry the SQL and its bound values (possibly customer text); only the
    driver's first message line and the exception class are kept.
    """
    original = getattr(error, "orig", None) or error
    name = type(original).__name__
    first = str(original).strip().splitlines()[0] if str(original).strip() else name
    code = getattr(original, "pgcode", None)
    reason = {
        "22003": "value_out_of_range",
        "22001": "value_too_long",
        "22P02": "invalid_value",
        "22007": "invalid_datetime",
        "22008": "datetime_out_of_range",
        "23505": "duplicate_key",
        "23503": "missing_reference",
        "23514": "check_violation",
    }.get(code or "", _snake(name))
    return reason, f"{name}: {first}"[:_DETAIL_MAX]


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out) or "error"


def hold_row(conn: sa.Connection, stage: str, table_name: str, row_ref: int | str, reason: str, detail: str,
             held_at: datetime) -> None:
    """Record (or re-count) a held row of a recurring stage, in the caller's transaction."""
    conn.execute(
        sa.text(
            """INSERT INTO feedback.held_row (stage, table_name, row_ref, reason, detail, held_at)
               VALUES (:s, :t, :r, :reason, :detail, :at)
               ON CONFLICT (stage, table_name, row_ref) WHERE released_at IS NULL
               DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail,
                             hold_count = held_row.hold_count + 1"""
        ),
        {"s": stage, "t": table_name, "r": str(row_ref), "reason": reason, "detail": detail[:_DETAIL_MAX],
         "at": held_at},
    )


def held_refs(conn: sa.Connection, stage: str, table_name: str) -> list[str]:
    """The refs a stage must skip (open holds), for `<> ALL(:held)` filters in its queries."""
    return list(conn.execute(
        sa.text("""SELECT row_ref FROM feedback.held_row
                   WHERE stage = :s AND table_name = :t AND released_at IS NULL"""),
        {"s": stage, "t": table_name},
    ).scalars())


def hold_intake(conn: sa.Connection, intake_id: int, reason: str, detail: str, held_at: datetime) -> None:
    """Hold an intake row that triage cannot register; `status_reason` is "<reason>: <detail>"."""
    conn.execute(
        sa.text("""UPDATE feedback.intake SET status = 'held', status_reason = :why, triaged_at = :at
                   WHERE id = :i AND status IN ('new', 'held')"""),
        {"i": intake_id, "why": f"{reason}: {detail}"[:_DETAIL_MAX], "at": held_at},
    )


def isolate(
    engine: Engine,
    items: Sequence[T],
    process: Callable[[sa.Connection, Sequence[T]], None],
    on_poison: Callable[[sa.Connection, T, BaseException], None],
) -> int:
    """Run `process` on the whole batch in one transaction; if it fails, one item at a time.

    Returns how many items were held. Each item's retry runs in its own transaction, so
    a poison item's failure rolls back only its own writes; `on_poison` records the hold in
    a fresh transaction. Errors that are not about the data (the register went away) are
    not swallowed: they fail the run and Airflow retries it.
    """
    if not items:
        return 0
    if len(items) > 1:
        try:
            with engine.begin() as conn:
                process(conn, items)
            return 0
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception:  # noqa: BLE001, S110 - a data error somewhere in the batch: go one by one
            pass
    held = 0
    for item in items:
        try:
            with engine.begin() as conn:
                process(conn, [item])
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as error:  # noqa: BLE001 - this item is the poison: hold it, go on
            with engine.begin() as conn:
                on_poison(conn, item, error)
            held += 1
    return held


def is_infrastructure_error(error: BaseException) -> bool:
    """True for errors about the register itself (connection lost, server gone), not about a row.

    Those must fail the run so Airflow retries it; holding rows for them would hold everything.
    """
    return isinstance(error, INFRASTRUCTURE_ERRORS)


def isolate_nested(
    conn: sa.Connection,
    items: Sequence[T],
    process: Callable[[sa.Connection, Sequence[T]], None],
    on_poison: Callable[[sa.Connection, T, BaseException], None],
) -> list[T]:
    """`isolate` inside the caller's transaction: the batch, then one item per savepoint.

    For stages whose run must stay one transaction (the SLA monitor records a breach and
    its digest together, under its lock). Returns the held items; their holds are written
    in the caller's transaction, so they commit with the rest of the run.
    """
    if not items:
        return []
    if len(items) > 1:
        try:
            with conn.begin_nested():
                process(conn, items)
            return []
        except Exception as error:  # noqa: BLE001 - a data error somewhere in the batch: go one by one
            if is_infrastructure_error(error):
                raise
    held = []
    for item in items:
        try:
            with conn.begin_nested():
                process(conn, [item])
        except Exception as error:  # noqa: BLE001 - this item is the poison: hold it, go on
            if is_infrastructure_error(error):
                raise
            on_poison(conn, item, error)
            held.append(item)
    return held


def list_held(engine: Engine, *, stage: str | None = None, limit: int = 100) -> list[Held]:
    """Open holds of every kind, oldest first: held intake rows and held stage rows."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """SELECT * FROM (
                       SELECT 'intake:' || id AS id, 'triage' AS stage, 'feedback.intake' AS table_name,
                              id::text AS row_ref, split_part(coalesce(status_reason, 'held'), ':', 1) AS reason,
                              coalesce(status_reason, '') AS detail, coalesce(triaged_at, ingested_at) AS held_at,
                              1 AS hold_count
                       FROM feedback.intake WHERE status = 'held'
                       UNION ALL
                       SELECT 'held:' || id, stage, table_name, row_ref, reason, detail, held_at, hold_count
                       FROM feedback.held_row WHERE released_at IS NULL
                   ) h
                   WHERE CAST(:stage AS text) IS NULL OR stage = :stage
                   ORDER BY held_at, id LIMIT :limit"""
            ),
            {"stage": stage, "limit": limit},
        ).mappings().all()
    return [Held(**dict(r)) for r in rows]


def release(engine: Engine, ids: Iterable[str], released_at: datetime, actor: str = "operator") -> int:
    """Release holds by their listed ids ("intake:12", "held:3"); the stage takes them on its next run."""
    intake_ids: list[int] = []
    held_ids: list[int] = []
    for raw in ids:
        kind, _, number = str(raw).partition(":")
        if not number.isdigit() or kind not in ("intake", "held"):
            raise FeedbackError(f"not a hold id: {raw!r}; use the ids `feedback quarantine list` prints "
                                "(intake:<n> or held:<n>)")
        (intake_ids if kind == "intake" else held_ids).append(int(number))
    with engine.begin() as conn:
        released = conn.execute(
            sa.text("""UPDATE feedback.intake SET status = 'new', status_reason = NULL, triaged_at = NULL
                       WHERE status = 'held' AND id = ANY(:i)"""), {"i": intake_ids},
        ).rowcount if intake_ids else 0
        if held_ids:
            released += conn.execute(
                sa.text("""UPDATE feedback.held_row SET released_at = :at, released_by = :who
                           WHERE released_at IS NULL AND id = ANY(:i)"""),
                {"i": held_ids, "at": released_at, "who": actor},
            ).rowcount
    return released


def release_all(engine: Engine, released_at: datetime, stage: str | None = None, actor: str = "operator") -> int:
    """Release every open hold (of one stage), after a fix that covers them all."""
    return release(engine, [h.id for h in list_held(engine, stage=stage, limit=1_000_000)], released_at, actor)
