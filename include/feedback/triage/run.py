"""Triage batches: new intake rows become registered, masked, routed items with deadlines.

A batch claims its intake rows with FOR UPDATE SKIP LOCKED, so overlapping runs
(the asset trigger, the safety-net schedule, a manual run or a backfill) never take
the same row, and does all its writes — vault, feedback, events, deadlines, the intake
status — in one transaction that the leak gate must pass before it commits. A re-run
finds nothing new: rows already triaged are no longer `new`, and every insert is keyed
(intake_id, dedup_key, stage) so even a replay writes nothing twice.

Poison isolation (design.md): one row must not stop triage for everyone. When the
batch fails — the leak gate finds a contact in some rows, or a row's data breaks a
statement — the rows the gate named are held and the rest retried; on any other data
error the batch is registered row by row, each in its own savepoint. A row that still
fails is held (`intake.status = 'held'`, the reason names table, column and kind, never
the value), the others commit, and the run reports how many it held. Held rows are not
claimed again until an operator releases them (`feedback quarantine release`).

Overlapping runs give the result of one run: a reply must find its item even when the
original is being registered by another run at the same moment. A batch therefore pulls
the still-new originals its replies point at into itself (threads stay together), and a
reply whose original is claimed by another, uncommitted batch is deferred: left `new`,
skipped for the rest of this batch, and taken again once that batch has committed.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback import holds as holding
from feedback.business_time import business_zone
from feedback.channels.config import load_channels
from feedback.db import setwise
from feedback.db.rows import TextRow
from feedback.notify.outbox import OutboxRow, write_rows
from feedback.privacy import keys, leak_gate, vault
from feedback.settings import load_settings
from feedback.sla.calendar import load_calendars
from feedback.sla.deadlines import COLUMNS as DEADLINE_COLUMNS
from feedback.sla.deadlines import deadline_rows
from feedback.sla.policy import load_policy
from feedback.triage import numbering
from feedback.triage.prepare import Prepared, prepare

if TYPE_CHECKING:
    from feedback.privacy.masking import Masker
    from feedback.sla.calendar import BusinessCalendar
    from feedback.sla.policy import SlaPolicy
    from feedback.triage.classify import Classifier
    from feedback.triage.learned import LearnedModel

log = logging.getLogger(__name__)

# received_at outside what Python can hold (year 0, 10000, infinity) comes back NULL and the row
# is held, instead of failing the claim itself for the whole batch, run after run.
CLAIM = sa.text(
    """SELECT id, channel, source, external_id, payload,
              CASE WHEN received_at >= '0001-01-02' AND received_at < '9999-12-31' THEN received_at END AS received_at
       FROM feedback.intake i
       WHERE status = 'new' AND id <> ALL(CAST(:skip AS bigint[]))
       ORDER BY i.received_at, id LIMIT :n FOR UPDATE SKIP LOCKED"""
)
# The new originals a batch's replies point at, unless another batch has them: joined to this batch.
PULL = sa.text(
    """SELECT id, channel, source, external_id, payload,
              CASE WHEN received_at >= '0001-01-02' AND received_at < '9999-12-31' THEN received_at END AS received_at
       FROM feedback.intake i
       WHERE status = 'new' AND id <> ALL(CAST(:have AS bigint[]))
         AND (channel, external_id) IN (SELECT * FROM unnest(CAST(:c AS text[]), CAST(:e AS text[])))
       ORDER BY i.received_at, id FOR UPDATE SKIP LOCKED"""
)
# Referenced rows still waiting (new: claimed by another batch) or held: their replies wait too.
THREAD_STATE = sa.text(
    """SELECT channel, external_id, id, status FROM feedback.intake
       WHERE status IN ('new', 'held') AND id <> ALL(CAST(:have AS bigint[]))
         AND (channel, external_id) IN (SELECT * FROM unnest(CAST(:c AS text[]), CAST(:e AS text[])))"""
)
_PULL_ROUNDS = 5
_WAIT_ROUNDS = 3
_WAIT_TIMEOUT = "60s"
FEEDBACK_COLUMNS = (
    "feedback_no", "intake_id", "channel", "source", "received_at", "registered_at", "customer_name",
    "contact_masked", "contact_vault_id", "contact_refs", "customer_tier", "emotion", "language", "subject",
    "description", "expected_by", "order_ref", "category", "department", "handler_group", "priority",
    "priority_reasons", "confidence", "rule_ids", "needs_review", "status", "next_deadline_at",
    "next_deadline_stage", "taxonomy_preset", "sla_preset", "updated_at",
)
EVENT_COLUMNS = ("feedback_id", "event_type", "occurred_at", "actor", "to_status", "details", "dedup_key")

# A feedback_event row in EVENT_COLUMNS order (the item's id is None for a reply whose original is unknown).
_Event = tuple[int | None, str, datetime, str, str | None, dict[str, object], str]


@dataclass
class TriageContext:
    """What a triage task loads once: masker, classifier, SLA policy, calendars, zone."""

    masker: Masker
    classifier: Classifier
    policy: SlaPolicy
    calendars: dict[str, BusinessCalendar]
    zone: ZoneInfo
    taxonomy_preset: str
    sla_preset: str
    gate: bool = True
    learned: LearnedModel | None = None      # a learned model chosen over the rules (feedback.triage.corrections)
    ack_sources: frozenset[tuple[str, str]] = frozenset()   # (channel, source) whose new items get a receipt mail
    ack_per_hour: int = 3
    message_id_domain: str = "feedback.local"


def load_context(
    taxonomy_preset: str | None = None, sla_preset: str | None = None, gate: bool = True, engine: Engine | None = None
) -> TriageContext:
    """Configuration is read and validated here, once, so a bad file fails before any row is claimed."""
    from feedback.notify.acknowledge import acknowledged_sources
    from feedback.privacy.masking import Masker, load_mask_config
    from feedback.triage.classify import Classifier

    classifier = Classifier.from_config(preset=taxonomy_preset)
    calendars = load_calendars()
    policy = load_policy(preset=sla_preset, calendars=calendars)
    return TriageContext(
        masker=Masker(load_mask_config()),
        classifier=classifier,
        policy=policy,
        calendars=calendars,
        zone=business_zone(),
        taxonomy_preset=getattr(classifier, "preset", taxonomy_preset or "A"),
        sla_preset=policy.name,
        gate=gate,
        learned=_learned_model(engine, classifier),
        ack_sources=acknowledged_sources(load_channels()),
        ack_per_hour=load_settings().mail.ack_per_sender_per_hour,
        message_id_domain=load_settings().mail.message_id_domain,
    )


def _learned_model(engine: Engine | None, classifier: Classifier) -> LearnedModel | None:
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
    held: int = 0            # intake rows held (poison), not claimed again until released
    deferred: int = 0        # replies left new because their original was in another run's open batch
    by_priority: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    held_reasons: Counter[str] = field(default_factory=Counter)   # "leak_gate: feedback.description phone" -> rows
    deferred_ids: dict[int, list[int]] = field(default_factory=dict, repr=False)  # reply -> originals it waits for
    gate_seconds: float = field(default=0.0, repr=False)   # spent in the leak gate (its share is issue 17's measure)
    seconds: float = field(default=0.0, repr=False)        # spent in batch loops (summed over parallel workers)

    def add(self, other: TriageSummary) -> None:
        self.batches += other.batches
        self.registered += other.registered
        self.replies += other.replies
        self.responses += other.responses
        self.acknowledgements += other.acknowledgements
        self.acks_held += other.acks_held
        self.needs_review += other.needs_review
        self.held += other.held
        self.deferred += other.deferred
        self.by_priority.update(other.by_priority)
        self.by_category.update(other.by_category)
        self.held_reasons.update(other.held_reasons)
        self.deferred_ids.update(other.deferred_ids)
        self.gate_seconds += other.gate_seconds
        self.seconds += other.seconds

    def as_dict(self) -> dict[str, Any]:
        """Counts only (XCom, logs): reasons name table, column and kind, never a value or an id."""
        return {
            "batches": self.batches,
            "registered": self.registered,
            "replies": self.replies,
            "responses": self.responses,
            "acknowledgements": self.acknowledgements,
            "acks_held": self.acks_held,
            "needs_review": self.needs_review,
            "held": self.held,
            "deferred": self.deferred,
            "by_priority": dict(self.by_priority),
            "by_category": dict(self.by_category),
            "held_reasons": dict(self.held_reasons),
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
    by_number: dict[str, int] = dict(
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


def _tiers(conn: sa.Connection, items: list[Prepared], hashes: list[list[str]]) -> dict[int, str]:
    """VIP or normal per item: a tier hint, or a phone or e-mail hash on the VIP list (one query per batch)."""
    identity = [
        [h for (kind, _), h in zip(p.contacts.items(), hs, strict=True) if kind in {"phone", "email"}]
        for p, hs in zip(items, hashes, strict=True)
    ]
    wanted = sorted({h for hs in identity for h in hs})
    vip = set(
        conn.execute(
            sa.text("SELECT identity_hash FROM feedback.customer_tier WHERE tier = 'vip' AND identity_hash = ANY(:h)"),
            {"h": wanted},
        ).scalars()
    ) if wanted else set()
    return {
        p.intake_id: "vip" if (p.tier_hint == "vip" or any(h in vip for h in hs)) else "normal"
        for p, hs in zip(items, identity, strict=True)
    }


def _register(conn: sa.Connection, items: list[Prepared], targets: dict[int, int | str], run_time: datetime,
              ctx: TriageContext) -> TriageSummary:
    """Register one batch's items (replies become events) in the caller's transaction; the gate runs last.

    Every table is written set-wise, one statement each (feedback.db.setwise): the vault, the
    counters behind the numbers, the items, their events and deadlines.
    """
    summary = TriageSummary()
    new = [p for p in items if p.intake_id not in targets and not p.outbound]
    unanswered = [p.intake_id for p in items if p.outbound and p.intake_id not in targets]
    secret = keys.hash_key()
    hashes = [[vault.identity_hash(kind, value, secret) for kind, value in p.contacts.items()] for p in new]
    tiers = _tiers(conn, new, hashes)

    # The work that needs no lock comes first: the vault's new contacts and the day counters stay
    # locked until this batch commits, and a run's other workers may be waiting for them.
    deadlines_by_intake, decisions = {}, {}
    for p in new:
        tier = tiers[p.intake_id]
        decision = ctx.classifier.decide(
            p.description, subject=p.subject, channel=p.channel, customer_tier=tier, category_hint=p.category_hint,
            learned=ctx.learned, rating=p.rating,
        )
        decisions[p.intake_id] = decision
        deadlines_by_intake[p.intake_id] = deadline_rows(ctx.policy, ctx.calendars, decision.priority, tier,
                                                         p.received_at)

    contact_pairs = [(kind, value) for p in new for kind, value in p.contacts.items()]
    vault_ids = iter(vault.store_contacts(conn, contact_pairs, run_time, hashes=[h for hs in hashes for h in hs]))
    refs = [{kind: next(vault_ids) for kind in p.contacts} for p in new]
    numbers = numbering.allocate(conn, [numbering.business_day(p.received_at, ctx.zone) for p in new])

    feedback_rows = []
    for p, ref, number in zip(new, refs, numbers, strict=True):
        tier, decision, deadlines = tiers[p.intake_id], decisions[p.intake_id], deadlines_by_intake[p.intake_id]
        first = min(deadlines, key=lambda d: d.due_at) if deadlines else None
        registered = max(run_time, p.received_at)
        feedback_rows.append(dict(zip(FEEDBACK_COLUMNS, (
            number, p.intake_id, p.channel, p.source, p.received_at, registered, p.customer_name,
            p.contact_masked, ref.get("phone", ref.get("email")), ref, tier, decision.emotion, p.language,
            p.subject, p.description, p.expected_by, p.order_ref, decision.categories,
            decision.department, decision.handler_group, decision.priority, decision.priority_reasons,
            round(decision.confidence, 3), decision.rule_ids, decision.needs_review, "assigned",
            first.due_at if first else None, first.stage if first else None, ctx.taxonomy_preset,
            ctx.sla_preset, registered,
        ), strict=True)))
        summary.by_priority[decision.priority] += 1
        summary.by_category[decision.categories[0] if decision.categories else "unclassified"] += 1
        summary.needs_review += int(decision.needs_review)
    ids: dict[int, int] = dict(setwise.insert(conn, "feedback.feedback", FEEDBACK_COLUMNS, feedback_rows, ("intake_id",),
                              returning=("intake_id", "id")))
    missing = [p.intake_id for p in new if p.intake_id not in ids]
    if missing:   # registered before (a replayed batch): the item keeps its row
        ids.update(conn.execute(
            sa.text("SELECT intake_id, id FROM feedback.feedback WHERE intake_id = ANY(:i)"), {"i": missing},
        ).all())
    by_external = {f"{p.channel}:{p.external_id}": ids.get(p.intake_id) for p in new}

    events: list[_Event] = []
    deadline_values: list[dict[str, object]] = []
    for p in new:
        fid, d, registered = ids[p.intake_id], decisions[p.intake_id], max(run_time, p.received_at)
        details = {"priority": d.priority, "categories": d.categories, "department": d.department,
                   "rule_ids": d.rule_ids, "confidence": round(d.confidence, 3)}
        events.append((fid, "created", registered, "triage", "new", details, f"created:{p.intake_id}"))
        events.append((fid, "assigned", registered, "triage", "assigned",
                       {"department": d.department, "handler_group": d.handler_group}, f"assigned:{p.intake_id}"))
        for dl in deadlines_by_intake[p.intake_id]:
            deadline_values.append(dict(zip(DEADLINE_COLUMNS, dl.values(fid, 1), strict=True)))
    for p in items:
        if p.intake_id in targets:
            target = targets[p.intake_id]
            original = by_external.get(target) if isinstance(target, str) else target
            if p.outbound:
                # Our reply from the mailbox's Sent folder: the first response, at the time it was sent.
                events.append((original, "responded", p.received_at, f"mailbox:{p.source}", None,
                               {"intake_id": p.intake_id, "channel": p.channel, "via": "sent folder"},
                               f"responded:{p.intake_id}"))
                summary.responses += 1
                continue
            details = {"intake_id": p.intake_id, "channel": p.channel, "excerpt": p.description[:200]}
            if p.edit_of:
                details["edited"] = True   # the customer changed the item on the platform
            events.append((original, "customer_replied", max(p.received_at, run_time), "customer", None,
                           details, f"reply:{p.intake_id}"))
            summary.replies += 1
    event_rows = [dict(zip(EVENT_COLUMNS, e, strict=True)) for e in events]
    setwise.insert(conn, "feedback.feedback_event", EVENT_COLUMNS, event_rows, ("dedup_key",))
    setwise.insert(conn, "feedback.feedback_deadline", DEADLINE_COLUMNS, deadline_values,
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
        started = time.perf_counter()
        try:
            _gate(feedback_rows, event_rows)
        finally:
            summary.gate_seconds += time.perf_counter() - started
    summary.registered = len(new)
    return summary


def _acknowledgements(conn: sa.Connection, ctx: TriageContext, new: list[Prepared], refs: list[dict[str, int]],
                      ids: dict[int, int], numbers: list[str], run_time: datetime) -> tuple[list[OutboxRow], int]:
    """Receipt mails for new items with an e-mail contact, from sources that acknowledge (see notify.acknowledge)."""
    from feedback.notify.acknowledge import AckCandidate, ack_rows

    candidates = [
        AckCandidate(ids[p.intake_id], number, ref["email"], p.received_at, p.language, p.subject, p.message_id,
                     p.channel)
        for p, ref, number in zip(new, refs, numbers, strict=True)
        if (p.channel, p.source) in ctx.ack_sources and "email" in ref
    ]
    if not candidates:
        return [], 0
    return ack_rows(conn, candidates, per_hour=ctx.ack_per_hour, created_at=run_time, domain=ctx.message_id_domain,
                    zone=ctx.zone)


class _BatchLeak(leak_gate.LeakDetected):
    """The gate's finding in a batch, with the intake rows it was found in (what to hold, and why)."""

    def __init__(self, violations: list[leak_gate.Violation], by_intake: dict[int, list[str]]) -> None:
        super().__init__(leak_gate.message(violations, held=True), violations)
        self.by_intake = by_intake


