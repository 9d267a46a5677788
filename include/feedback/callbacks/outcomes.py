"""The customer's answer, and what it does to the item (the closing loop of domain.md section 5).

An answer (a phone call recorded by the claim holder, or a survey) is read on the
active scale and turned into events — never into a direct status update — so the
item's status, cycle and deadlines change in one place, the SLA monitor's
`apply_events`: `callback_outcome` always; then `closed` (satisfied, by default
neutral too), or `reopened` + `escalated` (dissatisfied: a second handling cycle
with fresh deadlines, and the department's supervisor is told). An item recorded as
unsolvable keeps its status and records the customer's final opinion. Comments and
final opinions are masked before they are stored anywhere; the supervisor's
notification carries the number, department and rating only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.callbacks.claims import TaskState, holds_claim, locked_task
from feedback.callbacks.errors import BadAnswer, NotClaimHolder, TaskClosed
from feedback.callbacks.policy import CallbackPolicy, InvalidAnswer, Judgement
from feedback.notify.outbox import OutboxRow, message_id_for, write_rows
from feedback.vocabulary import OutboxKind, Outcome, Priority, label_table, locale_table

if TYPE_CHECKING:
    from feedback.notify.escalation import Ladder
    from feedback.notify.mails import Mail
    from feedback.sla.monitor import SlaSetup

ESCALATION_KIND = OutboxKind.CALLBACK_ESCALATION.value
OPEN_STATUSES = ("pending", "claimed")
MAX_TEXT = 2000
ACTOR = "callbacks"


@dataclass(frozen=True)
class OutcomeResult:
    task_id: int
    feedback_id: int
    feedback_no: str
    outcome: str | None
    rating: str | None
    score: int | None
    action: str                  # closed | reopened | kept | none
    escalated: bool
    notifications: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=1)
def _masker():
    from feedback.privacy.masking import Masker, load_mask_config

    return Masker(load_mask_config())


def mask_text(text: str | None) -> str | None:
    """Free text from a customer or an agent, masked as triage masks descriptions (None stays None)."""
    if text is None:
        return None
    text = text.strip()[:MAX_TEXT]
    return _masker().mask(text).text if text else None


def _event(conn: sa.Connection, feedback_id: int, kind: str, at: datetime, actor: str, dedup: str,
           details: dict[str, Any], from_status: str | None = None, to_status: str | None = None) -> int:
    return conn.execute(
        sa.text("""INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, from_status,
                                                        to_status, details, dedup_key)
                   VALUES (:f, :k, :t, :a, :fs, :ts, CAST(:d AS jsonb), :key)
                   ON CONFLICT (dedup_key) DO NOTHING"""),
        {"f": feedback_id, "k": kind, "t": at, "a": actor, "fs": from_status, "ts": to_status,
         "d": json.dumps(details, ensure_ascii=False, default=str), "key": dedup},
    ).rowcount


def _decide(task: TaskState, judgement: Judgement | None, policy: CallbackPolicy) -> tuple[str, bool]:
    """(action, escalate) for an answer on this task, given where its item stands now."""
    if task.item_cycle != task.handling_cycle or task.item_status not in ("resolved", "unsolvable"):
        return "none", False       # the item moved on (reopened by the handlers, closed by other means)
    if task.purpose == "final_opinion" or task.item_status == "unsolvable" or judgement is None:
        return "kept", False
    rule = policy.rule_for(judgement.outcome)
    return ("closed", False) if rule.action == "close" else ("reopened", rule.escalate)


def record_answer(conn: sa.Connection, task_id: int, *, actor: str, via: str, now: datetime,
                  policy: CallbackPolicy, rating: str | None = None, score: int | str | None = None,
                  comment: str | None = None, final_opinion: str | None = None, require_claim: bool = True,
                  ladder: Ladder | None = None) -> OutcomeResult:
    """Record one answer in the caller's transaction and write the events it causes.

    `via` is `phone` (an agent, who must hold an unexpired claim) or `survey` (the
    customer through a signed link; no claim needed, and it wins over a call in
    progress). A task that already has its answer refuses a second one (TaskClosed).
    """
    task = locked_task(conn, task_id)
    if task.status not in OPEN_STATUSES:
        raise TaskClosed(task_id, task.status)
    if require_claim and not holds_claim(task, actor, now):
        raise NotClaimHolder(task_id, actor)
    final_only = task.purpose == "final_opinion" and rating in (None, "") and score in (None, "")
    try:
        judgement = None if final_only else policy.scale.judge(rating, score)
    except InvalidAnswer as exc:
        raise BadAnswer(f"callback task {task_id}: {exc}") from None
    masked_comment = mask_text(comment)
    masked_opinion = mask_text(final_opinion)
    if task.purpose == "final_opinion" and masked_opinion is None:
        masked_opinion = masked_comment
    action, escalate = _decide(task, judgement, policy)
    conn.execute(
        sa.text("""UPDATE feedback.callback_task
                   SET status = 'done', outcome = :outcome, rating = :rating, score = :score, comment = :comment,
                       final_opinion = :opinion, scale = :scale, answered_via = :via, answered_by = :actor,
                       completed_at = :now, claimed_by = NULL, claim_expires_at = NULL, action = :action,
                       attempts = attempts + CASE WHEN :via = 'phone' THEN 1 ELSE 0 END
                   WHERE id = :id"""),
        {"outcome": judgement.outcome if judgement else None, "rating": judgement.label if judgement else None,
         "score": judgement.score if judgement else None, "comment": masked_comment, "opinion": masked_opinion,
         "scale": policy.scale.name, "via": via, "actor": actor, "now": now, "action": action, "id": task_id},
    )
    conn.execute(
        sa.text("INSERT INTO feedback.callback_attempt (task_id, agent, attempted_at, result, dedup_key) "
                "VALUES (:t, :a, :now, :r, :k) ON CONFLICT (dedup_key) DO NOTHING"),
        {"t": task_id, "a": actor, "now": now, "r": "reached" if via == "phone" else "survey_answer",
         "k": f"answer:{task_id}"},
    )
    details = {"task_id": task_id, "handling_cycle": task.handling_cycle, "outcome": judgement and judgement.outcome,
               "rating": judgement and judgement.label, "score": judgement and judgement.score,
               "scale": policy.scale.name, "via": via, "action": action,
               "final_opinion": masked_opinion is not None}
    fid, cycle_from = task.feedback_id, task.item_status
    _event(conn, fid, "callback_outcome", now, actor, f"callback_outcome:{task_id}", details)
    if action == "closed":
        _event(conn, fid, "closed", now, actor, f"callback_closed:{task_id}",
               {"task_id": task_id, "reason": judgement.outcome if judgement else None}, cycle_from, "closed")
    elif action == "reopened":
        _event(conn, fid, "reopened", now, actor, f"callback_reopened:{task_id}",
               {"task_id": task_id, "reason": judgement.outcome if judgement else None,
                "handling_cycle": task.handling_cycle}, cycle_from, "reopened")
    notified = 0
    if escalate:
        _event(conn, fid, "escalated", now, actor, f"callback_escalated:{task_id}",
               {"task_id": task_id, "reason": judgement.outcome if judgement else None, "to": "supervisor",
                "department": task.department})
        notified = write_rows(conn, escalation_rows(task, judgement, now, ladder))
    return OutcomeResult(task_id, fid, task.feedback_no, judgement.outcome if judgement else None,
                         judgement.label if judgement else None, judgement.score if judgement else None,
                         action, escalate, notified)


def finish_unreachable(conn: sa.Connection, task_ids: list[int], at: datetime, policy: CallbackPolicy,
                       reason: str) -> int:
    """Events for tasks that just ended `unreachable`: the outcome, and `closed` if the policy says so.

    Set-based over the given tasks (the scheduler's items without any contact, or a
    task after its last unanswered call); returns the items closed.
    """
    if not task_ids:
        return 0
    conn.execute(
        sa.text("""INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, details,
                                                        dedup_key)
                   SELECT t.feedback_id, 'callback_outcome', :at, :actor,
                          jsonb_build_object('task_id', t.id, 'handling_cycle', t.handling_cycle,
                                             'outcome', 'unreachable', 'attempts', t.attempts,
                                             'reason', CAST(:reason AS text), 'action', t.action),
                          'callback_outcome:' || t.id
                   FROM feedback.callback_task t WHERE t.id = ANY(:ids)
                   ON CONFLICT (dedup_key) DO NOTHING"""),
        {"at": at, "actor": ACTOR, "reason": reason, "ids": task_ids},
    )
    if policy.unreachable.action != "close":
        return 0
    return conn.execute(
        sa.text("""INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, from_status,
                                                        to_status, details, dedup_key)
                   SELECT t.feedback_id, 'closed', :at, :actor, f.status, 'closed',
                          jsonb_build_object('task_id', t.id, 'reason', 'unreachable'), 'callback_closed:' || t.id
                   FROM feedback.callback_task t JOIN feedback.feedback f ON f.id = t.feedback_id
                   WHERE t.id = ANY(:ids) AND t.action = 'closed'
                   ON CONFLICT (dedup_key) DO NOTHING"""),
        {"at": at, "actor": ACTOR, "ids": task_ids},
    ).rowcount


def unreachable_action(policy: CallbackPolicy) -> str:
    """What an unreachable customer does to an item: `closed` or `kept` (stays resolved)."""
    return "closed" if policy.unreachable.action == "close" else "kept"


# --- the supervisor's notification -------------------------------------------------------------

SUBJECTS = {"zh-CN": "[{no}] 回访不满意，已重新打开（第 {cycle} 轮处理）",
            "en": "[{no}] Callback: customer dissatisfied, item reopened (handling cycle {cycle})"}


def _mail(locale: str, task: TaskState, judgement: Judgement | None, now: datetime, zone: ZoneInfo) -> Mail:
    """The supervisor's mail (text and HTML): the department and rating by name, the time in business time."""
    from feedback.notify.digest import department_name
    from feedback.notify.mails import business_time, render_mail

    priority = locale_table(Priority, locale).get(task.priority, task.priority)
    rating = "—"
    if judgement:
        named = label_table(Outcome).get(judgement.outcome)
        rating = judgement.label if locale == "zh-CN" or named is None else named(locale)
    return render_mail(
        locale, "callback_escalation", feedback_no=task.feedback_no,
        department=department_name(task.department, locale) if task.department else "—", priority=priority,
        rating=rating, score=judgement.score if judgement else None,
        outcome=judgement.outcome if judgement else "—", cycle=task.handling_cycle, next_cycle=task.handling_cycle + 1,
        answered_at=business_time(now, zone), timezone=zone.key,
    )


