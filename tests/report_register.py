"""A register filled with sample feedback for rendering whole reports: real texts, real triage decisions.

`fill(engine)` writes three months of items into a migrated register: October 2026 (the report
month), September 2026 (the month before, for 环比) and October 2025 (a year before, for 同比).
Every item is a message of `feedback_dev.sample` (Chinese and English customers, repeat customers
from one pool) classified by the shipped taxonomy's `Classifier`, so categories, departments,
priorities and `rule_ids` are what triage stores. Deadlines, first responses, resolutions,
breaches with configured overdue reasons and callbacks with every outcome follow from a seeded
random generator: the same seed gives the same register.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from feedback.sla.policy import overdue_reasons
from feedback.triage.classify import Classifier
from feedback.triage.taxonomy import load_taxonomy
from feedback_dev.sample.compose import compose
from feedback_dev.sample.people import People

SH = ZoneInfo("Asia/Shanghai")
MONTHS = ((2026, 10, 220), (2026, 9, 170), (2025, 10, 120))     # (year, month, items)
# priority -> (first response, resolution) allowances (24x7 here: the figures, not the calendar, matter)
ALLOWANCE = {"urgent": (timedelta(hours=2), timedelta(hours=24)), "high": (timedelta(hours=4), timedelta(days=3)),
             "medium": (timedelta(hours=24), timedelta(days=5)), "low": (timedelta(hours=48), timedelta(days=10))}
CHANNELS = ("email", "webform", "platform")
OUTCOMES = (("satisfied", 0.55), ("neutral", 0.15), ("dissatisfied", 0.15), ("unreachable", 0.15))


def _identity(ref: str) -> str:
    return hashlib.sha256(f"sample-identity:{ref}".encode()).hexdigest()


def fill(engine: sa.Engine, *, seed: int = 20261031) -> dict[str, int]:
    """Write the sample months; returns counts (items per month key `YYYY-MM`)."""
    rng = random.Random(seed)
    people = People(seed, 600)
    classifier = Classifier(load_taxonomy())
    reasons = [r.code for r in overdue_reasons()] + [None, None]
    counts: dict[str, int] = {}
    vault: dict[str, int] = {}
    with engine.begin() as conn:
        for year, month, n in MONTHS:
            counts[f"{year}-{month:02d}"] = n
            for i in range(n):
                days = (datetime(year + month // 12, month % 12 + 1, 1) - datetime(year, month, 1)).days
                day = 1 + (i * days) // n
                received = datetime(year, month, day, rng.randrange(0, 24), rng.randrange(60), tzinfo=SH)
                language = "zh" if rng.random() < 0.8 else "en"
                draft = compose(rng, people, language=language, when=received, anonymous_rate=0.15)
                decision = classifier.decide(draft.body(), subject=draft.subject, channel=CHANNELS[i % 3])
                vault_id = None
                if draft.customer is not None:
                    ref = draft.customer.ref
                    if ref not in vault:
                        vault[ref] = conn.execute(sa.text(
                            "INSERT INTO feedback.contact_vault (kind, ciphertext, identity_hash) "
                            "VALUES ('phone', :c, :h) RETURNING id"), {"c": b"\x00", "h": _identity(ref)}).scalar_one()
                    vault_id = vault[ref]
                _item(conn, rng, received, i, decision, vault_id, reasons, draft.is_vip)
    return counts


def _item(conn: sa.Connection, rng: random.Random, received: datetime, i: int, decision, vault_id: int | None,
          reasons: list[str | None], vip: bool) -> None:
    prio = decision.priority
    fr_allow, res_allow = ALLOWANCE[prio]
    fr_due, res_due = received + fr_allow, received + res_allow
    late = rng.random() < (0.35 if prio == "urgent" else 0.2)
    responded = received + (fr_allow * rng.uniform(1.1, 3.0) if late else fr_allow * rng.uniform(0.05, 0.9))
    open_item = rng.random() < 0.12
    resolved = None if open_item else received + res_allow * rng.uniform(0.1, 1.4)
    closed = None if resolved is None else resolved + timedelta(hours=rng.uniform(1, 30))
    status = rng.choice(("assigned", "in_progress", "waiting_customer")) if open_item else "closed"
    fid = conn.execute(sa.text(
        """INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at, customer_tier,
               contact_vault_id, description, category, department, priority, confidence, rule_ids, status,
               resolved_at, closed_at, sla_preset, taxonomy_preset)
           VALUES (:no, :ch, 'sample', :rec, :rec, :tier, :vault, '(masked text)', :cat, :dept, :prio, :conf, :rules,
                   :status, :resolved, :closed, 'A', 'A') RETURNING id"""),
        {"no": f"{received:%Y%m%d}-{i:03d}", "ch": CHANNELS[i % 3], "rec": received, "tier": "vip" if vip else "normal",
         "vault": vault_id, "cat": decision.categories, "dept": decision.department, "prio": prio,
         "conf": round(decision.confidence, 3), "rules": decision.rule_ids, "status": status, "resolved": resolved,
         "closed": closed}).scalar_one()
    events = [("created", received), ("assigned", received), ("responded", responded)]
    if resolved is not None:
        events += [("resolved", resolved), ("closed", closed)]
    for n, (kind, at) in enumerate(events):
        conn.execute(sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, "
                             "dedup_key) VALUES (:f, :k, :t, 'sample', :d)"),
                     {"f": fid, "k": kind, "t": at, "d": f"sample:{fid}:{n}"})
    for stage, due, met in (("first_response", fr_due, responded), ("resolution", res_due, resolved)):
        conn.execute(sa.text("INSERT INTO feedback.feedback_deadline (feedback_id, stage, handling_cycle, starts_at, "
                             "due_at, calendar, rule, met_at, warn_at) VALUES (:f, :s, 1, :a, :d, 'always', "
                             "'sample', :m, :d)"), {"f": fid, "s": stage, "a": received, "d": due, "m": met})
        if met is None or met > due:
            conn.execute(sa.text("INSERT INTO feedback.sla_breach (feedback_id, stage, kind, deadline_at, detected_at, "
                                 "reason) VALUES (:f, :s, 'breach', :d, :t, :r)"),
                         {"f": fid, "s": stage, "d": due, "t": due + timedelta(minutes=5), "r": rng.choice(reasons)})
    if closed is not None and rng.random() < 0.7:
        outcome = rng.choices([o for o, _ in OUTCOMES], weights=[w for _, w in OUTCOMES])[0]
        score = {"satisfied": rng.randint(90, 100), "neutral": rng.randint(70, 89),
                 "dissatisfied": rng.randint(20, 69)}.get(outcome)
        done = closed + timedelta(hours=rng.uniform(2, 48))
        conn.execute(sa.text(
            "INSERT INTO feedback.callback_task (feedback_id, handling_cycle, due_at, status, outcome, score, "
            "completed_at, created_at) VALUES (:f, 1, :d, :s, :o, :sc, :t, :c)"),
            {"f": fid, "d": closed + timedelta(days=3), "s": "unreachable" if outcome == "unreachable" else "done",
             "o": outcome, "sc": score, "t": done, "c": closed})