def _gate(feedback_rows: list[dict[str, Any]], event_rows: list[dict[str, Any]]) -> None:
    """The leak gate over what this batch is about to store; a hit names the intake rows it came from."""
    tables = {"feedback": feedback_rows, "feedback_event": event_rows}
    violations = leak_gate.check(tables)
    if not violations:
        return
    owners = {
        "feedback": [row["intake_id"] for row in feedback_rows],
        "feedback_event": [int(row["dedup_key"].rpartition(":")[2]) for row in event_rows],
    }
    by_intake: dict[int, list[str]] = {}
    for v in violations:
        for position in v.positions:
            wheres = by_intake.setdefault(owners[v.table][position], [])
            if v.where not in wheres:
                wheres.append(v.where)
    raise _BatchLeak(violations, by_intake)


_NOT_DATA = holding.INFRASTRUCTURE_ERRORS
"""The register went away, a deadlock, a timeout: not about a row. The run fails and Airflow retries it."""


def _error_hold(error: BaseException, step: str) -> tuple[str, str]:
    """A hold reason for a row that broke a statement: a code, the class, table and column; never a value.

    Database messages can quote the offending value ("invalid input syntax …: \"…\""), and
    Python's can too, so only the driver's diagnostic table and column names are kept.
    """
    reason, _ = holding.describe_error(error)
    original = getattr(error, "orig", None) or error
    diag = getattr(original, "diag", None)
    where = ".".join(x for x in (getattr(diag, "table_name", None), getattr(diag, "column_name", None)) if x)
    return reason, f"{type(original).__name__} while {step}{' (' + where + ')' if where else ''}"