def _webhook_body(fmt: str | None, text: str, task: TaskState, judgement: Judgement | None) -> dict[str, Any]:
    if fmt in ("wecom", "dingtalk"):
        return {"msgtype": "text", "text": {"content": text}}
    if fmt == "slack":
        return {"text": text}
    return {"kind": ESCALATION_KIND, "feedback_no": task.feedback_no, "department": task.department,
            "rating": judgement.label if judgement else None, "score": judgement.score if judgement else None,
            "handling_cycle": task.handling_cycle}


def escalation_rows(task: TaskState, judgement: Judgement | None, now: datetime,
                    ladder: Ladder | None = None) -> list[OutboxRow]:
    """One outbox row per supervisor of the item's department (escalation.yaml `supervisors`)."""
    if ladder is None:
        from feedback.notify.escalation import load_ladder

        ladder = load_ladder()
    rows = []
    for recipient in ladder.supervisor(task.department):
        locale = recipient.locale if recipient.locale in SUBJECTS else "zh-CN"
        mail = _mail(locale, task, judgement, now, ladder.timezone)
        text = mail.text
        subject = SUBJECTS[locale].format(no=task.feedback_no, cycle=task.handling_cycle + 1)
        dedup = f"{ESCALATION_KIND}:{task.id}:{recipient.key}"
        if recipient.channel == "email":
            payload: dict[str, Any] = {"channel": "email", "locale": locale, "feedback_no": task.feedback_no,
                                       "text": text, "html": mail.html}
            body: str | None = text
        else:
            payload = {"channel": "webhook", "format": recipient.format, "locale": locale,
                       "json": _webhook_body(recipient.format, text, task, judgement)}
            body = None
        rows.append(OutboxRow(
            kind=ESCALATION_KIND, dedup_key=dedup, recipient=recipient.address, created_at=now, subject=subject,
            body=body, payload=payload, message_id=message_id_for(dedup, ladder.message_id_domain, "callback"),
            caused_at=now, feedback_id=task.feedback_id,
        ))
    return rows


# --- applying the events to the items ------------------------------------------------------------


def apply_item_status(engine: Engine, run_time: datetime, setup: SlaSetup | None = None) -> dict[str, int]:
    """Apply recorded events (resolutions, closes, reopens) to the items, as the SLA monitor does.

    Uses the monitor's own `apply_events` under its lock, so the two never apply the
    same event twice and a reopen starts a new handling cycle with new deadlines
    exactly as it would from the monitor. Run before scheduling, so a resolution
    recorded since the monitor's last run gets its callback in this run.
    """
    from feedback.sla import monitor

    setup = setup or monitor.load_setup()
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": monitor.MONITOR_LOCK})
        held: list[int] = []
        events, changed = monitor.apply_events(conn, setup, run_time, held)
    return {"events": events, "items_changed": len(changed), "held": len(held)}
