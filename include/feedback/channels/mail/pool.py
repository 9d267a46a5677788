"""Judging a batch of mails on every core: a process pool for backlogs, this process for a few mails.

Parsing is CPU work in pure Python, so one process reads a backlog at the speed of one
core while the IMAP server and the database wait. A `MailJudge` sends a large batch to
worker processes in chunks and hands back the results in the batch's order, while the
caller fetches the next batch and stores the previous one.

- **Cost**: a pool is only started, lazily, for a batch of at least `min_batch` mails
  (a scheduled run that finds a handful of mails judges them here) and only on a machine
  with more than one core; it lives for one run (`with MailJudge(...)`) and is closed with it.
- **Fork safety**: workers come from a fork server (a clean process that imports this
  module once), never from a fork of the task process with its open database and IMAP
  connections and threads; where fork servers do not exist, spawn. A process that may not
  have children (a daemonic worker) judges in-process.
- **Poison**: `judge` already parks a mail that makes the parser raise. A mail that kills
  its worker outright (a crash in C code, the OOM killer) breaks the pool; the mails of the
  lost chunks are then judged again one at a time in a fresh pool, so only the mail that
  kills its worker again is parked (reason ``parser_crash``) and the rest go through.
- **Logs**: what `judge` logs in a worker is logged again here, in the task's log.

Knobs (environment, for operators and tests): ``FEEDBACK_MAIL_PARSE_WORKERS`` (worker
processes; default the cores this process may use, 0 or 1 to judge in-process) and
``FEEDBACK_MAIL_POOL_MIN_BATCH`` (default 200).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing.context import BaseContext
from typing import Any

from feedback.channels.base import IntakeItem, Rejected
from feedback.channels.mail.items import CHANNEL, MailRules, judge

log = logging.getLogger(__name__)

POOL_MIN_BATCH = 200           # below this many mails a batch is judged here: a pool costs more than it saves
CHUNK_MAILS = 40               # mails per task sent to a worker
CHUNK_BYTES = 8 * 1024 * 1024  # and at most about this many raw bytes

Judge = Callable[..., IntakeItem | Rejected]
Result = IntakeItem | Rejected


def default_workers() -> int:
    """Worker processes for a backlog: the cores this process may run on, unless configured."""
    configured = os.environ.get("FEEDBACK_MAIL_PARSE_WORKERS", "").strip()
    if configured:
        return max(int(configured), 0)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_min_batch() -> int:
    configured = os.environ.get("FEEDBACK_MAIL_POOL_MIN_BATCH", "").strip()
    return max(int(configured), 1) if configured else POOL_MIN_BATCH


class _Records(logging.Handler):
    """Collects a worker's log records as (logger, level, message) for the parent to log again."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _judge_all(mails: Sequence[Any], rules: MailRules, run_time: datetime, folder_source: str, outbound: bool,
               judge_fn: Judge) -> list[Result]:
    results = []
    for m in mails:
        result = judge_fn(m.raw, rules, folder_source=folder_source, source_ref=m.ref, raw_ref=m.raw_ref,
                          outbound=outbound, arrived_at=m.arrived_at, run_time=run_time, size=m.size,
                          headers_only=m.headers_only)
        if isinstance(result, IntakeItem):
            result.content_sha256  # noqa: B018 - computed here (cached on the item), not in the storing process
        results.append(result)
    return results


def _judge_chunk(mails: Sequence[Any], rules: MailRules, run_time: datetime, folder_source: str, outbound: bool,
                 judge_fn: Judge) -> tuple[list[Result], list[tuple[str, int, str]]]:
    """Worker side: judge the chunk; its results and what was logged meanwhile."""
    handler = _Records()
    root = logging.getLogger("feedback")
    root.addHandler(handler)
    level = root.level
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        return _judge_all(mails, rules, run_time, folder_source, outbound, judge_fn), handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _context() -> BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])   # the fork server imports the parser once, workers start warm
        return ctx
    return multiprocessing.get_context("spawn")


def _chunks(mails: Sequence[Any]) -> list[list[Any]]:
    chunks: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for mail in mails:
        if current and (len(current) >= CHUNK_MAILS or size + len(mail.raw) > CHUNK_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(mail)
        size += len(mail.raw)
    if current:
        chunks.append(current)
    return chunks


class MailJudge:
    """Judges batches for one run, in worker processes when a batch is large enough; close it after the run."""

    def __init__(self, rules: MailRules, run_time: datetime, *, workers: int | None = None,
                 min_batch: int | None = None, judge_fn: Judge = judge) -> None:
        self.rules = rules
        self.run_time = run_time
        self.workers = default_workers() if workers is None else workers
        self.min_batch = default_min_batch() if min_batch is None else min_batch
        self.judge_fn = judge_fn
        self._pool: ProcessPoolExecutor | None = None
        self._unavailable = self.workers < 2
        self.used_pool = False

    def __enter__(self) -> MailJudge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor | None:
        if self._pool is None and not self._unavailable:
            if multiprocessing.current_process().daemon:
                log.info("mail parsing stays in this process: a daemonic process may not start workers")
                self._unavailable = True
                return None
            try:
                self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context())
            except (OSError, ValueError, AssertionError) as exc:
                log.warning("mail parsing stays in this process: no worker processes (%s)", type(exc).__name__)
                self._unavailable = True
        return self._pool

    def submit(self, mails: Sequence[Any], *, folder_source: str, outbound: bool) -> Callable[[], list[Result]]:
        """Start judging `mails` (RawMail); the returned function gives their results, in order."""
        pool = self._executor() if len(mails) >= self.min_batch else None
        if pool is None:
            results = _judge_all(mails, self.rules, self.run_time, folder_source, outbound, self.judge_fn)
            return lambda: results
        self.used_pool = True
        chunks = _chunks(mails)
        futures = [pool.submit(_judge_chunk, chunk, self.rules, self.run_time, folder_source, outbound,
                               self.judge_fn) for chunk in chunks]
        return lambda: self._collect(chunks, futures, folder_source, outbound)

    def _collect(self, chunks: list[list[Any]], futures: list[Future[tuple[list[Result], list[tuple[str, int, str]]]]],
                 folder_source: str,
                 outbound: bool) -> list[Result]:
        results: list[Result] = []
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                judged, records = future.result()
            except BrokenProcessPool:
                self._restart()
                judged, records = self._one_by_one(chunk, folder_source, outbound), []
            for name, level, message in records:
                logging.getLogger(name).log(level, "%s", message)
            results.extend(judged)
        return results

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _one_by_one(self, chunk: list[Any], folder_source: str, outbound: bool) -> list[Result]:
        """After a worker died: each mail of a lost chunk alone, so only the one that kills a worker is parked."""
        results: list[Result] = []
        for mail in chunk:
            pool = self._executor()
            if pool is None:
                results.extend(_judge_all([mail], self.rules, self.run_time, folder_source, outbound,
                                          self.judge_fn))
                continue
            try:
                judged, records = pool.submit(_judge_chunk, [mail], self.rules, self.run_time, folder_source,
                                              outbound, self.judge_fn).result()
            except BrokenProcessPool:
                self._restart()
                log.error("mail %s ended the parser's process; parked", mail.ref)
                results.append(Rejected(CHANNEL, folder_source, mail.ref, "parser_crash",
                                        "the parser's process died on this mail; the rest of the batch went on",
                                        mail.raw))
                continue
            for name, level, message in records:
                logging.getLogger(name).log(level, "%s", message)
            results.extend(judged)
        return results
