"""The SLA monitor: apply new events to deadlines, then record warnings and breaches, set-based.

A run has two halves. First the events since the last run (replies, status
changes, resolutions, reopens) are applied: stages they satisfy are marked met,
clocks pause while an item waits on the customer and resume with the deadlines
pushed back by the business time paused, a reopen starts a new handling cycle.
Calendar arithmetic happens only here, for the items that changed. Then one SQL
statement finds the deadlines that newly crossed their warning instant or their
due time — index range scans, whatever the number of open items — and records
each once in `sla_breach` as a warning or a breach; old breaches escalate. Everything is one
transaction under an advisory lock, so overlapping runs queue and a re-run of
the same instant finds nothing new.

Nothing one item carries can stop the run for everyone (design.md, "Poison isolation"):
each step runs on its whole batch in a savepoint and, if that fails on the data, again one
item per savepoint; an item, deadline or breach that still fails is held
(`feedback.holds`, stage `sla_monitor`) and skipped by later runs until released. The
events of a held item are set aside (`sla_deferred_event`) and applied, in order, by the
first run after its release. Measures are computed in numeric and rounded, never in a
bounded type, so a deadline first seen a thousand allowances late is recorded as such.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.db.rows import TextRow
from feedback.holds import describe_error, held_refs, hold_row, is_infrastructure_error, isolate_nested
from feedback.sla import reasons as overdue_reasons
from feedback.sla.calendar import BusinessCalendar, load_calendars
from feedback.sla.deadlines import COLUMNS as DEADLINE_COLUMNS
from feedback.sla.deadlines import deadline_rows, warn_instant
from feedback.sla.policy import DEFAULT_OVERDUE_REASONS, SlaPolicy, load_policies
from feedback.sla.policy import overdue_reasons as configured_reasons

log = logging.getLogger(__name__)
MONITOR_LOCK = 0x736C615F6D6F6E  # "sla_mon"
FINAL_STATUSES = ("closed", "unsolvable")
EVENT_BATCH = 50_000
# After a run that flags this many deadlines (a first run over a backlog), refresh the planner's
# statistics, so the next run's partial-index scans are planned for the few rows they now find.
ANALYZE_AFTER = 20_000
# Events that are themselves a status of the item.
STATUS_EVENTS = {"resolved", "closed", "reopened"}
_STATUS_EVENT_TYPES = STATUS_EVENTS | {"status_changed"}
# Where the monitor's holds are recorded (feedback.held_row: stage, table, row id).
STAGE = "sla_monitor"
ITEM_TABLE = "feedback.feedback"
DEADLINE_TABLE = "feedback.feedback_deadline"
BREACH_TABLE = "feedback.sla_breach"


@dataclass
class MonitorSummary:
    events: int = 0
    items_changed: int = 0
    warn_backfilled: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    notifications: int = 0
    held: int = 0                 # items, deadlines or breaches held by this run (see `feedback quarantine list`)
    by_stage: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Notifier(Protocol):
    """Enqueues the digests of `alerts` in the caller's transaction; returns the rows written.

    It may carry `escalation_after` (how long a breach waits before each escalation level).
    """

    def __call__(self, conn: sa.Connection, run_time: datetime, alerts: list[TextRow], /) -> int: ...


@dataclass
class SlaSetup:
    """Policies by name (`feedback.sla_preset`), the default one, and the calendars."""

    policies: dict[str, SlaPolicy]
    default: str
    calendars: dict[str, BusinessCalendar]
    # Codes of sla_policies.yaml `overdue_reasons`; an event's code outside them counts as `other`.
    reason_codes: frozenset[str] = frozenset(r.code for r in DEFAULT_OVERDUE_REASONS)

    def policy(self, name: str | None) -> SlaPolicy:
        return self.policies.get(name or self.default) or self.policies[self.default]


def load_setup() -> SlaSetup:
    calendars = load_calendars()
    default, policies = load_policies()
    for policy in policies.values():
        policy.check_calendars(calendars)
    return SlaSetup(policies, default, calendars, frozenset(r.code for r in configured_reasons()))


# --- applying events -------------------------------------------------------------------------------


_EVENT_SELECT = """SELECT e.id, e.feedback_id, e.event_type, e.occurred_at, e.to_status, e.actor, e.reason,
                          e.reason_text, e.details->'handling_cycle' AS pinned_cycle,
                          f.sla_preset, f.priority, f.customer_tier, f.handling_cycle, f.status
                   FROM feedback.feedback_event e JOIN feedback.feedback f ON f.id = e.feedback_id"""


def _held_ids(conn: sa.Connection, table: str) -> list[int]:
    return [int(ref) for ref in held_refs(conn, STAGE, table) if ref.isdigit()]


def apply_events(conn: sa.Connection, setup: SlaSetup, run_time: datetime,
                 held: list[int] | None = None, rescan: set[int] | None = None) -> tuple[int, set[int]]:
    """Apply every event recorded since the last run; returns (events applied, items changed).

    Items the monitor holds have their events set aside instead; items whose events fail
    here are held now (their ids are appended to `held`), and their events set aside too.
    `rescan` receives the changed items whose open deadlines detection must look at again:
    those an event took out of a final status or into a new handling cycle (detection skips
    closed and unsolvable items and other cycles, so such an item's deadlines count again
    without being written) and those released from a hold. Every other event either marks a
    stage met or pauses a clock (a deadline counts less, never more) or moves a deadline,
    which the deadline's `touched_xid` already brings back.
    """
    last = conn.execute(sa.text("SELECT last_event_id FROM feedback.sla_monitor_state FOR UPDATE")).scalar_one()
    on_hold = set(_held_ids(conn, ITEM_TABLE))
    newly_held: list[int] = [] if held is None else held
    applied = 0
    changed: set[int] = set()
    # First the events set aside for items released since: in their original order.
    released = conn.execute(
        sa.text(_EVENT_SELECT + """ JOIN feedback.sla_deferred_event d ON d.event_id = e.id
                                    WHERE NOT (d.feedback_id = ANY(:held)) ORDER BY e.id"""),
        {"held": sorted(on_hold)},
    ).all()
    if released:
        failed = _apply_isolated(conn, setup, released, run_time)
        newly_held.extend(sorted(failed))
        on_hold |= failed
        done = sorted({e.id for e in released if e.feedback_id not in failed})
        conn.execute(sa.text("DELETE FROM feedback.sla_deferred_event WHERE event_id = ANY(:ids)"), {"ids": done})
        changed.update(e.feedback_id for e in released if e.feedback_id not in failed)
        if rescan is not None:
            rescan.update(e.feedback_id for e in released if e.feedback_id not in failed)
        applied += len(done)
    while True:
        fetched = conn.execute(
            sa.text(_EVENT_SELECT + " WHERE e.id > :last ORDER BY e.id LIMIT :n"),
            {"last": last, "n": EVENT_BATCH},
        ).all()
        # An event dated after this run's instant waits for a later run, and so does everything after it.
        events = []
        for event in fetched:
            if event.occurred_at > run_time:
                break
            events.append(event)
        if events:
            todo = [e for e in events if e.feedback_id not in on_hold]
            failed = _apply_isolated(conn, setup, todo, run_time)
            newly_held.extend(sorted(failed))
            on_hold |= failed
            _defer(conn, [e for e in events if e.feedback_id in on_hold], run_time)
            good = [e for e in todo if e.feedback_id not in failed]
            changed.update(e.feedback_id for e in good)
            if rescan is not None:
                rescan.update(_revived(good))
            applied += len(good)
            last = events[-1].id
        if len(events) < len(fetched) or len(fetched) < EVENT_BATCH:
            break
    conn.execute(sa.text("UPDATE feedback.sla_monitor_state SET last_event_id = :l, last_run_at = :t"),
                 {"l": last, "t": run_time})
    return applied, changed


def _revived(events: Sequence[TextRow]) -> set[int]:
    """Items whose deadlines may count again although none of them was written (see `apply_events`).

    Detection looks only at items not closed or unsolvable, in their current cycle; a status
    event that keeps an open item open changes neither, so its deadlines need no second look.
    """
    status: dict[int, str] = {}
    revived: set[int] = set()
    for e in events:  # in event order; `e.status` is the item's status before these events
        if e.event_type not in _STATUS_EVENT_TYPES:
            continue
        new = e.to_status if e.event_type == "status_changed" else e.event_type
        if not new:
            continue
        was = status.get(e.feedback_id, e.status)
        if e.event_type == "reopened" or (was in FINAL_STATUSES and new not in FINAL_STATUSES):
            revived.add(e.feedback_id)
        status[e.feedback_id] = new
    return revived


def _apply_isolated(conn: sa.Connection, setup: SlaSetup, events: Sequence[TextRow], run_time: datetime) -> set[int]:
    """Apply events in one savepoint; on a failure, item by item. Returns the items held."""
    if not events:
        return set()
    per_item: dict[int, list[TextRow]] = defaultdict(list)
    for e in events:
        per_item[e.feedback_id].append(e)

    def process(c: sa.Connection, items: Sequence[int]) -> None:
        _apply(c, setup, sorted((e for fid in items for e in per_item[fid]), key=lambda e: e.id))

    def on_poison(c: sa.Connection, item: int, error: BaseException) -> None:
        reason, detail = describe_error(error)
        hold_row(c, STAGE, ITEM_TABLE, item, reason, f"applying its events: {detail}", run_time)
        log.warning("sla monitor: item %s held (%s); its events wait for a release", item, reason)

    return set(isolate_nested(conn, list(per_item), process, on_poison))


def _defer(conn: sa.Connection, events: Sequence[TextRow], run_time: datetime) -> None:
    """Set aside the events of held items; applied after the hold is released."""
    if events:
        conn.execute(
            sa.text("""INSERT INTO feedback.sla_deferred_event (event_id, feedback_id, deferred_at)
                       VALUES (:e, :f, :t) ON CONFLICT (event_id) DO NOTHING"""),
            [{"e": e.id, "f": e.feedback_id, "t": run_time} for e in events],
        )


def _rules(policy: SlaPolicy) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """A policy's stages by the event name that meets them (in stage order), and its pause statuses."""
    met_by: dict[str, list[str]] = defaultdict(list)
    for stage, satisfied_by in policy.satisfied_by.items():
        for name in dict.fromkeys(satisfied_by):
            met_by[name].append(stage)
    return {name: tuple(stages) for name, stages in met_by.items()}, frozenset(policy.pause_statuses)