def _prepare_rows(rows: Sequence[TextRow], ctx: TriageContext, held: dict[int, tuple[str, str]]) -> list[Prepared]:
    items = []
    for row in rows:
        if row.received_at is None:
            held[row.id] = ("invalid_datetime", "feedback.intake.received_at out of range")
            continue
        try:
            items.append(prepare(row, ctx.masker))
        except Exception as error:  # noqa: BLE001 - one unreadable payload is held, not the batch
            held[row.id] = _error_hold(error, "preparing")
    return items


def _pull_originals(conn: sa.Connection, items: list[Prepared], rows: list[TextRow], ctx: TriageContext,
                    held: dict[int, tuple[str, str]]) -> None:
    """Claim the still-new rows this batch's replies answer, so a thread is registered together."""
    have = {r.id for r in rows}
    for _ in range(_PULL_ROUNDS):
        known = {(p.channel, p.external_id) for p in items} | {(r.channel, r.external_id) for r in rows}
        wanted = sorted({ref for p in items for ref in p.intake_refs if ref not in known})
        if not wanted:
            return
        pulled = conn.execute(PULL, {"have": sorted(have), "c": [c for c, _ in wanted],
                                     "e": [e for _, e in wanted]}).all()
        if not pulled:
            return
        rows.extend(pulled)
        have.update(r.id for r in pulled)
        items.extend(_prepare_rows(pulled, ctx, held))


