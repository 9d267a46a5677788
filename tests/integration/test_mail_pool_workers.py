"""The parse workers' own guarantees: a task that cannot start them still judges everything, a dead
worker costs only its chunk, and a failing store stops the batches after it (issue 17)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
from mail_samples import mail
from mail_worker_probe import modules_of_the_worker

from feedback.channels.base import IntakeItem
from feedback.channels.mail import ingest, pool
from feedback.channels.mail.items import MailRules
from feedback.channels.mail.pool import MailJudge
from feedback.channels.mail.sources import Batch, RawMail

RUN = datetime(2026, 10, 12, 6, 0, tzinfo=UTC)


@pytest.fixture
def rules(tmp_path):
    return MailRules("support", frozenset({"support@example.com"}), frozenset({"feedback.local"}), tmp_path / "att",
                     25 * 1024 * 1024, 10 * 1024 * 1024)


def raw_mails(count: int, start: int = 1) -> list[RawMail]:
    return [RawMail(f"uid:{n}", mail(n), f"imap://support/INBOX;UID={n}", len(mail(n)), arrived_at=RUN)
            for n in range(start, start + count)]


def ids(results: list) -> list[str]:
    return [r.external_id for r in results]


def test_without_an_interpreter_to_start_the_mails_are_judged_here(rules, monkeypatch, caplog):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    mails = raw_mails(90)
    with MailJudge(rules, RUN, workers=2, min_batch=1) as judge:
        got = judge.submit(mails, folder_source="support/INBOX", outbound=False)()
        later = judge.submit(raw_mails(5, 100), folder_source="support/INBOX", outbound=False)()
    assert ids(got) == [f"<m{n}.test@example.net>" for n in range(1, 91)]
    assert all(isinstance(r, IntakeItem) for r in got + later) and len(later) == 5
    assert "no worker processes" in caplog.text


def test_the_workers_import_the_parser_and_not_the_main_module(rules, monkeypatch):
    # A worker that imported the task's main module (as multiprocessing's spawn and fork-server children do)
    # would have pytest, the task's __main__ here, loaded; a worker imports the parser and the judge only.
    mails = raw_mails(50)
    with MailJudge(rules, RUN, workers=2, min_batch=1, judge_fn=modules_of_the_worker) as judge:
        got = judge.submit(mails, folder_source="support/INBOX", outbound=False)()
    loaded = got[0].payload["modules"]
    assert "feedback.channels.mail.parse" in loaded
    assert not any(name == "_pytest" or name.startswith(("_pytest.", "sqlalchemy", "airflow")) for name in loaded)


def test_a_worker_that_dies_between_chunks_is_replaced_and_nothing_is_lost(rules):
    with MailJudge(rules, RUN, workers=2, min_batch=1) as judge:
        first = judge.submit(raw_mails(80), folder_source="support/INBOX", outbound=False)()
        assert judge._pool is not None
        for worker in judge._pool.workers:   # the OOM killer, between two batches
            if worker.proc is not None:
                worker.proc.kill()
                worker.proc.wait()
        second = judge.submit(raw_mails(80, 200), folder_source="support/INBOX", outbound=False)()
    assert ids(first) == [f"<m{n}.test@example.net>" for n in range(1, 81)]
    assert ids(second) == [f"<m{n}.test@example.net>" for n in range(200, 280)]


class FailingStore(Exception):
    pass


def test_a_failed_store_stops_the_batches_after_it_and_is_raised_on_the_reading_thread(monkeypatch, rules):
    stored: list[dict] = []

    def store_batch(engine, channel, source, items, rejected, position, parked_at, resolve=None):
        if position["n"] == 2:
            raise FailingStore
        stored.append(position)
        return ingest.StoreResult(len(items), 0, len(rejected))

    monkeypatch.setattr(ingest, "store_batch", store_batch)
    storer = ingest._Storer(engine=None, source_key="support/INBOX", run_time=RUN)   # type: ignore[arg-type]
    try:
        for n in range(1, 6):
            batch = Batch(raw_mails(2, n * 10), {"n": n}, [])
            try:
                storer.put(batch, lambda: [])
            except FailingStore:
                break
        with pytest.raises(FailingStore):
            storer.finish()
    finally:
        storer.abandon()
    assert stored == [{"n": 1}]                     # nothing after the failed batch was stored
    assert [c.batch.position for c in storer.committed()] == [{"n": 1}]


def test_chunks_hold_at_most_the_configured_mails_and_bytes():
    mails = raw_mails(100)
    chunks = pool._chunks(mails)
    assert [len(c) for c in chunks] == [pool.CHUNK_MAILS] * (100 // pool.CHUNK_MAILS) + (
        [100 % pool.CHUNK_MAILS] if 100 % pool.CHUNK_MAILS else [])
    assert [m for c in chunks for m in c] == mails
