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


@pytest.mark.timeout(1200)
def test_demo_runs_twice_with_the_same_counts(register, tmp_path):
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
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
    assert "feedback_ingest_email" in first.stderr
    assert "ack (sent)" in first.stdout, "each new item from e-mail gets a receipt through the outbox"
    assert (tmp_path / "airflow" / "airflow.db").exists(), "Airflow metadata must live under the local dir"
    assert (tmp_path / "outbox").is_dir()
    assert "planted contacts found outside intake and the vault: 0" in first.stdout
    assert "feedback_triage" in first.stderr

    # Every task log of the demo's runs is free of the sample's planted contacts.
    from feedback.sample import generate

    planted = {p for i in generate(seed=20261001, volume=150, month="2026-10").all_items()
               for p in i.planted_pii if len(p) >= 3}
    logs = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "airflow").rglob("*.log"))
    assert "feedback_triage" in logs
    leaked = [value for value in planted if value in logs]
    assert not leaked, f"{len(leaked)} planted contact value(s) in the task logs"

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _counts(second.stdout) == _counts(first.stdout)
