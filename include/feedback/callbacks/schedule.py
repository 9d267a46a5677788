"""Scheduling: every resolved item gets one callback task per handling cycle, due and assigned per policy.

A run is one transaction under an advisory lock: it brings the team in line with
callbacks.yaml, cancels open tasks whose item has moved on (reopened by the handlers,
closed by other means), then finds the items resolved — or recorded as unsolvable —
in their current handling cycle that have no task yet (one anti-join through a
partial index), computes their due times on the business calendar, assigns them, and
inserts the tasks with `ON CONFLICT (feedback_id, handling_cycle) DO NOTHING` and a
`callback_scheduled` event each. A second resolution after a reopen is a new cycle,
so it gets a second task; a re-run of the same instant finds nothing to do.

An item whose task cannot be made (its due time cannot be computed, its task breaks a
constraint) is held (`feedback.holds`, stage `callbacks`) and skipped until released;
the other items get their tasks in the same run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.callbacks.agents import assign, sync_agents
from feedback.callbacks.due import callback_due
from feedback.callbacks.outcomes import ACTOR, finish_unreachable, unreachable_action
from feedback.callbacks.policy import CallbackPolicy, check_calendars, load_policy
from feedback.db.bulk import copy_into
from feedback.db.rows import TextRow
from feedback.holds import describe_error, held_refs, hold_row, isolate_nested

if TYPE_CHECKING:
    from feedback.sla.monitor import SlaSetup

# A callback_task row in the column order of the temporary table _insert fills (SQL values).
_TaskRow = tuple[Any, ...]
log = logging.getLogger(__name__)
SCHEDULE_LOCK = 0x63616C6C6261636B  # "callback"
STAGE = "callbacks"
ITEM_TABLE = "feedback.feedback"
TASK_COLUMNS = ("feedback_id", "handling_cycle", "due_at", "not_before", "assigned_to", "status", "purpose",
                "resolved_at", "due_rule", "contact_vault_id", "survey_vault_id", "outcome", "completed_at",
                "action", "created_at", "ord")


@dataclass
class ScheduleSummary:
    scheduled: int = 0
    no_contact: int = 0
    cancelled: int = 0
    agents_changed: int = 0
    held: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CANDIDATES = """
SELECT f.id, f.handling_cycle, f.status, f.priority, f.customer_tier, f.sla_preset, f.department,
       coalesce(f.resolved_at, f.updated_at) AS resolved_at,
       coalesce({phone}, f.contact_vault_id, {email}) AS call_vault_id,
       {email} AS email_vault_id
FROM feedback.feedback f
WHERE f.status IN ('resolved', 'unsolvable')
  AND coalesce(f.resolved_at, f.updated_at) <= :now AND NOT (f.id = ANY(:held))
  AND NOT EXISTS (SELECT 1 FROM feedback.callback_task t
                  WHERE t.feedback_id = f.id AND t.handling_cycle = f.handling_cycle)
ORDER BY f.id
"""
# A vault reference that is not a number (written by another tool) is no reference: never a failed cast.
_REF = "CASE WHEN f.contact_refs ->> '{kind}' ~ '^[0-9]{{1,18}}$' THEN CAST(f.contact_refs ->> '{kind}' AS bigint) END"
CANDIDATES = CANDIDATES.format(phone=_REF.format(kind="phone"), email=_REF.format(kind="email"))

# Open tasks whose item is no longer waiting for this callback.
CANCEL_STALE = """
UPDATE feedback.callback_task t SET status = 'cancelled', claimed_by = NULL, claim_expires_at = NULL,
       completed_at = :now, action = 'none'
FROM feedback.feedback f
WHERE f.id = t.feedback_id AND t.status IN ('pending', 'claimed')
  AND (f.handling_cycle <> t.handling_cycle OR f.status NOT IN ('resolved', 'unsolvable'))
