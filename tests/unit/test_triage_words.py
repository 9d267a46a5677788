"""Issue 14: rules match words (segmentation, English normalisation), negation reaches across the
clause, urgency triggers fire on what they mean and not on near misses, the seed tables' cases,
the negative-only platform bump, and batch classification (`feedback classify --jsonl`)."""

from __future__ import annotations

import io
import json

import pytest

from feedback.privacy.masking import Masker, load_mask_config
from feedback.triage.batch import classify_lines
from feedback.triage.classify import Classifier
from feedback.triage.taxonomy import normalise
from feedback.triage.text import segment


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.from_config()


# --- words, not substrings ----------------------------------------------------------------------


def test_segmentation_keeps_words_whole():
    seg = segment("房子挨着火车轨道")
    assert not seg.aligned(3, 5)          # 着火 cuts 挨着|火车
    assert seg.aligned(4, 6)              # 火车 is a word
    assert "起球" in segment("洗一次就起球").words()


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("wanna recover my pwd", "want to recover my password"),
        ("I can't log in to ur app", "i cannot log in to your app"),
        ("It won't work, I didn’t recieve it", "it will not work, i did not receive it"),
    ],
)
def test_english_is_normalised(raw, normalised):
    assert normalise(raw) == normalised


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("wanna recover my pwd", "function_problem"),
        ("i try to lodge a claim against ur company", "service_complaint"),
        ("I want assistance solving a trouble with online payments", "function_problem"),
        ("I can't log in since yesterday", "function_problem"),
        ("洗一次就起球", "function_problem"),
        ("尺码不标准没法穿", "function_problem"),
        ("卫生间有异味", "function_problem"),
        ("是不是假货", "function_problem"),
        ("电池不够用", "function_problem"),
        ("菜不新鲜", "function_problem"),
        ("衣服掉色严重", "function_problem"),
        ("送错了，汤也洒了一半", "service_complaint"),
        ("外卖小哥态度很差", "service_complaint"),
        ("快递很快，派送员非常好", "praise"),       # delivery words in praise are not a complaint
        ("非常好吃，送餐也快，好评", "praise"),
        ("上个月账单多扣了50元", "other"),           # 账单疑问 → 其他问题 (domain.md §2)
        ("I was charged twice", "other"),
    ],
)
def test_everyday_feedback(clf, text, category):
    d = clf.decide(text)
    assert d.category == category, d.as_dict()
    assert d.decided_by == "rules" and d.explanation


def test_billing_goes_to_finance(clf):
    assert clf.decide("上个月账单多扣了50元").department == "finance"


# --- negation within the clause ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["不是很满意", "一点都不好吃", "味道没有以前好吃了"])
def test_negated_praise_is_not_praise(clf, text):
    assert clf.decide(text).category != "praise"


def test_negation_stays_in_its_clause(clf):
    assert clf.decide("不辣，很好吃").category == "praise"       # 不 belongs to 辣, not to 好吃
    assert clf.decide("没想到这么好吃").category == "praise"      # 没想到 is surprise, not negation
    assert clf.decide("好吃，就是送得太慢了").category == "service_complaint"   # the contrast decides


# everyday praise (intensifier + good word, loyalty, lukewarm) and the complaints that sit beside it
@pytest.mark.parametrize(
    "text",
    ["特别实惠", "送餐好快啊", "超级快", "服务真棒", "很干净卫生", "送餐小哥很敬业", "经常点这家",
     "有点咸，不过很好吃",        # what follows the contrast decides
     "今天特别冷，送餐小哥辛苦了",  # 特别冷 is the weather; 特别 is not the negation 别
     "Love it, thanks!", "great food"],
)
def test_everyday_praise(clf, text):
    assert clf.decide(text, channel="platform").category == "praise", clf.decide(text).as_dict()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("好吃，就是有点咸", "function_problem"),            # praise, then a contrast and a mild complaint
        ("还可以。拌面有点干，油多了", "function_problem"),   # lukewarm praise loses to a complaint
        ("味道不错，就是送饭的餐盒有点脏", "function_problem"),
        ("味道不错，送的时间长了点", "service_complaint"),
        ("很好吃，忘给筷子啦", "service_complaint"),
        ("韭菜的很好吃，其他的一般", "service_complaint"),     # 的一般 is a verdict (only 得/的不行 means "very")
        ("送的超慢，好吃", "service_complaint"),
    ],
)
def test_praise_beside_a_complaint_is_the_complaint(clf, text, category):
    assert clf.decide(text, channel="platform").category == category, clf.decide(text).as_dict()


