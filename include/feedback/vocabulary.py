"""The register's words: priorities, SLA stages, statuses and outbox kinds, with their zh/en names.

Each enum's values are the strings stored in the register (the CHECK constraints of
sql/migrations and the YAML of include/config), so a member compares and serialises as the
stored text and no data changes. Every mail, report, page and CLI choice takes its codes and
names from here, so renaming 紧急 or adding a stage is one edit. Members are declared in their
business order (highest priority first, stages in the order an item meets them), which is the
order reports and mails list them in.

The module has no imports beyond the standard library: configuration, SQL, templates and
renderers may all depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class Label:
    """A name in both languages; call it with a locale to get the text shown."""

    zh: str
    en: str

    def __call__(self, locale: str) -> str:
        return self.zh if is_chinese(locale) else self.en


def is_chinese(locale: str) -> bool:
    """Mails and reports say `zh-CN`, the console `zh`: both mean the Chinese names."""
    return locale in ("zh-CN", "zh")


class Priority(StrEnum):
    """feedback.priority (紧急/高/中/低), highest first."""

    URGENT = "urgent"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Stage(StrEnum):
    """An SLA stage (sla_policies.yaml `stages[].name`; feedback_deadline.stage), in the order an item meets them."""

    FIRST_RESPONSE = "first_response"
    ENGAGED = "engaged"
    SOLUTION = "solution"
    RESOLUTION = "resolution"
    CLOSED = "closed"


class AlertKind(StrEnum):
    """sla_breach.kind: a deadline passed, or close to passing (`warning_share` used). Worst first."""

    BREACH = "breach"
    WARNING = "warning"


class ItemStatus(StrEnum):
    """feedback.status: where an item is in its handling."""

    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    UNSOLVABLE = "unsolvable"


class CallbackStatus(StrEnum):
    """callback_task.status: a callback (回访) waiting, claimed by an agent, or ended."""

    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    """callback_task.outcome: what the customer said on the callback (or that nobody answered)."""

    SATISFIED = "satisfied"
    NEUTRAL = "neutral"
    DISSATISFIED = "dissatisfied"
    UNREACHABLE = "unreachable"


class OutboxKind(StrEnum):
    """outbox.kind: which kind of message a row is; the DAG that sends each kind is in `notify.owners`."""

    ACK = "ack"                                  # receipt to the customer (受理回执)
    SLA_DIGEST = "sla_digest"                    # warnings and breaches by mail
    SLA_WEBHOOK = "sla_webhook"                  # the same to a chat robot
    SURVEY = "survey"                            # satisfaction survey
    SURVEY_REMINDER = "survey_reminder"          # its one reminder
    CALLBACK_ESCALATION = "callback_escalation"  # a dissatisfied callback to supervisors
    REPORT = "report"                            # monthly / weekly report mail
    PIPELINE_FAILURE = "pipeline_failure"        # a failed DAG run to operators (failure callback)


# Keyed by enum first: members of different enums with the same code (Stage.CLOSED, ItemStatus.CLOSED) compare
# equal as strings, yet may be named differently.
_LABELS: dict[type[StrEnum], dict[str, Label]] = {
    Priority: {
        Priority.URGENT: Label("紧急", "Urgent"),
        Priority.HIGH: Label("高", "High"),
        Priority.MEDIUM: Label("中", "Medium"),
        Priority.LOW: Label("低", "Low"),
    },
    Stage: {
        Stage.FIRST_RESPONSE: Label("首次响应", "First response"),
        Stage.ENGAGED: Label("技术支持介入", "Support engaged"),
        Stage.SOLUTION: Label("解决方案提供", "Solution provided"),
        Stage.RESOLUTION: Label("解决", "Resolution"),
        Stage.CLOSED: Label("问题关闭", "Closed"),
    },
    AlertKind: {
        AlertKind.BREACH: Label("超时", "Breached"),
        AlertKind.WARNING: Label("即将超时", "At risk"),
    },
    ItemStatus: {
        ItemStatus.NEW: Label("新建", "New"),
        ItemStatus.ASSIGNED: Label("已分派", "Assigned"),
        ItemStatus.IN_PROGRESS: Label("处理中", "In progress"),
        ItemStatus.WAITING_CUSTOMER: Label("等待客户", "Waiting for customer"),
        ItemStatus.RESOLVED: Label("已解决待确认", "Resolved"),
        ItemStatus.REOPENED: Label("重新打开", "Reopened"),
        ItemStatus.CLOSED: Label("已关闭", "Closed"),
        ItemStatus.UNSOLVABLE: Label("无法解决", "Unsolvable"),
    },
    CallbackStatus: {
        CallbackStatus.PENDING: Label("待领取", "Pending"),
        CallbackStatus.CLAIMED: Label("已领取", "Claimed"),
        CallbackStatus.DONE: Label("已完成", "Done"),
        CallbackStatus.UNREACHABLE: Label("无法联系", "Unreachable"),
        CallbackStatus.CANCELLED: Label("已取消", "Cancelled"),
    },
    Outcome: {
        Outcome.SATISFIED: Label("满意", "Satisfied"),
        Outcome.NEUTRAL: Label("一般/基本满意", "Neutral"),
        Outcome.DISSATISFIED: Label("不满意", "Dissatisfied"),
        Outcome.UNREACHABLE: Label("未联系上", "Unreachable"),
    },
    OutboxKind: {
        OutboxKind.ACK: Label("受理回执", "Receipt"),
        OutboxKind.SLA_DIGEST: Label("时限提醒邮件", "SLA digest"),
        OutboxKind.SLA_WEBHOOK: Label("时限提醒（群机器人）", "SLA webhook alert"),
        OutboxKind.SURVEY: Label("满意度问卷", "Satisfaction survey"),
        OutboxKind.SURVEY_REMINDER: Label("问卷提醒", "Survey reminder"),
        OutboxKind.CALLBACK_ESCALATION: Label("回访升级", "Callback escalation"),
        OutboxKind.REPORT: Label("报表邮件", "Report mail"),
        OutboxKind.PIPELINE_FAILURE: Label("流水线故障通知", "Pipeline failure"),
    },
}

# The console's shorter names where they differ from the formal ones above (an agent's list shows 已解决 and
# 一般; the report and mails spell out 已解决待确认 and 一般/基本满意).
_SHORT_ZH: dict[type[StrEnum], dict[str, str]] = {
    ItemStatus: {ItemStatus.RESOLVED: "已解决", ItemStatus.REOPENED: "已重新打开"},
    Outcome: {Outcome.NEUTRAL: "一般"},
}


def labels(member: StrEnum) -> Label:
    """Both names of `member` (reports keep the `Label` and localise each cell at render time)."""
    return _LABELS[type(member)][member]


def label(member: StrEnum, locale: str) -> str:
    """The name of `member` in `locale` (`zh-CN`/`zh` or `en`)."""
    return labels(member)(locale)


def short_label(member: StrEnum, locale: str) -> str:
    """The console's name of `member`: as `label`, except where an agent's list uses a shorter word."""
    short = _SHORT_ZH.get(type(member), {}).get(member) if is_chinese(locale) else None
    return short or label(member, locale)


def label_table(enum: type[StrEnum]) -> dict[str, Label]:
    """Code -> `Label` for every member of `enum`, in declaration (business) order."""
    return {str(m): labels(m) for m in enum}


def locale_table(enum: type[StrEnum], locale: str) -> dict[str, str]:
    """Code -> name in `locale` for every member of `enum` (what a template looks codes up in)."""
    return {str(m): label(m, locale) for m in enum}


def codes(enum: type[StrEnum]) -> tuple[str, ...]:
    """The stored strings of `enum`, in business order (CLI choices, SQL ORDER BY, validation)."""
    return tuple(str(m) for m in enum)


def unknown(enum: type[StrEnum], names: Iterable[str]) -> list[str]:
    """Those of `names` that are not codes of `enum`, sorted (what configuration validation reports)."""
    valid = set(codes(enum))
    return sorted({n for n in names if n not in valid})


ENUMS: tuple[type[StrEnum], ...] = (Priority, Stage, AlertKind, ItemStatus, CallbackStatus, Outcome, OutboxKind)

# The same codes as types for the YAML models (pydantic refuses any other string and names the allowed ones,
# at the key path), spelled out because a Literal cannot be built from an enum; checked against it on import.
PriorityCode = Literal["urgent", "high", "medium", "low"]
ItemStatusCode = Literal["new", "assigned", "in_progress", "waiting_customer", "resolved", "reopened", "closed",
                         "unsolvable"]
for _literal, _enum in ((PriorityCode, Priority), (ItemStatusCode, ItemStatus)):
    if get_args(_literal) != codes(_enum):
        raise AssertionError(f"{_enum.__name__}: its Literal {get_args(_literal)} is not {codes(_enum)}")