"""


def schedule_callbacks(engine: Engine, run_time: datetime, policy: CallbackPolicy | None = None,
                       setup: SlaSetup | None = None) -> dict[str, Any]:
    """Create the missing callback tasks at `run_time` (the DAG run's instant); returns counts only.

    Items are read as the SLA monitor left them (status `resolved` / `unsolvable`,
    their current `handling_cycle`): run `outcomes.apply_item_status` first to take in
    resolutions recorded since the monitor's last run.
    """
    if run_time.tzinfo is None:
        raise ValueError("run_time must be timezone-aware (the DAG run's logical instant)")
    from feedback.sla.monitor import load_setup

    policy = policy or load_policy()
    setup = setup or load_setup()
    check_calendars(policy, setup.calendars)
    summary = ScheduleSummary()
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEDULE_LOCK})
        summary.agents_changed = sync_agents(conn, policy, run_time)
        summary.cancelled = conn.execute(sa.text(CANCEL_STALE), {"now": run_time}).rowcount
        held = [int(r) for r in held_refs(conn, STAGE, ITEM_TABLE) if r.isdigit()]
        items = conn.execute(sa.text(CANDIDATES), {"now": run_time, "held": held}).all()
        if items:
            rows = _task_rows(conn, items, run_time, policy, setup, summary)
            inserted: list[int] = []
            unreachable: list[int] = []

            def process(c: sa.Connection, batch: Sequence[_TaskRow]) -> None:
                ids, missing = _insert(c, list(batch), run_time)
                inserted.extend(ids)
                unreachable.extend(missing)

            def on_poison(c: sa.Connection, row: _TaskRow, error: BaseException) -> None:
                _hold(c, row[0], error, "writing its callback task", run_time)

            summary.held += len(isolate_nested(conn, rows, process, on_poison))
            summary.scheduled = len(inserted)
            summary.no_contact = len(unreachable)
            finish_unreachable(conn, sorted(unreachable), run_time, policy, reason="no_contact")
    result = summary.as_dict()
    log.info("callbacks scheduled at %s: %s", run_time.isoformat(), result)
    return result


def _hold(conn: sa.Connection, feedback_id: int, error: BaseException, doing: str, run_time: datetime) -> None:
    reason, detail = describe_error(error)
    hold_row(conn, STAGE, ITEM_TABLE, feedback_id, reason, f"{doing}: {detail}", run_time)
    log.warning("callbacks: item %s held (%s); release it after the fix", feedback_id, reason)


def _task_rows(conn: sa.Connection, items: Sequence[TextRow], run_time: datetime, policy: CallbackPolicy,
               setup: SlaSetup, summary: ScheduleSummary) -> list[_TaskRow]:
    planned = []
    for item in items:
        try:
            due = callback_due(item.resolved_at, item.priority, item.customer_tier, item.sla_preset, policy, setup)
        except Exception as error:  # noqa: BLE001 - this item is the poison: hold it, schedule the others
            _hold(conn, item.id, error, "computing its callback's due time", run_time)
            summary.held += 1
            continue
        planned.append((due.at, item.id, item, due))
    planned.sort(key=lambda p: (p[0], p[1]))      # assignment in due order, stable
    agents = assign(conn, policy, [p[2].department for p in planned])
    survey = policy.survey
    grace = timedelta(hours=survey.phone_grace_hours)
    rows: list[_TaskRow] = []
    for ordinal, ((due_at, _, item, due), agent) in enumerate(zip(planned, agents, strict=True)):
        purpose = "final_opinion" if item.status == "unsolvable" else "satisfaction"
        surveyed = survey.enabled and item.email_vault_id is not None and purpose == "satisfaction"
        not_before = min(item.resolved_at + grace, due_at) if surveyed else item.resolved_at
        summary.by_rule[due.rule] = summary.by_rule.get(due.rule, 0) + 1
        if item.call_vault_id is None:
            # Nobody to ask: the task ends unreachable at once, visibly, instead of waiting in the queue.
            action = unreachable_action(policy) if item.status == "resolved" else "kept"
            rows.append((item.id, item.handling_cycle, due_at, not_before, agent, "unreachable", purpose,
                         item.resolved_at, due.rule, None, None, "unreachable", run_time, action, run_time, ordinal))
            continue
        rows.append((item.id, item.handling_cycle, due_at, not_before, agent, "pending", purpose, item.resolved_at,
                     due.rule, item.call_vault_id, item.email_vault_id if surveyed else None, None, None, None,
                     run_time, ordinal))
    return rows


def _insert(conn: sa.Connection, rows: list[_TaskRow], run_time: datetime) -> tuple[list[int], list[int]]:
    """Insert the tasks (in assignment order) and their `callback_scheduled` events; (ids, unreachable ids)."""
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS callback_new (feedback_id bigint, handling_cycle int, due_at timestamptz, "
        "not_before timestamptz, assigned_to text, status text, purpose text, resolved_at timestamptz, "
        "due_rule text, contact_vault_id bigint, survey_vault_id bigint, outcome text, completed_at timestamptz, "
        "action text, created_at timestamptz, ord int) ON COMMIT DROP"
    )
    conn.exec_driver_sql("TRUNCATE callback_new")
    copy_into(conn, "callback_new", TASK_COLUMNS, rows)
    columns = ", ".join(TASK_COLUMNS[:-1])
    inserted = conn.execute(
        sa.text(f"INSERT INTO feedback.callback_task ({columns}) "  # noqa: S608 - fixed column names
                f"SELECT {columns} FROM callback_new ORDER BY ord "
                "ON CONFLICT ON CONSTRAINT callback_task_item_cycle_key DO NOTHING RETURNING id, status")
    ).all()
    ids = sorted(r.id for r in inserted)
    conn.execute(
        sa.text("""INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, details, dedup_key)
                   SELECT t.feedback_id, 'callback_scheduled', :now, :actor,
                          jsonb_build_object('task_id', t.id, 'handling_cycle', t.handling_cycle, 'due_at', t.due_at,
                                             'due_rule', t.due_rule, 'assigned_to', t.assigned_to,
                                             'purpose', t.purpose, 'survey', t.survey_vault_id IS NOT NULL),
                          'callback_scheduled:' || t.id
                   FROM feedback.callback_task t WHERE t.id = ANY(:ids) ORDER BY t.id
                   ON CONFLICT (dedup_key) DO NOTHING"""),
        {"now": run_time, "actor": ACTOR, "ids": ids},
    )
    return ids, sorted(r.id for r in inserted if r.status == "unreachable")
