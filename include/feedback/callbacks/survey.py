"""E-mail surveys (回访问卷): one mail per callback task, at most one reminder, answered once.

Surveys are outbox rows (kind `survey`, then `survey_reminder`) addressed to the
item's e-mail contact as `vault:<id>`: the address exists in clear only at the
moment the sender delivers the mail. Each row's dedup key is the task
(`survey:<task>`, `survey_reminder:<task>`) and the task records when it was sent
and reminded, so a re-run writes nothing twice. The link carries a signed token
(`tokens`), valid `survey.expiry_days`; the answer goes through the same outcome
rules as a phone call (`outcomes.record_answer`), and a task with an answer
refuses another.

A task whose survey cannot be written (its text does not render, its row breaks a
constraint) is held (`feedback.holds`, stage `callbacks`), the others' surveys go out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.business_time import business_zone
from feedback.callbacks.errors import UnknownTask
from feedback.callbacks.outcomes import OPEN_STATUSES, OutcomeResult, record_answer
from feedback.callbacks.policy import CallbackPolicy, load_policy
from feedback.callbacks.tokens import TokenInvalid, make_token, survey_key, verify_token
from feedback.db.rows import TextRow
from feedback.holds import describe_error, held_refs, hold_row, isolate_nested
from feedback.notify.outbox import OutboxRow, message_id_for, write_rows
from feedback.vocabulary import OutboxKind

if TYPE_CHECKING:
    from feedback.notify.escalation import Ladder

# Writes one batch of due tasks' mails in the caller's (savepoint) transaction.
_Process = Callable[[sa.Connection, Sequence[TextRow]], None]

log = logging.getLogger(__name__)
SURVEY_KIND = OutboxKind.SURVEY.value
REMINDER_KIND = OutboxKind.SURVEY_REMINDER.value
KINDS = (SURVEY_KIND, REMINDER_KIND)
EXPIRY_FROM_ENV = "FEEDBACK_SURVEY_EXPIRY_FROM"   # run (default) | clock: see expiry_base
STAGE = "callbacks"
TASK_TABLE = "feedback.callback_task"
SUBJECTS = {
    SURVEY_KIND: {"zh-CN": "[{no}] 请评价我们的处理结果", "en": "[{no}] How did we do? One question about your feedback"},
    REMINDER_KIND: {"zh-CN": "[{no}] 提醒：请评价我们的处理结果", "en": "[{no}] Reminder: how did we do?"},
}

_DUE_SURVEYS = """
SELECT t.id, t.feedback_id, t.survey_vault_id, f.feedback_no, f.subject, f.language,
       CAST(NULL AS timestamptz) AS survey_expires_at
FROM feedback.callback_task t JOIN feedback.feedback f ON f.id = t.feedback_id
WHERE t.status IN ('pending', 'claimed') AND t.survey_vault_id IS NOT NULL AND t.survey_sent_at IS NULL
  AND t.purpose = 'satisfaction' AND t.created_at <= :now AND NOT (t.id = ANY(:held))
ORDER BY t.id
FOR UPDATE OF t SKIP LOCKED
"""
_DUE_REMINDERS = """
SELECT t.id, t.feedback_id, t.survey_vault_id, f.feedback_no, f.subject, f.language, t.survey_expires_at
FROM feedback.callback_task t JOIN feedback.feedback f ON f.id = t.feedback_id
WHERE t.status IN ('pending', 'claimed') AND t.survey_vault_id IS NOT NULL AND t.survey_sent_at <= :cutoff
  AND t.survey_reminded_at IS NULL AND t.survey_expires_at > :now AND NOT (t.id = ANY(:held))
