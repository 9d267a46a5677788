"""Rule-based classification: rules fire with ids, negations cancel them, presets A and B,
routing, invalid taxonomy files explained in one line, the labelled-set floors, and the
learned classifier used only when it beats the rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from feedback.errors import ConfigError
from feedback.paths import config_dir
from feedback.triage import learned as learned_mod
from feedback.triage.classify import Classifier, Decision, department_label
from feedback.triage.evaluate import evaluate, load_labelled, macro_f1
from feedback.triage.taxonomy import category_label, load_taxonomy

SHIPPED = config_dir() / "taxonomy.yaml"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.from_config()


@pytest.fixture(scope="module")
def clf_b() -> Classifier:
    return Classifier.from_config(preset="B")


def shipped_data() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --- the domain example ------------------------------------------------------------------------


def test_payment_failed_is_an_urgent_function_problem_for_product_engineering(clf):
    d = clf.decide("10月3日在App里支付订单，页面提示支付失败，可是银行卡已经扣了299元，订单状态还是待支付。",
                   subject="支付失败但已扣款")
    assert isinstance(d, Decision)
    assert d.categories == ["function_problem"]
    assert d.priority == "urgent"
    assert d.department == "product_engineering"
    assert department_label(d.department, "zh-CN") == "产品技术部"
    assert department_label(d.department, "en") == "Product & Engineering"
    assert d.handler_group == "pe-oncall"
    assert "a.fp.payment_failed" in d.rule_ids and "p.urgent.payment_failed" in d.rule_ids
    assert d.priority_reasons == ["trigger:payment_failed"]
    assert not d.needs_review and 0.5 <= d.confidence <= 1
    assert clf.preset == "A"


@pytest.mark.parametrize(
    ("text", "category", "department", "priority"),
    [
        ("数据丢失了，三年的照片全没了", "function_problem", "product_engineering", "urgent"),
        ("这周App频繁闪退，一天闪退十几次", "function_problem", "product_engineering", "high"),
        ("今天上午开始服务中断，所有设备都离线", "function_problem", "product_engineering", "high"),
        ("家里的空调完全无法使用，开机就报故障码", "function_problem", "product_engineering", "urgent"),
        ("商家后台系统崩溃了，所有订单都处理不了", "function_problem", "product_engineering", "urgent"),
        ("结算页面按钮的文字容易混淆，建议调整一下文案", "feature_request", "product_operations", "medium"),
        ("希望增加夜间模式，晚上太亮了", "feature_request", "product_operations", "low"),
        ("客服态度非常差，说了两句就挂电话", "service_complaint", "cs_management", "medium"),
        ("订单下单6天了还没收到，物流信息一直停在中转站", "service_complaint", "cs_management", "medium"),
        ("这个月账单里有一项服务费15元，不太清楚是什么费用", "other", "finance", "medium"),
        ("国庆活动的满减规则看不懂，能不能叠加优惠券？", "other", "marketing", "low"),
        ("合同里写的违约金是20%，你们收了50%", "other", "legal", "medium"),
        ("怀疑我的个人信息泄露了，天天接到推销电话", "other", "information_security", "high"),
        ("感谢客服小王耐心帮我解决了问题，特此表扬！", "praise", "cs_management", "low"),
    ],
)
def test_source_document_examples(clf, text, category, department, priority):
    d = clf.decide(text)
    assert (d.categories, d.department, d.priority) == ([category], department, priority), d.as_dict()


# --- rules fire with ids; negations cancel ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule_id"),
    [
        ("App一打开就闪退", "a.fp.crash"),
        ("The app keeps crashing on my phone", "a.fp.crash"),
        ("Checkout says payment failed every time", "a.fp.payment_failed"),
        ("一直无法登录，验证码收不到", "a.fp.login"),
        ("点了提交按钮以后没反应", "a.fp.click_no_response"),  # a phrase rule: 点 … 没反应
        ("The 'Place order' button does nothing", "a.fp.button_does_nothing"),
        ("重复扣费两次，请退还", "a.sc.overcharge"),
        ("Please add a dark mode", "a.fr.wish"),
        ("我的账号被盗了", "a.ot.security"),
        ("售后服务一流，必须五星好评", "a.pr.praise_words"),
    ],
)
def test_rules_fire_with_their_ids(clf, text, rule_id):
    assert rule_id in clf.decide(text).rule_ids


@pytest.mark.parametrize(
    ("text", "cancelled", "priority_not"),
    [
        ("不是支付失败，是付款成功了但订单一直显示处理中", "a.fp.payment_failed", "urgent"),
        ("This is not a payment failure - the order just shows 'pending'", "a.fp.payment_failed", "urgent"),
        ("The app no longer crashes after the update, but syncing is slow", "a.fp.crash", None),
        ("之前的闪退问题已经解决了，不过现在耗电很快", "a.fp.crash", None),
        ("希望增加自动备份功能，怕哪天手机坏了数据丢失", "a.fp.data_lost", "urgent"),
        ("建议增加忘记关火提醒，避免安全隐患", "a.fp.safety", "urgent"),
        ("领的满减券结算的时候用不了", "a.fp.unusable", "urgent"),
        ("Feature request: an offline mode for when the internet is down", "a.fp.outage", "high"),
    ],
)
def test_negations_cancel_rules(clf, text, cancelled, priority_not):
    d = clf.decide(text)
    assert cancelled not in d.rule_ids, d.rule_ids
    if priority_not:
        assert d.priority != priority_not


def test_negation_only_cancels_nearby_hits(clf):
    # "不是" in another clause does not cancel the hit; a second, un-negated hit still fires
    assert "a.fp.payment_failed" in clf.decide("支付失败，不是第一次了").rule_ids
    assert "a.fp.crash" in clf.decide("昨天没有闪退，今天又闪退了").rule_ids


def test_sarcasm_is_not_praise(clf):
    d = clf.decide("谢谢你们让我等了整整一个月的退款，真是好服务。")
    assert d.categories == ["service_complaint"]
    assert d.emotion == "angry"
    assert "a.pr.thanks" not in d.rule_ids


def test_sign_off_thanks_alone_is_not_confident_praise(clf):
    d = clf.decide("I returned the order last week. Please reply to j***@example.com, thanks.")
    assert not (d.categories == ["praise"] and not d.needs_review)


def test_word_boundaries_for_english_terms(clf):
    assert "a.fp.error" not in clf.decide("I was a terror at school").rule_ids
    assert "a.fp.crash" in clf.decide("it crashed twice").rule_ids  # crash* is a prefix


def test_full_width_and_case_do_not_matter(clf):
    assert "a.fp.crash" in clf.decide("ＡＰＰ　ＣＲＡＳＨＥＳ　ＯＦＴＥＮ").rule_ids
    assert clf.decide("太差了！！！").emotion == "angry"


def test_masked_contacts_do_not_change_the_decision(clf):
    text = "客服态度很差，挂了我电话。"
    plain, masked = clf.decide(text), clf.decide(text + "\n请联系我：138****5678，邮箱 zhang***@qq.com")
    assert (plain.categories, plain.priority, plain.emotion) == (masked.categories, masked.priority, masked.emotion)


# --- preset B: multi-label ----------------------------------------------------------------------


def test_preset_b_gives_several_labels(clf_b):
    d = clf_b.decide("支付失败了，可是银行卡已经扣了299元")
    assert set(d.categories) == {"product_quality", "fee_dispute"}
    d = clf_b.decide("快递员送货不上楼，物流延迟了一周，问在线客服也不回")
    assert set(d.categories) == {"logistics", "service_experience"}
    d = clf_b.decide("下单时选了满200减30的优惠券，结算金额却没减，优惠未生效")
    assert d.categories == ["fee_dispute"] and d.department == "finance"
    assert clf_b.multi_label and clf_b.preset == "B"


def test_preset_b_other_routes_contracts_and_security(clf_b):
    assert clf_b.decide("合同纠纷：维保合同写明每季度上门一次").department == "legal"
    assert clf_b.decide("怀疑信息泄露，对方知道我的订单内容").department == "information_security"


# --- hints, fallbacks, output -------------------------------------------------------------------


def test_category_hint_is_one_vote(clf):
    d = clf.decide("麻烦看一下这个情况", category_hint="表扬")
    assert d.categories == ["praise"] and "hint:praise" in d.rule_ids
    # a wrong box does not outvote clear evidence
    assert clf.decide("App频繁闪退", category_hint="Compliment").categories == ["function_problem"]


def test_nothing_fired_goes_to_review(clf):
    d = clf.decide("你好")
    assert d.categories == ["other"] and d.needs_review and d.confidence == pytest.approx(0.2)
    assert d.rule_ids == []


def test_decision_as_dict_is_json_ready(clf):
    d = clf.decide("App频繁闪退！！！太差了", channel="platform", customer_tier="vip")
    data = json.loads(json.dumps(d.as_dict(), ensure_ascii=False))
    assert set(data) >= {"categories", "department", "handler_group", "priority", "emotion", "confidence",
                         "rule_ids", "priority_reasons", "needs_review"}
    assert data["categories"] == ["function_problem"]


def test_unknown_preset_is_explained():
    with pytest.raises(ConfigError, match=r"taxonomy preset 'C' does not exist; known presets: A, B"):
        Classifier.from_config(preset="C")


def test_labels_for_people():
    assert category_label("function_problem", "zh-CN") == "功能问题"
    assert category_label("fee_dispute", "en") == "Fee dispute"
    assert department_label("finance") == "财务部"
    assert department_label("nope") == "nope"


# --- invalid taxonomy files: one line, file + key path + rule id ----------------------------------


def _mutations():
    def dup_id(d):
        d["presets"]["A"]["rules"][1]["id"] = d["presets"]["A"]["rules"][0]["id"]

    def unknown_class(d):
        d["presets"]["A"]["rules"][0]["votes"] = "complaints"

    def bad_regex(d):
        rule = next(r for r in d["presets"]["A"]["rules"] if r.get("kind") == "regex")
        rule["pattern"] = "(支付|付款"

    def upper_regex(d):
        rule = next(r for r in d["presets"]["A"]["rules"] if r.get("kind") == "regex")
        rule["pattern"] = "Payment failed"

    def unknown_set(d):
        d["presets"]["A"]["rules"][0]["negation_sets"] = ["zh_not_befor"]

    def unknown_dept(d):
        d["presets"]["A"]["classes"]["praise"]["department"] = "pr"

    def trigger_class(d):
        d["priority"]["triggers"][0]["only_for"] = ["functional_problem"]

    def trigger_dup(d):
        d["priority"]["triggers"][0]["id"] = d["presets"]["B"]["rules"][0]["id"]

    def typo_key(d):
        d["presets"]["A"]["rules"][0]["wieght"] = 2

    def bad_level(d):
        d["priority"]["triggers"][0]["level"] = "critical"

    def bad_negation(d):
        d["negation_sets"]["zh_not_before"][0]["pattern"] = "[不是"

    def no_default(d):
        d["default_preset"] = "Z"

    def empty_terms(d):
        d["presets"]["A"]["rules"][0]["terms"] = []

    def bad_bump(d):
        d["priority"]["modifiers"]["channel_bump"] = {"platform": 7}

    first_a = shipped_data()["presets"]["A"]["rules"]
    first_id, regex_id = first_a[0]["id"], next(r["id"] for r in first_a if r.get("kind") == "regex")
    trigger_id = shipped_data()["priority"]["triggers"][0]["id"]
    return [
        (dup_id, f"taxonomy.yaml: presets.A: rules[1]: rule id '{first_id}' is used twice"),
        (unknown_class, f"presets.A: rules[0]: rule '{first_id}' votes for unknown class 'complaints'"),
        (bad_regex, f"rule '{regex_id}': invalid regex: missing ), unterminated subpattern"),
        (upper_regex, f"rule '{regex_id}': invalid regex: write the pattern in lower case"),
        (unknown_set, f"presets: A.rules[0]: rule '{first_id}' uses unknown negation set 'zh_not_befor'"),
        (unknown_dept, "presets: A.classes.praise.department: unknown department 'pr'"),
        (trigger_class, f"priority: triggers[0]: rule '{trigger_id}' only_for: unknown class 'functional_problem'"),
        (trigger_dup, "priority: triggers[0]: rule id 'b.pq.crash' is also used in presets.B"),
        (typo_key, "presets.A.rules[0].wieght: unknown key"),
        (bad_level, "priority.triggers[0].level: expected one of 'urgent', 'high', 'medium' or 'low', got 'critical'"),
        (bad_negation, "negation_sets.zh_not_before[0].pattern: invalid regex '[不是'"),
        (no_default, "(top level): default_preset 'Z' is not one of the presets (A, B)"),
        (empty_terms, f"presets.A.rules[0]: rule '{first_id}': kind keyword needs at least 1 non-empty term(s)"),
        (bad_bump, "priority.modifiers.channel_bump: platform: a bump is 0 to 3 levels, got 7"),
    ]


@pytest.mark.parametrize(("mutate", "message"), _mutations(), ids=lambda v: getattr(v, "__name__", ""))
def test_invalid_taxonomy_is_explained_in_one_line(tmp_path, mutate, message):
    data = copy.deepcopy(shipped_data())
    mutate(data)
    with pytest.raises(ConfigError) as err:
        Classifier.from_config(path=write(tmp_path, data))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_shipped_taxonomy_loads_and_ids_are_unique():
    tax = load_taxonomy()
    ids = [r.id for p in tax.presets.values() for r in p.rules] + [t.id for t in tax.priority.triggers] + [
        m.id for m in tax.emotion.markers]
    assert len(ids) == len(set(ids))
    assert tax.default_preset == "A" and set(tax.presets) == {"A", "B"}
    assert set(tax.presets["A"].classes) == {"function_problem", "service_complaint", "feature_request", "other",
                                             "praise"}
    assert set(tax.presets["B"].classes) == {"product_quality", "service_experience", "logistics", "fee_dispute",
                                             "other"}


# --- the labelled set: floors set from measured results ------------------------------------------
# Measured with the shipped rules (docs/eval.md): preset A macro-F1 dev 0.997, holdout 0.949;
# priority accuracy dev 1.000, holdout 0.978; preset B micro-F1 dev 0.985, holdout 0.935.
# Floors are the measured value minus 0.05 (holdout, which rules were never tuned on, gets the
# same margin below its own lower figure), so a rule change that loses a few items fails here.
FLOORS = {
    ("preset_a", "dev", "macro_f1"): 0.94,
    ("preset_a", "holdout", "macro_f1"): 0.89,
    ("priority", "dev", "accuracy"): 0.95,
    ("priority", "holdout", "accuracy"): 0.92,
    ("preset_b", "dev", "micro_f1"): 0.93,
    ("preset_b", "holdout", "micro_f1"): 0.88,
}


@pytest.fixture(scope="module")
def evaluation(clf, clf_b):
    return evaluate(load_labelled(), clf, clf_b)


def test_labelled_set_shape():
    items = load_labelled()
    assert len(items) >= 300
    counts: dict[str, int] = {}
    for item in items:
        counts[item.expected.category_a] = counts.get(item.expected.category_a, 0) + 1
    assert min(counts[c] for c in ("function_problem", "service_complaint", "feature_request", "other")) >= 40
    assert counts["praise"] >= 25
    holdout = sum(i.split == "holdout" for i in items) / len(items)
    assert 0.25 <= holdout <= 0.35


def test_no_label_expects_a_bump_past_the_ceiling(clf):
    # Bumps (VIP, angry tone, a negative platform item) stop at high (domain.md §3: 频繁闪退 is high), so an
    # item the rules capped at high cannot be labelled urgent: that label would score a rule the policy forbids.
    from feedback.triage.evaluate import _decide

    beyond = [item.id for item in load_labelled()
              if item.expected.priority == "urgent" and "capped:high" in _decide(clf, item).priority_reasons]
    assert beyond == []


@pytest.mark.parametrize(("key", "floor"), FLOORS.items(), ids=lambda v: "-".join(v) if isinstance(v, tuple) else "")
def test_labelled_set_meets_floor(evaluation, key, floor):
    task, split, metric = key
    report = evaluation.reports[(task, split)]
    value = report.macro_f1 if metric == "macro_f1" else (
        report.accuracy if metric == "accuracy" else report.extra[metric])
    assert value >= floor, f"{task} {split} {metric} = {value:.3f} < floor {floor}"


def test_macro_f1_helper():
    assert macro_f1(["a", "a", "b"], ["a", "a", "b"]) == 1.0
    assert macro_f1(["a", "b"], ["a", "a"]) == pytest.approx((2 / 3 + 0) / 2)


# --- the learned classifier ----------------------------------------------------------------------

EARPHONES = ["蓝牙耳机左耳没声音", "耳机右边有滋滋的杂音", "耳机和手机配对以后总是自己断开", "降噪耳机开了降噪反而嗡嗡响",
             "耳机充电盒的灯不亮了", "耳机戴着戴着就没声了", "左边耳机音量比右边小很多", "耳机通话对方听不清我说话",
             "耳机触控失灵，点两下没有反应", "耳机音画不同步，看视频延迟很大", "耳机只有一边有声音", "耳机电池半小时就没电"]
MALL = ["积分商城的兑换记录在哪里看", "兑换的礼品卡什么时候发放", "积分商城里的保温杯还能换吗", "兑换商品能开发票吗",
        "商城兑换需要多少积分", "兑换的东西可以退吗", "积分商城的限量款什么时候补货", "礼品兑换码怎么用",
        "积分商城的商品包邮吗", "兑换以后多久发货", "积分商城换的会员卡怎么激活", "兑换成功了但是没看到订单"]


def test_learned_model_is_chosen_where_rules_are_bad_and_then_used(clf, tmp_path):
    corrected = [(t, "function_problem") for t in EARPHONES] + [(t, "other") for t in MALL]
    model = learned_mod.train_and_choose(corrected, clf, folds=4)
    assert model.chosen, (model.rules_scores, model.learned_scores)
    assert sum(model.learned_scores) > sum(model.rules_scores)

    unseen = "耳机左耳突然没有声音了"
    rules_only = clf.decide(unseen)
    with_model = clf.decide(unseen, learned=model)
    assert rules_only.categories != ["function_problem"]          # the rules miss it
    assert with_model.categories == ["function_problem"] and with_model.source == "learned"
    assert "learned:function_problem" in with_model.rule_ids

    path = tmp_path / "model.joblib"
    model.save(path)
    again = learned_mod.LearnedModel.load(path)
    assert again.chosen and again.predict(unseen)[0] == "function_problem"


def test_learned_model_is_not_used_where_it_is_worse(clf):
    items = load_labelled()
    picked: dict[str, list[tuple[str, str]]] = {}
    for item in items:
        if item.split == "dev" and len(picked.setdefault(item.expected.category_a, [])) < 2:
            picked[item.expected.category_a].append((item.text, item.expected.category_a))
    corrected = [pair for pairs in picked.values() for pair in pairs]  # 2 varied items per class: too few to learn
    model = learned_mod.train_and_choose(corrected, clf, folds=2)
    assert not model.chosen, (model.rules_scores, model.learned_scores)
    text = "App频繁闪退，一天闪退十几次"
    assert clf.decide(text, learned=model) == clf.decide(text)


def test_choose_prefers_rules_on_ties_and_small_gains():
    assert learned_mod.choose([0.5, 0.5], [0.9, 0.9]) == "learned"
    assert learned_mod.choose([0.8, 0.8], [0.81, 0.81]) == "rules"
    assert learned_mod.choose([0.5, 0.5, 0.5], [1.0, 0.4, 0.4]) == "rules"  # one lucky fold is not enough
    assert learned_mod.choose([], []) == "rules"


def test_learned_model_needs_two_classes():
    with pytest.raises(ValueError, match="at least two classes"):
        learned_mod.train([("a", "x"), ("b", "x")])