def _settle(conn: sa.Connection, items: list[Prepared], rows: list[TextRow], held: dict[int, tuple[str, str]],
            deferred: dict[int, list[int]]) -> dict[int, int | str]:
    """Reply targets, after sorting out replies whose original is not ready (deferred) or held.

    The state of the referenced rows is read BEFORE the targets: if another batch commits an
    original in between, the reply finds it; if not, the reply waits. Never the other way round,
    which would register a reply as a new item.
    """
    have = [r.id for r in rows]
    refs = sorted({ref for p in items for ref in p.intake_refs})
    waiting: dict[tuple[str, str], tuple[int, str]] = {}
    if refs:
        for channel, external_id, intake_id, status in conn.execute(
            THREAD_STATE, {"have": have, "c": [c for c, _ in refs], "e": [e for _, e in refs]}
        ):
            waiting[(channel, external_id)] = (intake_id, status)
    for r in rows:
        if r.id in held:
            waiting[(r.channel, r.external_id)] = (r.id, "held")
    targets = _reply_targets(conn, items)
    by_key = {f"{p.channel}:{p.external_id}": p for p in items}
    for p in sorted(items, key=lambda q: isinstance(targets.get(q.intake_id), str)):   # originals first
        target = targets.get(p.intake_id)
        if isinstance(target, str):
            original = by_key[target].intake_id
            if original in deferred:
                deferred[p.intake_id] = deferred[original]
            elif original in held:
                held[p.intake_id] = ("reply_to_held", f"answers held intake:{original}; release them together")
            continue
        if target is not None:
            continue
        states = [waiting[ref] for ref in p.intake_refs if ref in waiting]
        if any(status == "new" for _, status in states):
            deferred[p.intake_id] = [i for i, status in states if status == "new"]
        elif states:
            held[p.intake_id] = ("reply_to_held", f"answers held intake:{states[0][0]}; release them together")
    return targets


