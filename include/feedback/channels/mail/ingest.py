"""Reading a mailbox into intake: bounded batches, each committed with its folder position.

The guarantees the support team relies on live here:
- **Nothing lost, nothing twice.** A batch's items, its quarantined mails and the
  folder's new position are one transaction (`store_batch`). A crash or a dropped
  connection before the commit leaves the old position; the re-run reads the same
  mails and their identities (Message-ID, or content hash) make that harmless.
- **Nothing stalls.** A mail that cannot be parsed is parked with its reason and
  the batch goes on; an oversize mail is parked with its headers.
- **A backlog is caught up, not swallowed.** One run takes at most
  `mail.max_messages_per_run` messages or `mail.max_run_seconds`, committing every
  `intake.batch_size`; the next run resumes from the stored position.
- **Mail is only moved or deleted when configured, and only after its commit.**
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from feedback import connections
from feedback.channels.base import IntakeItem, Rejected
from feedback.channels.config import Mailbox, load_channels
from feedback.channels.cursor import read_cursor
from feedback.channels.mail.items import CHANNEL, MailRules, resolve_reused_ids
from feedback.channels.mail.pool import MailJudge, Result
from feedback.channels.mail.sources import Batch, MailSource, folder_sources
from feedback.channels.store import StoreResult, store_batch
from feedback.db.locks import source_lock
from feedback.errors import ConfigError
from feedback.paths import local_dir
from feedback.settings import load_settings

log = logging.getLogger(__name__)


@dataclass
class Budget:
    """How much one run may still take on, so a task never outlives its schedule."""

    messages: int
    deadline: float

    @classmethod
    def start(cls, messages: int, seconds: float) -> Budget:
        return cls(messages, time.monotonic() + seconds)

    def exhausted(self) -> bool:
        return self.messages <= 0 or time.monotonic() >= self.deadline


@dataclass
class FolderSummary:
    folder: str
    outbound: bool
    fetched: int = 0
    inserted: int = 0
    duplicates: int = 0
    skipped: int = 0
    quarantined: int = 0
    batches: int = 0
    position: dict[str, Any] | None = None
    resynced: bool = False
    backlog: bool = False        # stopped by the budget with mail left for the next run
    busy: bool = False           # another reader held the folder; nothing read this run


def ingest_folder(engine: Engine, source: MailSource, rules: MailRules, *, outbound: bool, run_time: datetime,
                  batch_size: int, budget: Budget, progress: Callable[[str], None] | None = None,
                  judge: MailJudge | None = None) -> FolderSummary:
    """Read one folder from its stored position until it is empty or the budget is spent.

    `judge` judges the batches (in worker processes for large ones); without one, a judge for
    this folder alone is made and closed here.
    """
    summary = FolderSummary(folder=source.key, outbound=outbound)
    with source_lock(engine, f"{CHANNEL}:{source.key}") as held:
        # One reader per folder at a time (a manual run beside the schedule, the CLI): the other skips it.
        if not held:
            summary.busy = True
            log.warning("%s: another reader holds this folder; skipped this run", source.key)
            return summary
        with contextlib.ExitStack() as stack:
            if judge is None:
                judge = stack.enter_context(MailJudge(rules, run_time))
            _read_batches(engine, source, rules, summary, outbound=outbound, run_time=run_time,
                          batch_size=batch_size, budget=budget, progress=progress, judge=judge)
    return summary


def _read_batches(engine: Engine, source: MailSource, rules: MailRules, summary: FolderSummary, *, outbound: bool,
                  run_time: datetime, batch_size: int, budget: Budget,
                  progress: Callable[[str], None] | None, judge: MailJudge) -> None:
    """Fetch, judge and store batch after batch, overlapped: while batches are judged (in worker
    processes), the next is fetched here and a storing thread commits the ones judged. Batches are
    stored, and the position moves, strictly in order; what follows a commit (moving the mail,
    the counts, the log) happens here, on this thread, as the commits come in."""
    source.start(read_cursor(engine, CHANNEL, source.key))
    summary.resynced = bool(getattr(source, "resynced", False))
    storer = _Storer(engine, source.key, run_time)
    try:
        while True:
            _account(source, summary, storer.committed(), progress)
            if budget.exhausted():
                summary.backlog = True
                break
            try:
                batch = source.next_batch(min(batch_size, budget.messages))
            except Exception:
                # The mailbox failed (a dropped connection): what was already read is still committed first.
                _account(source, summary, storer.finish(), progress)
                raise
            if batch is None:
                break
            budget.messages -= len(batch.mails)
            storer.put(batch, judge.submit(batch.mails, folder_source=source.key, outbound=outbound))
        _account(source, summary, storer.finish(), progress)
    finally:
        storer.abandon()


@dataclass
class _Committed:
    batch: Batch
    result: StoreResult
    skipped: int
    parked: int


class _Storer:
    """A thread that waits for each batch's judgement and stores it, in the order the batches came.

    The database round trips of one batch overlap the fetching of the next and the judging of
    the ones after; at most `AHEAD` batches wait for it. Its first error stops it: no later batch
    is stored, and the error is raised on the reading thread (by `put` or `finish`).
    """

    AHEAD = 2

    def __init__(self, engine: Engine, source_key: str, run_time: datetime) -> None:
        self.engine = engine
        self.source_key = source_key
        self.run_time = run_time
        self.todo: queue.Queue[tuple[Batch, Callable[[], list[Result]]] | None] = queue.Queue(self.AHEAD)
        self.done: queue.SimpleQueue[_Committed] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name=f"mail-store-{source_key}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.todo.get()
            if job is None or self.stopping:
                return
            batch, results = job
            try:
                judged = results()
                items = [j for j in judged if isinstance(j, IntakeItem)]
                rejected = [j for j in judged if isinstance(j, Rejected)]
                result = store_batch(self.engine, CHANNEL, self.source_key, items, rejected, batch.position,
                                     self.run_time, resolve=resolve_reused_ids)
            except BaseException as exc:  # noqa: BLE001 - raised on the reading thread
                self.error = exc
                return
            self.done.put(_Committed(batch, result, sum(1 for i in items if i.status == "skipped"), len(rejected)))

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def committed(self) -> list[_Committed]:
        """The batches committed since the last call, in order."""
        out = []
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out

    def put(self, batch: Batch, results: Callable[[], list[Result]]) -> None:
        """Queue a batch for storing (waits while `AHEAD` batches wait); raises the thread's error."""
        while True:
            self._raise()
            try:
                self.todo.put((batch, results), timeout=0.5)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    self._raise()

    def finish(self) -> list[_Committed]:
        """Wait until every queued batch is stored; the batches committed since `committed`."""
        if self.thread.is_alive():
            self.todo.put(None)
            self.thread.join()
        self._raise()
        return self.committed()

    def abandon(self) -> None:
        """After an error here: store nothing more, and wait for a commit in progress to end."""
        if self.thread.is_alive():
            self.stopping = True
            while True:   # make room for the stop mark: batches waiting are not stored
                try:
                    self.todo.get_nowait()
                except queue.Empty:
                    break
            self.todo.put(None)
            self.thread.join()


