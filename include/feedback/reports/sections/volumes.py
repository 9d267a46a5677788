"""Volume sections: items received in the period by channel, type, priority and department, and by day."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from feedback.reports.model import Chart, Column, Label, Section
from feedback.reports.sections.cells import C_ITEMS, C_KEY, C_SHARE, in_order, share_of
from feedback.reports.sections.labels import (
    CHANNEL_ORDER,
    PRIORITY_ORDER,
    TITLES,
    category_label,
    channel_label,
    department_label,
    priority_label,
)
from feedback.reports.sections.queries import run


def _volume(conn: sa.Connection, p: dict[str, Any], key: str, title: Label, dim: Label, labeller: Callable[[str | None], Label | str | None],
            order: tuple[str, ...] | None) -> Section:
    rows = run(conn, key, p)
    if order is not None:
        present = {r["key"] for r in rows}
        rows = in_order(rows + [{"key": code, "items": 0} for code in order if code not in present], order)
    total = sum(r["items"] for r in rows)
    out = tuple({"key": r["key"], "label": labeller(r["key"]), "items": r["items"], "share": share_of(r["items"], total)}
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
                 for r in run(conn, "daily_trend", p))
    title = TITLES["daily_trend"]
    return Section(
        "daily_trend", title,
        (Column("day", Label("日期", "Date"), "date"), Column("items", Label("反馈量", "Items"), "int"),
         Column("urgent", Label("其中紧急", "Urgent"), "int")),
        rows, chart=Chart("line", "day", ("items", "urgent"), title),
        note=Label("按收到日期（业务时区），含无反馈的日期。", "By local date of receipt, days without items included."),
    )