@pytest.mark.parametrize("text", ["飞一般的速度", "最好快点送"])
def test_praise_near_misses_are_not_complaints(clf, text):
    # 飞一般 is a simile (not the verdict 一般); 最好快点 is a request, not praise
    d = clf.decide(text, channel="platform")
    assert d.category not in {"service_complaint", "praise"}, d.as_dict()


# a question without a complaint in it is an enquiry; money that has not arrived is billing, not delivery
@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("how long does it take for my card to arrive?", "other"),
        ("I haven't received my card yet, how long does it normally take?", "other"),
        ("Where is my card?", "other"),
        ("My transfer hasn't arrived yet", "other"),
        ("I'm still waiting for my top-up", "other"),
        ("I haven't received the cash from the check I deposited.", "other"),
        ("I received the wrong amount of cash from the ATM", "other"),
        ("My card has not arrived yet", "service_complaint"),
        ("I ordered my card two weeks ago and it still hasn't arrived", "service_complaint"),
        ("I still haven't received my card, when will it come?", "service_complaint"),   # impatience: a complaint
        ("The parcel never arrived", "service_complaint"),
    ],
)
def test_not_arrived_questions_and_money(clf, text, category):
    d = clf.decide(text, channel="email")
    assert d.category == category, d.as_dict()


def test_coupon_not_applied_is_not_low(clf):
    d = clf.decide("满300减50优惠没生效")
    assert d.category == "other" and d.priority != "low", d.as_dict()


# --- urgency triggers: positives and near misses -------------------------------------------------

TRIGGERS = {
    "safety": (
        ["充电器着火了", "插座冒烟了，还有一股烧焦的味道", "The charger caught fire overnight",
         "热水器漏电，我被电到了", "充电器漏电",
         # food-borne illness after eating is a safety matter
         "吃完第二天拉肚子了", "两个人吃了都拉肚子", "吃了之后两小时就开始上吐下泻", "吃的我晚上呕吐到11点",
         "吃了以后去医院打点滴，急性肠胃炎", "The chicken gave me food poisoning", "I got sick after eating their burger"],
        ["火星探测的纪录片很好看", "房子挨着火车轨道，晚上很吵", "红烧肉烧焦了，有股焦味", "建议增加防干烧功能，避免安全隐患",
         "每次都有状况，丢餐，厨房漏电",            # a restaurant's excuse, no electrical product of ours
         "我有肠胃炎，不能吃辣",                    # an existing condition, not caused by the food
         "米线一股呕吐物的味道",                    # a smell
         "泡菜我咽下去了，明天拉肚子我还得找你们",   # not ill (yet)
         "怕吃了拉肚子，没敢吃", "吃完没有拉肚子", "看着就恶心想呕吐"],
    ),
    "public_opinion": (
        ["再不处理我就去12315投诉", "我已经联系了记者", "I will go to the press with this",
         "我要发到微博上让大家都知道", "请问怎么投诉，是打消费者热线吗"],
        ["这本书被很多媒体推荐过", "社交媒体上看到的活动", "媒体播放器打不开", "the media player will not start",
         "当时真想拍下来传到网上"],                 # a past wish, not a threat
    ),
    "enterprise_batch": (
        ["我公司30个账号今天都登录不了", "所有员工的账号都无法登录", "All our staff accounts are locked"],
        ["所有菜都凉了", "我的账号无法登录", "all our orders arrived on time"],
    ),
    "payment_failed": (
        ["支付失败了，钱却扣了", "Payment failed but I was still charged", "付款失败，可是银行卡已经扣了299元"],
        ["支付宝付款成功了", "不是支付失败，是订单一直在处理中", "My card payment was declined"],
    ),
    "data_lost": (
        ["换手机后聊天记录全没了", "数据丢失了，三年的照片都找不回", "All my photos were deleted after the update"],
        ["发票丢失了，麻烦补开一张", "优势都没了", "希望增加自动备份，怕哪天数据丢失"],
    ),
    "core_unusable": (
        ["冰箱完全用不了了", "App更新后完全无法使用", "The lock is completely unusable"],
        ["浴室防滑垫脏得没法用", "领的满减券结算的时候用不了"],
    ),
}


@pytest.mark.parametrize(("reason", "text"), [(r, t) for r, (pos, _) in TRIGGERS.items() for t in pos])
def test_trigger_fires_on_what_it_means(clf, reason, text):
    d = clf.decide(text)
    assert f"trigger:{reason}" in d.priority_reasons and d.priority == "urgent", d.as_dict()
    assert any(e.startswith("p.urgent.") and "[" in e for e in d.explanation)


