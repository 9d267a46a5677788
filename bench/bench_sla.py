"""SLA monitor at scale: 1,000,000 open items with random histories.

Measured in one run on the same data: (1) one monitor run over all open items,
(2) a run after 1% of the items changed (replies, pauses, resumes), and (3) the
naive approach — load every open deadline and compute its used business time per
item in a Python loop — which is what the set-based design avoids.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench import targets
from feedback.db.bulk import copy_into
from feedback.sla import monitor

NOW = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)  # Tue 14:00 in Shanghai
# The run after 1% changed is repeated on another 1% of the items each round, five minutes apart: one
# run of about a second is at the mercy of a checkpoint or a neighbour's burst on a shared machine,
# so the median is reported with the range.
CHANGED_ROUNDS = 3

GENERATE_ITEMS = """
INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at, description, priority,
                               status, sla_preset, customer_tier)
SELECT to_char(:now - (i % 30) * interval '1 day', 'YYYYMMDD') || '-' || lpad(i::text, 7, '0'),
       (ARRAY['email', 'webform', 'platform'])[1 + i % 3], 'bench',
       :now - (random() * 30 * 86400) * interval '1 second', :now, '(masked text)',
       (ARRAY['urgent', 'high', 'medium', 'medium', 'low'])[1 + i % 5],
       (ARRAY['assigned', 'in_progress', 'waiting_customer', 'assigned'])[1 + i % 4], 'A', 'normal'
FROM generate_series(1, :n) AS i
"""
# Two stages per item; a random share already met; the allowance spread from 2 hours to 15 days.
GENERATE_DEADLINES = """
INSERT INTO feedback.feedback_deadline (feedback_id, stage, handling_cycle, starts_at, due_at, allowance, calendar,
                                        rule, warn_at, met_at, paused_at)
SELECT f.id, s.stage, 1, f.received_at, f.received_at + a.allowance, a.allowance,
       'default', 'bench', f.received_at + a.allowance * 0.8,
       CASE WHEN random() < s.met_share THEN f.received_at + a.allowance * random() END,
       CASE WHEN f.status = 'waiting_customer' THEN f.received_at + a.allowance * 0.5 END
