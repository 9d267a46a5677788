"""List sections: the overdue items, the open-items ledger (未了事宜台帐) and praise, each showing its
first rows and how many there are in all.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from feedback.reports.model import Column, Label, Section
from feedback.reports.sections.cells import excluded_note, listed_note
from feedback.reports.sections.labels import (
    TITLES,
    channel_label,
    department_label,
    overdue_reason_label,
    overdue_reason_labels,
    priority_label,
    stage_label,
    status_label,
)
from feedback.reports.sections.queries import run_listed


def overdue_items(conn: sa.Connection, p: dict[str, Any]) -> Section:
    listed, total = run_listed(conn, "overdue_items", p)
    names = overdue_reason_labels()
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
        note=listed_note(Label("时限落在统计期内的每条超时记录。", "Every breach whose deadline fell in the period."),
                          len(out), total),
        total_rows=total,
    )


def open_ledger(conn: sa.Connection, p: dict[str, Any]) -> Section:
    listed, total = run_listed(conn, "open_ledger", p)
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
        note=listed_note(excluded_note(
            Label("期末（统计期最后一天结束时）尚未关闭的事项，状态与时限按期末时点。",
                  "Items not closed at the end of the period, with their status and next deadline as then."),
            listed[0]["implausible_total"] if listed else 0), len(out), total),
        total_rows=total,
    )


def praise(conn: sa.Connection, p: dict[str, Any]) -> Section:
    listed, total = run_listed(conn, "praise", p)
    out = tuple({"feedback_no": r["feedback_no"], "received_on": r["received_on"],
                 "channel": channel_label(r["channel"]), "department": department_label(r["department"])}
                for r in listed)
    return Section(
        "praise", TITLES["praise"],
        (Column("feedback_no", Label("反馈编号", "Feedback no.")),
         Column("received_on", Label("收到日期", "Received"), "date"),
         Column("channel", Label("渠道", "Channel")), Column("department", Label("责任部门", "Department"))),
        out,
        note=listed_note(Label(f"统计期内收到的表扬 {total} 件。", f"{total} praise item(s) received in the period."),
                          len(out), total),
        total_rows=total,
    )
