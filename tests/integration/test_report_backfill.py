"""Backfilling monthly reports renders exactly the months it names: the CLI range, and the documented
Airflow backfill command read through the monthly DAG's own timetable (the API `airflow backfill create` uses)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from datetime import date

import pytest
import sqlalchemy as sa
from conftest import ROOT, load_dag

from feedback.reports.backfill import month_range

# Where the monthly backfill is documented; every `airflow backfill create` for the monthly DAG there
# is followed by `# renders YYYY-MM to YYYY-MM`, which this test holds it to.
DOCUMENTED_IN = ("docs/deployment.md", "docs/operating.md", "dags/feedback_report_monthly.py")
BACKFILL = re.compile(
    r"airflow backfill create (?P<args>--dag-id feedback_report_monthly[^#`(]*?)\s*`?\s*\(?#\s*renders\s+"
    r"(?P<first>\d{4}-\d{2}) to (?P<last>\d{4}-\d{2})"
)
CLI = re.compile(r"feedback report monthly --from (?P<first>\d{4}-\d{2}) --to (?P<last>\d{4}-\d{2})")


def test_month_range_names_every_month_once():
    assert month_range("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert month_range("2026-10", "2026-10") == ["2026-10"]
    with pytest.raises(ValueError, match="after"):
        month_range("2026-06", "2026-01")
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_range("2026-13", "2026-12")


def documented_backfills() -> list[tuple[str, str, str, str]]:
    found = []
    for name in DOCUMENTED_IN:
        text = re.sub(r"\\?\n\s*", " ", (ROOT / name).read_text(encoding="utf-8"))  # joined lines
        for match in BACKFILL.finditer(text):
            found.append((name, match["args"], match["first"], match["last"]))
        bare = text.count("airflow backfill create --dag-id feedback_report_monthly")
        assert bare == len([f for f in found if f[0] == name]), f"{name}: a monthly backfill without '# renders'"
    return found


def months_backfill_would_render(args: str) -> list[str]:
    """The months of the runs `airflow backfill create <args>` creates, from the DAG's timetable."""
    from airflow._shared.timezones.timezone import parse as parsedate  # what the CLI parses the dates with
    from airflow.serialization.serialized_objects import DagSerialization

    from feedback.reports.produce import period_for_run

    words = shlex.split(args)
    start, end = parsedate(words[words.index("--from-date") + 1]), parsedate(words[words.index("--to-date") + 1])
    dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(
        load_dag("feedback_report_monthly.py", "feedback_report_monthly")))
    months = []
    for info in dag.iter_dagrun_infos_between(start, end):     # what airflow.models.backfill uses
        period = period_for_run("monthly", info.data_interval.start, info.data_interval.end, None, "Asia/Shanghai")
        months.append(f"{period.start:%Y-%m}")
    return months


def test_the_documented_airflow_backfill_renders_the_months_it_names(airflow_db):
    found = documented_backfills()
    assert {name for name, *_ in found} >= {"docs/deployment.md", "docs/operating.md"}, found
    for name, args, first, last in found:
        assert months_backfill_would_render(args) == month_range(first, last), f"{name}: {args}"


def test_plain_day_bounds_are_off_by_one_month(airflow_db):
    """Why the docs give 06:00+08:00: the run for a month has its logical date at 22:00 UTC the day before."""
    assert months_backfill_would_render("--from-date 2026-01-01T00:00:00+00:00 --to-date 2026-06-30T00:00:00+00:00") \
        == month_range("2026-02", "2026-06")
    assert months_backfill_would_render("--from-date 2026-10-01T00:00:00+00:00 --to-date 2026-10-31T00:00:00+00:00") \
        == []


def test_the_cli_renders_exactly_the_months_from_to(register, tmp_path, monkeypatch):
    documented = [CLI.search((ROOT / name).read_text(encoding="utf-8")) for name in DOCUMENTED_IN[:2]]
    documented = [m for m in documented if m]
    assert documented, "the docs should show `feedback report monthly --from … --to …`"
    first, last = documented[0]["first"], documented[0]["last"]
    env = {"FEEDBACK_LOCAL_DIR": str(tmp_path), "PYTHONPATH": str(ROOT / "include")}
    # The register is empty: --force renders the months anyway (empty months are refused without it).
    proc = subprocess.run([sys.executable, "-m", "feedback.cli", "report", "monthly", "--from", first, "--to", last,
                           "--force"], env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(proc.stdout.strip().splitlines()) == len(month_range(first, last))
    with register.connect() as conn:
        starts = conn.execute(sa.text("SELECT DISTINCT period_start FROM feedback.report_archive "
                                      "WHERE report_kind = 'monthly' ORDER BY 1")).scalars().all()
    assert [f"{d:%Y-%m}" for d in starts] == month_range(first, last)
    assert starts[0] == date(int(first[:4]), int(first[5:]), 1)


def test_the_cli_refuses_half_a_range(register):
    proc = subprocess.run([sys.executable, "-m", "feedback.cli", "report", "monthly", "--from", "2026-01"],
                          env={**os.environ, "PYTHONPATH": str(ROOT / "include")},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--from and --to go together" in proc.stderr
