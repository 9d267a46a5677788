"""Feedback numbers: date + daily serial, gap-free, unique when runs overlap."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from feedback.triage import numbering

D1, D2 = date(2026, 11, 22), date(2026, 11, 23)


def test_serials_per_day_in_order(register):
    with register.begin() as conn:
        assert numbering.allocate(conn, [D1, D2, D1]) == ["20261122-001", "20261123-001", "20261122-002"]
    with register.begin() as conn:
        assert numbering.allocate(conn, [D1]) == ["20261122-003"]


def test_a_rolled_back_batch_gives_its_numbers_back(register):
    with pytest.raises(RuntimeError), register.begin() as conn:
        numbering.allocate(conn, [D1, D1])
        raise RuntimeError("batch failed")
    with register.begin() as conn:
        assert numbering.allocate(conn, [D1]) == ["20261122-001"]


def test_serial_grows_past_three_digits(register):
    with register.begin() as conn:
        numbers = numbering.allocate(conn, [D1] * 1001)
    assert numbers[998:] == ["20261122-999", "20261122-1000", "20261122-1001"]


def test_overlapping_runs_get_distinct_gap_free_numbers(register):
    got: list[str] = []
    lock = threading.Lock()

    def run():
        for _ in range(20):
            with register.begin() as conn:
                numbers = numbering.allocate(conn, [D1] * 5)
                conn.execute(sa.text("SELECT pg_sleep(0.001)"))
            with lock:
                got.extend(numbers)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == [numbering.format_no(D1, n) for n in range(1, 401)]
