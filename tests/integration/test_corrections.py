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