def _apply(conn: sa.Connection, setup: SlaSetup, events: Sequence[TextRow]) -> None:
    met: list[tuple[int, int, str, datetime]] = []
    statuses: dict[int, tuple[str, datetime]] = {}
    transitions: dict[int, list[tuple[str, datetime]]] = defaultdict(list)  # ("pause"|"resume", at), in order
    reopens: list[TextRow] = []
    reasons: list[overdue_reasons.ReasonEvent] = []
    cycle: dict[int, int] = {}
    paused_now: dict[int, bool] = {}
    # Each preset's rules, looked up once per run instead of once per event (10,000 events a run at scale).
    rules: dict[str | None, tuple[dict[str, tuple[str, ...]], frozenset[str]]] = {}
    for e in events:
        fid, event_type, at = e.feedback_id, e.event_type, e.occurred_at
        rule = rules.get(e.sla_preset)
        if rule is None:
            rule = rules[e.sla_preset] = _rules(setup.policy(e.sla_preset))
        met_by, pause_statuses = rule
        item_cycle = cycle.setdefault(fid, e.handling_cycle)
        if event_type == overdue_reasons.EVENT_TYPE:
            # Belongs to the cycle it names, else to the item's cycle at this point of the event order.
            reasons.append(overdue_reasons.ReasonEvent(
                fid, overdue_reasons.event_cycle({"handling_cycle": e.pinned_cycle}, item_cycle), e.id,
                at, e.actor, e.reason, e.reason_text))
            continue
        if event_type == "status_changed":
            status = e.to_status
            name = f"status_changed:{status}" if status else None
        else:
            status = event_type if event_type in STATUS_EVENTS else None
            name = event_type
        if name is not None:
            for stage in met_by.get(name, ()):
                met.append((fid, item_cycle, stage, at))
        if status:
            statuses[fid] = (status, at)
            pausing = status in pause_statuses
            was = paused_now.get(fid, e.status in pause_statuses)
            if pausing and not was:
                transitions[fid].append(("pause", at))
            elif was and not pausing:
                transitions[fid].append(("resume", at))
            paused_now[fid] = pausing
        if event_type == "reopened":
            cycle[fid] = item_cycle + 1
            reopens.append(e)
    if met:
        _mark_met(conn, met)
    # An item whose first transition is a pause was running: stop its open deadlines' clocks.
    first_pauses = [(fid, steps[0][1]) for fid, steps in transitions.items() if steps[0][0] == "pause"]
    if first_pauses:
        conn.execute(
            sa.text("""UPDATE feedback.feedback_deadline d SET paused_at = p.at
                       FROM unnest(CAST(:f AS bigint[]), CAST(:a AS timestamptz[])) AS p(feedback_id, at),
                            feedback.feedback f
                       WHERE d.feedback_id = p.feedback_id AND f.id = d.feedback_id
                         AND d.handling_cycle = f.handling_cycle AND d.met_at IS NULL AND d.paused_at IS NULL"""),
            _arrays(first_pauses, "f", "a"),
        )
    # Every item with a resume replays its pause/resume steps in order (calendar math per row).
    replays = {fid: steps for fid, steps in transitions.items() if any(kind == "resume" for kind, _ in steps)}
    if replays:
        _resume(conn, setup, replays)
    for e in reopens:
        _reopen(conn, setup, e)
    if reasons:
        overdue_reasons.apply(conn, reasons, setup.reason_codes)
    # One update of each item: its new status, if any, and its next deadline after all of the above.
    # (Two updates wrote two new versions of every changed item, each into all the item's indexes.)
    conn.execute(sa.text(_ITEM_UPDATE), {
        "ids": _array(sorted({e.feedback_id for e in events})),
        **_arrays([(fid, status, at) for fid, (status, at) in statuses.items()], "s_ids", "s_status", "s_at"),
    })


