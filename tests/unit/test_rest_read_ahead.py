"""Platform pages are fetched one ahead in a thread (issue 17): order, failures and early stops as without it."""

from __future__ import annotations

import threading

import pytest

from feedback.channels.rest.ingest import _read_ahead


def test_pages_come_in_order_and_one_at_most_is_fetched_ahead():
    fetched: list[int] = []
    consumed: list[int] = []

    def pages():
        for n in range(6):
            fetched.append(n)
            yield n

    for page in _read_ahead(pages()):
        consumed.append(page)
        assert len(fetched) - len(consumed) <= 2   # the page in hand, the one in the slot, the one being read
    assert consumed == list(range(6))


def test_a_pager_failure_arrives_after_the_pages_read_before_it():
    def pages():
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    got = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for page in _read_ahead(pages()):
            got.append(page)
    assert got == [1, 2]


def test_stopping_early_ends_the_thread_and_closes_the_pager():
    closed = threading.Event()

    def pages():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.set()

    reader = _read_ahead(pages())
    assert next(reader) == 1
    reader.close()
    assert closed.is_set()
    assert not any(t.name == "platform-pages" and t.is_alive() for t in threading.enumerate())
