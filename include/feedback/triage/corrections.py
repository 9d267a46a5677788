"""Labels people give (corrections, review confirmations, imported history) and the model versions trained on them.

Rules come first; a person who fixes a category teaches the system. A correction or a
supervisor's confirmation in the review queue changes the item (category, department,
priority and, with the priority, its deadlines), is audited as a `reclassified` event, and
becomes a `training_label` row. A company's labelled history joins the same table through
`feedback.triage.labels_import`.

Retraining (`retrain`) evaluates rules-plus-model against the rules alone on held-out
labels and stores every trained model as a numbered version with that evaluation; a version
that wins becomes the active one (what triage uses). Operators can roll back to any earlier
version, or to the rules alone (`feedback triage model list|rollback`).
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import joblib
import sqlalchemy as sa

from feedback.errors import FeedbackError
from feedback.triage.taxonomy import normalise
from feedback.vocabulary import Priority, codes

if TYPE_CHECKING:
    from feedback.triage.classify import Classifier
    from feedback.triage.learned import LearnedModel

MIN_EXAMPLES = 30
PRIORITIES = codes(Priority)
RULES_ONLY = ("rules", "none")      # rollback targets that mean "no model"


class CorrectionError(FeedbackError):
    """A correction that cannot be applied (unknown item, category, department or priority)."""


class ModelVersionError(FeedbackError):
    """A model version that does not exist or cannot be activated."""


def text_key(text: str) -> str:
    """The duplicate key of a (masked) training text: sha256 of its normalised form."""
    return hashlib.sha256(" ".join(normalise(text).split()).encode("utf-8")).hexdigest()


def _handler_group_for(classifier: Classifier, department: str, category: str) -> str | None:
    """The handler group of a department: the category's own if it owns it, else the first class or rule routed there."""
    preset = classifier.taxonomy.presets[classifier.preset]
    if preset.classes[category].department == department:
        return preset.classes[category].handler_group
    for cat in preset.classes.values():
        if cat.department == department:
            return cat.handler_group
    for rule in preset.rules:
        if rule.department == department and rule.handler_group:
            return rule.handler_group
    return None


def reclassify(conn: sa.Connection, feedback_no: str, category: str, *, classifier: Classifier, actor: str,
               at: datetime, department: str | None = None, priority: str | None = None,
               source: str = "correction") -> dict[str, Any]:
    """Set an item's category (and department, optionally priority), audit it and keep it as a training label.

    The department follows the category unless a supervisor names another; a new priority
    re-derives the item's open deadlines. Nothing changed is a confirmation: still audited,
    still a label (the rules or the model were unsure, a person was not).
    """
    if category not in classifier.classes:
        raise CorrectionError(
            f"unknown category {category!r} for preset {classifier.preset}; one of: {', '.join(classifier.classes)}"
        )
    departments = classifier.taxonomy.departments
    if department is not None and department not in departments:
        raise CorrectionError(f"unknown department {department!r}; one of: {', '.join(departments)}")
    if priority is not None and priority not in PRIORITIES:
        raise CorrectionError(f"unknown priority {priority!r}; one of: {', '.join(PRIORITIES)}")
    row = conn.execute(
        sa.text("SELECT id, category, department, handler_group, priority, subject, description, needs_review "
                "FROM feedback.feedback WHERE feedback_no = :n FOR UPDATE"), {"n": feedback_no}
    ).one_or_none()
    if row is None:
        raise CorrectionError(f"no feedback item {feedback_no}")
    routed_department, routed_group = classifier.route(category)
    department = department or routed_department
    handler_group = routed_group if department == routed_department else \
        _handler_group_for(classifier, department, category)
    priority = priority or row.priority
    conn.execute(
        sa.text("UPDATE feedback.feedback SET category = :c, department = :d, handler_group = :g, priority = :p,"
                " needs_review = false, updated_at = :t WHERE id = :i"),
        {"c": [category], "d": department, "g": handler_group, "p": priority, "t": at, "i": row.id},
    )
    changed = list(row.category) != [category] or row.department != department or row.priority != priority
    details: dict[str, Any] = {"from": list(row.category), "to": [category], "preset": classifier.preset,
                               "review": "corrected" if changed else "confirmed", "source": source}
    if row.department != department:
        details["department"] = {"from": row.department, "to": department}
    if row.priority != priority:
        details["priority"] = {"from": row.priority, "to": priority}
        details["deadlines_changed"] = _rederive_deadlines(conn, row.id, at)
    conn.execute(
        sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, details, dedup_key)"
                " VALUES (:i, 'reclassified', :t, :a, CAST(:d AS jsonb), :k) ON CONFLICT (dedup_key) DO NOTHING"),
        {"i": row.id, "t": at, "a": actor, "d": json.dumps(details),
         "k": f"reclassified:{row.id}:{at.isoformat()}"},
    )
    text = f"{row.subject or ''}\n{row.description}"
    conn.execute(
        sa.text("""INSERT INTO feedback.training_label (preset, source, feedback_id, text, text_sha256, category,
                                                        priority, batch, actor, labelled_at)
                   VALUES (:p, :s, :f, :x, :h, :c, :pr, :b, :a, :t)
                   ON CONFLICT (preset, feedback_id) WHERE feedback_id IS NOT NULL DO UPDATE
                   SET source = EXCLUDED.source, text = EXCLUDED.text, text_sha256 = EXCLUDED.text_sha256,
                       category = EXCLUDED.category, priority = EXCLUDED.priority, actor = EXCLUDED.actor,
                       labelled_at = EXCLUDED.labelled_at"""),
        {"p": classifier.preset, "s": source, "f": row.id, "x": text, "h": text_key(text), "c": category,
         "pr": priority, "b": feedback_no, "a": actor, "t": at},
    )
    return {"feedback_no": feedback_no, **details}


