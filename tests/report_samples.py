"""A realistic month-end `Report` for the renderer tests: fixed figures, Chinese and English labels.

October 2026, 1,234 items over three channels; twelve sections, five with charts (bar, line,
pie); 45 high-frequency problems (one whose text starts with "=", as a customer might type);
values as the database returns them (Decimal, aware datetimes, None). One data-quality check
fails. `sample_report(issue_rows=300)` gives the long variant for the page-limit test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from feedback.reports.model import Chart, Column, Headline, Label, QualityCheck, Report, Section

SHANGHAI = timezone(timedelta(hours=8))
GENERATED_AT = datetime(2026, 11, 1, 6, 30, 0, tzinfo=SHANGHAI)
PERIOD_START, PERIOD_END = date(2026, 10, 1), date(2026, 10, 31)
TOTAL = 1234


def col(key: str, zh: str, en: str, kind="text") -> Column:
    return Column(key, Label(zh, en), kind)


CHANNEL = (("邮件", "E-mail", 512), ("网页表单", "Web form", 437), ("平台工单", "Platform", 285))
PRIORITY = (("紧急", "Urgent", 58, Decimal("0.6")), ("高", "High", 214, Decimal("1.8")),
            ("中", "Medium", 631, Decimal("4.2")), ("低", "Low", 331, Decimal("7.9")))
CATEGORY = (("功能问题", "Function problem", 498, 0.06), ("服务投诉", "Service complaint", 301, -0.04),
            ("需求建议", "Feature request", 212, 0.11), ("物流配送", "Logistics & delivery", 131, 0.02),
            ("费用争议", "Fee dispute", 57, -0.12), ("表扬", "Praise", 35, 0.0))
ISSUES = (
    ("支付成功后订单仍显示未支付", "Order still unpaid after successful payment", "功能问题"),
    ("退款超过 7 天未到账", "Refund not received after 7 days", "费用争议"),
    ("App 登录验证码收不到", "Login code never arrives in the app", "功能问题"),
    ("快递显示签收但未收到货", "Parcel marked delivered but not received", "物流配送"),
    ("客服电话长时间无人接听", "Hotline not answered for a long time", "服务投诉"),
    ("优惠券无法叠加使用", "Coupons cannot be combined", "需求建议"),
    ("发票抬头无法修改", "Invoice title cannot be changed", "功能问题"),
    ("会员积分未按时到账", "Loyalty points credited late", "费用争议"),
    ("商品详情页图片加载慢", "Product images load slowly", "功能问题"),
    ("=号开头的备注导出后显示为公式", "=-prefixed notes exported as formulas", "功能问题"),
)
SATISFACTION = (("满意", "Satisfied", 402), ("一般", "Neutral", 88), ("不满意", "Dissatisfied", 41),
                ("未接通", "Unreachable", 57))
CAUSES = (("处理时间过长", "Took too long", 17), ("问题未真正解决", "Problem not actually solved", 11),
          ("客服态度", "Agent attitude", 6), ("补偿不满意", "Compensation not acceptable", 5), ("其他", "Other", 2))
DEPARTMENTS = (("客服部", "Customer Service", 402, 389, Decimal("5.1"), 3),
               ("产品技术部", "Product & Engineering", 356, 318, Decimal("14.6"), 9),
               ("售后部", "After-sales", 201, 190, Decimal("9.8"), 2),
               ("物流部", "Logistics", 131, 124, Decimal("11.2"), 1),
               ("财务部", "Finance", 88, 80, Decimal("16.4"), 2),
               ("产品运营部", "Product Operations", 56, 54, Decimal("7.3"), 0))


def _daily() -> tuple[dict, ...]:
    days = [PERIOD_START + timedelta(days=i) for i in range(31)]
    received = [30 + (i * 7) % 13 + (8 if d.weekday() < 5 else -9) for i, d in enumerate(days)]
    received[-1] += TOTAL - sum(received)      # the month adds up to TOTAL
    rows, backlog = [], 46
    for i, (day, n) in enumerate(zip(days, received, strict=True)):
        resolved = max(0, n - 3 + (i * 5) % 7)
        backlog += n - resolved
        rows.append({"day": day, "received": n, "resolved": resolved, "backlog": backlog})
    return tuple(rows)


def _issues(n: int, zh: bool) -> tuple[dict, ...]:
    rows, count = [], 96
    for i in range(n):
        text_zh, text_en, cat = ISSUES[i % len(ISSUES)]
        cat_en = next(c[1] for c in CATEGORY if c[0] == cat)
        suffix = "" if i < len(ISSUES) else f"（{i // len(ISSUES) + 1} 类变体）" if zh else f" (variant {i // len(ISSUES) + 1})"
        rows.append({
            "rank": i + 1,
            "issue": (text_zh if zh else text_en) + suffix,
            "category": cat if zh else cat_en,
            "count": count,
            "share": round(count / TOTAL, 4),
            "previous": None if i % 11 == 4 else count + (i % 5) - 2,
        })
        count = max(1, count - (9 if i < 5 else 2 if i < 20 else 1 if i % 2 else 0))
    return tuple(rows)


def _overdue(zh: bool) -> tuple[dict, ...]:
    rows = []
    for i in range(17):
        received = datetime(2026, 10, 3 + i, 9 + i % 8, (i * 13) % 60, tzinfo=SHANGHAI)
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        rows.append({
            "ticket": f"FB-202610-{1000 + i * 37:05d}",
            "received_at": received,
            "priority": ("高" if i % 3 == 0 else "中") if zh else ("High" if i % 3 == 0 else "Medium"),
            "department": dept[0] if zh else dept[1],
            "due": (received + timedelta(days=3)).date(),
            "overdue_hours": Decimal(f"{40.5 - i * 1.7:.1f}"),
            "reminded": i % 4 != 1,
        })
    return tuple(rows)


def sample_report(locale: str = "zh-CN", *, issue_rows: int = 45, failed_check: bool = True) -> Report:
    """The sample monthly report; every text is in both languages, rows in the locale's language."""
    zh = locale == "zh-CN"
    pick = (lambda a, b: a) if zh else (lambda a, b: b)
    sections = (
        Section(
            "volume_by_channel", Label("渠道分布", "Volume by channel"),
            (col("channel", "渠道", "Channel"), col("count", "受理量", "Items", "int"),
             col("share", "占比", "Share", "pct")),
            tuple({"channel": pick(zh_, en), "count": n, "share": n / TOTAL} for zh_, en, n in CHANNEL),
            chart=Chart("bar", "channel", ("count",), Label("各渠道受理量", "Items by channel")),
        ),
        Section(
            "volume_by_priority", Label("优先级分布", "Volume by priority"),
            (col("priority", "优先级", "Priority"), col("count", "受理量", "Items", "int"),
             col("share", "占比", "Share", "pct"), col("first_response", "首次响应中位数（工时）",
                                                    "Median first response (business hours)", "hours")),
            tuple({"priority": pick(zh_, en), "count": n, "share": n / TOTAL, "first_response": h}
                  for zh_, en, n, h in PRIORITY),
            chart=Chart("bar", "priority", ("count",), Label("各优先级受理量", "Items by priority")),
        ),
        Section(
            "daily_trend", Label("每日受理与办结趋势", "Daily intake and resolution"),
            (col("day", "日期", "Date", "date"), col("received", "新受理", "Received", "int"),
             col("resolved", "办结", "Resolved", "int"), col("backlog", "积压", "Backlog", "int")),
            _daily(),
            chart=Chart("line", "day", ("received", "resolved"), Label("每日受理与办结", "Received and resolved per day")),
            note=Label("积压 = 期末在办数量（含暂停）。", "Backlog = open items at the end of the day (paused included)."),
        ),
        Section(
            "category_breakdown", Label("问题分类", "Categories"),
            (col("category", "分类", "Category"), col("count", "数量", "Items", "int"),
             col("share", "占比", "Share", "pct"), col("change", "环比变化", "Change vs last month", "pct")),
            tuple({"category": pick(zh_, en), "count": n, "share": n / TOTAL, "change": ch}
                  for zh_, en, n, ch in CATEGORY),
            chart=Chart("bar", "category", ("count",), Label("各分类数量", "Items by category")),
        ),
        Section(
            "top_issues", Label("高频问题", "Top issues"),
            (col("rank", "排名", "Rank", "int"), col("issue", "问题", "Issue"), col("category", "分类", "Category"),
             col("count", "次数", "Items", "int"), col("share", "占比", "Share", "pct"),
             col("previous", "上月次数", "Last month", "int")),
            _issues(issue_rows, zh),
            note=Label("按归并后的问题统计；上月为空表示本月新出现。",
                       "Counted per merged problem; an empty last-month figure means new this month."),
        ),
        Section(
            "sla_compliance", Label("时效达成", "Deadline compliance"),
            (col("stage", "环节", "Stage"), col("due", "应办结", "Due", "int"), col("on_time", "按时", "On time", "int"),
             col("rate", "达成率", "Rate", "pct"), col("avg_hours", "平均用时（工时）", "Average (business hours)", "hours")),
            (
                {"stage": pick("首次响应", "First response"), "due": 1234, "on_time": 1187, "rate": 1187 / 1234,
                 "avg_hours": Decimal("3.4")},
                {"stage": pick("办结", "Resolution"), "due": 1155, "on_time": 1069, "rate": 1069 / 1155,
                 "avg_hours": Decimal("21.7")},
                {"stage": pick("回访", "Callback"), "due": 612, "on_time": 588, "rate": 588 / 612,
                 "avg_hours": Decimal("30.2")},
            ),
        ),
        Section(
            "department_workload", Label("各部门处理情况", "Workload by department"),
            (col("department", "部门", "Department"), col("assigned", "受理", "Assigned", "int"),
             col("resolved", "办结", "Resolved", "int"), col("rate", "办结率", "Resolution rate", "pct"),
             col("avg_hours", "平均办理时长（工时）", "Average handling (business hours)", "hours"),
             col("overdue", "超期", "Overdue", "int")),
            tuple({"department": pick(zh_, en), "assigned": a, "resolved": r, "rate": r / a, "avg_hours": h,
                   "overdue": o} for zh_, en, a, r, h, o in DEPARTMENTS),
        ),
        Section(
            "satisfaction", Label("回访满意度", "Callback satisfaction"),
            (col("outcome", "回访结果", "Outcome"), col("count", "数量", "Callbacks", "int"),
             col("share", "占比", "Share", "pct")),
            tuple({"outcome": pick(zh_, en), "count": n, "share": n / 588} for zh_, en, n in SATISFACTION),
            chart=Chart("pie", "outcome", ("count",), Label("回访结果构成", "Callback outcomes")),
        ),
        Section(
            "dissatisfaction_causes", Label("不满意原因", "Causes of dissatisfaction"),
            (col("cause", "原因", "Cause"), col("count", "数量", "Callbacks", "int"), col("share", "占比", "Share", "pct")),
            tuple({"cause": pick(zh_, en), "count": n, "share": n / 41} for zh_, en, n in CAUSES),
        ),
        Section(
            "overdue_items", Label("超期未办结", "Overdue items"),
            (col("ticket", "工单号", "Ticket"), col("received_at", "受理时间", "Received", "datetime"),
             col("priority", "优先级", "Priority"), col("department", "责任部门", "Department"),
             col("due", "应办结日期", "Due", "date"), col("overdue_hours", "已超期（工时）", "Overdue (business hours)", "hours"),
             col("reminded", "已催办", "Reminded", "bool")),
            _overdue(zh),
        ),
        Section(
            "reopened", Label("重开工单", "Reopened items"),
            (col("ticket", "工单号", "Ticket"), col("first_resolved_at", "首次办结", "First resolved", "datetime"),
             col("times", "重开次数", "Times reopened", "int"), col("reason", "重开原因", "Reason")),
            tuple({"ticket": f"FB-202610-{2000 + i * 11:05d}",
                   "first_resolved_at": datetime(2026, 10, 5 + i * 2, 16, 20, tzinfo=SHANGHAI), "times": 1 + i % 2,
                   "reason": pick("客户回访不满意", "Dissatisfied at callback") if i % 2 else
                   pick("问题复现", "Problem came back")} for i in range(9)),
        ),
        Section(
            "callback_coverage", Label("回访覆盖率[按部门]", "Callback coverage by department: all"),
            (col("department", "部门", "Department"), col("due", "应回访", "Due", "int"),
             col("done", "已回访", "Done", "int"), col("rate", "回访率", "Coverage", "pct"),
             col("score", "平均评分（1–5）", "Average score (1-5)", "number")),
            tuple({"department": pick(zh_, en), "due": r // 2, "done": r // 2 - o, "rate": (r // 2 - o) / (r // 2),
                   "score": Decimal("4.21") - Decimal(o) / 10} for zh_, en, _a, r, _h, o in DEPARTMENTS),
            note=Label("应回访：本期办结且需回访的工单。", "Due: items resolved this period that need a callback."),
        ),
    )
    headline = (
        Headline(Label("受理总量", "Items received"), TOTAL, "int"),
        Headline(Label("办结率", "Resolution rate"), 1155 / TOTAL, "pct"),
        Headline(Label("首次响应平均用时（工时）", "Average first response (business hours)"), Decimal("3.4"), "hours"),
        Headline(Label("按时办结率", "Resolved on time"), 1069 / 1155, "pct"),
        Headline(Label("回访满意率", "Satisfied at callback"), 402 / 531, "pct"),
        Headline(Label("超期未办结", "Overdue open items"), 17, "int"),
        Headline(Label("重开工单", "Reopened items"), 9, "int"),
        Headline(Label("回访完成", "Callbacks made"), 588, "int"),
    )
    quality = (
        QualityCheck(Label("各渠道每日均有数据", "Every channel has data every day"), not failed_check,
                     "平台工单 2026-10-17 为 0 条（前后 7 日日均 9 条）" if zh else
                     "platform: 0 items on 2026-10-17 (9 a day on average in the 7 days around it)"),
        QualityCheck(Label("工单均已分类", "Every item classified"), True, "1234/1234"),
        QualityCheck(Label("截止时间均已计算", "Every deadline computed"), True, "1234/1234"),
        QualityCheck(Label("无重复受理", "No duplicate intake"), True, "0"),
        QualityCheck(Label("回访结果已登记", "Callback outcomes recorded"), True, "588/588"),
    )
    return Report("monthly", PERIOD_START, PERIOD_END, locale, GENERATED_AT, headline, sections, quality)


def long_report(rows: int = 300, locale: str = "zh-CN") -> Report:
    """The sample with a very long high-frequency-problem table (and a long overdue list)."""
    base = sample_report(locale, issue_rows=rows)
    overdue = base.section("overdue_items")
    many = tuple({**r, "ticket": f"{r['ticket']}-{k}"} for k in range(rows // len(overdue.rows) + 1) for r in overdue.rows)
    sections = tuple(replace(s, rows=many[:rows]) if s.key == "overdue_items" else s for s in base.sections)
    return replace(base, sections=sections)