_ITEM_UPDATE = """
UPDATE feedback.feedback f
SET status = coalesce(n.status, f.status),
    updated_at = CASE WHEN n.status IS NULL THEN f.updated_at ELSE greatest(f.updated_at, n.at) END,
    resolved_at = CASE WHEN n.status = 'resolved' THEN n.at ELSE f.resolved_at END,
    closed_at = CASE WHEN n.status = 'closed' THEN n.at ELSE f.closed_at END,
    next_deadline_at = n.due_at, next_deadline_stage = n.next_stage
FROM (SELECT f2.id, s.status, s.at, d.due_at, d.stage AS next_stage
      FROM feedback.feedback f2
      LEFT JOIN unnest(CAST(:s_ids AS bigint[]), CAST(:s_status AS text[]), CAST(:s_at AS timestamptz[]))
                AS s(feedback_id, status, at) ON s.feedback_id = f2.id
      LEFT JOIN LATERAL (SELECT due_at, stage FROM feedback.feedback_deadline d
                         WHERE d.feedback_id = f2.id AND d.handling_cycle = f2.handling_cycle
                           AND d.met_at IS NULL AND d.paused_at IS NULL
                         ORDER BY due_at LIMIT 1) d ON true
      WHERE f2.id = ANY(CAST(:ids AS bigint[]))) n
WHERE f.id = n.id AND f.id = ANY(CAST(:ids AS bigint[]))
  AND (n.status IS NOT NULL OR f.next_deadline_at IS DISTINCT FROM n.due_at
       OR f.next_deadline_stage IS DISTINCT FROM n.next_stage)
"""
# `f.id = ANY(:ids)` twice: with it only on the subquery, the planner read every item (a sequential
# scan of feedback hash-joined to the changed ones, 0.2 s at a million items) to find the rows to update.


