"""`feedback demo` end to end (what `make demo` runs), small, twice: green and the same counts."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _demo(local: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FEEDBACK_LOCAL_DIR": str(local), "PYTHONPATH": str(ROOT / "include")}
    return subprocess.run(
        [sys.executable, "-m", "feedback.cli", "demo", "--volume", "150", "--runs", "3"],
        env=env, capture_output=True, text=True, timeout=600,
    )


def _counts(stdout: str) -> str:
    start = stdout.index("rows per table:")
    end = stdout.index("mails sent")
    return stdout[start:end]


def _links_open_in_the_app_make_up_serves(mails, local: Path, monkeypatch) -> None:
    """The survey links of the demo's mails point at `make up`'s app, and one still opens a live form there."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    from web_server import serve

    from feedback.notify.escalation import load_ladder
    from feedback.web.app import URL_PREFIX, standalone_app
    from feedback_dev.up import one_machine_settings

    app_base = one_machine_settings()["AIRFLOW__API__BASE_URL"] + URL_PREFIX     # what `make up` serves
    assert load_ladder().console_url.startswith(app_base + "/console"), "digest links must open in `make up`"
    links = [re.search(r"https?://\S+/survey/[A-Za-z0-9._-]+", m.get_body(("plain",)).get_content()).group(0)
             for m in mails if m["X-Feedback-Outbox"] == "survey"]
    assert links and all(link.startswith(app_base + "/survey/") for link in links), links[:3]
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(local))         # the demo's keys: the survey key derives from them
    live = 0
    with serve(standalone_app()) as base:
        for link in links:
            try:
                with urllib.request.urlopen(base + urlsplit(link).path, timeout=30) as response:
                    page = response.read().decode()
            except urllib.error.HTTPError as refused:
                assert refused.code in (409, 410), refused.code     # answered by phone, or expired: never a 5xx
                continue
            if '<form method="post"' in page:
                live += 1
    assert live >= 1, f"no survey of the demo's {len(links)} opens a live form when the demo has ended"


def _run_durations_are_wall_clock(airflow_db: Path) -> None:
    """The runs' records carry the wall-clock start, so the UI shows minutes, not the weeks since the month."""
    import sqlite3

    with sqlite3.connect(airflow_db) as conn:
        longest = conn.execute("SELECT max(julianday(end_date) - julianday(start_date)) FROM dag_run").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM dag_run").fetchone()[0]
    assert runs > 0 and longest < 1 / 24, f"a demo run is recorded as lasting {longest:.1f} days"


@pytest.mark.timeout(1200)
def test_demo_runs_twice_with_the_same_counts(register, tmp_path, monkeypatch):
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "surveys still open: 0" not in first.stdout and "make up" in first.stdout
    assert "feedback_ingest_webforms" in first.stderr and "FAILED" not in first.stderr
    found = re.search(r"web-form submissions: (\d+) in the sample, (\d+) stored in intake, (\d+) quarantined", first.stdout)
    assert found, first.stdout
    sample, stored, parked = map(int, found.groups())
    assert sample > 0 and stored > 0 and stored + parked == sample
    mails = re.search(r"mails: (\d+) in the sample, (\d+) stored in intake, (\d+) quarantined", first.stdout)
    assert mails, first.stdout
    sample, stored, parked = map(int, mails.groups())
    assert sample > 0 and stored > 0 and stored + parked == sample
    platforms = re.search(r"platform records \(Zendesk, Trustpilot\): (\d+) in the sample, (\d+) stored in intake, "
                          r"(\d+) quarantined", first.stdout)
    assert platforms, first.stdout
    sample, stored, parked = map(int, platforms.groups())
    assert sample > 0 and stored > 0 and stored + parked == sample
    assert "feedback_ingest_platforms" in first.stderr
    # The callback team worked the queue: some items closed, some reopened, some customers unreachable.
    callbacks = re.search(r"callbacks: (.*)", first.stdout)
    assert callbacks, first.stdout
    figures = {name: int(n) for n, name in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", callbacks.group(1))}
    assert figures.get("items closed", 0) > 0 and figures.get("items reopened", 0) > 0, callbacks.group(1)
    assert figures.get("tasks unreachable", 0) > 0 and figures.get("survey mails", 0) > 0, callbacks.group(1)
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in (tmp_path / "outbox").glob("*.eml")]
    surveys = [m for m in mails if m["X-Feedback-Outbox"] == "survey"]
    assert surveys and all("/feedback/survey/" in m.get_body(("plain",)).get_content() for m in surveys)
    _links_open_in_the_app_make_up_serves(mails, tmp_path, monkeypatch)
    _run_durations_are_wall_clock(tmp_path / "airflow" / "airflow.db")
    assert "feedback_ingest_email" in first.stderr
    assert "ack (sent)" in first.stdout, "each new item from e-mail gets a receipt through the outbox"
    assert (tmp_path / "airflow" / "airflow.db").exists(), "Airflow metadata must live under the local dir"
    assert (tmp_path / "outbox").is_dir()
    assert "planted contacts found outside intake and the vault: 0" in first.stdout
    assert "feedback_triage" in first.stderr

    # Every task log of the demo's runs is free of the sample's planted contacts.
    from feedback_dev.sample import generate

    planted = {p for i in generate(seed=20261001, volume=150, month="2026-10").all_items()
               for p in i.planted_pii if len(p) >= 3}
    logs = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "airflow").rglob("*.log"))
    assert "feedback_triage" in logs
    leaked = [value for value in planted if value in logs]
    assert not leaked, f"{len(leaked)} planted contact value(s) in the task logs"

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _counts(second.stdout) == _counts(first.stdout)
