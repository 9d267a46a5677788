"""Operators' corrections train a learned classifier that triage uses only when it beats the rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback.triage import run as triage
from feedback.triage.classify import Classifier
from feedback.triage.corrections import CorrectionError, current_model, reclassify, retrain

RUN = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def classifier():
    return Classifier.from_config(preset="A")


def register_items(engine, texts: list[str]) -> list[str]:
    with engine.begin() as conn:
        for n, text in enumerate(texts):
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": f"wf-corr{n:06d}", "t": RUN - timedelta(minutes=n),
                 "p": json.dumps({"body": text}, ensure_ascii=False), "h": "0" * 64},
            )
    triage.triage_pending(engine, RUN, triage.load_context(gate=False))
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT feedback_no FROM feedback.feedback ORDER BY intake_id")).scalars().all()


def correct_and_retrain(engine, classifier, texts: list[str], labels: list[str]) -> dict:
    """Register the texts, record an operator's correction for each, and retrain."""
    numbers = register_items(engine, texts)
    with engine.begin() as conn:
        for number, label in zip(numbers, labels, strict=True):
            reclassify(conn, number, label, classifier=classifier, actor="sup", at=RUN)
    return retrain(engine, classifier, RUN)


def test_reclassify_moves_the_item_and_records_the_correction(register, classifier):
    (number,) = register_items(register, ["希望增加夜间模式"])
    with register.begin() as conn:
        reclassify(conn, number, "service_complaint", classifier=classifier, actor="supervisor-1", at=RUN)
    with register.connect() as conn:
        item = conn.execute(sa.text("SELECT category, department, needs_review FROM feedback.feedback")).one()
        event = conn.execute(sa.text("SELECT actor, details FROM feedback.feedback_event "
                                     "WHERE event_type = 'reclassified'")).one()
    assert item.category == ["service_complaint"] and item.department == classifier.route("service_complaint")[0]
    assert event.actor == "supervisor-1" and event.details["to"] == ["service_complaint"]


def test_bad_corrections_are_refused(register, classifier):
    (number,) = register_items(register, ["希望增加夜间模式"])
    with pytest.raises(CorrectionError, match="unknown category 'bogus'"), register.begin() as conn:
        reclassify(conn, number, "bogus", classifier=classifier, actor="x", at=RUN)
    with pytest.raises(CorrectionError, match="no feedback item 20990101-001"), register.begin() as conn:
        reclassify(conn, "20990101-001", "other", classifier=classifier, actor="x", at=RUN)


def test_too_few_corrections_train_nothing(register, classifier):
    (number,) = register_items(register, ["希望增加夜间模式"])
    with register.begin() as conn:
        reclassify(conn, number, "other", classifier=classifier, actor="x", at=RUN)
    assert retrain(register, classifier, RUN)["trained"] is False
    assert scalar(register, "SELECT count(*) FROM feedback.classifier_model") == 0


def test_a_model_that_beats_the_rules_is_used_by_triage(register, classifier):
    # In-house jargon the rules cannot know: operators keep correcting it the same way.
    jargon = [f"zorblat 模块 {i} 号 quux" for i in range(24)] + [f"flimflam 柜台 {i} 号 snark" for i in range(24)]
    labels = ["function_problem"] * 24 + ["service_complaint"] * 24
    result = correct_and_retrain(register, classifier, jargon, labels)
    assert result["trained"] and result["chosen"], result
    assert result["learned_macro_f1"] > result["rules_macro_f1"]
    assert retrain(register, classifier, RUN)["reason"] == "no new corrections since the last training"

    ctx = triage.load_context(gate=False, engine=register)
    assert ctx.learned is not None
    decision = classifier.decide("zorblat 模块 99 号 quux", learned=ctx.learned)
    assert decision.source == "learned" and decision.categories == ["function_problem"]


def test_a_model_no_better_than_the_rules_is_not_used(register, classifier):
    texts = [f"支付失败{i}次，扣了钱" for i in range(20)] + [f"客服态度太差{i}，投诉" for i in range(20)]
    labels = ["function_problem"] * 20 + ["service_complaint"] * 20
    result = correct_and_retrain(register, classifier, texts, labels)
    assert result["trained"] and not result["chosen"], result
    assert current_model(register, "A") is None


# --- training labels, model versions and rollback ---------------------------------------------------

def test_a_correction_is_audited_and_becomes_one_training_row(register, classifier):
    (number,) = register_items(register, ["希望增加夜间模式，联系13812345678"])
    with register.begin() as conn:
        reclassify(conn, number, "service_complaint", classifier=classifier, actor="sup", at=RUN)
        first = reclassify(conn, number, "feature_request", classifier=classifier, actor="sup",
                           at=RUN + timedelta(minutes=5), department="marketing", priority="low")
    assert first["review"] == "corrected" and first["department"]["to"] == "marketing"
    with register.connect() as conn:
        label = conn.execute(sa.text("SELECT source, category, priority, batch, text FROM feedback.training_label")
                             ).one()   # one row per item: the latest label
        item = conn.execute(sa.text("SELECT category, department, priority, needs_review FROM feedback.feedback")).one()
    assert (label.source, label.category, label.priority, label.batch) == ("correction", "feature_request", "low",
                                                                          number)
    assert "13812345678" not in label.text                    # the item's masked text, never the contact
    assert tuple(item) == (["feature_request"], "marketing", "low", False)
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'reclassified'") == 2
    with pytest.raises(CorrectionError, match="unknown department 'nowhere'"), register.begin() as conn:
        reclassify(conn, number, "other", classifier=classifier, actor="x", at=RUN, department="nowhere")
    with pytest.raises(CorrectionError, match="unknown priority 'asap'"), register.begin() as conn:
        reclassify(conn, number, "other", classifier=classifier, actor="x", at=RUN, priority="asap")