def _rederive_deadlines(conn: sa.Connection, feedback_id: int, at: datetime) -> int:
    """Open deadlines of the current cycle recomputed for the new priority (met, breached, paused ones keep theirs)."""
    from feedback.sla.monitor import _refresh_next_deadline, load_setup
    from feedback.sla.recompute import ITEM_BASIS, rederive_open_deadlines

    item = conn.execute(sa.text(ITEM_BASIS + " WHERE f.id = :f GROUP BY f.id"), {"f": feedback_id}).one_or_none()
    if item is None:
        return 0
    changed = rederive_open_deadlines(conn, load_setup(), item)
    if changed:
        _refresh_next_deadline(conn, {feedback_id})
    return changed


def corrected_examples(conn: sa.Connection, preset: str) -> list[tuple[str, str]]:
    """(masked text, label) of every training label of the preset: corrections, reviews and imported history."""
    rows = conn.execute(
        sa.text("SELECT text, category FROM feedback.training_label WHERE preset = :p ORDER BY id"), {"p": preset}
    ).all()
    return [(r.text, r.category) for r in rows]


def _data_mark(conn: sa.Connection, preset: str) -> str:
    """What the training data looks like now (count, newest label): retraining on the same data is pointless."""
    n, last_id, last_at = conn.execute(sa.text("SELECT count(*), max(id), max(labelled_at) FROM feedback.training_label"
                                               " WHERE preset = :p"), {"p": preset}).one()
    return f"{n}:{last_id}:{last_at.isoformat() if last_at else ''}"


