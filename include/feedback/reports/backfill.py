"""Month ranges for re-rendering past monthly reports (`feedback report monthly --from … --to …`).

Airflow's backfill selects runs by logical date, which for the monthly DAG is the start of
its data interval: the 1st at 06:00 Asia/Shanghai, i.e. 22:00 UTC the day before. Dates
typed as plain days miss the first month or add one; naming months is what operators
mean, so the CLI takes months and the docs give the backfill dates that match them.
"""

from __future__ import annotations

import re

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _parse(text: str, what: str) -> tuple[int, int]:
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{what}: expected a month as YYYY-MM such as 2026-01, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def month_range(first: str, last: str, limit: int = 120) -> list[str]:
    """Every month from `first` to `last`, both included: `month_range("2026-01", "2026-03")` → Jan, Feb, Mar."""
    year, month = _parse(first, "--from")
    end = _parse(last, "--to")
    if (year, month) > end:
        raise ValueError(f"--from {first} is after --to {last}")
    months = []
    while (year, month) <= end:
        months.append(f"{year:04d}-{month:02d}")
        if len(months) > limit:
            raise ValueError(f"more than {limit} months from {first} to {last}; render them in smaller ranges")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