def _register_isolated(conn: sa.Connection, items: list[Prepared], targets: dict[int, int | str],
                       run_time: datetime, ctx: TriageContext, held: dict[int, tuple[str, str]]) -> TriageSummary:
    """The whole batch in a savepoint; on a gate hit without the named rows; else row by row."""
    by_key = {f"{p.channel}:{p.external_id}": p for p in items}

    def depends_on_held(p: Prepared) -> int | None:
        target = targets.get(p.intake_id)
        original = by_key[target].intake_id if isinstance(target, str) else None
        return original if original in held else None

    work = items
    for _ in range(2):
        if not work:
            return TriageSummary()
        try:
            with conn.begin_nested():
                return _register(conn, work, targets, run_time, ctx)
        except _NOT_DATA:
            raise
        except _BatchLeak as leak:
            log.warning("%s", leak)
            for intake_id, wheres in leak.by_intake.items():
                held[intake_id] = ("leak_gate", ", ".join(wheres))
        except Exception as error:  # noqa: BLE001 - some row broke a statement: find it row by row
            log.warning("triage batch failed (%s); registering its %d rows one by one",
                        _error_hold(error, "registering")[1], len(work))
            break
        for p in work:
            original = depends_on_held(p)
            if original is not None and p.intake_id not in held:
                held[p.intake_id] = ("reply_to_held", f"answers held intake:{original}; release them together")
        work = [p for p in work if p.intake_id not in held]
    summary = TriageSummary()
    for p in sorted(work, key=lambda q: isinstance(targets.get(q.intake_id), str)):   # originals first
        original = depends_on_held(p)
        if original is not None:
            held[p.intake_id] = ("reply_to_held", f"answers held intake:{original}; release them together")
            continue
        try:
            with conn.begin_nested():
                # Its original, if any, was registered in an earlier savepoint: found in the register now.
                summary.add(_register(conn, [p], _reply_targets(conn, [p]), run_time, ctx))
        except _NOT_DATA:
            raise
        except leak_gate.LeakDetected as leak:
            held[p.intake_id] = ("leak_gate", ", ".join(dict.fromkeys(v.where for v in leak.violations)))
        except Exception as error:  # noqa: BLE001 - this row is the poison: hold it, go on
            held[p.intake_id] = _error_hold(error, "registering")
    return summary


