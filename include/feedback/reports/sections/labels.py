"""The report's names: section titles, and the zh/en name of every code a cell can hold.

Priorities, statuses, stages and callback outcomes come from `feedback.vocabulary` (the names
mails and pages use too); the names only reports use (channels, tiers, compared periods,
合计 …) are here. Categories, departments and overdue reasons are named by the YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from feedback.reports.model import Label
from feedback.sla.policy import overdue_reasons as configured_reasons
from feedback.vocabulary import ItemStatus, Outcome, Priority, Stage, codes, label_table

TOP_CAUSES = 3          # 不满意原因 top 3 (domain.md §6)
TOP_TAGS = 5            # weekly top issue tags

# Every section's title, so a section that could not be computed is still named in the report.
TITLES: dict[str, Label] = {
    "volume_by_channel": Label("各渠道反馈量", "Volume by channel"),
    "volume_by_type": Label("各类型反馈量", "Volume by type"),
    "volume_by_priority": Label("各优先级反馈量", "Volume by priority"),
    "volume_by_department": Label("各部门反馈量", "Volume by department"),
    "daily_trend": Label("每日反馈量趋势", "Daily trend"),
    "sla_attainment": Label("各级别响应时效达标率", "SLA attainment by priority and stage"),
    "response_times": Label("平均首次响应时间与处理周期（工作小时）", "First-response and handling time (business hours)"),
    "urgent_speed": Label("紧急事项处理速度", "Speed on urgent items"),
    "satisfaction": Label("满意度分布", "Satisfaction"),
    "satisfaction_trend": Label("满意度趋势（环比/同比）", "Satisfaction trend (month-on-month / year-on-year)"),
    "dissatisfaction_causes": Label(f"不满意原因前{TOP_CAUSES}位", f"Top {TOP_CAUSES} causes of dissatisfaction"),
    "overdue_reasons": Label("超时原因", "Reasons for overdue items"),
    "overdue_items": Label("超时事项清单", "Overdue items"),
    "high_frequency": Label("高频问题", "High-frequency problems"),
    "repeat_complaints": Label("重复投诉率", "Repeat-complaint rate"),
    "open_ledger": Label("未了事宜台帐", "Open-items ledger"),
    "praise": Label("表扬", "Praise"),
    "response_time_monitor": Label("响应时效监控周报表", "Weekly response-time monitor"),
    "satisfaction_tiers": Label("满意度周汇总（按客户等级）", "Weekly satisfaction by customer tier"),
    "top_issue_tags": Label(f"问题标签前{TOP_TAGS}位", f"Top {TOP_TAGS} issue tags"),
}

CHANNELS = {
    "email": Label("邮件", "E-mail"),
    "webform": Label("网页表单", "Web form"),
    "platform": Label("第三方平台", "Third-party platform"),
}

PRIORITIES = label_table(Priority)
STATUSES = label_table(ItemStatus)
STAGES = label_table(Stage)
OUTCOMES = {**label_table(Outcome), "": Label("未记录", "Not recorded")}
TIERS = {"vip": Label("VIP客户", "VIP"), "normal": Label("普通客户", "Normal")}

PERIOD_ROLES = {
    "current": Label("本期", "This period"),
    "previous": Label("上期 (环比)", "Previous period"),
    "year_ago": Label("去年同期 (同比)", "Same period last year"),
}

TOTAL = Label("合计", "Total")

ALL = Label("全部", "All")

UNCATEGORISED = Label("未分类", "Uncategorised")

UNASSIGNED = Label("未分派", "Unassigned")

NOT_GIVEN = Label("未填写", "Not given")

PRIORITY_ORDER = tuple(PRIORITIES)

CHANNEL_ORDER = tuple(CHANNELS)

STAGE_ORDER = tuple(STAGES)

OUTCOME_ORDER = codes(Outcome)

TIER_ORDER = tuple(TIERS)


def localize(value: Any, locale: str) -> Any:
    """A cell as shown in `locale`: a `Label` becomes its text, anything else is unchanged."""
    return value(locale) if isinstance(value, Label) else value


def _fixed(table: Mapping[str, Label]) -> Callable[[str | None], Label | str | None]:
    def label(code: str | None) -> Label | str | None:
        if code is None:
            return None
        return table.get(code) or code

    return label


channel_label = _fixed(CHANNELS)

priority_label = _fixed(PRIORITIES)

status_label = _fixed(STATUSES)

stage_label = _fixed(STAGES)

outcome_label = _fixed(OUTCOMES)

tier_label = _fixed(TIERS)


@lru_cache(maxsize=1024)
def category_label(code: str | None) -> Label | str:
    """功能问题 / Function problem, from taxonomy.yaml; '' or None is 未分类."""
    if not code:
        return UNCATEGORISED
    from feedback.triage.taxonomy import category_label as name

    return Label(name(code, "zh-CN"), name(code, "en"))


@lru_cache(maxsize=1024)
def department_label(code: str | None) -> Label | str:
    """产品技术部 / Product & Engineering, from taxonomy.yaml; '' or None is 未分派."""
    if not code:
        return UNASSIGNED
    from feedback.triage.taxonomy import department_label as name

    return Label(name(code, "zh-CN"), name(code, "en"))


def overdue_reason_labels() -> dict[str, Label]:
    """Code -> Label of sla_policies.yaml `overdue_reasons`, so reports name reasons in their language."""
    return {r.code: Label(r.zh, r.en) for r in configured_reasons()}


def overdue_reason_label(value: str | None, names: Mapping[str, Label] | None = None) -> Label | str:
    """A breach's reason for people: the configured name of a code or of a name typed by hand, else the text."""
    names = overdue_reason_labels() if names is None else names
    if not value or not value.strip():
        return NOT_GIVEN
    value = value.strip()
    return names.get(value) or next((lab for lab in names.values() if value in (lab.zh, lab.en)), value)