def retrain(engine: sa.Engine, classifier: Classifier, at: datetime, min_examples: int = MIN_EXAMPLES, *,
            actor: str = "retrain", force: bool = False) -> dict[str, Any]:
    """Train on every label, evaluate against the rules, store the version; activate it if it wins."""
    from feedback.triage.learned import train_and_choose

    with engine.connect() as conn:
        examples = corrected_examples(conn, classifier.preset)
        mark = _data_mark(conn, classifier.preset)
        known = conn.execute(
            sa.text("SELECT data_mark FROM feedback.classifier_model WHERE preset = :p ORDER BY version DESC "
                    "LIMIT 1"), {"p": classifier.preset}).scalar()
        sources: dict[str, int] = dict(conn.execute(sa.text("SELECT source, count(*) FROM feedback.training_label WHERE preset = :p "
                                            "GROUP BY source"), {"p": classifier.preset}).all())
    if len(examples) < min_examples or len({label for _, label in examples}) < 2:
        return {"trained": False, "reason": f"{len(examples)} labels, need {min_examples} in 2+ classes"}
    if known == mark and not force:
        return {"trained": False, "reason": "no new corrections since the last training"}
    model = train_and_choose(examples, classifier, folds=max(2, min(5, len(examples) // 6)))
    model.evaluation["sources"] = sources
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    rules_f1 = sum(model.rules_scores) / len(model.rules_scores)
    learned_f1 = sum(model.learned_scores) / len(model.learned_scores)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('classifier_model:' || :p))"),
                     {"p": classifier.preset})
        version = conn.execute(sa.text("SELECT coalesce(max(version), 0) + 1 FROM feedback.classifier_model "
                                       "WHERE preset = :p"), {"p": classifier.preset}).scalar_one()
        if model.chosen:
            conn.execute(sa.text("UPDATE feedback.classifier_model SET active = false WHERE preset = :p AND active"),
                         {"p": classifier.preset})
        conn.execute(
            sa.text("INSERT INTO feedback.classifier_model (preset, version, trained_at, examples, chosen, rules_f1,"
                    " learned_f1, model, active, evaluation, data_mark, activated_at, activated_by) VALUES (:p, :v, :t,"
                    " :n, :c, :r, :l, :m, :c, CAST(:e AS jsonb), :dm, CASE WHEN :c THEN CAST(:t AS timestamptz) END,"
                    " CASE WHEN :c THEN CAST(:a AS text) END)"),
            {"p": classifier.preset, "v": version, "t": at, "n": len(examples), "c": model.chosen,
             "r": round(rules_f1, 4), "l": round(learned_f1, 4), "m": buffer.getvalue(),
             "e": json.dumps(model.evaluation), "dm": mark, "a": actor},
        )
    return {"trained": True, "version": version, "examples": len(examples), "chosen": model.chosen,
            "active": model.chosen, "rules_macro_f1": round(rules_f1, 4), "learned_macro_f1": round(learned_f1, 4),
            "accuracy": model.evaluation.get("accuracy"), "decided_by_model": model.evaluation.get("decided_by_model")}


def current_model(engine: sa.Engine, preset: str) -> LearnedModel | None:
    """The active model version of the preset (a retrain that beat the rules, or a rollback), else None."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT model FROM feedback.classifier_model WHERE preset = :p AND active"), {"p": preset}
        ).one_or_none()
    if row is None:
        return None
    model: LearnedModel = joblib.load(io.BytesIO(bytes(row.model)))  # written by retrain() above: trusted
    model.chosen = True        # active: an operator may have rolled back to a version the evaluation did not choose
    return model


def list_models(engine: sa.Engine, preset: str) -> list[dict[str, Any]]:
    """Every version of the preset, newest first, with its evaluation and whether triage uses it."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT version, trained_at, examples, chosen, active, rules_f1, learned_f1, evaluation,"
                    " activated_at, activated_by FROM feedback.classifier_model WHERE preset = :p"
                    " ORDER BY version DESC"), {"p": preset}).mappings().all()
    out = []
    for r in rows:
        ev = r["evaluation"] or {}
        out.append({
            "version": r["version"], "trained_at": r["trained_at"].isoformat(), "examples": r["examples"],
            "chosen": r["chosen"], "active": r["active"],
            "rules_macro_f1": float(r["rules_f1"]) if r["rules_f1"] is not None else None,
            "learned_macro_f1": float(r["learned_f1"]) if r["learned_f1"] is not None else None,
            "accuracy": ev.get("accuracy"), "per_class": ev.get("per_class"), "method": ev.get("method"),
            "sources": ev.get("sources"),
            "activated_at": r["activated_at"].isoformat() if r["activated_at"] else None,
            "activated_by": r["activated_by"],
        })
    return out


def rollback(engine: sa.Engine, preset: str, version: str, *, actor: str, at: datetime) -> dict[str, Any]:
    """Make `version` the active model of the preset ("rules": no model, the rules alone decide)."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('classifier_model:' || :p))"), {"p": preset})
        previous = conn.execute(sa.text("SELECT version FROM feedback.classifier_model WHERE preset = :p AND active"),
                                {"p": preset}).scalar()
        if version.lower() in RULES_ONLY:
            conn.execute(sa.text("UPDATE feedback.classifier_model SET active = false WHERE preset = :p AND active"),
                         {"p": preset})
            return {"preset": preset, "active": None, "previous": previous}
        number = int(version.lstrip("vV")) if version.lstrip("vV").isdigit() else None
        exists = number is not None and conn.execute(
            sa.text("SELECT 1 FROM feedback.classifier_model WHERE preset = :p AND version = :v"),
            {"p": preset, "v": number}).scalar() is not None
        if not exists:
            known = conn.execute(sa.text("SELECT string_agg(version::text, ', ' ORDER BY version) FROM "
                                         "feedback.classifier_model WHERE preset = :p"), {"p": preset}).scalar()
            raise ModelVersionError(f"preset {preset} has no model version {version!r}; known: {known or 'none'} "
                                    f"(or 'rules' for no model)")
        conn.execute(sa.text("UPDATE feedback.classifier_model SET active = false WHERE preset = :p AND active"),
                     {"p": preset})
        conn.execute(sa.text("UPDATE feedback.classifier_model SET active = true, activated_at = :t, activated_by = :a"
                             " WHERE preset = :p AND version = :v"),
                     {"p": preset, "v": number, "t": at, "a": actor})
    return {"preset": preset, "active": number, "previous": previous}
