"""The callback claim rule, and the task row it is judged on: one place for the queue, the outcomes and the console.

An agent may act on a task (reveal its contact, record an attempt or an answer, see the
forms on its page) only while they hold its claim: the task is `claimed`, by them, and
the claim has not run out. A claimed task always carries its expiry
(`callback_task_claim_chk` in sql/migrations/010_callbacks.sql); a row without one is
therefore not held, the same answer SQL gives for `claim_expires_at > :now`, so the
queue's statements and this function never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import sqlalchemy as sa

from feedback.callbacks.errors import UnknownTask

Lock = Literal["update", "share"] | None

# The task with what the rules need of its item; `FOR UPDATE OF t` / `FOR SHARE OF t` lock the task only.
SELECT_TASK_STATE = """
SELECT t.id, t.feedback_id, t.handling_cycle, t.purpose, t.status, t.due_at, t.not_before, t.attempts,
       t.unreachable_count, t.assigned_to, t.claimed_by, t.claim_expires_at, t.contact_vault_id,
       f.feedback_no, f.status AS item_status, f.handling_cycle AS item_cycle, f.department, f.priority
FROM feedback.callback_task t JOIN feedback.feedback f ON f.id = t.feedback_id
WHERE t.id = :id
"""
LOCKS = {None: "", "update": " FOR UPDATE OF t", "share": " FOR SHARE OF t"}


class Claimable(Protocol):
    """What the claim rule reads of a task."""

    @property
    def status(self) -> str: ...
    @property
    def claimed_by(self) -> str | None: ...
    @property
    def claim_expires_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class TaskState:
    """A callback task as the claim and outcome rules see it: ids, states and a vault reference, no contact."""

    id: int
    feedback_id: int
    handling_cycle: int
    purpose: str                      # satisfaction | final_opinion
    status: str                       # pending | claimed | done | unreachable | cancelled
    due_at: datetime
    not_before: datetime | None
    attempts: int
    unreachable_count: int
    assigned_to: str | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    contact_vault_id: int | None      # reveal through queue.reveal_contact, never read directly
    feedback_no: str
    item_status: str
    item_cycle: int
    department: str | None
    priority: str


def holds_claim(task: Claimable, agent: str, now: datetime) -> bool:
    """Whether `agent` may act on the task at `now`: the claim is theirs and has not run out.

    No expiry means not held: the schema never stores a claim without one, and the
    SQL of the queue (`claim_expires_at > :now`) reads a missing one the same way.
    """
    return (task.status == "claimed" and task.claimed_by == agent
            and task.claim_expires_at is not None and task.claim_expires_at > now)


def read_task(conn: sa.Connection, task_id: int, lock: Lock = None) -> TaskState | None:
    """The task's state, locked as asked (`update` before changing it, `share` before a reveal); None if absent."""
    row = conn.execute(sa.text(SELECT_TASK_STATE + LOCKS[lock]), {"id": task_id}).one_or_none()
    return TaskState(**row._asdict()) if row is not None else None


def locked_task(conn: sa.Connection, task_id: int, lock: Literal["update", "share"] = "update") -> TaskState:
    """The task locked in the caller's transaction, so its claim cannot change under the caller; UnknownTask if absent."""
    task = read_task(conn, task_id, lock)
    if task is None:
        raise UnknownTask(task_id)
    return task
