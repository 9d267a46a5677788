"""The figures of the monthly and weekly reports: one SQL query per section, mapped to `Section`s.

Each section is one file `sql/reports/<key>.sql`, run with bound parameters (`:start`/`:end`
are the UTC instants of `Period.bounds()`, half-open); this module only maps rows to
`Section`s and `Headline`s with Chinese and English labels. The queries are set-based (no
per-item loop, in SQL or here) and read the masked views `v_feedback`, `v_feedback_deadline`,
`v_feedback_event`, `v_sla_breach` and `v_callback_task` — so no raw contact or vault
ciphertext can reach a report — except `repeat_complaints.sql`, which needs the keyed identity
hash of each item's contact (`feedback.contact_vault_id` -> `contact_vault.identity_hash`) and
reads only that, never decrypting anything and never returning it.

Cells (the renderer's contract, in addition to `feedback.reports.model`):

- Aggregate sections carry the raw code in a `key` column (kind text: `email`, `urgent`,
  `function_problem`, `all` for a total row, `''` for "none") and its name in a `label`
  column. Two-dimensional ones carry `<dim>` and `<dim>_label` (e.g. `priority`,
  `priority_label`). List sections (overdue items, ledger, praise) carry names only.
- A name is a `Label` (zh + en) or a plain `str` (free text such as an overdue reason):
  render `localize(value, locale)`. Chart categories may be such columns too.
- Numbers are Python `int` / `float` (never `Decimal`); shares (kind `pct`) are floats in
  0..1; `hours` are business hours; a share or average with nothing to divide is `None`
  ("—"), not 0.
- Dates are `date`s and datetimes are naive wall-clock datetimes in `Period.zone`
  (converted in SQL; the report states its zone; Excel cannot store time zones).

Whole-line `--` comments of the .sql files are stripped before execution, so they may mention
parameters freely; a comment at the end of a code line would not be stripped.

Definitions (also in each section's `note` and at the top of each .sql file): volumes,
urgent speed and praise count items RECEIVED in the period; SLA attainment counts deadlines
DUE in the period; first-response times count first responses MET in the period and
handling times items RESOLVED in the period; satisfaction counts callbacks COMPLETED in the
period. Every population is fixed once the period is over, so regenerating an archived
report gives the same figures unless the register itself was corrected.

Business hours are computed in SQL: the working periods of each calendar of calendars.yaml
around the report period are passed as sorted arrays (epoch seconds, with the business
seconds before each period), so the business time between two instants is two binary
searches (`width_bucket`) and a subtraction per item — see response_times.sql. They agree
with `BusinessCalendar.between` (tested); business time more than `CALENDAR_LOOKBACK_DAYS`
before the period is not counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from feedback.holds import is_infrastructure_error
from feedback.paths import sql_dir
from feedback.reports.model import UNAVAILABLE, Chart, Column, Headline, Label, Section

DEFAULT_ZONE = "Asia/Shanghai"
# Business time this far before the period start is not counted (arrays stay small: about
# 500 working periods a year per calendar).
CALENDAR_LOOKBACK_DAYS = 731
TOP_CAUSES = 3          # 不满意原因 top 3 (domain.md §6)
TOP_TAGS = 5            # weekly top issue tags
# An instant before this (or an infinite one) is not a real time of ours: a row carrying one is left
# out of every duration figure and counted in the section's note, never allowed to break the query.
OLDEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)
# Memory per sort or hash node of the report queries, for their transaction only (_session_for_reports).
REPORT_WORK_MEM = "64MB"

SECTION_KEYS_MONTHLY: tuple[str, ...] = (
    "volume_by_channel", "volume_by_type", "volume_by_priority", "volume_by_department", "daily_trend",
    "sla_attainment", "response_times", "urgent_speed", "satisfaction", "satisfaction_trend",
    "dissatisfaction_causes", "overdue_reasons", "overdue_items", "high_frequency", "repeat_complaints",
    "open_ledger", "praise",
)
SECTION_KEYS_WEEKLY: tuple[str, ...] = ("response_time_monitor", "satisfaction_tiers", "top_issue_tags")

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

# Complaint categories of the shipped presets (taxonomy.yaml): A's 功能问题 / 服务投诉 and B's
# complaint classes (B's `other` shares its code with A's non-complaint `other`, so it is left out).
COMPLAINT_CATEGORIES: tuple[str, ...] = (
    "function_problem", "service_complaint", "product_quality", "service_experience", "logistics", "fee_dispute",
)
PRAISE_CATEGORIES: tuple[str, ...] = ("praise",)

# --- value labels ---------------------------------------------------------------------------------

CHANNELS = {
    "email": Label("邮件", "E-mail"),
    "webform": Label("网页表单", "Web form"),
    "platform": Label("第三方平台", "Third-party platform"),
}
PRIORITIES = {
    "urgent": Label("紧急", "Urgent"),
    "high": Label("高", "High"),
    "medium": Label("中", "Medium"),
    "low": Label("低", "Low"),
}
STATUSES = {
    "new": Label("新建", "New"),
    "assigned": Label("已分派", "Assigned"),
    "in_progress": Label("处理中", "In progress"),
    "waiting_customer": Label("等待客户", "Waiting for customer"),
    "resolved": Label("已解决待确认", "Resolved"),
    "reopened": Label("重新打开", "Reopened"),
    "closed": Label("已关闭", "Closed"),
    "unsolvable": Label("无法解决", "Unsolvable"),
}
STAGES = {
    "first_response": Label("首次响应", "First response"),
    "engaged": Label("技术支持介入", "Support engaged"),
    "solution": Label("解决方案提供", "Solution provided"),
    "resolution": Label("解决", "Resolution"),
    "closed": Label("问题关闭", "Closed"),
}
OUTCOMES = {
    "satisfied": Label("满意", "Satisfied"),
    "neutral": Label("一般/基本满意", "Neutral"),
    "dissatisfied": Label("不满意", "Dissatisfied"),
    "unreachable": Label("未联系上", "Unreachable"),
    "": Label("未记录", "Not recorded"),
}
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
OUTCOME_ORDER = ("satisfied", "neutral", "dissatisfied", "unreachable")
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


# --- the period -------------------------------------------------------------------------------------


_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def _month_end(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A report period: whole local days `start`..`end` (inclusive) in the business zone."""

    kind: str            # "monthly" | "weekly"
    start: date          # inclusive, in the business zone
    end: date            # inclusive
    zone: str = DEFAULT_ZONE

    def __post_init__(self) -> None:
        if self.kind not in ("monthly", "weekly"):
            raise ValueError(f"period kind must be 'monthly' or 'weekly', got {self.kind!r}")
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        ZoneInfo(self.zone)  # an unknown zone fails here, not in the middle of a report

    @classmethod
    def month(cls, ym: str, zone: str = DEFAULT_ZONE) -> Period:
        """The calendar month `"2026-10"`."""
        match = _MONTH_RE.match(ym.strip()) if isinstance(ym, str) else None
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"expected a month as YYYY-MM such as '2026-10', got {ym!r}")
        year, month = int(match.group(1)), int(match.group(2))
        return cls("monthly", date(year, month, 1), _month_end(year, month), zone)

    @classmethod
    def week_before(cls, day: date, zone: str = DEFAULT_ZONE) -> Period:
        """The Monday..Sunday week before the week of `day` (a datetime is taken in `zone`)."""
        if isinstance(day, datetime):
            day = day.astimezone(ZoneInfo(zone)).date() if day.tzinfo else day.date()
        monday = day - timedelta(days=day.weekday())
        start = monday - timedelta(days=7)
        return cls("weekly", start, start + timedelta(days=6), zone)

    def bounds(self) -> tuple[datetime, datetime]:
        """UTC instants [start 00:00 local, the day after end 00:00 local)."""
        tz = ZoneInfo(self.zone)
        lo = datetime.combine(self.start, time(), tzinfo=tz).astimezone(UTC)
        hi = datetime.combine(self.end + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
        return lo, hi

    def previous(self) -> Period:
        """The month before (monthly) or the week before (weekly): 环比."""
        if self.kind == "monthly":
            last = self.start - timedelta(days=1)
            return Period("monthly", last.replace(day=1), last, self.zone)
        return Period(self.kind, self.start - timedelta(days=7), self.end - timedelta(days=7), self.zone)

    def year_ago(self) -> Period:
        """The same month a year earlier (monthly) or the week 52 weeks earlier (weekly): 同比."""
        if self.kind == "monthly":
            year = self.start.year - 1
            return Period("monthly", date(year, self.start.month, 1), _month_end(year, self.start.month), self.zone)
        return Period(self.kind, self.start - timedelta(weeks=52), self.end - timedelta(weeks=52), self.zone)

    @property
    def name(self) -> str:
        """`2026-10` for a calendar month, `2026-10-12~2026-10-18` otherwise."""
        if self.kind == "monthly" and self.start.day == 1 and self.end == _month_end(self.start.year, self.start.month):
            return f"{self.start:%Y-%m}"
        return f"{self.start.isoformat()}~{self.end.isoformat()}"


# --- running the queries ---------------------------------------------------------------------------


_COMMENT_LINE = re.compile(r"^\s*--.*$\n?", re.MULTILINE)


@lru_cache(maxsize=64)
def _sql_text(path: str, mtime: float) -> str:
    # Whole-line comments are dropped, so what they say (":start", "10%") is never taken for a parameter.
    return _COMMENT_LINE.sub("", Path(path).read_text(encoding="utf-8"))


def report_sql(key: str) -> str:
    """The query of section `key` (sql/reports/<key>.sql), without its whole-line comments."""
    path = sql_dir() / "reports" / f"{key}.sql"
    return _sql_text(str(path), path.stat().st_mtime)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    return value


def _run(conn: sa.Connection, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows as dicts. The queries return float8 for sums, so a Decimal is rare; it becomes int/float."""
    result = conn.execute(sa.text(report_sql(key)), params)
    keys = tuple(result.keys())
    rows = result.all()
    if rows and any(isinstance(v, Decimal) for row in rows[:50] for v in row):
        return [dict(zip(keys, map(_plain, row), strict=True)) for row in rows]
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _run_listed(conn: sa.Connection, key: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """A list section's first `list_rows` rows (in the query's order) and how many there are in all.

    A month with a large backlog can have hundreds of thousands of open or overdue items; a
    report lists the first ones and says how many there are, and the figures stay in SQL.
    A query that takes `:list_rows` itself limits its rows and returns the total in a
    `listed_total__` column (so it can count without building every listed row, e.g. the
    ledger's next deadline); any other is wrapped here, which evaluates all of its rows.
    """
    inner = report_sql(key).strip().rstrip(";")   # a file of sql/reports, not input
    if re.search(r"(?<![:\w]):list_rows\b", inner):
        result = conn.execute(sa.text(inner), {**params, "list_rows": params.get("list_rows", 1000)})
    else:
        sql = f"SELECT q.*, count(*) OVER () AS listed_total__ FROM ({inner}) AS q LIMIT :list_rows__"  # noqa: S608
        result = conn.execute(sa.text(sql), {**params, "list_rows__": params.get("list_rows", 1000)})
    keys = tuple(result.keys())
    rows = [dict(zip(keys, (_plain(v) for v in row), strict=True)) for row in result.all()]
    total = rows[0]["listed_total__"] if rows else 0
    for row in rows:
        del row["listed_total__"]
    return rows, total


def _listed_note(note: Label, shown: int, total: int) -> Label:
    if shown >= total:
        return note
    return Label(f"{note.zh} 共 {total:,} 条，此处列出前 {shown:,} 条（完整清单见登记库）。",
                 f"{note.en} {total:,} in all; the first {shown:,} are listed here (the full list is in the register).")


def _excluded_note(note: Label, excluded: int | None) -> Label:
    """`note`, plus how many rows were left out of the durations for an infinite or pre-2000 time."""
    if not excluded:
        return note
    return Label(f"{note.zh} 另有 {excluded:,} 条因时间不合理（无穷或早于2000年）未计入时长。",
                 f"{note.en} {excluded:,} row(s) with an implausible time (infinite or before 2000) are left out "
                 "of the durations.")


def _share(part: int | float | None, whole: int | float | None) -> float | None:
    if not whole:
        return None
    return (part or 0) / whole


def _hours(seconds: float | None, count: int = 1) -> float | None:
    if seconds is None or not count:
        return None
    return round(float(seconds) / count / 3600, 6)


def _ordered(rows: list[dict[str, Any]], order: tuple[str, ...], key: str = "key") -> list[dict[str, Any]]:
    """Rows in a fixed order of known codes, unknown codes after them by code."""
    rank = {code: i for i, code in enumerate(order)}
    return sorted(rows, key=lambda r: (rank.get(r[key], len(order)), r[key] or ""))


def _local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def calendar_spans(calendar: Any, first: date, last: date) -> dict[str, Any]:
    """One calendar's working periods on local days `first`..`last`, as report_sql expects them.

    `s`: period starts (epoch seconds, sorted), `l`: their lengths, `c`: business seconds in
    all earlier periods. A 24x7 calendar is `{"always": true}`. Built from the calendar's
    public attributes with the same wall-clock rules as `BusinessCalendar` (periods in the
    calendar's zone on each working day; a period inside a DST gap vanishes).
    """
    if calendar.always:
        return {"always": True}
    starts: list[float] = []
    lengths: list[float] = []
    before: list[float] = []
    total = 0.0
    day = first
    while day <= last:
        if calendar.is_working_day(day):
            for lo, hi in calendar.periods:
                s, e = _local_instant(day, lo, calendar.zone), _local_instant(day, hi, calendar.zone)
                if e > s:
                    starts.append(s.timestamp())
                    lengths.append((e - s).total_seconds())
                    before.append(total)
                    total += lengths[-1]
        day += timedelta(days=1)
    return {"s": starts, "l": lengths, "c": before}


def calendars_param(calendars: Mapping[str, Any], period: Period) -> str:
    """The `:calendars` parameter (jsonb text) for the business-hours queries of `period`."""
    first = period.start - timedelta(days=CALENDAR_LOOKBACK_DAYS)
    last = period.end + timedelta(days=1)
    return json.dumps({name: calendar_spans(cal, first, last) for name, cal in sorted(calendars.items())})


def _load_calendars() -> dict[str, Any]:
    from feedback.sla.calendar import load_calendars

    return load_calendars()


def _params(period: Period, **extra: Any) -> dict[str, Any]:
    start, end = period.bounds()
    prev_start, prev_end = period.previous().bounds()
    ya_start, ya_end = period.year_ago().bounds()
    return {
        "start": start, "end": end, "zone": period.zone, "first_day": period.start, "last_day": period.end,
        "prev_start": prev_start, "prev_end": prev_end, "ya_start": ya_start, "ya_end": ya_end,
        "complaint_categories": list(COMPLAINT_CATEGORIES), "praise_categories": list(PRAISE_CATEGORIES),
        "oldest": OLDEST_PLAUSIBLE, **extra,
    }


# --- columns ---------------------------------------------------------------------------------------

C_KEY = Column("key", Label("代码", "Code"))
C_ITEMS = Column("items", Label("数量", "Items"), "int")
C_SHARE = Column("share", Label("占比", "Share"), "pct")


def _volume(conn: sa.Connection, p: dict[str, Any], key: str, title: Label, dim: Label, labeller: Callable,
            order: tuple[str, ...] | None) -> Section:
    rows = _run(conn, key, p)
    if order is not None:
        present = {r["key"] for r in rows}
        rows = _ordered(rows + [{"key": code, "items": 0} for code in order if code not in present], order)
    total = sum(r["items"] for r in rows)
    out = tuple({"key": r["key"], "label": labeller(r["key"]), "items": r["items"], "share": _share(r["items"], total)}
                for r in rows)
    return Section(
        key, title, (C_KEY, Column("label", dim), C_ITEMS, C_SHARE), out,
        chart=Chart("bar", "label", ("items",), title),
        note=Label("统计期内收到的反馈，按收到时间（业务时区）计。", "Items received in the period (business time zone)."),
    )


def volume_by_channel(conn: sa.Connection, p: dict[str, Any]) -> Section:
    return _volume(conn, p, "volume_by_channel", TITLES["volume_by_channel"],
                   Label("渠道", "Channel"), channel_label, CHANNEL_ORDER)


def volume_by_type(conn: sa.Connection, p: dict[str, Any]) -> Section:
    section = _volume(conn, p, "volume_by_type", TITLES["volume_by_type"],
                      Label("类型", "Type"), category_label, None)
    return Section(section.key, section.title, section.columns, section.rows, section.chart,
                   Label("按主分类（第一个分类）统计。", "By main (first) category."))


def volume_by_priority(conn: sa.Connection, p: dict[str, Any]) -> Section:
    return _volume(conn, p, "volume_by_priority", TITLES["volume_by_priority"],
                   Label("优先级", "Priority"), priority_label, PRIORITY_ORDER)


def volume_by_department(conn: sa.Connection, p: dict[str, Any]) -> Section:
    return _volume(conn, p, "volume_by_department", TITLES["volume_by_department"],
                   Label("责任部门", "Department"), department_label, None)


def daily_trend(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = tuple({"day": r["day"], "items": r["items"], "urgent": r["urgent"]}
                 for r in _run(conn, "daily_trend", p))
    title = TITLES["daily_trend"]
    return Section(
        "daily_trend", title,
        (Column("day", Label("日期", "Date"), "date"), Column("items", Label("反馈量", "Items"), "int"),
         Column("urgent", Label("其中紧急", "Urgent"), "int")),
        rows, chart=Chart("line", "day", ("items", "urgent"), title),
        note=Label("按收到日期（业务时区），含无反馈的日期。", "By local date of receipt, days without items included."),
    )


def sla_attainment(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = _run(conn, "sla_attainment", p)
    prank = {c: i for i, c in enumerate(PRIORITY_ORDER)}
    srank = {c: i for i, c in enumerate(STAGE_ORDER)}
    rows.sort(key=lambda r: (prank.get(r["priority"], 99), r["priority"], srank.get(r["stage"], 99), r["stage"]))
    out = tuple({
        "priority": r["priority"], "priority_label": priority_label(r["priority"]),
        "stage": r["stage"], "stage_label": stage_label(r["stage"]),
        "due": r["due"], "on_time": r["on_time"], "late": r["due"] - r["on_time"],
        "attainment": _share(r["on_time"], r["due"]),
    } for r in rows)
    return Section(
        "sla_attainment", TITLES["sla_attainment"],
        (Column("priority", Label("优先级代码", "Priority code")), Column("priority_label", Label("优先级", "Priority")),
         Column("stage", Label("阶段代码", "Stage code")), Column("stage_label", Label("阶段", "Stage")),
         Column("due", Label("到期时限数", "Deadlines due"), "int"), Column("on_time", Label("按时", "On time"), "int"),
         Column("late", Label("超时", "Late"), "int"), Column("attainment", Label("达标率", "Attainment"), "pct")),
        out,
        note=Label("统计期内到期的时限（各处理轮次）；按时 = 在时限前完成该阶段，未完成的到期时限计为超时。",
                   "Deadlines due in the period (every handling cycle); on time = stage met by its due time; "
                   "a deadline due and still unmet is late."),
    )


def response_times(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = _run(conn, "response_times", p)
    by = {(r["measure"], r["priority"]): r for r in rows}
    present = {r["priority"] for r in rows if r["priority"] is not None}
    codes = [c for c in PRIORITY_ORDER] + sorted(present - set(PRIORITY_ORDER)) + [None]
    out = []
    for code in codes:
        fr = by.get(("first_response", code)) or {}
        hd = by.get(("handling", code)) or {}
        out.append({
            "key": code or "all", "label": priority_label(code) if code else TOTAL,
            "fr_count": fr.get("n", 0), "fr_avg_hours": _hours(fr.get("total_seconds"), fr.get("n", 0)),
            "fr_p90_hours": _hours(fr.get("p90_seconds")),
            "handled": hd.get("n", 0), "handling_avg_hours": _hours(hd.get("total_seconds"), hd.get("n", 0)),
            "handling_p90_hours": _hours(hd.get("p90_seconds")),
        })
    title = TITLES["response_times"]
    return Section(
        "response_times", title,
        (C_KEY, Column("label", Label("优先级", "Priority")),
         Column("fr_count", Label("首次响应数", "First responses"), "int"),
         Column("fr_avg_hours", Label("平均首次响应", "Avg first response"), "hours"),
         Column("fr_p90_hours", Label("首次响应P90", "P90 first response"), "hours"),
         Column("handled", Label("解决数", "Resolved"), "int"),
         Column("handling_avg_hours", Label("平均处理周期", "Avg handling time"), "hours"),
         Column("handling_p90_hours", Label("处理周期P90", "P90 handling time"), "hours")),
        tuple(out), chart=Chart("bar", "label", ("fr_avg_hours", "handling_avg_hours"), title),
        note=_excluded_note(
            Label("工作小时按该事项时限所用日历计（紧急为7x24）。首次响应：统计期内完成的首次响应，自收到起计；"
                  "处理周期：统计期内解决（或直接关闭）的事项，自收到起计。",
                  "Business hours on the calendar of the item's SLA (urgent: 24x7). First response: first "
                  "responses made in the period, from receipt; handling: items resolved (or closed) in the "
                  "period, from receipt."),
            sum(r["excluded"] for r in rows if r["priority"] is None)),
    )


def urgent_speed(conn: sa.Connection, p: dict[str, Any]) -> Section:
    (r,) = _run(conn, "urgent_speed", p)
    row = {
        "items": r["items"], "responded": r["responded"],
        "avg_minutes": None if not r["timed"] else round(float(r["total_seconds"]) / r["timed"] / 60, 4),
        "median_minutes": None if r["median_seconds"] is None else round(float(r["median_seconds"]) / 60, 4),
        "within_sla": r["within_sla"], "within_share": _share(r["within_sla"], r["items"]),
    }
    return Section(
        "urgent_speed", TITLES["urgent_speed"],
        (Column("items", Label("紧急事项", "Urgent items"), "int"),
         Column("responded", Label("已响应", "Responded"), "int"),
         Column("avg_minutes", Label("平均响应（分钟）", "Avg minutes to first response"), "number"),
         Column("median_minutes", Label("响应中位数（分钟）", "Median minutes to first response"), "number"),
         Column("within_sla", Label("时限内响应", "Within SLA"), "int"),
         Column("within_share", Label("时限内响应率", "Share within SLA"), "pct")),
        (row,),
        note=_excluded_note(Label("统计期内收到的紧急事项；时限内 = 在首次响应时限前响应，未响应的计为未达标。",
                                  "Urgent items received in the period; within SLA = first response by its due time "
                                  "(not responded counts as not within)."), r["excluded"]),
    )


def satisfaction(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = _run(conn, "satisfaction", p)
    counts = {(r["period"], r["outcome"]): r["callbacks"] for r in rows}
    totals = {role: sum(n for (per, _), n in counts.items() if per == role) for role in PERIOD_ROLES}
    present = {r["outcome"] for r in rows}
    codes = list(OUTCOME_ORDER) + sorted(present - set(OUTCOME_ORDER) - {""}) + ([""] if "" in present else [])
    out = []
    for code in codes:
        row: dict[str, Any] = {"key": code, "label": outcome_label(code)}
        for role, prefix in (("current", ""), ("previous", "prev_"), ("year_ago", "year_ago_")):
            n = counts.get((role, code), 0)
            row[f"{prefix}callbacks"] = n
            row[f"{prefix}share"] = _share(n, totals[role])
        out.append(row)
    title = TITLES["satisfaction"]
    return Section(
        "satisfaction", title,
        (C_KEY, Column("label", Label("回访结果", "Outcome")),
         Column("callbacks", Label("本期回访", "Callbacks"), "int"), Column("share", Label("本期占比", "Share"), "pct"),
         Column("prev_callbacks", Label("上期回访", "Previous period"), "int"),
         Column("prev_share", Label("上期占比", "Previous share"), "pct"),
         Column("year_ago_callbacks", Label("去年同期回访", "Same period last year"), "int"),
         Column("year_ago_share", Label("去年同期占比", "Share last year"), "pct")),
        tuple(out), chart=Chart("pie", "label", ("callbacks",), title),
        note=Label("统计期内完成的回访，按回访结果；占比以全部回访（含未联系上）为分母。",
                   "Callbacks completed in the period by outcome; shares of all callbacks (unreachable included)."),
    )


def satisfaction_trend(conn: sa.Connection, p: dict[str, Any], period: Period) -> Section:
    rows = {r["period"]: r for r in _run(conn, "satisfaction_trend", p)}
    names = {"current": period.name, "previous": period.previous().name, "year_ago": period.year_ago().name}
    shares = {role: _share(r["satisfied"], r["reached"]) for role, r in rows.items()}
    out = []
    for role in PERIOD_ROLES:
        r = rows[role]
        change = None
        if role != "current" and shares["current"] is not None and shares[role] is not None:
            change = shares["current"] - shares[role]
        out.append({
            "key": role, "label": PERIOD_ROLES[role], "period": names[role], "callbacks": r["callbacks"],
            "reached": r["reached"], "satisfied": r["satisfied"], "satisfied_share": shares[role],
            "avg_score": None if not r["scored"] else round(r["score_total"] / r["scored"], 4),
            "change": change,
        })
    title = TITLES["satisfaction_trend"]
    return Section(
        "satisfaction_trend", title,
        (C_KEY, Column("label", Label("对比期", "Compared period")), Column("period", Label("期间", "Period")),
         Column("callbacks", Label("回访", "Callbacks"), "int"), Column("reached", Label("联系上", "Reached"), "int"),
         Column("satisfied", Label("满意", "Satisfied"), "int"),
         Column("satisfied_share", Label("满意率", "Satisfied share"), "pct"),
         Column("avg_score", Label("平均评分", "Average score"), "number"),
         Column("change", Label("本期满意率较该期变化", "This period's share minus this row's"), "pct")),
        tuple(out), chart=Chart("bar", "label", ("satisfied_share",), title),
        note=Label("满意率 = 满意 / 联系上的回访（满意、一般、不满意）；平均评分只计有评分的回访。",
                   "Satisfied share = satisfied / callbacks that reached the customer (satisfied, neutral, "
                   "dissatisfied); the average score counts callbacks with a score."),
    )


def _ranked(rows: list[dict[str, Any]], whole: str, extra: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    return tuple({"rank": i, "key": r["key"], "label": category_label(r["key"]),
                  **{k: r[k] for k in extra}, "share": _share(r[extra[0]], r[whole])}
                 for i, r in enumerate(rows, 1))


def dissatisfaction_causes(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = _run(conn, "dissatisfaction_causes", {**p, "top": TOP_CAUSES})
    return Section(
        "dissatisfaction_causes", TITLES["dissatisfaction_causes"],
        (Column("rank", Label("排名", "Rank"), "int"), C_KEY, Column("label", Label("问题类型", "Category")),
         Column("callbacks", Label("不满意回访", "Dissatisfied callbacks"), "int"),
         Column("share", Label("占不满意比例", "Share of dissatisfied"), "pct")),
        _ranked(rows, "dissatisfied", ("callbacks",)),
        note=Label("统计期内完成且结果为不满意的回访，按事项分类；多分类事项每个分类各计一次，并列按代码排序。",
                   "Dissatisfied callbacks completed in the period, by the item's categories (each category "
                   "of a multi-label item counts); ties by code."),
    )


def _overdue_reason_labels() -> dict[str, Label]:
    """Code -> Label of sla_policies.yaml `overdue_reasons`, so reports name reasons in their language."""
    from feedback.config import overdue_reasons as configured

    return {r.code: Label(r.zh, r.en) for r in configured()}


def overdue_reason_label(value: str | None, names: Mapping[str, Label] | None = None) -> Label | str:
    """A breach's reason for people: the configured name of a code or of a name typed by hand, else the text."""
    names = _overdue_reason_labels() if names is None else names
    if not value or not value.strip():
        return NOT_GIVEN
    value = value.strip()
    return names.get(value) or next((lab for lab in names.values() if value in (lab.zh, lab.en)), value)


def overdue_reasons(conn: sa.Connection, p: dict[str, Any]) -> Section:
    names = _overdue_reason_labels()
    by_name = [(name, code) for code, lab in names.items() for name in (lab.zh, lab.en)]
    params = {**p, "reason_codes": list(names), "reason_names": [n for n, _ in by_name],
              "reason_name_codes": [c for _, c in by_name]}
    rows = _run(conn, "overdue_reasons", params)
    total = sum(r["breaches"] for r in rows)
    out = tuple({"key": r["reason"], "label": overdue_reason_label(r["reason"], names), "breaches": r["breaches"],
                 "share": _share(r["breaches"], total)} for r in rows)
    title = TITLES["overdue_reasons"]
    return Section(
        "overdue_reasons", title,
        (C_KEY, Column("label", Label("超时原因", "Reason")), Column("breaches", Label("超时次数", "Breaches"), "int"),
         C_SHARE),
        out, chart=Chart("bar", "label", ("breaches",), title),
        note=Label("时限落在统计期内的超时记录，按主管或业务系统登记的超时原因；补充说明计入所选原因（通常为“其他”）。",
                   "Breaches whose deadline fell in the period, by the overdue reason a supervisor or the CRM "
                   "recorded; free text counts under the reason chosen with it (usually Other)."),
    )


def overdue_items(conn: sa.Connection, p: dict[str, Any]) -> Section:
    listed, total = _run_listed(conn, "overdue_items", p)
    names = _overdue_reason_labels()
    out = tuple({
        "feedback_no": r["feedback_no"], "priority": priority_label(r["priority"]),
        "department": department_label(r["department"]), "stage": stage_label(r["stage"]),
        "cycle": r["handling_cycle"], "deadline": r["deadline"], "detected": r["detected"],
        "reason": overdue_reason_label(r["reason"], names),
    } for r in listed)
    return Section(
        "overdue_items", TITLES["overdue_items"],
        (Column("feedback_no", Label("反馈编号", "Feedback no.")), Column("priority", Label("优先级", "Priority")),
         Column("department", Label("责任部门", "Department")), Column("stage", Label("阶段", "Stage")),
         Column("cycle", Label("处理轮次", "Cycle"), "int"), Column("deadline", Label("时限", "Deadline"), "datetime"),
         Column("detected", Label("发现超时", "Detected"), "datetime"), Column("reason", Label("超时原因", "Reason"))),
        out,
        note=_listed_note(Label("时限落在统计期内的每条超时记录。", "Every breach whose deadline fell in the period."),
                          len(out), total),
        total_rows=total,
    )


def high_frequency(conn: sa.Connection, p: dict[str, Any], threshold: float) -> Section:
    from feedback.reports.issues import issue_label, rule_issues

    rules = [r for r in rule_issues() if r.votes in COMPLAINT_CATEGORIES]
    rows = _run(conn, "high_frequency", {**p, "issue_rules": [r.rule_id for r in rules],
                                         "issue_votes": [r.votes for r in rules],
                                         "issue_weights": [r.weight for r in rules],
                                         "issue_keys": [r.issue for r in rules]})
    out = []
    for r in rows:
        share = _share(r["complaints"], r["total"])
        out.append({"key": r["key"], "issue": r["issue"], "category": category_label(r["key"]),
                    "label": issue_label(r["issue"]), "complaints": r["complaints"],
                    "share": share, "flagged": share is not None and share > threshold})
    title = TITLES["high_frequency"]
    pct = f"{threshold:.0%}"
    names = [category_label(c) for c in COMPLAINT_CATEGORIES]
    zh_names = "、".join(n.zh if isinstance(n, Label) else str(n) for n in names)
    en_names = ", ".join(n.en if isinstance(n, Label) else str(n) for n in names)
    return Section(
        "high_frequency", title,
        (C_KEY, Column("category", Label("问题类型", "Category")), Column("label", Label("具体问题", "Problem")),
         Column("complaints", Label("投诉量", "Complaints"), "int"),
         Column("share", Label("占投诉比例", "Share of complaints"), "pct"),
         Column("flagged", Label(f"超过{pct}需复盘", f"Above {pct}: review"), "bool")),
        tuple(out), chart=Chart("bar", "label", ("share",), title),
        note=Label(f"统计期内收到的投诉类反馈（{zh_names}）中各具体问题（分类 + 触发该分类的规则所指问题）的占比，"
                   f"超过{pct}标记复盘。",
                   f"Share of each problem (category + the problem named by the rule that gave the category) among "
                   f"the complaints received in the period ({en_names}); above {pct} is flagged for review."),
    )


def repeat_complaints(conn: sa.Connection, p: dict[str, Any], window_days: int) -> Section:
    rows = _run(conn, "repeat_complaints", {**p, "window_days": window_days})
    out = tuple({
        "key": r["key"] if r["key"] is not None else "all",
        "label": category_label(r["key"]) if r["key"] is not None else TOTAL,
        "complaints": r["complaints"], "identified": r["identified"], "repeats": r["repeats"],
        "rate": _share(r["repeats"], r["complaints"]),
    } for r in rows)
    if not out:
        out = ({"key": "all", "label": TOTAL, "complaints": 0, "identified": 0, "repeats": 0, "rate": None},)
    return Section(
        "repeat_complaints", TITLES["repeat_complaints"],
        (C_KEY, Column("label", Label("问题类型", "Category")), Column("complaints", Label("投诉量", "Complaints"), "int"),
         Column("identified", Label("可识别客户", "With a known customer"), "int"),
         Column("repeats", Label("重复投诉", "Repeats"), "int"), Column("rate", Label("重复投诉率", "Repeat rate"), "pct")),
        out,
        note=Label(f"同一客户（联系方式的密钥哈希，不解密）在{window_days}天内就同一分类再次投诉即为重复投诉；"
                   "匿名投诉计入分母。",
                   f"A complaint is a repeat when the same customer (keyed hash of the contact, never decrypted) "
                   f"complained in the same category within {window_days} days before; anonymous complaints "
                   "count in the denominator."),
    )


def open_ledger(conn: sa.Connection, p: dict[str, Any]) -> Section:
    listed, total = _run_listed(conn, "open_ledger", p)
    out = tuple({
        "feedback_no": r["feedback_no"], "received_on": r["received_on"], "priority": priority_label(r["priority"]),
        "department": department_label(r["department"]), "status": status_label(r["status"]),
        "next_deadline": r["next_deadline"], "next_stage": stage_label(r["next_stage"]),
        "overdue": r["overdue"], "days_open": r["days_open"],
    } for r in listed)
    return Section(
        "open_ledger", TITLES["open_ledger"],
        (Column("feedback_no", Label("反馈编号", "Feedback no.")),
         Column("received_on", Label("收到日期", "Received"), "date"),
         Column("priority", Label("优先级", "Priority")), Column("department", Label("责任部门", "Department")),
         Column("status", Label("期末状态", "Status at period end")),
         Column("next_deadline", Label("下一时限", "Next deadline"), "datetime"),
         Column("next_stage", Label("时限阶段", "Deadline stage")),
         Column("overdue", Label("期末已超时", "Overdue at period end"), "bool"),
         Column("days_open", Label("已开启天数", "Days open"), "int")),
        out,
        note=_listed_note(_excluded_note(
            Label("期末（统计期最后一天结束时）尚未关闭的事项，状态与时限按期末时点。",
                  "Items not closed at the end of the period, with their status and next deadline as then."),
            listed[0]["implausible_total"] if listed else 0), len(out), total),
        total_rows=total,
    )


def praise(conn: sa.Connection, p: dict[str, Any]) -> Section:
    listed, total = _run_listed(conn, "praise", p)
    out = tuple({"feedback_no": r["feedback_no"], "received_on": r["received_on"],
                 "channel": channel_label(r["channel"]), "department": department_label(r["department"])}
                for r in listed)
    return Section(
        "praise", TITLES["praise"],
        (Column("feedback_no", Label("反馈编号", "Feedback no.")),
         Column("received_on", Label("收到日期", "Received"), "date"),
         Column("channel", Label("渠道", "Channel")), Column("department", Label("责任部门", "Department"))),
        out,
        note=_listed_note(Label(f"统计期内收到的表扬 {total} 件。", f"{total} praise item(s) received in the period."),
                          len(out), total),
        total_rows=total,
    )


# --- weekly ------------------------------------------------------------------------------------------


def response_time_monitor(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = _run(conn, "response_time_monitor", p)
    prank = {c: i for i, c in enumerate(PRIORITY_ORDER)}
    rows.sort(key=lambda r: (r["department"], prank.get(r["priority"], 99), r["priority"]))
    fields = ("items", "fr_due", "fr_on_time", "responded", "total_seconds", "breaches")
    total = {k: sum(r[k] for r in rows) for k in fields}

    def row(dept: str, dept_label: Any, prio: str, prio_label: Any, r: dict[str, Any]) -> dict[str, Any]:
        return {"department": dept, "department_label": dept_label, "priority": prio, "priority_label": prio_label,
                "items": r["items"], "fr_due": r["fr_due"], "fr_on_time": r["fr_on_time"],
                "fr_on_time_share": _share(r["fr_on_time"], r["fr_due"]), "responded": r["responded"],
                "fr_avg_hours": _hours(r["total_seconds"], r["responded"]), "breaches": r["breaches"]}

    out = [row(r["department"], department_label(r["department"]), r["priority"], priority_label(r["priority"]), r)
           for r in rows]
    out.append(row("all", TOTAL, "all", ALL, total))
    return Section(
        "response_time_monitor", TITLES["response_time_monitor"],
        (Column("department", Label("部门代码", "Department code")),
         Column("department_label", Label("责任部门", "Department")),
         Column("priority", Label("优先级代码", "Priority code")), Column("priority_label", Label("优先级", "Priority")),
         Column("items", Label("收到", "Received"), "int"),
         Column("fr_due", Label("首次响应到期", "First responses due"), "int"),
         Column("fr_on_time", Label("按时响应", "On time"), "int"),
         Column("fr_on_time_share", Label("及时率", "On-time share"), "pct"),
         Column("responded", Label("已首次响应", "First responses"), "int"),
         Column("fr_avg_hours", Label("平均首次响应（工作小时）", "Avg first response (business h)"), "hours"),
         Column("breaches", Label("超时", "Breaches"), "int")),
        tuple(out),
        note=_excluded_note(
            Label("收到：本周收到；首次响应到期/按时：本周到期的首次响应时限；平均首次响应：本周完成的首次响应；"
                  "超时：时限在本周的超时记录。",
                  "Received: this week; due/on time: first-response deadlines due this week; average: first "
                  "responses made this week; breaches: breaches whose deadline fell this week."),
            sum(r["excluded"] for r in rows)),
    )


def satisfaction_tiers(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = _run(conn, "satisfaction_tiers", p)
    tiers = [t for t in TIER_ORDER] + sorted({r["tier"] for r in rows} - set(TIER_ORDER))

    def summary(key: str, label: Any, part: list[dict[str, Any]]) -> dict[str, Any]:
        n = {o: sum(r["callbacks"] for r in part if r["outcome"] == o) for o in OUTCOME_ORDER}
        reached = n["satisfied"] + n["neutral"] + n["dissatisfied"]
        scored = sum(r["scored"] for r in part)
        return {"key": key, "label": label, "callbacks": sum(r["callbacks"] for r in part), **n, "reached": reached,
                "satisfied_share": _share(n["satisfied"], reached),
                "avg_score": None if not scored else round(sum(r["score_total"] for r in part) / scored, 4)}

    out = [summary(t, tier_label(t), [r for r in rows if r["tier"] == t]) for t in tiers]
    out.append(summary("all", TOTAL, rows))
    return Section(
        "satisfaction_tiers", TITLES["satisfaction_tiers"],
        (C_KEY, Column("label", Label("客户等级", "Customer tier")), Column("callbacks", Label("回访", "Callbacks"), "int"),
         *(Column(o, OUTCOMES[o], "int") for o in OUTCOME_ORDER), Column("reached", Label("联系上", "Reached"), "int"),
         Column("satisfied_share", Label("满意率", "Satisfied share"), "pct"),
         Column("avg_score", Label("平均评分", "Average score"), "number")),
        tuple(out),
        note=Label("本周完成的回访；满意率 = 满意 / 联系上的回访。",
                   "Callbacks completed this week; satisfied share = satisfied / callbacks that reached the customer."),
    )


def top_issue_tags(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = _run(conn, "top_issue_tags", {**p, "top": TOP_TAGS})
    out = tuple({"rank": i, "key": r["key"], "label": category_label(r["key"]), "items": r["items"],
                 "complaints": r["complaints"], "dissatisfied": r["dissatisfied"], "share": _share(r["items"], r["total"])}
                for i, r in enumerate(rows, 1))
    title = TITLES["top_issue_tags"]
    return Section(
        "top_issue_tags", title,
        (Column("rank", Label("排名", "Rank"), "int"), C_KEY, Column("label", Label("问题类型", "Category")),
         Column("items", Label("事项数", "Items"), "int"), Column("complaints", Label("其中投诉", "Complaints"), "int"),
         Column("dissatisfied", Label("其中回访不满意", "Dissatisfied callbacks"), "int"), C_SHARE),
        out, chart=Chart("bar", "label", ("items",), title),
        note=Label("本周收到的投诉与本周回访不满意的事项，按分类；每个事项计一次，占比以这些事项为分母。",
                   "This week's complaints and items with a dissatisfied callback this week, by category; each "
                   "item counts once; shares of those items."),
    )


# --- the reports ------------------------------------------------------------------------------------

# Called with a section's key and the error that kept it from being computed (produce() holds it).
OnError = Callable[[str, BaseException], None]


def unavailable_section(key: str) -> Section:
    """The stand-in for a section that could not be computed: its title and the "unavailable" line."""
    return Section(key, TITLES[key], (), (), note=UNAVAILABLE, unavailable=True)


def _isolated(conn: sa.Connection, key: str, compute: Callable[[], Section], skip: Collection[str],
              on_error: OnError | None, timings: dict[str, float] | None = None) -> Section:
    """One section in its own savepoint, so one bad value costs that section, not the whole report.

    A section in `skip` (held, not yet released) is not attempted. A data error (a query that
    fails on one row's value, a mapper that raises) rolls back to the savepoint, is passed to
    `on_error` and leaves the section unavailable; without `on_error` it is raised as before.
    Errors about the register itself (lost connection) always fail the run, to be retried.
    """
    if key in skip:
        return unavailable_section(key)
    started = perf_counter()
    try:
        with conn.begin_nested():
            return compute()
    except Exception as error:
        if on_error is None or is_infrastructure_error(error):
            raise
        on_error(key, error)
        return unavailable_section(key)
    finally:
        if timings is not None:
            timings[f"section {key}"] = perf_counter() - started


def _session_for_reports(conn: sa.Connection) -> None:
    """Sorts and hashes of a month's rows in memory, for this transaction only (SET LOCAL).

    The default work_mem (4 MB) sends the month's joins, orderings and percentiles to temporary
    files; REPORT_WORK_MEM per sort or hash keeps them in memory (about 10-15% less CPU on a
    million-item month). It ends with the report's transaction.
    """
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")


# The heaviest sections of a month (joins of every deadline or complaint of the month, business
# hours, look-backs): with a `side` connection they run beside the others.
SIDE_SECTIONS = frozenset({"response_times", "repeat_complaints"})


def _compute_all(conn: sa.Connection, computes: Mapping[str, Callable[[sa.Connection], Section]],
                 skip: Collection[str], on_error: OnError | None, timings: dict[str, float] | None,
                 side: Callable[[], ContextManager[sa.Connection]] | None) -> tuple[Section, ...]:
    """Every section in `computes` order, each isolated; the SIDE_SECTIONS on a second connection if given."""
    def isolated(c: sa.Connection, key: str) -> Section:
        return _isolated(c, key, lambda: computes[key](c), skip, on_error, timings)

    beside = [key for key in computes if key in SIDE_SECTIONS] if side is not None else []
    if not beside:
        return tuple(isolated(conn, key) for key in computes)

    def run_beside() -> dict[str, Section]:
        with side() as other:
            _session_for_reports(other)
            return {key: isolated(other, key) for key in beside}

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-sections") as pool:
        there = pool.submit(run_beside)
        here = {key: isolated(conn, key) for key in computes if key not in beside}
        here.update(there.result())
    return tuple(here[key] for key in computes)


def _pick(by: Mapping[str, Section], key: str, value: Callable[[Section], Any]) -> Any:
    """A headline figure read from a section, or None ("—") when that section is unavailable."""
    section = by[key]
    return None if section.unavailable else value(section)


# The monthly headline: label, kind and which way is good news, in order (see _headline_figures).
HEADLINE_FIGURES: tuple[tuple[Label, str, str | None], ...] = (
    (Label("反馈总量", "Items received"), "int", None),
    (Label("紧急反馈", "Urgent items"), "int", None),
    (Label("响应时效达标率", "SLA attainment"), "pct", "up"),
    (Label("满意率", "Satisfied share"), "pct", "up"),
    (Label("期末未结事项", "Open items at period end"), "int", "down"),
    (Label("表扬", "Praise"), "int", "up"),
)


def _headline_figures(by: Mapping[str, Section]) -> list[Any]:
    """The headline values (HEADLINE_FIGURES order) read from a period's sections; None where one is missing."""
    def pick(key: str, value: Callable[[Section], Any]) -> Any:
        return None if key not in by else _pick(by, key, value)

    return [
        pick("volume_by_channel", lambda s: sum(r["items"] for r in s.rows)),
        pick("volume_by_priority", lambda s: next((r["items"] for r in s.rows if r["key"] == "urgent"), 0)),
        pick("sla_attainment", lambda s: _share(sum(r["on_time"] for r in s.rows), sum(r["due"] for r in s.rows))),
        pick("satisfaction_trend", lambda s: s.rows[0]["satisfied_share"]),
        pick("open_ledger", lambda s: s.total_rows),
        pick("praise", lambda s: s.total_rows),
    ]


def _earlier_figures(conn: sa.Connection, earlier: Period, current: Mapping[str, Section], role: str) -> list[Any]:
    """The headline values of the month before (环比) or a year before (同比), by the same definitions.

    The sections behind the counts run again on that period (in a savepoint: a failure leaves the
    comparison blank, never the report); the satisfied share comes from this period's trend
    section, which already holds both. Only the figures are kept, not the sections.
    """
    p = _params(earlier)
    p["list_rows"] = 1      # the list sections' totals are what counts here, not their rows
    figures: dict[str, Section] = {}
    try:
        with conn.begin_nested():
            figures = {
                "volume_by_channel": volume_by_channel(conn, p), "volume_by_priority": volume_by_priority(conn, p),
                "sla_attainment": sla_attainment(conn, p), "open_ledger": open_ledger(conn, p),
                "praise": praise(conn, p),
            }
    except Exception as error:
        if is_infrastructure_error(error):
            raise
        return [None] * len(HEADLINE_FIGURES)
    values = _headline_figures(figures)
    trend = current.get("satisfaction_trend")
    if trend is not None and not trend.unavailable:
        values[3] = next((r["satisfied_share"] for r in trend.rows if r["key"] == role), None)
    return values


def monthly_sections(
    conn: sa.Connection, period: Period, *, high_frequency_share: float = 0.10, repeat_window_days: int = 30,
    calendars: Mapping[str, Any] | None = None, list_rows: int = 1000, skip: Collection[str] = (),
    on_error: OnError | None = None, timings: dict[str, float] | None = None,
    side: Callable[[], ContextManager[sa.Connection]] | None = None,
) -> tuple[tuple[Headline, ...], tuple[Section, ...]]:
    """Headline figures and every section of the monthly report, in `SECTION_KEYS_MONTHLY` order.

    `calendars` (name -> BusinessCalendar) defaults to calendars.yaml; list sections (overdue
    items, open ledger, praise) show their first `list_rows` rows and their total. Each
    section is computed in its own savepoint; see `_isolated` for `skip` and `on_error`.
    `timings`, when given, receives each section's seconds (`section <key>`), for the benchmark.
    `side` (e.g. `engine.connect`), when given, opens a second connection on which the heaviest
    sections (`SIDE_SECTIONS`) run in a thread beside the others: the database works on two of
    them at once (produce() passes it; the figures are the same either way).
    """
    if not 0 < high_frequency_share < 1:
        raise ValueError(f"high_frequency_share must be between 0 and 1, got {high_frequency_share}")
    if repeat_window_days < 1:
        raise ValueError(f"repeat_window_days must be at least 1, got {repeat_window_days}")
    p = _params(period, calendars=calendars_param(calendars if calendars is not None else _load_calendars(), period))
    p["list_rows"] = list_rows
    _session_for_reports(conn)
    computes: dict[str, Callable[[sa.Connection], Section]] = {
        "volume_by_channel": lambda c: volume_by_channel(c, p),
        "volume_by_type": lambda c: volume_by_type(c, p),
        "volume_by_priority": lambda c: volume_by_priority(c, p),
        "volume_by_department": lambda c: volume_by_department(c, p),
        "daily_trend": lambda c: daily_trend(c, p),
        "sla_attainment": lambda c: sla_attainment(c, p),
        "response_times": lambda c: response_times(c, p),
        "urgent_speed": lambda c: urgent_speed(c, p),
        "satisfaction": lambda c: satisfaction(c, p),
        "satisfaction_trend": lambda c: satisfaction_trend(c, p, period),
        "dissatisfaction_causes": lambda c: dissatisfaction_causes(c, p),
        "overdue_reasons": lambda c: overdue_reasons(c, p),
        "overdue_items": lambda c: overdue_items(c, p),
        "high_frequency": lambda c: high_frequency(c, p, high_frequency_share),
        "repeat_complaints": lambda c: repeat_complaints(c, p, repeat_window_days),
        "open_ledger": lambda c: open_ledger(c, p),
        "praise": lambda c: praise(c, p),
    }
    assert tuple(computes) == SECTION_KEYS_MONTHLY
    sections = _compute_all(conn, computes, skip, on_error, timings, side)
    by = {s.key: s for s in sections}
    current = _headline_figures(by)
    earlier = {role: _earlier_figures(conn, getattr(period, role)(), by, role)
               for role in ("previous", "year_ago")}
    headline = tuple(
        Headline(label, current[i], kind, previous=earlier["previous"][i], year_ago=earlier["year_ago"][i],
                 better=better)
        for i, (label, kind, better) in enumerate(HEADLINE_FIGURES)
    )
    assert tuple(by) == SECTION_KEYS_MONTHLY
    return headline, sections


def weekly_sections(
    conn: sa.Connection, period: Period, *, calendars: Mapping[str, Any] | None = None, skip: Collection[str] = (),
    on_error: OnError | None = None, timings: dict[str, float] | None = None,
) -> tuple[tuple[Headline, ...], tuple[Section, ...]]:
    """Headline figures and the sections of the weekly report, in `SECTION_KEYS_WEEKLY` order (isolated as above)."""
    p = _params(period, calendars=calendars_param(calendars if calendars is not None else _load_calendars(), period))
    _session_for_reports(conn)
    computes: dict[str, Callable[[sa.Connection], Section]] = {
        "response_time_monitor": lambda c: response_time_monitor(c, p),
        "satisfaction_tiers": lambda c: satisfaction_tiers(c, p),
        "top_issue_tags": lambda c: top_issue_tags(c, p),
    }
    sections = _compute_all(conn, computes, skip, on_error, timings, None)
    by = {s.key: s for s in sections}
    headline = (
        Headline(Label("本周收到反馈", "Items received"), _pick(by, "response_time_monitor", lambda s: s.rows[-1]["items"])),
        Headline(Label("首次响应及时率", "First responses on time"),
                 _pick(by, "response_time_monitor", lambda s: s.rows[-1]["fr_on_time_share"]), "pct"),
        Headline(Label("超时", "Breaches"), _pick(by, "response_time_monitor", lambda s: s.rows[-1]["breaches"])),
        Headline(Label("回访", "Callbacks"), _pick(by, "satisfaction_tiers", lambda s: s.rows[-1]["callbacks"])),
        Headline(Label("满意率", "Satisfied share"),
                 _pick(by, "satisfaction_tiers", lambda s: s.rows[-1]["satisfied_share"]), "pct"),
    )
    assert tuple(by) == SECTION_KEYS_WEEKLY
    return headline, sections


__all__ = [
    "COMPLAINT_CATEGORIES", "PRAISE_CATEGORIES", "SECTION_KEYS_MONTHLY", "SECTION_KEYS_WEEKLY", "Period",
    "TITLES", "calendar_spans", "calendars_param", "localize", "monthly_sections", "report_sql", "unavailable_section",
    "weekly_sections",
]
