"""Priority: triggers from the source documents, VIP / tone / channel bumps, the caps, and
that every level and limit is configuration (a changed file changes the outcome)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from feedback.paths import config_dir
from feedback.triage.classify import Classifier
from feedback.triage.priority import EmotionDetector
from feedback.triage.taxonomy import load_taxonomy, normalise

MEDIUM_FP = "App在订单页偶尔闪退，重新打开就好了"          # function problem, no trigger: medium
URGENT_FP = "付款失败，钱却扣了"                           # payment failed: urgent
PRAISE = "感谢客服小王耐心帮我解决了问题，特此表扬！"
NEGATIVE_FP = MEDIUM_FP + "，差评"                          # the same problem, with a bad verdict


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.from_config()


def variant(tmp_path: Path, change) -> Classifier:
    data = copy.deepcopy(yaml.safe_load((config_dir() / "taxonomy.yaml").read_text(encoding="utf-8")))
    change(data)
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return Classifier.from_config(path=path)


@pytest.mark.parametrize(
    ("text", "level", "reason"),
    [
        ("支付失败了", "urgent", "trigger:payment_failed"),
        ("Payment failed three times", "urgent", "trigger:payment_failed"),
        ("换手机以后数据丢失了", "urgent", "trigger:data_lost"),
        ("冰箱完全用不了了", "urgent", "trigger:core_unusable"),
        ("The lock is completely unusable", "urgent", "trigger:core_unusable"),
        ("充电时冒烟，有安全隐患", "urgent", "trigger:safety"),
        ("我已经联系了媒体记者，准备曝光", "urgent", "trigger:public_opinion"),
        ("再不解决我就投诉到12315", "urgent", "trigger:public_opinion"),
        ("此为企业客户批量投诉，我司30个账号被冻结", "urgent", "trigger:enterprise_batch"),
        ("收银系统崩溃了", "urgent", "trigger:system_crash"),
        ("App频繁闪退", "high", "trigger:frequent_crash"),
        ("服务中断了一上午", "high", "trigger:outage"),
        ("一直无法登录", "high", "trigger:login_failed"),
        ("设置页面的文案有错别字，建议统一", "medium", "trigger:ui_text"),
        ("建议增加夜间模式", "low", "trigger:suggestion"),
        ("物流延迟三天还没到", "medium", "default:service_complaint"),
    ],
)
def test_triggers_from_the_source_documents(clf, text, level, reason):
    d = clf.decide(text)
    assert d.priority == level, d.as_dict()
    assert reason in d.priority_reasons
    if reason.startswith("trigger:"):
        assert any(r.startswith("p.") for r in d.rule_ids)


def test_low_trigger_is_limited_to_its_classes(clf):
    # "建议" inside a service complaint does not make the complaint low (only_for: feature_request, other)
    d = clf.decide("客服态度太差了，挂我电话，建议你们好好培训一下")
    assert d.categories == ["service_complaint"] and d.priority != "low"


def test_highest_trigger_wins(clf):
    d = clf.decide("建议你们尽快修复：App频繁闪退，还导致数据丢失")
    assert d.priority == "urgent" and d.priority_reasons[0] == "trigger:data_lost"
    assert {"p.high.frequent_crash", "p.urgent.data_lost"} <= set(d.rule_ids)


# --- bumps ----------------------------------------------------------------------------------------


def test_vip_bumps_one_level(clf):
    assert clf.decide(MEDIUM_FP).priority == "medium"
    d = clf.decide(MEDIUM_FP, customer_tier="vip")
    assert d.priority == "high" and "vip_bump" in d.priority_reasons


def test_angry_tone_bumps_one_level(clf):
    d = clf.decide(MEDIUM_FP + "，太差了！！！")
    assert d.emotion == "angry" and d.priority == "high" and "angry_tone" in d.priority_reasons
    assert "e.angry.words" in d.rule_ids


def test_anxious_tone_is_recorded_without_a_bump(clf):
    d = clf.decide(MEDIUM_FP + "，麻烦尽快处理，很着急")
    assert d.emotion == "anxious" and d.priority == "medium"


def test_platform_channel_bumps_negative_items_and_others_do_not(clf):
    # issue 14: the channel alone never raises an item (it put 84-93% of platform items at high)
    plain = clf.decide(MEDIUM_FP, channel="platform")
    assert plain.priority == "medium" and not any(r.startswith("channel_bump") for r in plain.priority_reasons)
    d = clf.decide(NEGATIVE_FP, channel="platform")
    assert d.negative and d.emotion == "calm"
    assert d.priority == "high" and "channel_bump:platform" in d.priority_reasons and "negative" in d.priority_reasons
    assert clf.decide(NEGATIVE_FP, channel="email").priority == "medium"
    low = clf.decide(MEDIUM_FP, channel="platform", rating=1)
    assert low.priority == "high" and "low_rating" in low.priority_reasons
    assert clf.decide(MEDIUM_FP, channel="platform", rating=4).priority == "medium"
    # praise on a platform is not negative, and "不是很满意" is not praise
    assert not clf.decide("送餐很快，味道很好，好评", channel="platform").negative


def test_bumps_together_raise_one_level_at_most(clf):
    d = clf.decide(MEDIUM_FP + "，太差了！！！", channel="platform", customer_tier="vip")
    assert d.priority == "high"
    assert d.priority_reasons[-1] == "bump_limit:1"
    assert {"vip_bump", "angry_tone", "channel_bump:platform"} <= set(d.priority_reasons)


def test_bumps_stop_at_urgent(clf):
    d = clf.decide(URGENT_FP, customer_tier="vip")
    assert d.priority == "urgent" and "capped:urgent" in d.priority_reasons


def test_praise_never_rises_above_low(clf):
    d = clf.decide(PRAISE + "！！！", channel="platform", customer_tier="vip")
    assert d.categories == ["praise"] and d.priority == "low"
    assert "class_ceiling:low" in d.priority_reasons
    # even with an urgent word in it: "之前支付失败的问题已经解决了" is a thank-you
    assert clf.decide("之前支付失败的问题已经解决了，客服帮我退回了钱，非常感谢，点赞！").priority == "low"


# --- the same rules, configured differently ------------------------------------------------------


def test_channel_bump_is_configurable(tmp_path):
    none = variant(tmp_path, lambda d: d["priority"]["modifiers"].update(channel_bump={}))
    assert none.decide(NEGATIVE_FP, channel="platform").priority == "medium"
    # a company that lets bumps reach urgent says so (the shipped ceiling is high)
    email = variant(tmp_path, lambda d: d["priority"]["modifiers"].update(channel_bump={"email": 2},
                                                                             max_total_bump=2, ceiling="urgent"))
    assert email.decide(NEGATIVE_FP, channel="email").priority == "urgent"
    assert email.decide(MEDIUM_FP, channel="email").priority == "medium"
    strict = variant(tmp_path, lambda d: d["priority"]["modifiers"].update(low_rating=1))
    assert strict.decide(MEDIUM_FP, channel="platform", rating=2).priority == "medium"
    assert strict.decide(MEDIUM_FP, channel="platform", rating=1).priority == "high"


def test_max_total_bump_is_configurable(tmp_path):
    two = variant(tmp_path, lambda d: d["priority"]["modifiers"].update(max_total_bump=2, ceiling="urgent"))
    assert two.decide(NEGATIVE_FP, customer_tier="vip", channel="platform").priority == "urgent"
    # with the shipped ceiling (high) two bumps still stop below urgent
    capped = variant(tmp_path, lambda d: d["priority"]["modifiers"].update(max_total_bump=2))
    d = capped.decide(NEGATIVE_FP, customer_tier="vip", channel="platform")
    assert d.priority == "high" and "capped:high" in d.priority_reasons


def test_ceiling_limits_bumps_but_keeps_triggers(tmp_path):
    high = variant(tmp_path, lambda d: d["priority"]["modifiers"].update(ceiling="high", max_total_bump=2))
    d = high.decide(MEDIUM_FP + "，太差了！！！", customer_tier="vip")
    assert d.priority == "high" and "capped:high" in d.priority_reasons
    assert high.decide(URGENT_FP, customer_tier="vip").priority == "urgent"


def test_levels_and_defaults_are_configurable(tmp_path):
    def change(d):
        d["priority"]["class_defaults"]["function_problem"] = "low"
        d["priority"]["modifiers"]["emotion_bump"] = {"angry": 0, "anxious": 1}
        for trigger in d["priority"]["triggers"]:
            if trigger["id"] == "p.high.frequent_crash":
                trigger["level"] = "urgent"

    c = variant(tmp_path, change)
    assert c.decide(MEDIUM_FP).priority == "low"
    assert c.decide(MEDIUM_FP + "，太差了！！！").priority == "low"
    assert c.decide(MEDIUM_FP + "，很着急，请尽快").priority == "medium"
    assert c.decide("App频繁闪退").priority == "urgent"


def test_vip_tiers_are_configurable(tmp_path):
    c = variant(tmp_path, lambda d: d["priority"]["modifiers"].update(vip_tiers=["vip", "diamond"]))
    assert c.decide(MEDIUM_FP, customer_tier="diamond").priority == "high"
    assert c.decide(MEDIUM_FP, customer_tier="normal").priority == "medium"


# --- tone -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("什么破服务!!! 到底有没有人管？？？", "angry"),
        ("This is unacceptable.", "angry"),
        ("你们的售后真是太“好”了，一个电话转了五个人", "angry"),
        ("气死我了", "angry"),
        ("谢谢你们！！！", "calm"),            # exclamation marks alone are not anger
        ("Please help ASAP", "anxious"),
        ("Not urgent, just letting you know", "calm"),
        ("急用，请尽快回复", "anxious"),
        ("您好，想咨询一下发票", "calm"),
    ],
)
def test_emotion(text, emotion):
    detector = EmotionDetector(load_taxonomy())
    assert detector.detect(normalise(text)).emotion == emotion