FROM feedback.feedback f
CROSS JOIN (VALUES ('first_response', 0.6), ('resolution', 0.2)) AS s(stage, met_share)
CROSS JOIN LATERAL (SELECT (interval '2 hours' + random() * interval '15 days') AS allowance) a
"""


def populate(engine: sa.Engine, items: int, say) -> None:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT setseed(0.42)"))
        conn.execute(sa.text(GENERATE_ITEMS), {"now": NOW, "n": items})
        conn.execute(sa.text(GENERATE_DEADLINES))
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE feedback.feedback")
        conn.exec_driver_sql("ANALYZE feedback.feedback_deadline")
    say(f"  populated {items:,} items in {time.perf_counter() - started:.0f}s")


def first_run(engine: sa.Engine, setup: monitor.SlaSetup) -> tuple[float, monitor.MonitorSummary]:
    """The first run records every warning and breach already due: the worst case."""
    started = time.perf_counter()
    summary = monitor.run_monitor(engine, NOW, setup)
    return time.perf_counter() - started, summary


def steady_run(engine: sa.Engine, setup: monitor.SlaSetup, at: datetime) -> tuple[float, monitor.MonitorSummary]:
    started = time.perf_counter()
    summary = monitor.run_monitor(engine, at, setup)
    return time.perf_counter() - started, summary


def change_one_percent(engine: sa.Engine, items: int, at: datetime, seed: int = 7) -> int:
    """Replies, pauses and resumes on 1% of the items, dated just before the next run."""
    rng = random.Random(seed)
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM feedback.feedback TABLESAMPLE SYSTEM (2) LIMIT :n"),
                           {"n": items // 100}).scalars().all()
    rows = []
    for fid in ids:
        roll = rng.random()
        if roll < 0.5:
            rows.append((fid, "responded", at - timedelta(minutes=3), None))
        elif roll < 0.75:
            rows.append((fid, "status_changed", at - timedelta(minutes=2), "waiting_customer"))
        else:
            rows.append((fid, "status_changed", at - timedelta(minutes=1), "in_progress"))
    with engine.begin() as conn:
        copy_into(conn, "feedback.feedback_event", ("feedback_id", "event_type", "occurred_at", "to_status"), rows)
    return len(rows)


def naive_loop(engine: sa.Engine, setup: monitor.SlaSetup, at: datetime) -> tuple[float, int, int]:
    """Per item in Python: used business time over the allowance, the way a simple checker does it."""
    cal = setup.calendars["default"]
    started = time.perf_counter()
    warnings = breaches = 0
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=20_000).execute(
            sa.text("""SELECT d.starts_at, d.allowance FROM feedback.feedback_deadline d
                       JOIN feedback.feedback f ON f.id = d.feedback_id
                       WHERE d.met_at IS NULL AND d.paused_at IS NULL AND f.status NOT IN ('closed', 'unsolvable')""")
        )
        for starts_at, allowance in result:
            used = cal.between(starts_at, at) / allowance
            if used >= 1:
                breaches += 1
            elif used >= 0.8:
                warnings += 1
    return time.perf_counter() - started, warnings, breaches


def measure(fresh, items: int, say) -> dict:
    engine = fresh()
    populate(engine, items, say)
    setup = monitor.load_setup()
    first_s, first = first_run(engine, setup)
    say(f"  first run: {first_s:.1f}s ({first.breaches:,} breaches, {first.warnings:,} warnings recorded)")
    # The first run wrote a backlog into sla_breach; autovacuum would now vacuum and analyze the tables.
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE feedback.feedback_deadline, feedback.sla_breach, feedback.feedback")
    vacuum_s = time.perf_counter() - started
    quiet_s, _ = steady_run(engine, setup, NOW + timedelta(minutes=5))
    say(f"  next run, nothing changed: {quiet_s:.2f}s")
    changed_runs: list[float] = []
    changed_summary = monitor.MonitorSummary()
    changed, later = 0, NOW
    load = [os.getloadavg()[0]]   # a shared machine: how disturbed the 1% rounds were
    for round_no in range(CHANGED_ROUNDS):
        later = NOW + timedelta(minutes=10 + 5 * round_no)
        changed = change_one_percent(engine, items, later, seed=7 + round_no)
        round_s, round_summary = steady_run(engine, setup, later)
        changed_runs.append(round_s)
        if round_no == 0:
            changed_summary = round_summary
        load.append(os.getloadavg()[0])
        say(f"  run after {changed:,} events on 1% of items (round {round_no + 1}): {round_s:.2f}s")
    changed_s = statistics.median(changed_runs)
    naive_s, naive_w, naive_b = naive_loop(engine, setup, later)
    say(f"  naive per-item loop: {naive_s:.1f}s")
    engine.dispose()
    return {"items": items, "first_s": first_s, "vacuum_s": vacuum_s, "first": first.as_dict(), "quiet_s": quiet_s, "changed": changed,
            "changed_s": changed_s, "changed_runs": changed_runs, "changed_summary": changed_summary.as_dict(),
            "naive_s": naive_s, "load": load,
            "naive_warnings": naive_w, "naive_breaches": naive_b}


def markdown(r: dict) -> str:
    load = r.get("load", [])
    return "\n".join([
        "## SLA monitor at scale",
        "",
        f"{r['items']:,} open items with random histories (two stages each, allowances from 2 hours to 15 days,",
        "60% / 20% of the stages already met, a quarter of the items waiting on the customer), generated in SQL.",
        "Command: `python bench/run.py --only sla`.",
        "",
        "| run | seconds |",
        "|---|---:|",
        f"| first monitor run (records every warning and breach already due: {r['first']['breaches']:,} breaches, "
        f"{r['first']['warnings']:,} warnings) | {r['first_s']:.1f} |",
        f"| (VACUUM ANALYZE after that backlog, as autovacuum would do: {r['vacuum_s']:.1f} s) | |",
        f"| next run, nothing changed | {r['quiet_s']:.2f} |",
        f"| run after {r['changed']:,} events on 1% of the items (replies, pauses, resumes): median of "
        f"{len(r['changed_runs'])} rounds, each on another 1% (range) | {r['changed_s']:.2f} "
        f"({min(r['changed_runs']):.2f}–{max(r['changed_runs']):.2f}) |",
        f"| baseline: naive per-item Python loop computing used business time for every open deadline | "
        f"{r['naive_s']:.1f} |",
        "",
        f"Load average (1 min) before the first 1% round and after each: {', '.join(f'{x:.1f}' for x in load)} on "
        f"{os.cpu_count()} cores; above the core count a round of about a second is stretched by other work.",
        "",
        "The first run is one `INSERT … SELECT` into `sla_breach` for both kinds (the record of what was",
        "flagged; no marker written back on each deadline). A later run looks only at deadlines whose warning",
        "instant or due time fell since the last run (range scans on `warn_at` / `due_at`), deadlines written or",
        "moved by other transactions (`touched_xid`) and those of items an event took out of closed/unsolvable",
        "or into a new cycle, lists the crossed ones and records them by id; the naive loop must look at every",
        "open deadline every time. Most of a 1% run is writing: about 8,000 items (status, next deadline) and",
        "5,000 deadlines (met, paused, resumed), each a new row version in every index of its table (none of",
        "these updates is HOT: each changes an indexed column). The item update is the larger half: ten",
        "indexes on `feedback` against eight on `feedback_deadline` (migration 023 dropped a ninth, a",
        "duplicate of the unique key's leading columns). Targets (issue 17): first run under 20 s, the 1% run",
        "under 1 s.",
        "",
        targets.line("SLA monitor's first run over a 1M backlog under 20 s", f"{r['first_s']:.1f} s", r["first_s"] < 20),
        "",
        targets.line("SLA monitor's run after 1% changed under 1 s",
                     f"{r['changed_s']:.2f} s (median; rounds {min(r['changed_runs']):.2f}–{max(r['changed_runs']):.2f} s)",
                     r["changed_s"] < 1),
        "",
    ])
