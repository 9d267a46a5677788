"""Loading and running the report SQL: one file `sql/reports/<key>.sql` per section.

Whole-line `--` comments of the files are stripped before execution, so they may mention
parameters freely; a comment at the end of a code line would not be stripped. Rows come back
as dicts of plain Python numbers (never `Decimal`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from feedback.paths import sql_dir
from feedback.reports.sections.periods import Period

# An instant before this (or an infinite one) is not a real time of ours: a row carrying one is left
# out of every duration figure and counted in the section's note, never allowed to break the query.
OLDEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)

# Memory per sort or hash node of the report queries, for their transaction only (session_for_reports).
REPORT_WORK_MEM = "64MB"

# Complaint categories of the shipped presets (taxonomy.yaml): A's 功能问题 / 服务投诉 and B's
# complaint classes (B's `other` shares its code with A's non-complaint `other`, so it is left out).
COMPLAINT_CATEGORIES: tuple[str, ...] = (
    "function_problem", "service_complaint", "product_quality", "service_experience", "logistics", "fee_dispute",
)

PRAISE_CATEGORIES: tuple[str, ...] = ("praise",)

_COMMENT_LINE = re.compile(r"^\s*--.*$\n?", re.MULTILINE)


@lru_cache(maxsize=64)
def _sql_text(path: str, mtime: float) -> str:
    # Whole-line comments are dropped, so what they say (":start", "10%") is never taken for a parameter.
    return _COMMENT_LINE.sub("", Path(path).read_text(encoding="utf-8"))


def report_sql(key: str) -> str:
    """The query of section `key` (sql/reports/<key>.sql), without its whole-line comments."""
    path = sql_dir() / "reports" / f"{key}.sql"
    return _sql_text(str(path), path.stat().st_mtime)


def _whole_exponent(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent      # "n", "N" or "F" for NaN and infinity
    return isinstance(exponent, int) and exponent >= 0


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and _whole_exponent(value) else float(value)
    return value


def run(conn: sa.Connection, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows as dicts. The queries return float8 for sums, so a Decimal is rare; it becomes int/float."""
    result = conn.execute(sa.text(report_sql(key)), params)
    keys = tuple(result.keys())
    rows = result.all()
    if rows and any(isinstance(v, Decimal) for row in rows[:50] for v in row):
        return [dict(zip(keys, map(_plain, row), strict=True)) for row in rows]
    return [dict(zip(keys, row, strict=True)) for row in rows]


def run_listed(conn: sa.Connection, key: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
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


def session_for_reports(conn: sa.Connection) -> None:
    """Sorts and hashes of a month's rows in memory, for this transaction only (SET LOCAL).

    The default work_mem (4 MB) sends the month's joins, orderings and percentiles to temporary
    files; REPORT_WORK_MEM per sort or hash keeps them in memory (about 10-15% less CPU on a
    million-item month). It ends with the report's transaction.
    """
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")


def params_for(period: Period, **extra: Any) -> dict[str, Any]:
    start, end = period.bounds()
    prev_start, prev_end = period.previous().bounds()
    ya_start, ya_end = period.year_ago().bounds()
    return {
        "start": start, "end": end, "zone": period.zone, "first_day": period.start, "last_day": period.end,
        "prev_start": prev_start, "prev_end": prev_end, "ya_start": ya_start, "ya_end": ya_end,
        "complaint_categories": list(COMPLAINT_CATEGORIES), "praise_categories": list(PRAISE_CATEGORIES),
        "oldest": OLDEST_PLAUSIBLE, **extra,
    }