ORDER BY t.id
FOR UPDATE OF t SKIP LOCKED
"""


def expiry_base(run_time: datetime) -> datetime:
    """The instant a new link's validity counts from: the run's (default), or the wall clock for a replay.

    A run's instant keeps a re-run's links identical. A replay of a past month (`make demo`
    runs October in December) would mail links that expired weeks before anyone reads them;
    with FEEDBACK_SURVEY_EXPIRY_FROM=clock (the demo sets it) validity counts from when the
    link is written, never from before the run.
    """
    if os.environ.get(EXPIRY_FROM_ENV, "run").strip().lower() == "clock":
        return max(run_time, datetime.now(UTC))
    return run_time


def _choices(policy: CallbackPolicy, locale: str) -> str:
    scale = policy.scale
    if scale.kind == "score":
        lo, hi = scale.spec.min, scale.spec.max
        return f"{lo}–{hi} 分" if locale == "zh-CN" else f"a score from {lo} to {hi}"
    return " / ".join(label if locale == "zh-CN" else en for label, en, _ in scale.options())


def link_for(policy: CallbackPolicy, task_id: int, expires_at: datetime, key: bytes) -> str:
    return f"{policy.survey.base_url}/{make_token(task_id, expires_at, key)}"


def choice_buttons(policy: CallbackPolicy, link: str, locale: str) -> list[dict[str, str]]:
    """The scale's answers as buttons: each opens the survey page with it preselected (`?choice=satisfied`).

    Opening the page records nothing (mail scanners follow every link), so a button
    only chooses; the customer's POST answers. On a score scale each band is a
    button and the page starts at the band's top score.
    """
    from feedback.notify.mails import COLOURS

    scale = policy.scale
    options = scale.options()
    outcomes = [outcome for _, _, outcome in options]
    buttons = []
    upper = scale.spec.max if scale.kind == "score" else None
    for i, (label, en, outcome) in enumerate(options):
        name = label if locale == "zh-CN" else en
        if scale.kind == "score":
            low = scale.spec.bands[i].min
            name += f"（{low}–{upper} 分）" if locale == "zh-CN" else f" ({low}–{upper})"
            upper = low - 1
        choice = outcome if outcomes.count(outcome) == 1 else label
        buttons.append({"label": name, "choice": choice, "url": f"{link}?choice={quote(choice)}",
                        "colour": COLOURS.get(outcome, COLOURS["action"])})
    return buttons


def _row(kind: str, task: TextRow, expires_at: datetime, run_time: datetime, policy: CallbackPolicy, key: bytes,
         zone: ZoneInfo) -> OutboxRow:
    from feedback.notify.mails import business_time, mail_locale, render_mail

    locale = mail_locale(task.language)
    link = link_for(policy, task.id, expires_at, key)
    mail = render_mail(locale, "survey" if kind == SURVEY_KIND else "survey_reminder",
                       feedback_no=task.feedback_no, subject=task.subject, link=link, choices=_choices(policy, locale),
                       buttons=choice_buttons(policy, link, locale), expires=business_time(expires_at, zone),
                       timezone=zone.key)
    text = mail.text
    dedup = f"{kind}:{task.id}"
    headers = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All", "X-Feedback-Outbox": kind,
               "X-Feedback-No": task.feedback_no}
    return OutboxRow(
        kind=kind, dedup_key=dedup, recipient=f"vault:{task.survey_vault_id}", recipient_vault_id=task.survey_vault_id,
        created_at=run_time, subject=SUBJECTS[kind][locale].format(no=task.feedback_no), body=text,
        payload={"channel": "email", "locale": locale, "feedback_no": task.feedback_no, "task_id": task.id,
                 "text": text, "html": mail.html, "headers": headers},
        message_id=message_id_for(dedup, policy.survey.message_id_domain, kind.replace("_", "-")),
        caused_at=run_time, feedback_id=task.feedback_id,
    )


def send_surveys(engine: Engine, run_time: datetime, policy: CallbackPolicy | None = None,
                 key: bytes | None = None) -> dict[str, int]:
    """Write the survey mails due at `run_time`, and the reminders; returns counts only.

    A survey for every open satisfaction task with an e-mail contact that has none
    yet; a reminder for every survey unanswered after `reminder_after_days` and not
    expired, once. Delivery is the sender's job (the DAG's `deliver_outbox`).
    """
    if run_time.tzinfo is None:
        raise ValueError("run_time must be timezone-aware (the DAG run's logical instant)")
    policy = policy or load_policy()
    counts = {"surveys": 0, "reminders": 0}
    if not policy.survey.enabled:
        return counts
    key = key or survey_key()
    zone = business_zone()
    survey = policy.survey
    held = 0

    def on_poison(c: sa.Connection, task: TextRow, error: BaseException) -> None:
        reason, detail = describe_error(error)
        hold_row(c, STAGE, TASK_TABLE, task.id, reason, f"writing its survey mail: {detail}", run_time)
        log.warning("surveys: task %s held (%s); release it after the fix", task.id, reason)

    with engine.begin() as conn:
        skip = [int(r) for r in held_refs(conn, STAGE, TASK_TABLE) if r.isdigit()]
        due = conn.execute(sa.text(_DUE_SURVEYS), {"now": run_time, "held": skip}).all()
        if due:
            expires = expiry_base(run_time) + timedelta(days=survey.expiry_days)

            def surveys(c: sa.Connection, tasks: Sequence[TextRow]) -> None:
                counts["surveys"] += write_rows(c, [_row(SURVEY_KIND, t, expires, run_time, policy, key, zone)
                                                    for t in tasks])
                c.execute(
                    sa.text("UPDATE feedback.callback_task SET survey_sent_at = :now, survey_expires_at = :exp "
                            "WHERE id = ANY(:ids)"),
                    {"now": run_time, "exp": expires, "ids": [t.id for t in tasks]},
                )

            held += len(isolate_nested(conn, due, _counted(surveys, counts, "surveys"), on_poison))
        if survey.max_reminders:
            cutoff = run_time - timedelta(days=survey.reminder_after_days)
            late = conn.execute(sa.text(_DUE_REMINDERS), {"now": run_time, "cutoff": cutoff, "held": skip}).all()
            if late:
                def reminders(c: sa.Connection, tasks: Sequence[TextRow]) -> None:
                    counts["reminders"] += write_rows(
                        c, [_row(REMINDER_KIND, t, t.survey_expires_at, run_time, policy, key, zone) for t in tasks])
                    c.execute(sa.text("UPDATE feedback.callback_task SET survey_reminded_at = :now "
                                      "WHERE id = ANY(:ids)"), {"now": run_time, "ids": [t.id for t in tasks]})

                held += len(isolate_nested(conn, late, _counted(reminders, counts, "reminders"), on_poison))
    if held:
        counts["held"] = held
    if any(counts.values()):
        log.info("surveys at %s: %s", run_time.isoformat(), counts)
    return counts


def _counted(process: _Process, counts: dict[str, int], key: str) -> _Process:
    """`process`, with its count rolled back together with its savepoint when it fails."""
    def run(c: sa.Connection, tasks: Sequence[TextRow]) -> None:
        before = counts[key]
        try:
            process(c, tasks)
        except BaseException:
            counts[key] = before
            raise
    return run


# --- the customer's side --------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyView:
    """What the survey page shows: masked item fields, the scale, and whether it is still open."""

    task_id: int
    feedback_no: str
    subject: str | None          # masked
    locale: str                  # the item's language: zh-CN or en (the page shows both)
    scale: str
    kind: str                    # choice or score
    options: list[tuple[str, str, str]]   # (label, English label, outcome)
    score_min: int
    score_max: int
    expires_at: datetime
    open: bool                   # False once answered (or the task ended otherwise)
    status: str


def survey_view(engine: Engine, token: str, now: datetime, policy: CallbackPolicy | None = None,
                key: bytes | None = None) -> SurveyView:
    """Check a link and describe its survey; records nothing (mail scanners open links too).

    Raises TokenInvalid / TokenExpired for a bad link.
    """
    signed = verify_token(token, now, key)
    policy = policy or load_policy()
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""SELECT t.id, t.status, f.feedback_no, f.subject, f.language
                       FROM feedback.callback_task t JOIN feedback.feedback f ON f.id = t.feedback_id
                       WHERE t.id = :id"""),
            {"id": signed.task_id},
        ).one_or_none()
    if row is None:
        raise TokenInvalid("survey link: no such survey")
    scale = policy.scale
    return SurveyView(
        task_id=row.id, feedback_no=row.feedback_no, subject=row.subject,
        locale="zh-CN" if row.language == "zh" else "en", scale=scale.name, kind=scale.kind,
        options=scale.options(), score_min=scale.spec.min, score_max=scale.spec.max,
        expires_at=signed.expires_at, open=row.status in OPEN_STATUSES, status=row.status,
    )


def answer_survey(engine: Engine, token: str, now: datetime, *, rating: str | None = None,
                  score: int | str | None = None, comment: str | None = None, policy: CallbackPolicy | None = None,
                  key: bytes | None = None, ladder: Ladder | None = None) -> OutcomeResult:
    """Record the customer's answer from a survey link, through the same rules as a phone call.

    Raises TokenInvalid / TokenExpired for a bad link, TaskClosed when the task
    already has its answer, BadAnswer for a rating the scale does not know.
    """
    signed = verify_token(token, now, key)
    policy = policy or load_policy()
    with engine.begin() as conn:
        try:
            return record_answer(conn, signed.task_id, actor="survey", via="survey", now=now, policy=policy,
                                 rating=rating, score=score, comment=comment, require_claim=False, ladder=ladder)
        except UnknownTask:
            raise TokenInvalid("survey link: no such survey") from None
