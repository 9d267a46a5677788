"""SLA sections: attainment per priority and stage, response and handling times in business hours,
the speed on urgent items, overdue reasons, and the weekly response-time monitor.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from feedback.reports.model import Chart, Column, Label, Section
from feedback.reports.sections.cells import C_KEY, C_SHARE, excluded_note, hours_of, share_of
from feedback.reports.sections.labels import (
    ALL,
    PRIORITY_ORDER,
    STAGE_ORDER,
    TITLES,
    TOTAL,
    department_label,
    overdue_reason_label,
    overdue_reason_labels,
    priority_label,
    stage_label,
)
from feedback.reports.sections.queries import run


def sla_attainment(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = run(conn, "sla_attainment", p)
    prank = {c: i for i, c in enumerate(PRIORITY_ORDER)}
    srank = {c: i for i, c in enumerate(STAGE_ORDER)}
    rows.sort(key=lambda r: (prank.get(r["priority"], 99), r["priority"], srank.get(r["stage"], 99), r["stage"]))
    out = tuple({
        "priority": r["priority"], "priority_label": priority_label(r["priority"]),
        "stage": r["stage"], "stage_label": stage_label(r["stage"]),
        "due": r["due"], "on_time": r["on_time"], "late": r["due"] - r["on_time"],
        "attainment": share_of(r["on_time"], r["due"]),
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
    rows = run(conn, "response_times", p)
    by = {(r["measure"], r["priority"]): r for r in rows}
    present = {r["priority"] for r in rows if r["priority"] is not None}
    codes = [c for c in PRIORITY_ORDER] + sorted(present - set(PRIORITY_ORDER)) + [None]
    out = []
    for code in codes:
        fr = by.get(("first_response", code)) or {}
        hd = by.get(("handling", code)) or {}
        out.append({
            "key": code or "all", "label": priority_label(code) if code else TOTAL,
            "fr_count": fr.get("n", 0), "fr_avg_hours": hours_of(fr.get("total_seconds"), fr.get("n", 0)),
            "fr_p90_hours": hours_of(fr.get("p90_seconds")),
            "handled": hd.get("n", 0), "handling_avg_hours": hours_of(hd.get("total_seconds"), hd.get("n", 0)),
            "handling_p90_hours": hours_of(hd.get("p90_seconds")),
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
        note=excluded_note(
            Label("工作小时按该事项时限所用日历计（紧急为7x24）。首次响应：统计期内完成的首次响应，自收到起计；"
                  "处理周期：统计期内解决（或直接关闭）的事项，自收到起计。",
                  "Business hours on the calendar of the item's SLA (urgent: 24x7). First response: first "
                  "responses made in the period, from receipt; handling: items resolved (or closed) in the "
                  "period, from receipt."),
            sum(r["excluded"] for r in rows if r["priority"] is None)),
    )


def urgent_speed(conn: sa.Connection, p: dict[str, Any]) -> Section:
    (r,) = run(conn, "urgent_speed", p)
    row = {
        "items": r["items"], "responded": r["responded"],
        "avg_minutes": None if not r["timed"] else round(float(r["total_seconds"]) / r["timed"] / 60, 4),
        "median_minutes": None if r["median_seconds"] is None else round(float(r["median_seconds"]) / 60, 4),
        "within_sla": r["within_sla"], "within_share": share_of(r["within_sla"], r["items"]),
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
        note=excluded_note(Label("统计期内收到的紧急事项；时限内 = 在首次响应时限前响应，未响应的计为未达标。",
                                  "Urgent items received in the period; within SLA = first response by its due time "
                                  "(not responded counts as not within)."), r["excluded"]),
    )


def overdue_reasons(conn: sa.Connection, p: dict[str, Any]) -> Section:
    names = overdue_reason_labels()
    by_name = [(name, code) for code, lab in names.items() for name in (lab.zh, lab.en)]
    params = {**p, "reason_codes": list(names), "reason_names": [n for n, _ in by_name],
              "reason_name_codes": [c for _, c in by_name]}
    rows = run(conn, "overdue_reasons", params)
    total = sum(r["breaches"] for r in rows)
    out = tuple({"key": r["reason"], "label": overdue_reason_label(r["reason"], names), "breaches": r["breaches"],
                 "share": share_of(r["breaches"], total)} for r in rows)
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


def response_time_monitor(conn: sa.Connection, p: dict[str, Any]) -> Section:
    rows = run(conn, "response_time_monitor", p)
    prank = {c: i for i, c in enumerate(PRIORITY_ORDER)}
    rows.sort(key=lambda r: (r["department"], prank.get(r["priority"], 99), r["priority"]))
    fields = ("items", "fr_due", "fr_on_time", "responded", "total_seconds", "breaches")
    total = {k: sum(r[k] for r in rows) for k in fields}

    def row(dept: str, dept_label: Any, prio: str, prio_label: Any, r: dict[str, Any]) -> dict[str, Any]:
        return {"department": dept, "department_label": dept_label, "priority": prio, "priority_label": prio_label,
                "items": r["items"], "fr_due": r["fr_due"], "fr_on_time": r["fr_on_time"],
                "fr_on_time_share": share_of(r["fr_on_time"], r["fr_due"]), "responded": r["responded"],
                "fr_avg_hours": hours_of(r["total_seconds"], r["responded"]), "breaches": r["breaches"]}

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
        note=excluded_note(
            Label("收到：本周收到；首次响应到期/按时：本周到期的首次响应时限；平均首次响应：本周完成的首次响应；"
                  "超时：时限在本周的超时记录。",
                  "Received: this week; due/on time: first-response deadlines due this week; average: first "
                  "responses made this week; breaches: breaches whose deadline fell this week."),
            sum(r["excluded"] for r in rows)),
    )