_RETRY_CODES = {"40P01", "40001"}   # deadlock detected, serialization failure: the batch rolled back whole
_BATCH_ATTEMPTS = 3


def triage_batch(engine: Engine, run_time: datetime, ctx: TriageContext, batch_size: int = 500,
                 skip: Iterable[int] = ()) -> TriageSummary:
    """Claim up to `batch_size` new intake rows (not in `skip`) and register them; poison rows are held.

    Everything — registrations, holds, deferrals (rows simply left new) — commits together.
    A batch that loses a deadlock against a concurrent one (parallel workers, overlapping runs)
    rolled back entirely, so it is simply taken again.
    """
    skip = sorted(skip)
    for attempt in range(1, _BATCH_ATTEMPTS + 1):
        try:
            return _claim_and_register(engine, run_time, ctx, batch_size, skip)
        except sa.exc.OperationalError as error:
            if attempt == _BATCH_ATTEMPTS or getattr(error.orig, "pgcode", None) not in _RETRY_CODES:
                raise
            log.info("triage batch rolled back by a concurrent batch (%s); taking it again",
                     getattr(error.orig, "pgcode", None))
    raise AssertionError("unreachable")   # pragma: no cover - the loop returns or raises


def _claim_and_register(engine: Engine, run_time: datetime, ctx: TriageContext, batch_size: int,
                        skip: list[int]) -> TriageSummary:
    summary = TriageSummary()
    with engine.begin() as conn:
        rows = list(conn.execute(CLAIM, {"n": batch_size, "skip": skip}).all())
        if not rows:
            return summary
        held: dict[int, tuple[str, str]] = {}
        deferred: dict[int, list[int]] = {}
        items = _prepare_rows(rows, ctx, held)
        _pull_originals(conn, items, rows, ctx, held)
        targets = _settle(conn, items, rows, held, deferred)
        ready = [p for p in items if p.intake_id not in held and p.intake_id not in deferred]
        summary = _register_isolated(conn, ready, targets, run_time, ctx, held)
        for intake_id, (reason, detail) in held.items():
            holding.hold_intake(conn, intake_id, reason, detail, run_time)
            summary.held_reasons[f"{reason}: {detail}" if reason == "leak_gate" else reason] += 1
        summary.batches = 1
        summary.held = len(held)
        summary.deferred = len(deferred)
        summary.deferred_ids = deferred
    if held:
        log.warning("triage: %d row(s) held (%s); see `feedback quarantine list`, release them after a fix",
                    len(held), ", ".join(f"{k} x{n}" for k, n in sorted(summary.held_reasons.items())))
    return summary


