"""What a complaint is about, one level finer than its category: the issue behind 高频问题.

The register stores, for every item, the classification rules that fired (`rule_ids`, e.g.
`a.fp.crash`). The rule that carried an item's category (the heaviest rule voting for it)
names the problem: 闪退/崩溃 within 功能问题, 退款未到账 within 服务投诉. Grouping complaints by
category and issue makes the domain's flag ("a function whose complaint share exceeds
10%", doc 000) point at something a team can fix, where a whole category above 10% says
nothing.

Rules of both presets that mean the same problem share one issue (`a.fp.crash` and
`b.pq.crash`; `a.sc.delivery_slow` and its graded variant). A rule added to taxonomy.yaml
later without an entry here is named from its own first terms (Chinese and English), so a
report never shows a rule id; an item whose category no rule carried (a customer's hint, a
learned model, a person's correction) counts under "not further specified".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from feedback.reports.model import Label

NOT_SPECIFIED = Label("未细分", "Not further specified")

ISSUES: dict[str, Label] = {
    # product functions (功能问题 / 产品质量)
    "crash": Label("闪退/崩溃", "Crashes and freezes"),
    "payment_failed": Label("支付失败", "Payment failed"),
    "data_lost": Label("数据丢失", "Data lost"),
    "unusable": Label("无法使用", "Cannot be used"),
    "login": Label("无法登录/账号被锁", "Cannot log in"),
    "outage": Label("服务中断", "Service outage"),
    "safety": Label("安全隐患", "Safety hazard"),
    "error": Label("报错/故障", "Errors and faults"),
    "device_fault": Label("设备功能异常", "Device malfunction"),
    "no_response_ui": Label("点击无反应", "Buttons do nothing"),
    "slow_app": Label("加载缓慢", "Slow loading"),
    "order_fail": Label("无法下单", "Cannot place an order"),
    "product_words": Label("产品其他问题", "Other product problems"),
    "quality": Label("质量差", "Poor quality"),
    "food": Label("餐品口味", "Food taste"),
    "account": Label("账号与密码", "Account and password"),
    # service (服务投诉 / 服务体验 / 物流 / 费用)
    "attitude": Label("服务态度差", "Staff attitude"),
    "no_response": Label("无人处理", "Nobody responds"),
    "complaint_word": Label("明确投诉/索赔", "Formal complaint or claim"),
    "escalation_tone": Label("扬言升级投诉", "Threat to escalate"),
    "bad_service": Label("服务差", "Poor service"),
    "delivery": Label("物流配送问题", "Delivery problems"),
    "refund": Label("退款未到账", "Refund not received"),
    "overcharge": Label("多扣/重复扣费", "Charged too much or twice"),
    "after_sales": Label("售后维修", "After-sales repair"),
    "after_sales_visit": Label("上门服务未到/迟到", "Technician late or absent"),
    "enterprise": Label("企业客户投诉", "Enterprise customer complaint"),
    "sarcasm": Label("反讽式不满", "Sarcastic complaint"),
    "waiting": Label("等待过久", "Waited too long"),
    "delivery_slow": Label("配送慢", "Slow delivery"),
    "delivery_error": Label("送错/漏送", "Wrong or missing items"),
    "courier": Label("配送员问题", "Courier conduct"),
    "not_arrived": Label("未收到货品/卡片", "Never arrived"),
    "dissatisfied": Label("差评", "Bad review"),
    "staff": Label("客服人员问题", "Service staff"),
    "discount": Label("优惠未生效", "Discount not applied"),
    "bill": Label("账单错误", "Billing error"),
    "price": Label("价格太贵", "Price too high"),
}

# A rule's last id segment (or its whole id) -> the issue it names, where they differ.
ALIASES: dict[str, str] = {
    "click_no_response": "no_response_ui", "button_does_nothing": "no_response_ui",
    "not_working_en": "unusable", "quality_everyday": "quality",
    "food_graded": "food", "food_negated": "food",
    "delivery_problem": "delivery", "delivery_words": "delivery",
    "slow_process": "refund", "overcharge_re": "overcharge",
    "after_sales_failed": "after_sales_visit", "b.se.after_sales": "after_sales_visit",
    "b.pq.quality": "error",
    "delivery_slow_graded": "delivery_slow", "delivery_wait": "delivery_slow",
    "service_negated": "bad_service", "card_not_arrived": "not_arrived",
}

_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class RuleIssue:
    rule_id: str
    votes: str        # the category the rule votes for
    weight: float
    issue: str        # key of ISSUES, or `rule:<id>` for a rule this module does not know


def issue_of(rule_id: str) -> str:
    """The issue key a rule id names (`a.fp.crash` -> `crash`)."""
    if rule_id in ALIASES:
        return ALIASES[rule_id]
    suffix = rule_id.rsplit(".", 1)[-1]
    suffix = ALIASES.get(suffix, suffix)
    return suffix if suffix in ISSUES else f"rule:{rule_id}"


@lru_cache(maxsize=1)
def _taxonomy_rules() -> tuple[tuple[str, str, float, tuple[str, ...]], ...]:
    from feedback.triage.taxonomy import load_taxonomy

    tax = load_taxonomy()
    return tuple((r.id, r.votes, float(r.weight), tuple(getattr(r, "terms", None) or ()))
                 for preset in tax.presets.values() for r in preset.rules)


def rule_issues() -> tuple[RuleIssue, ...]:
    """Every classification rule of taxonomy.yaml with the issue it names (the high_frequency query's table)."""
    return tuple(RuleIssue(rid, votes, weight, issue_of(rid)) for rid, votes, weight, _ in _taxonomy_rules())


def issue_label(key: str | None) -> Label:
    """The issue's name for people; a rule unknown here is named from its first terms, never by its id."""
    if not key:
        return NOT_SPECIFIED
    if key in ISSUES:
        return ISSUES[key]
    if key.startswith("rule:"):
        rid = key[len("rule:"):]
        terms = next((t for r, _, _, t in _taxonomy_rules() if r == rid), ())
        zh = next((t for t in terms if _CJK.search(t)), None)
        en = next((t.rstrip("*") for t in terms if not _CJK.search(t)), None)
        if zh or en:
            return Label(f"“{zh or en}”等", f"“{en or zh}” and similar")
    return NOT_SPECIFIED