@pytest.mark.parametrize(("reason", "text"), [(r, t) for r, (_, neg) in TRIGGERS.items() for t in neg])
def test_trigger_ignores_near_misses(clf, reason, text):
    d = clf.decide(text)
    assert f"trigger:{reason}" not in d.priority_reasons, d.as_dict()
    assert d.priority != "urgent", d.as_dict()


# A hair, an insect, steel wool or mould in the food is a hygiene failure: high, never urgent, however
# angry the review and even on a public platform (bumps stop at high; urgent comes only from a trigger).
@pytest.mark.parametrize(
    "text",
    ["奶茶里有虫子", "有一个大虫子！！！！！恶心死了！！！！！", "面里竟然有钢丝球！差评！",
     "吃到了苍蝇，太恶心了", "米饭有点馊了，差评", "饭里有头发，还有一块发霉的", "There was a cockroach in my soup!!!"],
)
def test_food_hygiene_is_high_not_urgent(clf, text):
    for tier in ("normal", "vip"):
        d = clf.decide(text, channel="platform", customer_tier=tier, rating=1)
        assert d.priority == "high", d.as_dict()
        assert "trigger:food_health" in d.priority_reasons and "trigger:safety" not in d.priority_reasons


def test_bumps_never_lift_into_urgent(clf):
    # a high trigger, angry, negative, VIP, on a public platform with one star: still high
    d = clf.decide("一直无法登录，气死我了！！！差评", channel="platform", customer_tier="vip", rating=1)
    assert d.priority == "high" and "capped:high" in d.priority_reasons, d.as_dict()
    # an urgent trigger keeps its level
    assert clf.decide("吃完第二天拉肚子了", channel="platform").priority == "urgent"
    assert clf.decide("支付失败了，钱却扣了", customer_tier="vip").priority == "urgent"


# --- seed tables (/work/shared/domain.md §3, seeds/000 and 003) -----------------------------------


@pytest.mark.parametrize(
    ("text", "category", "levels"),
    [
        ("登录后页面加载失败，多次尝试无效", "function_problem", {"urgent", "high"}),
        ("空调制冷异常，要求48小时内上门", "function_problem", {"urgent", "high"}),
        ("物流延迟3天未到货", "service_complaint", {"high", "medium"}),
        ("建议增加APP夜间模式", "feature_request", {"low"}),
        ("支付失败", "function_problem", {"urgent"}),
        ("App频繁闪退", "function_problem", {"high"}),
    ],
)
def test_seed_table_cases(clf, text, category, levels):
    d = clf.decide(text)
    assert d.category == category and d.priority in levels, d.as_dict()


# --- batch classification -------------------------------------------------------------------------


def test_jsonl_batch_writes_one_masked_decision_per_line(clf):
    lines = [
        json.dumps({"text": "充电器着火了，请打13812345678找我", "channel": "platform"}, ensure_ascii=False),
        "App频繁闪退",
        "",
        '{"txt": "no text field"}',
        json.dumps({"text": "送餐很快，味道不错", "rating": 5}, ensure_ascii=False),
    ]
    out, err = io.StringIO(), io.StringIO()
    summary = classify_lines(lines, out, clf, Masker(load_mask_config()), progress=err)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert (summary.decided, summary.errors) == (3, 1)
    assert [r["line"] for r in rows] == [1, 2, 4, 5]
    assert rows[0]["priority"] == "urgent" and rows[0]["explanation"]
    assert "13812345678" not in out.getvalue()
    assert rows[2] == {"line": 4, "error": 'the object has no "text" string'}
    assert rows[3]["categories"] == ["praise"]


# --- the urgent decisions read by a person (docs/eval.md) -----------------------------------------


def test_urgent_verdicts_are_tallied_and_unread_or_lost_rows_are_shown(clf, tmp_path):
    from feedback.triage.corpus_eval import Row, read_verdicts, urgent_section

    path = tmp_path / "urgent_verdicts.csv"
    path.write_text("# comment\nfile,row,verdict,why\nc.csv,1,defensible,payment_failed\n"
                    "c.csv,2,not,hair_in_food\nc.csv,9,defensible,food_illness\n", encoding="utf-8")
    d = clf.decide("支付失败了，钱却扣了")
    urgent = [(Row("c", "c.csv", n, "SECRET corpus text"), d) for n in (1, 2, 3)]
    text = "\n".join(urgent_section(urgent, read_verdicts(path)).lines)
    assert "**defensible 1**" in text and "not defensible 1" in text and "not yet read 1" in text
    assert "defensible share 33.3%" in text
    assert "no longer urgent: c.csv:9" in text          # a genuine one the rules lost is named
    assert "c.csv:3" in text and "SECRET" not in text   # row numbers, never the texts