def _account(source: MailSource, summary: FolderSummary, committed: list[_Committed],
             progress: Callable[[str], None] | None) -> None:
    """What follows each commit, on the reading thread: the source's cleanup, the counts, the log."""
    for done in committed:
        batch, result = done.batch, done.result
        source.after_commit(batch)
        summary.fetched += len(batch.mails)
        summary.inserted += result.inserted
        summary.duplicates += result.duplicates
        summary.quarantined += result.quarantined
        summary.skipped += done.skipped
        summary.batches += 1
        summary.position = batch.position
        message = (f"{source.key}: batch {summary.batches}: {len(batch.mails)} mail(s), {result.inserted} new, "
                   f"{result.duplicates} already stored, {done.parked} parked; position {batch.position}")
        log.info(message)
        if progress:
            progress(message)


def mailbox_config(name: str) -> Mailbox:
    for mailbox in load_channels().mailboxes:
        if mailbox.name == name:
            return mailbox
    raise ConfigError(f"channels.yaml: no mailbox named {name!r} under mailboxes")


def ingest_mailbox(engine: Engine, name: str, imap_uri: str | None, run_time: datetime,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every folder of one configured mailbox; counts per folder (no personal data) for XCom.

    Reads over IMAP when the mailbox's connection is given, else from its drop folder.
    """

    mailbox = mailbox_config(name)
    settings = load_settings()
    rules = MailRules.for_mailbox(mailbox, settings, local_dir())
    budget = Budget.start(settings.mail.max_messages_per_run, settings.mail.max_run_seconds)
    batch_size = settings.intake.batch_size

    def read_all(sources: list[tuple[MailSource, bool]]) -> list[FolderSummary]:
        with MailJudge(rules, run_time) as judge:   # worker processes, if any, live for this run only
            return [ingest_folder(engine, source, rules, outbound=outbound, run_time=run_time,
                                  batch_size=batch_size, budget=budget, progress=progress, judge=judge)
                    for source, outbound in sources]

    if imap_uri:
        from feedback.channels.mail.imap import ImapReader, ImapSettings

        with ImapReader(ImapSettings.from_uri(imap_uri, mailbox.connection_id)) as reader:
            summaries = read_all(folder_sources(mailbox, reader=reader, run_time=run_time,
                                                max_message_bytes=rules.max_message_bytes))
        via = "imap"
    else:
        drop = mailbox.resolved_drop(local_dir())
        if drop is None:
            env = connections.env_name(mailbox.connection_id)
            raise ConfigError(
                f"mailbox {name}: no connection {mailbox.connection_id} and no drop_path; set {env} "
                "(e.g. imaps://user:password@imap.example.com:993) or drop_path in channels.yaml"
            )
        summaries = read_all(folder_sources(mailbox, drop_root=drop, run_time=run_time,
                                            max_message_bytes=rules.max_message_bytes))
        via = "drop"
    return {"mailbox": name, "via": via, "backlog": any(s.backlog for s in summaries),
            "folders": [asdict(s) for s in summaries]}
