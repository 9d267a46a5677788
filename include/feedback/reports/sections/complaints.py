"""Complaint sections: high-frequency problems, the repeat-complaint rate and the weekly top issue tags."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from feedback.reports.model import Chart, Column, Label, Section
from feedback.reports.sections.cells import C_KEY, C_SHARE, share_of
from feedback.reports.sections.labels import TITLES, TOP_TAGS, TOTAL, category_label
from feedback.reports.sections.queries import COMPLAINT_CATEGORIES, run


def high_frequency(conn: sa.Connection, p: dict[str, Any], threshold: float) -> Section:
    from feedback.reports.issues import issue_label, rule_issues

    rules = [r for r in rule_issues() if r.votes in COMPLAINT_CATEGORIES]
    rows = run(conn, "high_frequency", {**p, "issue_rules": [r.rule_id for r in rules],
                                         "issue_votes": [r.votes for r in rules],
                                         "issue_weights": [r.weight for r in rules],
                                         "issue_keys": [r.issue for r in rules]})
    out = []
    for r in rows:
        share = share_of(r["complaints"], r["total"])
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
    rows = run(conn, "repeat_complaints", {**p, "window_days": window_days})
    out = tuple({
        "key": r["key"] if r["key"] is not None else "all",
        "label": category_label(r["key"]) if r["key"] is not None else TOTAL,
        "complaints": r["complaints"], "identified": r["identified"], "repeats": r["repeats"],
        "rate": share_of(r["repeats"], r["complaints"]),
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


def top_issue_tags(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = run(conn, "top_issue_tags", {**p, "top": TOP_TAGS})
    out = tuple({"rank": i, "key": r["key"], "label": category_label(r["key"]), "items": r["items"],
                 "complaints": r["complaints"], "dissatisfied": r["dissatisfied"], "share": share_of(r["items"], r["total"])}
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
