"""Real mail nobody on the project wrote, through ingest and triage: every file accounted for.

The mails are the public parser samples of CPython and OTOBO (see the corpora README):
broken encodings, UTF-7, ks_c_5601, cp1251, duplicated content types, bounces, spam flags,
nested messages. They are delivered into a Maildir as an MTA would, read by the e-mail
ingest, and triaged once. Each file must end as exactly one of: an intake row (triaged,
or held with a reason), an intake row skipped with a reason (bounce, spam, list, ...), a
quarantine row with a reason, or a copy of a message already stored (same identity). Nothing
lost, and triage finishes on its first run with no failure.

The corpus is not part of the project: the folder comes from FEEDBACK_CORPORA (default
../shared/corpora from the project root) and the test is skipped when it is absent.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import ROOT

from feedback.channels.base import IntakeItem
from feedback.channels.config import load_channels
from feedback.channels.mail.ingest import ingest_mailbox
from feedback.channels.mail.items import MailRules, judge
from feedback.channels.mail.sources import locate, maildir_ref
from feedback.settings import load_settings
from feedback.triage import run as triage

RUN = datetime(2026, 10, 12, 6, 0, tzinfo=UTC)
LATER = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
DELIVERED = int(datetime(2026, 10, 12, 1, 0, tzinfo=UTC).timestamp())
# Text that is what a mis-decoded Latin or CJK header or body looks like.
MOJIBAKE = ("Ã¤", "Ã¶", "Ã¼", "ÃŸ", "Ã©", "Ã¡", "â‚¬", "醦", "\x1b", "$B")


def corpus_dir() -> Path:
    root = Path(os.environ.get("FEEDBACK_CORPORA") or ROOT.parent / "shared" / "corpora")
    return root / "mail"


def corpus_files() -> list[Path]:
    folder = corpus_dir()
    if not folder.is_dir():
        pytest.skip(f"no mail corpus at {folder} (set FEEDBACK_CORPORA to the corpora folder to run this test)")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower() != "readme.txt")
    if not files:
        pytest.skip(f"the mail corpus at {folder} holds no mail")
    return files


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    return tmp_path


def deliver_all(local: Path, files: list[Path]) -> tuple[Path, dict[str, Path]]:
    """Every corpus file into the support Maildir (tmp/ then new/), one second apart; name -> file."""
    box = local / "landing" / "mail" / "support"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    names: dict[str, Path] = {}
    for n, path in enumerate(files):
        name = f"{DELIVERED + n}.M{n}P1.corpus"
        (box / "tmp" / name).write_bytes(path.read_bytes())
        (box / "tmp" / name).rename(box / "new" / name)
        names[name] = path
    return box, names


def test_every_real_mail_is_stored_skipped_or_quarantined_with_a_reason_and_triaged_once(register, local):
    files = corpus_files()
    box, names = deliver_all(local, files)

    summary = ingest_mailbox(register, "support", None, RUN)
    assert not summary["backlog"]
    inbox = summary["folders"][0]
    assert inbox["fetched"] == len(files)

    ctx = triage.load_context()
    result = triage.triage_pending(register, LATER, ctx)   # one run; it must not raise

    with register.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, external_id, raw_ref, status, status_reason, received_at, payload->>'content_hash' AS ch "
            "FROM feedback.intake WHERE channel = 'email'")).mappings().all()
        parked = conn.execute(sa.text(
            "SELECT external_ref, reason, detail, raw_sha256 FROM feedback.quarantine WHERE channel = 'email'"
        )).mappings().all()
        numbered = conn.execute(sa.text("SELECT intake_id, feedback_no FROM feedback.feedback")).all()

    by_ref = {r["raw_ref"]: r for r in rows}
    by_id = {r["external_id"]: r for r in rows}
    by_hash = {r["ch"]: r for r in rows}
    parked_by_name = {q["external_ref"]: q for q in parked}
    rules = MailRules.for_mailbox(load_channels().mailboxes[0], load_settings(), local)

    outcome: dict[str, str] = {}
    lost: list[str] = []
    for name, path in names.items():
        raw = path.read_bytes()
        row = by_ref.get(maildir_ref(box, name))
        if row is not None:
            outcome[name] = f"intake:{row['status']}"
            assert locate(row["raw_ref"]) is not None, f"{path.name}: raw_ref points at nothing"
            continue
        if name in parked_by_name:
            q = parked_by_name[name]
            assert q["reason"] and q["detail"], f"{path.name}: quarantined without a reason"
            assert q["raw_sha256"] == hashlib.sha256(raw).hexdigest()
            outcome[name] = f"quarantine:{q['reason']}"
            continue
        # A copy of a message already stored (same Message-ID and content, or same content).
        judged = judge(raw, rules, folder_source="support/INBOX", source_ref=name, raw_ref="x", outbound=False,
                       arrived_at=RUN)
        if isinstance(judged, IntakeItem) and (
                by_id.get(judged.external_id) is not None or by_hash.get(judged.payload["content_hash"]) is not None):
            outcome[name] = "duplicate"
            continue
        lost.append(str(path.relative_to(corpus_dir())))
    assert lost == [], f"mails lost: {lost}"
    assert len(outcome) == len(files)

    # Every row has its reason; nothing is left unprocessed after the first triage run.
    for r in rows:
        assert r["status"] in ("triaged", "skipped", "held"), (r["external_id"], r["status"])
        if r["status"] in ("skipped", "held"):
            assert r["status_reason"], f"{r['status']} row without a reason"
        assert r["received_at"] >= datetime(2026, 10, 12, 1, 0, tzinfo=UTC)   # our receipt, not a 2001 Date
    triaged = {r["id"] for r in rows if r["status"] == "triaged"}
    assert {intake_id for intake_id, _ in numbered} <= triaged
    assert all(no.startswith("20261012-") for _, no in numbered)
    held = [r for r in rows if r["status"] == "held"]
    assert result.held == len(held)

    # No spam, feedback report or list mail became an item.
    skipped = Counter((r["status_reason"] or "").split(":", 1)[0] for r in rows if r["status"] == "skipped")
    for r in rows:
        if r["status"] == "triaged":
            assert not (r["status_reason"] or "").startswith(("spam", "report", "list"))
    counts = Counter(outcome.values())
    print(f"\ncorpus: {len(files)} mails; outcomes {dict(sorted(counts.items()))}; "
          f"skipped by kind {dict(sorted(skipped.items()))}; "
          f"quarantined {dict(Counter(q['reason'] for q in parked))}; held {len(held)}; "
          f"registered {result.registered}, replies {result.replies}")


def test_no_mojibake_in_the_corpus_headers_and_bodies(register, local):
    """Latin-1 and ISO-2022-JP text comes out as written: no GB18030 or UTF-8-as-Latin-1 garbage."""
    files = corpus_files()
    deliver_all(local, files)
    ingest_mailbox(register, "support", None, RUN)
    with register.connect() as conn:
        payloads = conn.execute(sa.text("SELECT payload FROM feedback.intake WHERE channel = 'email'")).scalars().all()
    bad = []
    for payload in payloads:
        texts = [payload.get("subject") or "", (payload.get("contact") or {}).get("name") or "",
                 *[a.get("filename") or "" for a in payload.get("attachments") or []]]
        for text in texts:
            if any(mark in text for mark in MOJIBAKE):
                bad.append(text)
    assert bad == []
    bodies = " ".join(p.get("body") or "" for p in payloads)
    assert "rápido" in bodies and "r醦ido" not in bodies
