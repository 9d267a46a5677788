"""The monthly and weekly reports: every section in order, each in its own savepoint, and the headline."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from time import perf_counter
from typing import Any, Literal

import sqlalchemy as sa

from feedback.holds import is_infrastructure_error
from feedback.reports.model import UNAVAILABLE, Headline, Kind, Label, Section
from feedback.reports.sections.business_hours import calendars_param, configured_calendars
from feedback.reports.sections.cells import share_of
from feedback.reports.sections.complaints import high_frequency, repeat_complaints, top_issue_tags
from feedback.reports.sections.labels import TITLES
from feedback.reports.sections.lists import open_ledger, overdue_items, praise
from feedback.reports.sections.periods import Period
from feedback.reports.sections.queries import params_for, session_for_reports
from feedback.reports.sections.satisfaction import (
    dissatisfaction_causes,
    satisfaction,
    satisfaction_tiers,
    satisfaction_trend,
)
from feedback.reports.sections.sla import (
    overdue_reasons,
    response_time_monitor,
    response_times,
    sla_attainment,
    urgent_speed,
)
from feedback.reports.sections.volumes import (
    daily_trend,
    volume_by_channel,
    volume_by_department,
    volume_by_priority,
    volume_by_type,
)

SECTION_KEYS_MONTHLY: tuple[str, ...] = (
    "volume_by_channel", "volume_by_type", "volume_by_priority", "volume_by_department", "daily_trend",
    "sla_attainment", "response_times", "urgent_speed", "satisfaction", "satisfaction_trend",
    "dissatisfaction_causes", "overdue_reasons", "overdue_items", "high_frequency", "repeat_complaints",
    "open_ledger", "praise",
)

SECTION_KEYS_WEEKLY: tuple[str, ...] = ("response_time_monitor", "satisfaction_tiers", "top_issue_tags")

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
    if side is None or not beside:
        return tuple(isolated(conn, key) for key in computes)

    def run_beside() -> dict[str, Section]:
        with side() as other:
            session_for_reports(other)
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
HEADLINE_FIGURES: tuple[tuple[Label, Kind, Literal["up", "down"] | None], ...] = (
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
        pick("sla_attainment", lambda s: share_of(sum(r["on_time"] for r in s.rows), sum(r["due"] for r in s.rows))),
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
    p = params_for(earlier)
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
    p = params_for(period, calendars=calendars_param(calendars if calendars is not None else configured_calendars(), period))
    p["list_rows"] = list_rows
    session_for_reports(conn)
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
    p = params_for(period, calendars=calendars_param(calendars if calendars is not None else configured_calendars(), period))
    session_for_reports(conn)
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
