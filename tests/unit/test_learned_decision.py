"""Rules plus the learned model: the model decides where the rules are silent or weak and says why;
strong rules decide alone; urgency always comes from the rules' triggers."""

from __future__ import annotations

import pytest

from feedback.triage import learned
from feedback.triage.classify import Classifier
from feedback.triage.taxonomy import normalise

# In-house words no lexicon knows, labelled the way a company's history would label them.
JARGON = ([(f"zorblat 模块 {i} 号 quux 又不行", "function_problem") for i in range(20)]
          + [(f"flimflam 柜台 {i} 号 snark 的人", "service_complaint") for i in range(20)]
          # and a history that (wrongly, for this test) calls rude staff a function problem:
          + [(f"客服态度太差{i}，投诉", "function_problem") for i in range(10)])


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.from_config(preset="A")


@pytest.fixture(scope="module")
def model() -> learned.LearnedModel:
    trained = learned.train(JARGON, preset="A")
    trained.chosen = True       # as if it had beaten the rules on held-out labels
    return trained


def test_rules_silent_the_model_decides_and_explains(clf, model):
    text = "zorblat 模块 99 号 quux"
    rules_only = clf.decide(text)
    assert rules_only.decided_by == "fallback"                 # precondition: no class rule fires
    decision = clf.decide(text, learned=model)
    assert decision.decided_by == "model" and decision.source == "learned"
    assert decision.categories == ["function_problem"]
    assert decision.department == clf.route("function_problem")[0]
    assert "learned:function_problem" in decision.rule_ids
    [line] = [e for e in decision.explanation if e.startswith("model:")]
    assert "rules silent" in line and "function_problem" in line
    assert "zorblat" in line or "quux" in line                  # the features that carried it are named
    assert decision.confidence == pytest.approx(model.predict(normalise(text))[1])
    assert decision.as_dict()["decided_by"] == "model"


def test_rules_strong_the_rules_decide(clf, model):
    text = "客服态度太差，投诉"
    assert model.predict(text)[0] == "function_problem"         # the model would say otherwise...
    rules_only = clf.decide(text)
    assert rules_only.decided_by == "rules" and rules_only.confidence >= clf.taxonomy.review_threshold
    decision = clf.decide(text, learned=model)                  # ...but strong rules are not overruled
    assert decision == rules_only
    assert not any(e.startswith("model:") for e in decision.explanation)


def test_urgency_still_comes_from_the_rules_when_the_model_sets_the_class(clf, model):
    text = "zorblat 模块 quux 我要找媒体曝光"
    rules_only = clf.decide(text)
    assert rules_only.decided_by == "fallback" and rules_only.priority == "urgent"   # a trigger, no class rule
    decision = clf.decide(text, learned=model)
    assert decision.decided_by == "model" and decision.categories == ["function_problem"]
    assert decision.priority == "urgent" and decision.priority_reasons == rules_only.priority_reasons
    assert any(r.startswith("trigger:") for r in decision.priority_reasons)
    assert any(e.startswith("p.urgent.") for e in decision.explanation)     # the trigger explains itself


def test_weak_rules_give_way_only_to_a_surer_model(clf, model):
    norm = normalise("flimflam 柜台 7 号 snark 的人")
    label, proba = model.predict(norm)
    assert label == "service_complaint"
    kwargs = {"rules_fired": True, "threshold": 0.5, "classes": clf.classes}
    weak = model.consult(norm, categories=["other"], confidence=min(proba, 0.49) - 0.01, **kwargs)
    assert weak is not None and weak.label == "service_complaint" and weak.reason.startswith("rules weak")
    assert model.consult(norm, categories=["other"], confidence=0.9, **kwargs) is None          # strong rules
    assert model.consult(norm, categories=["other"], confidence=0.49, rules_fired=True, threshold=0.5,
                         classes=["other"]) is None                                             # not a class here


def test_an_unchosen_model_or_another_preset_is_ignored(clf):
    text = "zorblat 模块 99 号 quux"
    unchosen = learned.train(JARGON, preset="A")
    assert clf.decide(text, learned=unchosen) == clf.decide(text)
    other = learned.train(JARGON, preset="B")
    other.chosen = True
    assert clf.decide(text, learned=other) == clf.decide(text)


def test_words_are_segmented_and_punctuation_dropped():
    assert learned.words("洗一次就起球，wanna recover my password!") == \
        ["洗", "一次", "就", "起球", "wanna", "recover", "my", "password"]


def test_evaluation_is_kept_with_the_model(clf):
    model = learned.train_and_choose(JARGON[:40], clf, folds=4)
    ev = model.evaluation
    assert model.chosen, ev
    assert ev["held_out"] == 40 and ev["method"] == "4-fold" and ev["examples"] == 40
    assert ev["accuracy"]["rules_with_model"] > ev["accuracy"]["rules"]
    assert set(ev["per_class"]) >= {"function_problem", "service_complaint"}
    assert ev["per_class"]["function_problem"]["support"] == 20
    assert 0 < ev["decided_by_model"] <= 1