_MICROSECOND = timedelta(microseconds=1)


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value // _MICROSECOND} microseconds"  # exact; one time field, as COPY wrote it
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array(values: Sequence[object]) -> str:
    """One PostgreSQL array literal for a parameter cast to an array type (`CAST(:p AS bigint[])`).

    A set-based write takes its rows as arrays unnested in the statement: one text value per column,
    parsed by the server, costs a quarter of the client time of a list adapted element by element,
    and needs no temporary table (its catalog rows, TRUNCATE and COPY cost more than the write).
    """
    # Whole columns of one type without NULLs, the usual case, skip the per-value dispatch.
    if all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    if all(isinstance(v, datetime) for v in values):
        return "{" + ",".join(map(datetime.isoformat, cast("Sequence[datetime]", values))) + "}"
    if all(type(v) is str for v in values):
        texts = cast("Sequence[str]", values)
        plain = "".join(texts)
        if "\\" not in plain and '"' not in plain:
            return '{"' + '","'.join(texts) + '"}'  # not empty: the int branch took that
    return "{" + ",".join(map(_element, values)) + "}"


def _arrays(rows: Sequence[Sequence[object]], *names: str) -> dict[str, str]:
    """Rows as one array literal per column, keyed by the statement's parameter names."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return {name: _array(column) for name, column in zip(names, columns, strict=True)}


def _mark_met(conn: sa.Connection, met: list[tuple[int, int, str, datetime]]) -> None:
    conn.execute(
        sa.text("""UPDATE feedback.feedback_deadline d SET met_at = m.met_at, paused_at = NULL
                   FROM (SELECT feedback_id, handling_cycle, stage, min(met_at) AS met_at
                         FROM unnest(CAST(:f AS bigint[]), CAST(:c AS int[]), CAST(:s AS text[]),
                                     CAST(:m AS timestamptz[])) AS t(feedback_id, handling_cycle, stage, met_at)
                         GROUP BY 1, 2, 3) m
                   WHERE d.feedback_id = m.feedback_id AND d.handling_cycle = m.handling_cycle
                     AND d.stage = m.stage AND d.met_at IS NULL"""),
        _arrays(met, "f", "c", "s", "m"),
    )


def _resume(conn: sa.Connection, setup: SlaSetup, replays: dict[int, list[tuple[str, datetime]]]) -> None:
    """Push open deadlines back by the business time each pause lasted, replaying the steps in order."""
    rows = conn.execute(
        sa.text("SELECT id, feedback_id, calendar, paused_at, due_at, warn_at FROM feedback.feedback_deadline "
                "WHERE feedback_id = ANY(:f) AND paused_at IS NOT NULL AND met_at IS NULL"),
        {"f": sorted(replays)},
    ).all()
    updates = []
    for r in rows:
        cal = setup.calendars[r.calendar]
        paused_at, due, warn, total = r.paused_at, r.due_at, r.warn_at, timedelta(0)
        for kind, at in replays[r.feedback_id]:
            if kind == "pause":
                paused_at = paused_at or at
            elif paused_at is not None and at > paused_at:
                total += cal.between(paused_at, at)
                due = cal.add(at, cal.between(paused_at, due)) if due > paused_at else due
                if warn is not None and warn > paused_at:
                    warn = cal.add(at, cal.between(paused_at, warn))
                paused_at = None
        updates.append((r.id, due, warn, total, paused_at))
    if updates:
        conn.execute(
            sa.text("""UPDATE feedback.feedback_deadline d SET due_at = r.due_at, warn_at = r.warn_at,
                              paused_at = r.paused_at, paused_total = d.paused_total + r.paused
                       FROM unnest(CAST(:i AS bigint[]), CAST(:d AS timestamptz[]), CAST(:w AS timestamptz[]),
                                   CAST(:p AS interval[]), CAST(:a AS timestamptz[]))
                            AS r(id, due_at, warn_at, paused, paused_at)
                       WHERE d.id = r.id"""),
            _arrays(updates, "i", "d", "w", "p", "a"),
        )


def _reopen(conn: sa.Connection, setup: SlaSetup, event: TextRow) -> None:
    """A dissatisfied customer reopens the item: a new handling cycle with fresh deadlines."""
    new_cycle = event.handling_cycle + 1
    conn.execute(
        sa.text("UPDATE feedback.feedback SET handling_cycle = :c, resolved_at = NULL WHERE id = :f "
                "AND handling_cycle < :c"),
        {"c": new_cycle, "f": event.feedback_id},
    )
    policy = setup.policy(event.sla_preset)
    rows = deadline_rows(policy, setup.calendars, event.priority, event.customer_tier, event.occurred_at)
    for row in rows:
        conn.execute(
            sa.text(f"INSERT INTO feedback.feedback_deadline ({', '.join(DEADLINE_COLUMNS)}) "  # noqa: S608
                    f"VALUES ({', '.join(':' + c for c in DEADLINE_COLUMNS)}) "
                    "ON CONFLICT (feedback_id, stage, handling_cycle) DO NOTHING"),
            dict(zip(DEADLINE_COLUMNS, row.values(event.feedback_id, new_cycle), strict=True)),
        )


def _refresh_next_deadline(conn: sa.Connection, items: set[int]) -> None:
    conn.execute(
        sa.text(
            """UPDATE feedback.feedback f SET next_deadline_at = n.due_at, next_deadline_stage = n.stage
               FROM (SELECT f2.id, d.due_at, d.stage FROM feedback.feedback f2
                     LEFT JOIN LATERAL (SELECT due_at, stage FROM feedback.feedback_deadline d
                                        WHERE d.feedback_id = f2.id AND d.handling_cycle = f2.handling_cycle
                                          AND d.met_at IS NULL AND d.paused_at IS NULL
                                        ORDER BY due_at LIMIT 1) d ON true
                     WHERE f2.id = ANY(:ids)) n
               WHERE f.id = n.id"""
        ),
        {"ids": sorted(items)},
    )


def backfill_warn_at(conn: sa.Connection, setup: SlaSetup, limit: int = 20_000,
                     held: list[int] | None = None, run_time: datetime | None = None) -> int:
    """Warning instants for deadlines written before they existed (older registers).

    A deadline whose instant cannot be computed (its calendar is gone, the arithmetic
    leaves the calendar's range) is held, not retried on every run.
    """
    rows = conn.execute(
        sa.text("""SELECT d.id, d.calendar, d.starts_at, d.due_at, d.allowance, f.sla_preset
                   FROM feedback.feedback_deadline d JOIN feedback.feedback f ON f.id = d.feedback_id
                   WHERE d.warn_at IS NULL AND d.met_at IS NULL AND NOT (d.id = ANY(:held))
                     AND NOT (d.feedback_id = ANY(:held_items))
                   ORDER BY d.id LIMIT :n"""),
        {"n": limit, "held": _held_ids(conn, DEADLINE_TABLE), "held_items": _held_ids(conn, ITEM_TABLE)},
    ).all()

    done = 0
    for r in rows:
        try:
            warn = warn_instant(setup.calendars[r.calendar], r.starts_at, r.due_at, r.allowance,
                                setup.policy(r.sla_preset).warning_share)
        except Exception as error:  # noqa: BLE001 - this deadline is the poison: hold it, go on
            reason, detail = describe_error(error)
            hold_row(conn, STAGE, DEADLINE_TABLE, r.id, reason, f"computing its warning instant: {detail}",
                     run_time or r.due_at)
            if held is not None:
                held.append(r.id)
            continue
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET warn_at = :w WHERE id = :i"),
                     {"w": warn, "i": r.id})
        done += 1
    return done


# --- detection -------------------------------------------------------------------------------------

# What is already flagged lives in sla_breach (one row per deadline, kind and cycle), so recording a
# warning or a breach writes that row and nothing else (migration 021). Which deadlines to look at:
# a first run (no `detected_upto`) looks at every open deadline once; a later run only at
#   - deadlines whose warning instant or due time fell in (detected_upto, now]: index range scans;
#   - deadlines written or moved by transactions the last run could not see (touched_xid at or after
#     the snapshot horizon it stored): triage's new items, a recompute, a reclassification;
#   - the deadlines of the items this run's events took out of a final status or into a new cycle, and
#     of holds released since the last run (a released deadline or item is looked at again).
# Candidates are fetched first (few rows) and passed as an array, so the planner never hash-joins
# every open item for them; a first run is one INSERT … SELECT over the open deadlines.
_CANDIDATES = """
SELECT id FROM feedback.feedback_deadline WHERE due_at > :since AND due_at <= :now
UNION
SELECT id FROM feedback.feedback_deadline
WHERE warn_at > :since AND warn_at <= :now AND met_at IS NULL AND paused_at IS NULL
UNION
SELECT id FROM feedback.feedback_deadline WHERE touched_xid >= CAST(:xid AS xid8)
UNION
SELECT id FROM feedback.feedback_deadline WHERE feedback_id = ANY(CAST(:items AS bigint[]))
UNION
SELECT d.id
FROM (SELECT table_name, CASE WHEN row_ref ~ '^[0-9]{1,18}$' THEN CAST(row_ref AS bigint) END AS ref
      FROM feedback.held_row WHERE stage = :stage AND released_at >= :released_since) h
JOIN feedback.feedback_deadline d ON (h.table_name = :deadline_table AND d.id = h.ref)
                                  OR (h.table_name = :item_table AND d.feedback_id = h.ref)
"""
# A deadline `d` already breached (its record in sla_breach); recompute and reclassification leave it.
BREACHED = """EXISTS (SELECT 1 FROM feedback.sla_breach b WHERE b.feedback_id = d.feedback_id AND b.stage = d.stage
                      AND b.handling_cycle = d.handling_cycle AND b.kind = 'breach')"""
# Deadlines crossed and not yet flagged, in the scope above, each with the kind it now calls for: a
# breach once due (unless one is recorded), else a warning once its warning instant passed (unless a
# warning or a breach is recorded). Both kinds come from one pass, so the candidates, their items and
# their records are read once (two statements read them twice: a third of a run after 1% changed).
# Held deadlines, and every deadline of a held item (its events wait, so its state is stale), are skipped.
CROSSED = """
SELECT d.id, d.feedback_id, d.stage, d.handling_cycle, d.due_at, d.allowance,
       CASE WHEN d.due_at <= :now THEN 'breach' ELSE 'warning' END AS kind
FROM feedback.feedback_deadline d
JOIN feedback.feedback f ON f.id = d.feedback_id AND f.handling_cycle = d.handling_cycle
WHERE {scope} AND d.met_at IS NULL AND d.paused_at IS NULL AND (d.due_at <= :now OR d.warn_at <= :now)
  AND f.status NOT IN ('closed', 'unsolvable')
  AND NOT (d.id = ANY(CAST(:held AS bigint[]))) AND NOT (d.feedback_id = ANY(CAST(:held_items AS bigint[])))
  AND NOT EXISTS (SELECT 1 FROM feedback.sla_breach b
                  WHERE b.feedback_id = d.feedback_id AND b.stage = d.stage AND b.handling_cycle = d.handling_cycle
                    AND (b.kind = 'breach' OR (b.kind = 'warning' AND d.due_at > :now)))
"""
# The monitor alone writes sla_breach, under its advisory lock, after the NOT EXISTS above: no
# conflict handling per row. Counted by kind and stage in the database, so a backlog's rows stay there.
# Used share: elapsed wall-clock time over the allowance is exact on 24x7 calendars; on office-hour
# calendars the warning instant itself was computed in business time, and the digest shows the share.
# `extract(epoch …)` is numeric (PostgreSQL 14+), the column unbounded numeric: a deadline first seen
# a thousand allowances late is recorded as 1000.x, never an overflow; an infinite deadline has no share.
RECORD = """
WITH recorded AS (
    INSERT INTO feedback.sla_breach (feedback_id, stage, kind, handling_cycle, deadline_at, detected_at, used_share)
    SELECT d.feedback_id, d.stage, d.kind, d.handling_cycle, d.due_at, :now,
           CASE WHEN d.allowance > interval '0' AND isfinite(d.due_at) THEN round(
               CASE WHEN d.kind = 'breach' THEN 1 + extract(epoch FROM :now - d.due_at) / extract(epoch FROM d.allowance)
                    ELSE least(0.999, greatest(0, 1 - extract(epoch FROM d.due_at - :now)
                                                      / extract(epoch FROM d.allowance))) END, 3) END
    FROM ({rows}) d
    RETURNING kind, stage
)
SELECT kind, stage, count(*) AS n FROM recorded GROUP BY kind, stage
"""
# The crossed deadlines named by id, each with the kind the search above gave it.
_BY_ID = """
SELECT d.id, d.feedback_id, d.stage, d.handling_cycle, d.due_at, d.allowance, k.kind
FROM unnest(CAST(:ids AS bigint[]), CAST(:kinds AS text[])) AS k(id, kind)
JOIN feedback.feedback_deadline d ON d.id = k.id
"""


def _record(conn: sa.Connection, run_time: datetime, scope: list[int] | None,
            held: list[int] | None = None) -> dict[tuple[str, str], int]:
    """Record every crossed deadline; on a data error, one per savepoint. Rows recorded by (kind, stage).

    The search for crossed deadlines reads `sla_breach` (what is already recorded), so it must not
    probe a table the same statement is filling: when the planner believes `sla_breach` empty
    (vacuumed or analyzed while empty: a new register, a run that applied many events and flagged
    nothing), it probes it with a nested loop whose inner scan re-reads every page the INSERT has
    added so far — quadratic (90,000 crossings after a three-day gap: 70 s; a million-item backlog:
    hours). A later run therefore lists its crossed deadlines first, then records them by id (one
    more round trip over a few hundred ids). A first run stays one statement over every open
    deadline, the fastest for a backlog, with nested loops off for it: its hash joins read what is
    recorded once, before the first insert.
    """
    if scope is not None:
        return _record_listed(conn, run_time, scope, held)
    previous = conn.execute(sa.text("SELECT current_setting('enable_nestloop')")).scalar_one()
    conn.execute(sa.text("SELECT set_config('enable_nestloop', 'off', true)"))
    counts = _record_listed(conn, run_time, None, held)
    conn.execute(sa.text("SELECT set_config('enable_nestloop', :v, true)"), {"v": previous})
    return counts


def _record_listed(conn: sa.Connection, run_time: datetime, scope: list[int] | None,
                   held: list[int] | None) -> dict[tuple[str, str], int]:
    crossed = CROSSED.format(scope="true" if scope is None else "d.id = ANY(CAST(:scope AS bigint[]))")
    params = {"now": run_time, "scope": _array(scope or []), "held": _array(_held_ids(conn, DEADLINE_TABLE)),
              "held_items": _array(_held_ids(conn, ITEM_TABLE))}
    counts: dict[tuple[str, str], int] = defaultdict(int)
    kinds: dict[int, str] = {}

    def process(c: sa.Connection, batch: Sequence[int] | None) -> None:
        rows, ids = (crossed, []) if batch is None else (_BY_ID, list(batch))
        for kind, stage, n in c.execute(sa.text(RECORD.format(rows=rows)),
                                        {**params, "ids": _array(ids), "kinds": _array([kinds[i] for i in ids])}):
            counts[kind, stage] += n

    if scope is None:
        try:
            with conn.begin_nested():
                process(conn, None)
            return dict(counts)
        except Exception as error:  # noqa: BLE001 - a data error in one deadline: find it below
            if is_infrastructure_error(error):
                raise
        counts.clear()
    kinds.update((r.id, r.kind) for r in conn.execute(sa.text(crossed + " ORDER BY d.id"), params))

    def on_poison(c: sa.Connection, deadline_id: int, error: BaseException) -> None:
        reason, detail = describe_error(error)
        hold_row(c, STAGE, DEADLINE_TABLE, deadline_id, reason, f"recording a {kinds[deadline_id]}: {detail}",
                 run_time)
        log.warning("sla monitor: deadline %s held (%s)", deadline_id, reason)

    # All of them in one statement, and if a deadline's data fails it, one per savepoint.
    poison = isolate_nested(conn, list(kinds), process, on_poison)
    if held is not None:
        held.extend(poison)
    return dict(counts)


def _scope(conn: sa.Connection, run_time: datetime, changed: set[int]) -> list[int] | None:
    """The deadlines this run must look at (None: every open deadline, a first run); see above."""
    state = conn.execute(sa.text("SELECT detected_upto, recheck_from_xid::text AS xid, detected_wall "
                                 "FROM feedback.sla_monitor_state")).one()
    if state.detected_upto is None or state.xid is None:
        return None
    # A run at an instant before the last one's (a re-run of an older DAG run) opens no window.
    return list(conn.execute(
        sa.text(_CANDIDATES),
        {"since": state.detected_upto, "now": max(run_time, state.detected_upto), "xid": state.xid,
         "items": _array(sorted(changed)), "deadline_table": DEADLINE_TABLE, "item_table": ITEM_TABLE,
         "stage": STAGE, "released_since": (state.detected_wall or state.detected_upto) - RELEASE_MARGIN},
    ).scalars())


# A hold released this long before the last run started is looked at again (rechecking is harmless).
RELEASE_MARGIN = timedelta(hours=1)


def detect(conn: sa.Connection, run_time: datetime, held: list[int] | None = None,
           changed: set[int] | None = None) -> tuple[int, int, dict[str, int]]:
    """Record deadlines that newly passed their due time or their warning instant; (warnings, breaches, by stage).

    `changed` are the items whose events this run applied and that may count again (see
    `apply_events`: `rescan`). The snapshot
    horizon is read before the candidates, so whatever a later transaction writes is looked at
    again by the next run.
    """
    horizon = conn.execute(sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")).scalar_one()
    scope = _scope(conn, run_time, changed or set())
    counts = _record(conn, run_time, scope, held)
    conn.execute(
        sa.text("UPDATE feedback.sla_monitor_state SET detected_upto = greatest(detected_upto, :now), "
                "recheck_from_xid = CAST(:xid AS xid8), detected_wall = now()"),
        {"now": run_time, "xid": horizon},
    )
    by_stage = {f"{kind}:{stage}": n for kind in ("breach", "warning")
                for (k, stage), n in sorted(counts.items()) if k == kind}
    warnings = sum(n for (kind, _), n in counts.items() if kind == "warning")
    return warnings, sum(counts.values()) - warnings, by_stage


def escalate(conn: sa.Connection, run_time: datetime, after: list[timedelta]) -> int:
    """Raise the escalation level of breaches still unmet after each step of the ladder."""
    raised = 0
    for level, wait in enumerate(after, start=1):
        # One statement per level: raise the level and record an `escalated` event for each breach.
        raised += conn.execute(
            sa.text(
                """WITH raised AS (
                       UPDATE feedback.sla_breach b SET escalation_level = :lvl
                       FROM feedback.feedback_deadline d, feedback.feedback f
                       WHERE b.kind = 'breach' AND b.escalation_level < :lvl AND b.detected_at <= :cutoff
                         AND d.feedback_id = b.feedback_id AND d.stage = b.stage
                         AND d.handling_cycle = b.handling_cycle AND d.met_at IS NULL
                         AND f.id = b.feedback_id AND f.status NOT IN ('closed', 'unsolvable')
                       RETURNING b.id, b.feedback_id)
                   INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, details, dedup_key)
                   SELECT feedback_id, 'escalated', :now, 'sla_monitor',
                          jsonb_build_object('level', :lvl, 'breach_id', id), 'escalated:' || id || ':' || :lvl
                   FROM raised
                   ON CONFLICT (dedup_key) DO NOTHING"""
            ),
            {"lvl": level, "cutoff": run_time - wait, "now": run_time},
        ).rowcount
    return raised


def pending_alerts(conn: sa.Connection) -> list[TextRow]:
    """Warnings and breaches not yet notified at their current escalation level (masked fields only).

    Breaches the monitor holds (their digest could not be written) wait for their release.
    """
    return list(conn.execute(
        sa.text(
            """SELECT b.id, b.feedback_id, f.feedback_no, f.priority, f.department, f.handler_group, b.stage,
                      b.kind, b.deadline_at AS due_at, b.detected_at, b.used_share, b.escalation_level, f.subject
               FROM feedback.sla_breach b JOIN feedback.feedback f ON f.id = b.feedback_id
               WHERE (b.notified_level < b.escalation_level OR b.notified_level < 0)
                 AND NOT (b.id = ANY(:held))
               ORDER BY b.id"""
        ),
        {"held": _held_ids(conn, BREACH_TABLE)},
    ).all())


def _notify_isolated(conn: sa.Connection, notify: Notifier, run_time: datetime, alerts: list[TextRow],
                     held: list[int]) -> tuple[int, list[TextRow]]:
    """Write the digests for `alerts`; alerts that cannot be written are held, the rest go together.

    One digest per recipient covers many alerts, so a poison alert is found by trying each
    alone in a savepoint that is always rolled back, then the good ones are written at once.
    """
    try:
        with conn.begin_nested():
            return notify(conn, run_time, alerts), alerts
    except Exception as error:  # noqa: BLE001 - a data error in one alert: find it
        if is_infrastructure_error(error):
            raise
    good = []
    for alert in alerts:
        probe = conn.begin_nested()
        try:
            notify(conn, run_time, [alert])
        except Exception as error:  # noqa: BLE001 - this alert is the poison: hold it
            probe.rollback()
            if is_infrastructure_error(error):
                raise
            reason, detail = describe_error(error)
            hold_row(conn, STAGE, BREACH_TABLE, alert.id, reason, f"writing its digest: {detail}", run_time)
            held.append(alert.id)
            continue
        probe.rollback()
        good.append(alert)
    if not good:
        return 0, []
    with conn.begin_nested():
        return notify(conn, run_time, good), good


def run_monitor(engine: Engine, run_time: datetime, setup: SlaSetup, notify: Notifier | None = None) -> MonitorSummary:
    """One monitor run at `run_time` (the DAG run's instant): events, detection, escalation, digests.

    `notify(conn, run_time, alerts) -> rows written` enqueues the digests in the same
    transaction, so a failed run neither records a breach nor sends about it.
    """
    summary = MonitorSummary()
    held: list[int] = []
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MONITOR_LOCK})
        rescan: set[int] = set()
        summary.events, changed = apply_events(conn, setup, run_time, held, rescan)
        summary.items_changed = len(changed)
        summary.warn_backfilled = backfill_warn_at(conn, setup, held=held, run_time=run_time)
        summary.warnings, summary.breaches, summary.by_stage = detect(conn, run_time, held, rescan)
        if summary.breaches:
            # A breach recorded now carries the latest reason its cycle already has (given before it crossed).
            overdue_reasons.apply_to_new_breaches(conn, run_time, setup.reason_codes)
        ladder_steps = getattr(notify, "escalation_after", None) or [timedelta(hours=4)]
        summary.escalations = escalate(conn, run_time, list(ladder_steps))
        alerts = pending_alerts(conn) if notify is not None else []
        if alerts and notify is not None:
            summary.notifications, alerts = _notify_isolated(conn, notify, run_time, alerts, held)
        if alerts:
            conn.execute(
                sa.text("UPDATE feedback.sla_breach SET notified_level = greatest(escalation_level, 0) "
                        "WHERE id = ANY(:i)"),
                {"i": [a.id for a in alerts]},
            )
        if summary.warnings + summary.breaches + summary.items_changed >= ANALYZE_AFTER:
            conn.exec_driver_sql("ANALYZE feedback.feedback_deadline, feedback.sla_breach, feedback.feedback")
    summary.held = len(held)
    log.info("sla monitor at %s: %s", run_time.isoformat(), summary.as_dict())
    if summary.held:
        log.warning("sla monitor held %s row(s); see `feedback quarantine list --stage sla_monitor`", summary.held)
    return summary