def _wait_for(engine: Engine, intake_ids: list[int]) -> bool:
    """Wait until the batches holding these rows have ended (a share lock queues behind FOR UPDATE).

    Called with no other lock held, so it cannot deadlock; gives up after a while (the rows
    stay new for the next run).
    """
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL lock_timeout = '{_WAIT_TIMEOUT}'"))
            conn.execute(sa.text("SELECT 1 FROM feedback.intake WHERE id = ANY(:i) FOR KEY SHARE"),
                         {"i": intake_ids}).all()
        return True
    except sa.exc.OperationalError as error:
        if getattr(getattr(error, "orig", None), "pgcode", None) == "55P03":
            return False
        raise


def triage_pending(
    engine: Engine,
    run_time: datetime,
    ctx: TriageContext,
    batch_size: int = 500,
    max_batches: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> TriageSummary:
    """Batches until no new intake row is left (or `max_batches`); counts only, for XCom and logs.

    Replies deferred because another run had their original are skipped for the rest of the
    loop; when nothing else is left, the loop waits for that run's batch to commit and takes
    them again, so overlapping runs end where one run would have.
    """
    total = TriageSummary()
    deferred: dict[int, list[int]] = {}
    waits = 0
    started = time.perf_counter()
    while max_batches is None or total.batches < max_batches:
        result = triage_batch(engine, run_time, ctx, batch_size, skip=deferred)
        if not result.batches:
            if not deferred or waits >= _WAIT_ROUNDS:
                break
            waits += 1
            originals = sorted({i for ids in deferred.values() for i in ids})
            if not _wait_for(engine, originals):
                break
            deferred = {}
            continue
        deferred.update(result.deferred_ids)
        total.add(result)
        message = (f"triage batch {total.batches}: {result.registered} registered, {result.replies} replies"
                   + (f", {result.held} held" if result.held else "")
                   + (f", {result.deferred} deferred" if result.deferred else ""))
        log.info(message)
        if progress:
            progress(message)
    total.deferred = len(deferred)
    total.deferred_ids = deferred
    total.seconds = time.perf_counter() - started
    return total
