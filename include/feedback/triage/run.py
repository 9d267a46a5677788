"""Triage batches: new intake rows become registered, masked, routed items with deadlines.

A batch claims its intake rows with FOR UPDATE SKIP LOCKED, so overlapping runs
(the asset trigger and the safety-net schedule) never take the same row, and
does all its writes — vault, feedback, events, deadlines, the intake status —
in one transaction that the leak gate must pass before it commits. A re-run
finds nothing new: rows already triaged are no longer `new`, and every insert
is keyed (intake_id, dedup_key, stage) so even a replay writes nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.db.bulk import text_array, upsert
from feedback.notify.outbox import write_rows
from feedback.privacy import leak_gate, vault
from feedback.sla.deadlines import COLUMNS as DEADLINE_COLUMNS
from feedback.sla.deadlines import deadline_rows
from feedback.triage import numbering
from feedback.triage.prepare import Prepared, prepare

log = logging.getLogger(__name__)

CLAIM = sa.text(
    """SELECT id, channel, source, external_id, received_at, payload
       FROM feedback.intake WHERE status = 'new'
       ORDER BY received_at, id LIMIT :n FOR UPDATE SKIP LOCKED"""
)
FEEDBACK_COLUMNS = (
    "feedback_no", "intake_id", "channel", "source", "received_at", "registered_at", "customer_name",
    "contact_masked", "contact_vault_id", "contact_refs", "customer_tier", "emotion", "language", "subject",
    "description", "expected_by", "order_ref", "category", "department", "handler_group", "priority",
    "priority_reasons", "confidence", "rule_ids", "needs_review", "status", "next_deadline_at",
    "next_deadline_stage", "taxonomy_preset", "sla_preset", "updated_at",
)
EVENT_COLUMNS = ("feedback_id", "event_type", "occurred_at", "actor", "to_status", "details", "dedup_key")


@dataclass
class TriageContext:
    """What a triage task loads once: masker, classifier, SLA policy, calendars, zone."""

    masker: Any
    classifier: Any
    policy: Any
    calendars: dict[str, Any]
    zone: ZoneInfo
    taxonomy_preset: str
    sla_preset: str
    gate: bool = True
    learned: Any = None      # a learned model chosen over the rules (feedback.triage.corrections)
    ack_sources: frozenset[str] = frozenset()   # mailboxes whose new items get a receipt mail
    ack_per_hour: int = 3
    message_id_domain: str = "feedback.local"


def load_context(
    taxonomy_preset: str | None = None, sla_preset: str | None = None, gate: bool = True, engine: Engine | None = None
) -> TriageContext:
    """Configuration is read and validated here, once, so a bad file fails before any row is claimed."""
    from feedback import config
    from feedback.privacy.masking import Masker, load_mask_config
    from feedback.sla.calendar import load_calendars
    from feedback.sla.policy import load_policy
    from feedback.triage.classify import Classifier

    classifier = Classifier.from_config(preset=taxonomy_preset)
    calendars = load_calendars()
    policy = load_policy(preset=sla_preset, calendars=calendars)
    return TriageContext(
        masker=Masker(load_mask_config()),
        classifier=classifier,
        policy=policy,
        calendars=calendars,
        zone=ZoneInfo(config.settings().timezone),
        taxonomy_preset=getattr(classifier, "preset", taxonomy_preset or "A"),
        sla_preset=policy.name,
        gate=gate,
        learned=_learned_model(engine, classifier),
        ack_sources=frozenset(m.name for m in config.channels().mailboxes if m.acknowledge),
        ack_per_hour=config.settings().mail.ack_per_sender_per_hour,
        message_id_domain=config.settings().mail.message_id_domain,
    )


def _learned_model(engine: Engine | None, classifier: Any) -> Any:
    if engine is None or classifier.multi_label:
        return None
    from feedback.triage.corrections import current_model

    return current_model(engine, classifier.preset)


@dataclass
class TriageSummary:
    batches: int = 0
    registered: int = 0
    replies: int = 0
    responses: int = 0
    acknowledgements: int = 0
    acks_held: int = 0
    needs_review: int = 0
    by_priority: Counter = field(default_factory=Counter)
    by_category: Counter = field(default_factory=Counter)

    def add(self, other: TriageSummary) -> None:
        self.batches += other.batches
        self.registered += other.registered
        self.replies += other.replies
        self.responses += other.responses
        self.acknowledgements += other.acknowledgements
        self.acks_held += other.acks_held
        self.needs_review += other.needs_review
        self.by_priority.update(other.by_priority)
        self.by_category.update(other.by_category)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "registered": self.registered,
            "replies": self.replies,
            "responses": self.responses,
            "acknowledgements": self.acknowledgements,
            "acks_held": self.acks_held,
            "needs_review": self.needs_review,
            "by_priority": dict(self.by_priority),
            "by_category": dict(self.by_category),
        }


def _reply_targets(conn: sa.Connection, items: list[Prepared]) -> dict[int, int | str]:
    """intake_id -> feedback id it answers (or "channel:external_id" of an item registered in this batch).

    A mail answers an item when it names its number, or when its In-Reply-To/References
    point at the item's own mail, at a mail already threaded onto it, or at one of our
    mails about it (the acknowledgement). Chains inside one batch (the customer's reply
    and our answer to it, read in the same run) are followed to the registered item.
    """
    numbers = sorted({n for p in items for n in p.feedback_refs})
    refs = sorted({r for p in items for r in p.intake_refs})
    by_number = dict(
        conn.execute(
            sa.text("SELECT feedback_no, id FROM feedback.feedback WHERE feedback_no = ANY(:n)"), {"n": numbers}
        ).all()
    ) if numbers else {}
    by_intake: dict[tuple[str, str], int] = {}
    if refs:
        for channel, external_id, feedback_id in conn.execute(
            sa.text(
                """SELECT i.channel, i.external_id, coalesce(f.id, (
                          SELECT e.feedback_id FROM feedback.feedback_event e
                          WHERE e.dedup_key IN ('reply:' || i.id, 'responded:' || i.id) LIMIT 1))
                   FROM feedback.intake i LEFT JOIN feedback.feedback f ON f.intake_id = i.id
                   WHERE (i.channel, i.external_id) IN (SELECT * FROM unnest(CAST(:c AS text[]), CAST(:e AS text[])))
                     AND i.status = 'triaged'"""
            ),
            {"c": [c for c, _ in refs], "e": [e for _, e in refs]},
        ):
            if feedback_id is not None:
                by_intake[(channel, external_id)] = feedback_id
        mail_refs = sorted({e for c, e in refs if c == "email"})
        for message_id, feedback_id in conn.execute(
            sa.text("""SELECT message_id, feedback_id FROM feedback.outbox
                       WHERE feedback_id IS NOT NULL AND message_id = ANY(:m)"""),
            {"m": mail_refs},
        ):
            by_intake.setdefault(("email", message_id), feedback_id)
    in_batch = {f"{p.channel}:{p.external_id}": p for p in items}
    direct: dict[int, int | str] = {}
    for p in items:
        target: int | str | None = next((by_number[n] for n in p.feedback_refs if n in by_number), None)
        if target is None:
            target = next((by_intake[r] for r in p.intake_refs if r in by_intake), None)
        if target is None:
            target = next((f"{r[0]}:{r[1]}" for r in p.intake_refs
                           if f"{r[0]}:{r[1]}" in in_batch and r != (p.channel, p.external_id)), None)
        if target is not None:
            direct[p.intake_id] = target
    targets: dict[int, int | str] = {}
    for p in items:
        target = direct.get(p.intake_id)
        seen = {p.intake_id}
        while isinstance(target, str):
            answered = in_batch[target]
            if answered.intake_id in seen or (answered.outbound and answered.intake_id not in direct):
                target = None      # a loop, or our mail that answers nothing registered
            elif answered.intake_id in direct:
                seen.add(answered.intake_id)
                target = direct[answered.intake_id]
            else:
                break              # answers an item registered in this batch
        if target is not None:
            targets[p.intake_id] = target
    return targets


def _tiers(conn: sa.Connection, items: list[Prepared]) -> dict[int, str]:
    hashes = {
        p.intake_id: [vault.identity_hash(kind, value) for kind, value in p.contacts.items() if kind in {"phone", "email"}]
        for p in items
    }
    wanted = sorted({h for hs in hashes.values() for h in hs})
    vip = set(
        conn.execute(
            sa.text("SELECT identity_hash FROM feedback.customer_tier WHERE tier = 'vip' AND identity_hash = ANY(:h)"),
            {"h": wanted},
        ).scalars()
    ) if wanted else set()
    return {
        p.intake_id: "vip" if (p.tier_hint == "vip" or any(h in vip for h in hashes[p.intake_id])) else "normal"
        for p in items
    }


def triage_batch(engine: Engine, run_time: datetime, ctx: TriageContext, batch_size: int = 500) -> TriageSummary:
    """Claim up to `batch_size` new intake rows and register them, atomically."""
    summary = TriageSummary()
    with engine.begin() as conn:
        rows = conn.execute(CLAIM, {"n": batch_size}).all()
        if not rows:
            return summary
        items = [prepare(row, ctx.masker) for row in rows]
        targets = _reply_targets(conn, items)
        new = [p for p in items if p.intake_id not in targets and not p.outbound]
        unanswered = [p.intake_id for p in items if p.outbound and p.intake_id not in targets]
        tiers = _tiers(conn, new)

        contact_pairs = [(kind, value) for p in new for kind, value in p.contacts.items()]
        vault_ids = iter(vault.store_contacts(conn, contact_pairs, run_time))
        refs = [{kind: next(vault_ids) for kind in p.contacts} for p in new]
        numbers = numbering.allocate(conn, [p.received_at.astimezone(ctx.zone).date() for p in new])

        feedback_rows, deadlines_by_intake, decisions = [], {}, {}
        for p, ref, number in zip(new, refs, numbers, strict=True):
            tier = tiers[p.intake_id]
            decision = ctx.classifier.decide(
                p.description, subject=p.subject, channel=p.channel, customer_tier=tier, category_hint=p.category_hint,
                learned=ctx.learned,
            )
            decisions[p.intake_id] = decision
            deadlines = deadline_rows(ctx.policy, ctx.calendars, decision.priority, tier, p.received_at)
            deadlines_by_intake[p.intake_id] = deadlines
            first = min(deadlines, key=lambda d: d.due_at) if deadlines else None
            registered = max(run_time, p.received_at)
            feedback_rows.append((
                number, p.intake_id, p.channel, p.source, p.received_at, registered, p.customer_name,
                p.contact_masked, ref.get("phone", ref.get("email")), ref, tier, decision.emotion, p.language,
                p.subject, p.description, p.expected_by, p.order_ref, text_array(decision.categories),
                decision.department, decision.handler_group, decision.priority, text_array(decision.priority_reasons),
                round(decision.confidence, 3), text_array(decision.rule_ids), decision.needs_review, "assigned",
                first.due_at if first else None, first.stage if first else None, ctx.taxonomy_preset,
                ctx.sla_preset, registered,
            ))
            summary.by_priority[decision.priority] += 1
            summary.by_category[decision.categories[0] if decision.categories else "unclassified"] += 1
            summary.needs_review += int(decision.needs_review)
        upsert(conn, "feedback.feedback", FEEDBACK_COLUMNS, feedback_rows, ("intake_id",))
        ids = dict(
            conn.execute(
                sa.text("SELECT intake_id, id FROM feedback.feedback WHERE intake_id = ANY(:i)"),
                {"i": [p.intake_id for p in items]},
            ).all()
        )
        by_external = {f"{p.channel}:{p.external_id}": ids.get(p.intake_id) for p in new}

        events, deadline_values = [], []
        for p in new:
            fid, d, registered = ids[p.intake_id], decisions[p.intake_id], max(run_time, p.received_at)
            details = {"priority": d.priority, "categories": d.categories, "department": d.department,
                       "rule_ids": d.rule_ids, "confidence": round(d.confidence, 3)}
            events.append((fid, "created", registered, "triage", "new", details, f"created:{p.intake_id}"))
            events.append((fid, "assigned", registered, "triage", "assigned",
                           {"department": d.department, "handler_group": d.handler_group}, f"assigned:{p.intake_id}"))
            for dl in deadlines_by_intake[p.intake_id]:
                deadline_values.append(dl.values(fid, 1))
        for p in items:
            if p.intake_id in targets:
                target = targets[p.intake_id]
                fid = by_external.get(target) if isinstance(target, str) else target
                if p.outbound:
                    # Our reply from the mailbox's Sent folder: the first response, at the time it was sent.
                    events.append((fid, "responded", p.received_at, f"mailbox:{p.source}", None,
                                   {"intake_id": p.intake_id, "channel": p.channel, "via": "sent folder"},
                                   f"responded:{p.intake_id}"))
                    summary.responses += 1
                    continue
                details = {"intake_id": p.intake_id, "channel": p.channel, "excerpt": p.description[:200]}
                if p.edit_of:
                    details["edited"] = True   # the customer changed the item on the platform
                events.append((fid, "customer_replied", max(p.received_at, run_time), "customer", None,
                               details, f"reply:{p.intake_id}"))
                summary.replies += 1
        upsert(conn, "feedback.feedback_event", EVENT_COLUMNS, events, ("dedup_key",))
        upsert(conn, "feedback.feedback_deadline", DEADLINE_COLUMNS, deadline_values,
               ("feedback_id", "stage", "handling_cycle"))
        acks, summary.acks_held = _acknowledgements(conn, ctx, new, refs, ids, numbers, run_time)
        summary.acknowledgements = write_rows(conn, acks)
        conn.execute(
            sa.text(
                """UPDATE feedback.intake SET triaged_at = :t,
                          status = CASE WHEN id = ANY(:u) THEN 'skipped' ELSE 'triaged' END,
                          status_reason = CASE WHEN id = ANY(:u) THEN 'our own mail, not answering a registered item'
                                               WHEN id = ANY(:o) THEN 'our reply to an existing item'
                                               WHEN id = ANY(:e) THEN 'an edit of an existing item'
                                               WHEN id = ANY(:r) THEN 'reply to an existing item' END
                   WHERE id = ANY(:i)"""
            ),
            {"t": run_time, "i": [p.intake_id for p in items], "r": list(targets), "u": unanswered,
             "o": [p.intake_id for p in items if p.outbound], "e": [p.intake_id for p in items if p.edit_of]},
        )
        if ctx.gate:
            _gate(conn, [ids[p.intake_id] for p in new] + [
                t for t in (targets[p.intake_id] for p in items if p.intake_id in targets) if isinstance(t, int)
            ], [p.intake_id for p in items])
        summary.batches = 1
        summary.registered = len(new)
    return summary


def _acknowledgements(conn: sa.Connection, ctx: TriageContext, new: list[Prepared], refs: list[dict[str, int]],
                      ids: dict[int, int], numbers: list[str], run_time: datetime) -> tuple[list, int]:
    """Receipt mails for the new e-mail items of mailboxes that acknowledge (see notify.acknowledge)."""
    from feedback.notify.acknowledge import AckCandidate, ack_rows

    candidates = [
        AckCandidate(ids[p.intake_id], number, ref["email"], p.received_at, p.language, p.subject, p.message_id)
        for p, ref, number in zip(new, refs, numbers, strict=True)
        if p.channel == "email" and p.source in ctx.ack_sources and "email" in ref
    ]
    if not candidates:
        return [], 0
    return ack_rows(conn, candidates, per_hour=ctx.ack_per_hour, created_at=run_time, domain=ctx.message_id_domain)


def _gate(conn: sa.Connection, feedback_ids: list[int], intake_ids: list[int]) -> None:
    feedback_rows = [dict(r._mapping) for r in conn.execute(
        sa.text("SELECT * FROM feedback.feedback WHERE id = ANY(:i)"), {"i": feedback_ids})]
    event_rows = [dict(r._mapping) for r in conn.execute(
        sa.text("SELECT * FROM feedback.feedback_event WHERE dedup_key = ANY(:k)"),
        {"k": [f"{kind}:{i}" for i in intake_ids for kind in ("created", "assigned", "reply", "responded")]})]
    leak_gate.enforce({"feedback": feedback_rows, "feedback_event": event_rows})


def triage_pending(
    engine: Engine,
    run_time: datetime,
    ctx: TriageContext,
    batch_size: int = 500,
    max_batches: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> TriageSummary:
    """Batches until no new intake row is left (or `max_batches`); counts only, for XCom and logs."""
    total = TriageSummary()
    while max_batches is None or total.batches < max_batches:
        result = triage_batch(engine, run_time, ctx, batch_size)
        if not result.batches:
            break
        total.add(result)
        message = f"triage batch {total.batches}: {result.registered} registered, {result.replies} replies"
        log.info(message)
        if progress:
            progress(message)
    return total