def test_a_priority_correction_moves_the_open_deadlines(register, classifier):
    (number,) = register_items(register, ["希望增加夜间模式"])
    before = scalar(register, "SELECT min(due_at) FROM feedback.feedback_deadline")
    priority = scalar(register, "SELECT priority FROM feedback.feedback")
    assert priority != "urgent"
    with register.begin() as conn:
        result = reclassify(conn, number, "feature_request", classifier=classifier, actor="sup", at=RUN,
                            priority="urgent")
    assert result["priority"] == {"from": priority, "to": "urgent"} and result["deadlines_changed"] >= 1
    assert scalar(register, "SELECT min(due_at) FROM feedback.feedback_deadline") < before
    assert scalar(register, "SELECT next_deadline_at FROM feedback.feedback") < before


def imported(engine, pairs: list[tuple[str, str]]) -> None:
    """Labelled history as `import-labels` stores it (masked texts, source import)."""
    from feedback.triage.corrections import text_key

    with engine.begin() as conn:
        for n, (text, label) in enumerate(pairs):
            conn.execute(sa.text("INSERT INTO feedback.training_label (preset, source, text, text_sha256, category,"
                                 " batch, labelled_at) VALUES ('A', 'import', :x, :k, :c, :b, :t)"),
                         {"x": text, "k": text_key(text), "c": label, "b": f"history.csv:{n + 2}", "t": RUN})


JARGON = ([(f"zorblat 模块 {i} 号 quux", "function_problem") for i in range(24)]
          + [(f"flimflam 柜台 {i} 号 snark", "service_complaint") for i in range(24)])


def test_versions_keep_their_evaluation_and_roll_back(register, classifier):
    from feedback.triage.corrections import ModelVersionError, list_models, rollback

    imported(register, JARGON)
    first = retrain(register, classifier, RUN)
    assert first["trained"] and first["chosen"] and first["version"] == 1, first
    # More history: version 2 replaces version 1 as the active model.
    imported(register, [(f"quux zorblat 第 {i} 台又坏", "function_problem") for i in range(6)])
    second = retrain(register, classifier, RUN + timedelta(days=1))
    assert second["version"] == 2 and second["active"]
    versions = list_models(register, "A")
    assert [(v["version"], v["active"]) for v in versions] == [(2, True), (1, False)]
    assert versions[0]["examples"] == 54 and versions[0]["sources"] == {"import": 54}
    assert versions[0]["accuracy"]["rules_with_model"] > versions[0]["accuracy"]["rules"]
    assert versions[0]["per_class"]["function_problem"]["support"] > 0
    assert versions[0]["learned_macro_f1"] > versions[0]["rules_macro_f1"]

    assert rollback(register, "A", "v1", actor="ops-lead", at=RUN + timedelta(days=2)) == \
        {"preset": "A", "active": 1, "previous": 2}
    [active] = [v for v in list_models(register, "A") if v["active"]]
    assert active["version"] == 1 and active["activated_by"] == "ops-lead"
    assert current_model(register, "A").evaluation["examples"] == 48        # triage now loads version 1

    assert rollback(register, "A", "rules", actor="ops-lead", at=RUN)["active"] is None
    assert current_model(register, "A") is None
    ctx = triage.load_context(gate=False, engine=register)
    assert ctx.learned is None and classifier.decide("zorblat 模块 9 号 quux", learned=ctx.learned).decided_by \
        == "fallback"
    with pytest.raises(ModelVersionError, match="no model version '7'; known: 1, 2"):
        rollback(register, "A", "7", actor="x", at=RUN)


def test_model_commands_from_the_shell(register, classifier):
    from test_cli import feedback

    imported(register, JARGON)
    out = feedback("triage", "retrain")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"] == 1
    listing = feedback("triage", "model", "list")
    assert listing.returncode == 0 and listing.stdout.startswith("* v1 ") and "chosen" in listing.stdout
    out = feedback("triage", "model", "rollback", "rules")
    assert out.returncode == 0 and "triage now uses the rules alone (no model) (was v1)" in out.stderr
    out = feedback("triage", "model", "rollback", "v9")
    assert out.returncode == 2 and out.stderr.strip() == (
        "error: preset A has no model version 'v9'; known: 1 (or 'rules' for no model)")
    out = feedback("triage", "model", "rollback", "1")
    assert out.returncode == 0 and "triage now uses v1 (was no model)" in out.stderr
