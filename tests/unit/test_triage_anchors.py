"""The anchor scan that lets classification skip rules a text cannot fire (issue 17) never changes a decision.

A rule is skipped only when the text holds none of its anchors, so the anchors must be
literals every hit contains: checked here on every shipped rule, trigger and tone marker
against the labelled set, and the scan must report exactly the anchors that are substrings.
"""

from __future__ import annotations

import pytest

from feedback.triage.classify import Classifier, _join
from feedback.triage.evaluate import load_labelled
from feedback.triage.taxonomy import AnchorScan, Matcher, MatcherSet, matcher_anchors


@pytest.fixture(scope="module", params=["A", "B"])
def clf(request) -> Classifier:
    return Classifier.from_config(preset=request.param)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    items = load_labelled()
    extra = ["", "!", "支付失败!!!", "I can't log in, pwd reset never arrives???", "谢谢", "等了40分钟还没到"]
    return [_join(i.text, i.subject) for i in items] + [_join(t, None) for t in extra]


def all_matchers(clf: Classifier) -> list:
    return [*clf._matchers.matchers, *clf._emotion.matchers.matchers, *clf._priority.matchers.matchers]


def test_every_hit_holds_one_of_its_rules_anchors(clf, texts):
    fired = 0
    for text in texts:
        present = clf._scan.present(text)
        for m in all_matchers(clf):
            if m.find(text) is not None:
                fired += 1
                assert m.anchors is None or not m.anchors.isdisjoint(present), (m.id, text)
    assert fired > len(texts)   # the check saw real hits


def test_most_rules_have_anchors(clf):
    matchers = all_matchers(clf)
    assert sum(m.anchors is not None for m in matchers) >= 0.9 * len(matchers)


def test_the_scan_reports_exactly_the_anchors_in_the_text(clf, texts):
    anchors = set(clf._scan._singles) | {a for v in clf._scan._pairs.values() for a in v}
    for text in texts:
        assert clf._scan.present(text) == {a for a in anchors if a in text}


def test_decisions_with_the_scan_equal_decisions_running_every_rule(clf, texts):
    class Everything:
        def present(self, text):
            return None

    fast = [clf.decide(t) for t in texts]
    scan, clf._scan = clf._scan, Everything()
    try:
        slow = [clf.decide(t) for t in texts]
    finally:
        clf._scan = scan
    assert fast == slow


@pytest.mark.parametrize(("pattern", "anchors"), [
    (r"(支付|付款)[^,.]{0,6}(失败|不成功)", {"支付", "付款"}),   # a tie: the first kept
    (r"\d{2,3}多?分钟", {"分钟"}),
    (r"(?<!慢)(超|特别)慢", {"慢"}),
    (r"^\s*(how|what)\b", {"how", "what"}),
    (r"a|\d+", None),                      # one branch has no literal: always run
    (r"(?i)refund", None),                 # case-insensitive: a literal would not be exact
    (r"x?y*", None),
])
def test_regex_anchors(pattern, anchors):
    rule = Matcher(id="t.x", kind="regex", pattern=pattern)
    found = matcher_anchors(rule)
    assert (set(found) if found is not None else None) == anchors


def test_keyword_and_phrase_anchors():
    keyword = Matcher(id="t.k", kind="keyword", terms=["Can't Login", "闪退*"])
    assert matcher_anchors(keyword) == {"cannot login", "闪退"}
    phrase = Matcher(id="t.p", kind="phrase", terms=["退款", "没到账"])
    assert matcher_anchors(phrase) == {"退款"}


def test_matcher_set_candidates_keep_file_order_and_rules_without_anchors():
    scan = AnchorScan(["ab", "b", "xyz"])
    assert scan.present("zabxy") == {"ab", "b"}
    assert scan.present("") == set()

    class M:
        def __init__(self, anchors):
            self.anchors = anchors

    ms = MatcherSet([M(frozenset({"xyz"})), M(None), M(frozenset({"b", "q"}))])
    assert list(ms.candidates({"b"})) == [1, 2]
    assert list(ms.candidates(None)) == [0, 1, 2]
