"""Satisfaction sections: callback outcomes, their trend against earlier periods, the causes of
dissatisfaction, and the weekly summary by customer tier.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from feedback.reports.model import Chart, Column, Label, Section
from feedback.reports.sections.cells import C_KEY, share_of
from feedback.reports.sections.labels import (
    OUTCOME_ORDER,
    OUTCOMES,
    PERIOD_ROLES,
    TIER_ORDER,
    TITLES,
    TOP_CAUSES,
    TOTAL,
    category_label,
    outcome_label,
    tier_label,
)
from feedback.reports.sections.periods import Period
from feedback.reports.sections.queries import run


def satisfaction(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = run(conn, "satisfaction", p)
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
            row[f"{prefix}share"] = share_of(n, totals[role])
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
    rows = {r["period"]: r for r in run(conn, "satisfaction_trend", p)}
    names = {"current": period.name, "previous": period.previous().name, "year_ago": period.year_ago().name}
    shares = {role: share_of(r["satisfied"], r["reached"]) for role, r in rows.items()}
    out = []
    for role in PERIOD_ROLES:
        r = rows[role]
        change = None
        now, then = shares["current"], shares[role]
        if role != "current" and now is not None and then is not None:
            change = now - then
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
                  **{k: r[k] for k in extra}, "share": share_of(r[extra[0]], r[whole])}
                 for i, r in enumerate(rows, 1))


def dissatisfaction_causes(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = run(conn, "dissatisfaction_causes", {**p, "top": TOP_CAUSES})
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


def satisfaction_tiers(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = run(conn, "satisfaction_tiers", p)
    tiers = [t for t in TIER_ORDER] + sorted({r["tier"] for r in rows} - set(TIER_ORDER))

    def summary(key: str, label: Any, part: list[dict[str, Any]]) -> dict[str, Any]:
        n = {o: sum(r["callbacks"] for r in part if r["outcome"] == o) for o in OUTCOME_ORDER}
        reached = n["satisfied"] + n["neutral"] + n["dissatisfied"]
        scored = sum(r["scored"] for r in part)
        return {"key": key, "label": label, "callbacks": sum(r["callbacks"] for r in part), **n, "reached": reached,
                "satisfied_share": share_of(n["satisfied"], reached),
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
