"""Operators' category corrections, and retraining the learned classifier on them.

Rules come first; a person who fixes a category teaches the system. Corrections
are `reclassified` events (the item's category and department change with them),
and retraining keeps a model only when it beats the rules on held-out
corrections, so a handful of odd corrections can never make triage worse.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import joblib
import sqlalchemy as sa

from feedback.errors import FeedbackError

MIN_EXAMPLES = 30


class CorrectionError(FeedbackError):
    """A correction that cannot be applied (unknown item or category)."""


def reclassify(conn: sa.Connection, feedback_no: str, category: str, *, classifier: Any, actor: str,
               at: datetime) -> dict[str, Any]:
    """Set an item's category (and its department) and record who corrected it."""
    if category not in classifier.classes:
        raise CorrectionError(
            f"unknown category {category!r} for preset {classifier.preset}; one of: {', '.join(classifier.classes)}"
        )
    row = conn.execute(
        sa.text("SELECT id, category FROM feedback.feedback WHERE feedback_no = :n FOR UPDATE"), {"n": feedback_no}
    ).one_or_none()
    if row is None:
        raise CorrectionError(f"no feedback item {feedback_no}")
    department, handler_group = classifier.route(category)
    conn.execute(
        sa.text("UPDATE feedback.feedback SET category = :c, department = :d, handler_group = :g, needs_review = false,"
                " updated_at = :t WHERE id = :i"),
        {"c": [category], "d": department, "g": handler_group, "t": at, "i": row.id},
    )
    details = {"from": list(row.category), "to": [category], "preset": classifier.preset}
    conn.execute(
        sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, details, dedup_key)"
                " VALUES (:i, 'reclassified', :t, :a, CAST(:d AS jsonb), :k) ON CONFLICT (dedup_key) DO NOTHING"),
        {"i": row.id, "t": at, "a": actor, "d": json.dumps(details),
         "k": f"reclassified:{row.id}:{at.isoformat()}"},
    )
    return {"feedback_no": feedback_no, **details}


def corrected_examples(conn: sa.Connection, preset: str) -> list[tuple[str, str]]:
    """(masked subject + text, corrected category) of every item's latest correction in this preset."""
    rows = conn.execute(
        sa.text(
            """SELECT DISTINCT ON (e.feedback_id) coalesce(f.subject, '') || '\n' || f.description AS text,
                      e.details->'to'->>0 AS label
               FROM feedback.feedback_event e JOIN feedback.feedback f ON f.id = e.feedback_id
               WHERE e.event_type = 'reclassified' AND e.details->>'preset' = :p
               ORDER BY e.feedback_id, e.occurred_at DESC, e.id DESC"""
        ),
        {"p": preset},
    ).all()
    return [(r.text, r.label) for r in rows]


def retrain(engine: sa.Engine, classifier: Any, at: datetime, min_examples: int = MIN_EXAMPLES) -> dict[str, Any]:
    """Train on the corrections, compare with the rules, store the model with the verdict."""
    from feedback.triage.learned import train_and_choose

    with engine.connect() as conn:
        examples = corrected_examples(conn, classifier.preset)
        known = conn.execute(
            sa.text("SELECT examples FROM feedback.classifier_model WHERE preset = :p ORDER BY trained_at DESC "
                    "LIMIT 1"), {"p": classifier.preset}).scalar()
    if len(examples) < min_examples or len({label for _, label in examples}) < 2:
        return {"trained": False, "reason": f"{len(examples)} corrections, need {min_examples} in 2+ classes"}
    if known == len(examples):
        return {"trained": False, "reason": "no new corrections since the last training"}
    model = train_and_choose(examples, classifier, folds=min(5, len(examples) // 6))
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    rules_f1 = sum(model.rules_scores) / len(model.rules_scores)
    learned_f1 = sum(model.learned_scores) / len(model.learned_scores)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.classifier_model (preset, trained_at, examples, chosen, rules_f1, learned_f1,"
                    " model) VALUES (:p, :t, :n, :c, :r, :l, :m)"),
            {"p": classifier.preset, "t": at, "n": len(examples), "c": model.chosen, "r": round(rules_f1, 4),
             "l": round(learned_f1, 4), "m": buffer.getvalue()},
        )
    return {"trained": True, "examples": len(examples), "chosen": model.chosen,
            "rules_macro_f1": round(rules_f1, 4), "learned_macro_f1": round(learned_f1, 4)}


def current_model(engine: sa.Engine, preset: str):
    """The newest trained model of the preset if it was chosen over the rules, else None."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT chosen, model FROM feedback.classifier_model WHERE preset = :p "
                    "ORDER BY trained_at DESC, id DESC LIMIT 1"), {"p": preset}).one_or_none()
    if row is None or not row.chosen:
        return None
    return joblib.load(io.BytesIO(bytes(row.model)))  # written by retrain() above: trusted
