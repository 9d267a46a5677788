"""Judging mail in worker processes: the same results as in-process, poison parked, a dying worker survived."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from conftest import scalar
from mail_samples import mail

from feedback.channels.base import IntakeItem, Rejected
from feedback.channels.mail.ingest import ingest_mailbox
from feedback.channels.mail.items import MailRules, judge
from feedback.channels.mail.pool import MailJudge
from feedback.channels.mail.sources import RawMail

RUN = datetime(2026, 10, 12, 6, 0, tzinfo=UTC)
KILL = b"X-Kill-The-Parser: yes"


def crashing_judge(raw: bytes, rules: MailRules, **kwargs):
    """`judge`, except that a marked mail ends the process it is judged in, as a crash in C code would."""
    if KILL in raw:
        os._exit(3)
    return judge(raw, rules, **kwargs)


@pytest.fixture
def rules(tmp_path):
    return MailRules("support", frozenset({"support@example.com"}), frozenset({"feedback.local"}), tmp_path / "att",
                     25 * 1024 * 1024, 10 * 1024 * 1024)


def raw_mails() -> list[RawMail]:
    raws = [mail(n) for n in range(1, 70)]
    raws[10] = b"\x00\x01 not a mail at all"
    raws[40] = b""
    return [RawMail(f"uid:{n}", raw, f"imap://support/INBOX;UID={n}", len(raw), arrived_at=RUN)
            for n, raw in enumerate(raws, start=1)]


def shape(results: list) -> list[tuple]:
    return [(r.external_id, r.status, r.payload, r.content_sha256) if isinstance(r, IntakeItem)
            else (r.external_ref, r.reason, r.detail, r.raw) for r in results]


def test_a_pool_judges_exactly_as_this_process_does_and_parks_the_poison(rules):
    mails = raw_mails()
    with MailJudge(rules, RUN, workers=0) as here:
        expected = here.submit(mails, folder_source="support/INBOX", outbound=False)()
    with MailJudge(rules, RUN, workers=2, min_batch=1) as pooled:
        got = pooled.submit(mails, folder_source="support/INBOX", outbound=False)()
        assert pooled.used_pool
    assert shape(got) == shape(expected)
    parked = [r for r in got if isinstance(r, Rejected)]
    assert [(r.external_ref, r.reason) for r in parked] == [("uid:11", "not_a_mail"), ("uid:41", "not_a_mail")]
    assert sum(isinstance(r, IntakeItem) for r in got) == len(mails) - 2


def test_a_small_batch_starts_no_pool(rules):
    with MailJudge(rules, RUN, workers=2, min_batch=200) as small:
        results = small.submit(raw_mails()[:5], folder_source="support/INBOX", outbound=False)()
        assert not small.used_pool and small._pool is None
    assert len(results) == 5


def test_a_mail_that_kills_its_worker_is_parked_and_the_rest_go_through(rules):
    mails = raw_mails()
    killer = mails[25]
    mails[25] = RawMail(killer.ref, killer.raw.replace(b"\n", b"\n" + KILL + b"\n", 1), killer.raw_ref,
                        killer.size, arrived_at=RUN)
    with MailJudge(rules, RUN, workers=2, min_batch=1, judge_fn=crashing_judge) as pooled:
        first = pooled.submit(mails, folder_source="support/INBOX", outbound=False)
        second = pooled.submit(raw_mails()[:3], folder_source="support/INBOX", outbound=False)
        got = first()
        after = second()   # submitted to the pool that broke: judged again, nothing lost
    crashed = [r for r in got if isinstance(r, Rejected) and r.reason == "parser_crash"]
    assert [r.external_ref for r in crashed] == ["uid:26"]
    assert "uid:26" not in crashed[0].detail and crashed[0].raw == mails[25].raw
    assert sum(isinstance(r, IntakeItem) for r in got) == len(mails) - 3
    assert [r.ref for r in mails] == [r.external_ref if isinstance(r, Rejected) else f"uid:{n}"
                                      for n, r in enumerate(got, start=1)]
    assert all(isinstance(r, IntakeItem) for r in after)


def test_mailbox_ingest_through_the_pool_stores_every_mail_once(register, tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("FEEDBACK_MAIL_POOL_MIN_BATCH", "1")
    monkeypatch.setenv("FEEDBACK_MAIL_PARSE_WORKERS", "2")
    box = tmp_path / "landing" / "mail" / "support"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    delivered = int(datetime(2026, 10, 12, 1, 0, tzinfo=UTC).timestamp())
    for n in range(1, 41):
        (box / "new" / f"{delivered + n}.M{n}P1.mx").write_bytes(mail(n) if n != 7 else b"garbage \x00")
    summary = ingest_mailbox(register, "support", None, RUN)
    inbox = summary["folders"][0]
    assert (inbox["fetched"], inbox["inserted"], inbox["quarantined"]) == (40, 39, 1)
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE channel = 'email'") == 39
    assert scalar(register, "SELECT reason FROM feedback.quarantine") == "not_a_mail"
    again = ingest_mailbox(register, "support", None, RUN)
    assert again["folders"][0]["fetched"] == 0
