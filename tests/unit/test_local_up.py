"""`make up` on one machine: loopback, sized to the cores, DAGs unpaused, nothing left running after Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import time

from feedback_dev.up import one_machine_settings, stop_group


def test_settings_for_one_machine():
    two = one_machine_settings(cores=2)
    assert two["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert two["AIRFLOW__API__BASE_URL"] == "http://localhost:8080"
    assert two["AIRFLOW__CORE__PARALLELISM"] == "4" and two["AIRFLOW__API__WORKERS"] == "1"
    assert two["AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES"] == "2"
    assert two["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert one_machine_settings(cores=1)["AIRFLOW__CORE__PARALLELISM"] == "2"
    assert one_machine_settings(cores=64)["AIRFLOW__CORE__PARALLELISM"] == "8"   # never the default 32
    assert one_machine_settings(host="0.0.0.0", port=9000)["AIRFLOW__API__BASE_URL"] == "http://0.0.0.0:9000"


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_group_ends_every_process_of_the_group():
    # A parent with two children, as `airflow standalone` starts its components.
    proc = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"], start_new_session=True)
    time.sleep(0.3)
    assert _alive(proc.pid)
    stop_group(proc, grace=5)
    assert not _alive(proc.pid), "a component outlived the shutdown"


def test_stop_group_kills_what_ignores_sigterm():
    proc = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait"], start_new_session=True)
    time.sleep(0.3)
    started = time.monotonic()
    stop_group(proc, grace=1)
    assert not _alive(proc.pid)
    assert time.monotonic() - started < 15
