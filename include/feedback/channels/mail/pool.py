"""Judging a batch of mails on every core: worker processes for backlogs, this process for a few mails.

Parsing is CPU work in pure Python, so one process reads a backlog at the speed of one
core while the IMAP server and the database wait. A `MailJudge` sends a large batch to
worker processes in chunks and hands back the results in the batch's order, while the
caller fetches the next batch and stores the previous one.

- **Cost**: workers are only started, lazily, for a batch of at least `min_batch` mails
  (a scheduled run that finds a handful of mails judges them here) and only on a machine
  with more than one core; they live for one run (`with MailJudge(...)`) and are closed with it.
  A worker is a fresh interpreter that imports the mail parser and nothing else: not the
  task's main module, which multiprocessing's spawn and fork-server children import again
  (for an Airflow task, Airflow itself), so a worker is ready in a fraction of a second.
- **Fork safety**: workers are started with `subprocess` (fork and exec at once), never as a
  fork of the task process with its open database and IMAP connections and threads. A
  daemonic process may start them too. Where no worker can be started (or one fails to come
  up), the mails are judged in this process, as for a small batch.
- **Transport**: each worker has a feeding thread here that takes chunks from one shared queue
  (so a slow chunk never holds up the other worker) and keeps two in its pipe, so it never
  waits for this process between chunks; a second thread reads back the results. A chunk's
  mails travel as their bytes (see `_Pipe`), the results pickled.
- **Poison**: `judge` already parks a mail that makes the parser raise. A mail that kills
  its worker outright (a crash in C code, the OOM killer) loses only that worker's chunk;
  its mails are judged again one at a time, so only the mail that kills its worker again is
  parked (reason ``parser_crash``) and the rest go through. The dead worker is replaced.
- **Logs**: what `judge` logs in a worker is logged again here, in the task's log.

Knobs (environment, for operators and tests): ``FEEDBACK_MAIL_PARSE_WORKERS`` (worker
processes; default the cores this process may use, 0 or 1 to judge in-process) and
``FEEDBACK_MAIL_POOL_MIN_BATCH`` (default 200).
"""

from __future__ import annotations

import collections
import fcntl
import json
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from feedback.channels.base import IntakeItem, Rejected
from feedback.channels.mail.items import CHANNEL, MailRules, judge
from feedback.channels.mail.sources import RawMail
from feedback.parallel import configured_workers

log = logging.getLogger(__name__)

POOL_MIN_BATCH = 200           # below this many mails a batch is judged here: a pool costs more than it saves
CHUNK_MAILS = 40               # mails per task sent to a worker
CHUNK_BYTES = 8 * 1024 * 1024  # and at most about this many raw bytes
PIPE_BYTES = 1024 * 1024        # pipe buffer asked for (Linux lets any process have up to 1 MiB)
STOP_SECONDS = 10              # how long a worker may take to exit once its pipes are closed before it is killed

Judge = Callable[..., IntakeItem | Rejected]
Result = IntakeItem | Rejected
Records = list[tuple[str, int, str]]

# What a worker process runs: the parent's import path (so `feedback` and a judge function given by
# reference resolve as they do here), then `serve` on the two pipe ends it was handed.
_BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
         "from feedback.channels.mail.pool import serve; serve(int(sys.argv[2]), int(sys.argv[3]))")
_PICKLE = pickle.HIGHEST_PROTOCOL
_FRAME = struct.Struct("!QQ")   # a message: the lengths of its pickled head and of its raw body
_IOV_MAX = 512                  # buffers per writev call (the system's limit is at least 1024)


def default_workers() -> int:
    """Worker processes for a backlog: the cores this process may run on, unless configured."""
    return configured_workers("FEEDBACK_MAIL_PARSE_WORKERS")


def default_min_batch() -> int:
    configured = os.environ.get("FEEDBACK_MAIL_POOL_MIN_BATCH", "").strip()
    return max(int(configured), 1) if configured else POOL_MIN_BATCH


class _Records(logging.Handler):
    """Collects a worker's log records as (logger, level, message) for the parent to log again."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: Records = []

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
                 judge_fn: Judge) -> tuple[list[Result], Records]:
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


class _Pipe:
    """One direction of a worker's pipe: messages of a pickled head and a body of raw bytes.

    A chunk's mails travel as their bytes, gathered by ``writev`` straight from the fetched
    objects and read into one buffer on the other side, instead of being copied into a pickle,
    out of it, and through a reading buffer on the way: a backlog is mostly attachment bytes.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def send(self, head: bytes, body: Sequence[bytes] = ()) -> None:
        views = [memoryview(b) for b in (_FRAME.pack(len(head), sum(len(b) for b in body)), head, *body) if len(b)]
        while views:
            written = os.writev(self.fd, views[:_IOV_MAX])
            while written:   # drop what went out; a partly written buffer keeps its rest
                if written >= len(views[0]):
                    written -= len(views.pop(0))
                else:
                    views[0] = views[0][written:]
                    written = 0

    def _read(self, size: int) -> bytearray:
        buf = bytearray(size)
        view, pos = memoryview(buf), 0
        while pos < size:
            got = os.readv(self.fd, [view[pos:]])
            if not got:
                raise EOFError("the other end of the pipe closed")
            pos += got
        return buf

    def receive(self) -> tuple[bytes, bytearray]:
        """The next message's head and body; EOFError when the other end closed."""
        head_size, body_size = _FRAME.unpack(self._read(_FRAME.size))
        return bytes(self._read(head_size)), self._read(body_size)


def _encode(chunk: Sequence[RawMail], *rest: Any) -> tuple[bytes, list[bytes]]:
    """A chunk as one message: what judging needs besides the mails' bytes in the head, the bytes as the body."""
    meta = [(m.ref, m.raw_ref, m.size, m.headers_only, m.arrived_at, len(m.raw)) for m in chunk]
    return pickle.dumps((meta, *rest), protocol=_PICKLE), [m.raw for m in chunk]


def _decode(head: bytes, body: bytearray) -> tuple[Any, ...]:
    meta, *rest = pickle.loads(head)
    mails, view, pos = [], memoryview(body), 0
    for ref, raw_ref, size, headers_only, arrived_at, length in meta:
        mails.append(RawMail(ref, bytes(view[pos:pos + length]), raw_ref, size, headers_only, arrived_at))
        pos += length
    return (mails, *rest)


def serve(read_fd: int, write_fd: int) -> None:
    """A worker process's loop: judge each chunk the parent sends and answer with the results.

    Ends when the parent says stop (an empty message) or goes away (end of file), so a worker
    never outlives the task that started it. Interrupts are the parent's to handle.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox, outbox = _Pipe(read_fd), _Pipe(write_fd)
    try:
        outbox.send(b"")   # ready: the parser is imported
        while True:
            head, body = inbox.receive()
            if not head:
                return
            try:
                answer: tuple[bool, object] = (True, _judge_chunk(*_decode(head, body)))
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it there
                # The type only: an exception's text can quote the message's bytes.
                answer = (False, type(exc).__name__)
            del head, body
            outbox.send(pickle.dumps(answer, protocol=_PICKLE))
    except (EOFError, OSError):   # the parent is gone: nothing left to answer
        return
    finally:
        inbox.close()
        outbox.close()


class _WorkerLost(Exception):
    """The worker process died while it held this chunk."""


class _NoWorker(Exception):
    """No worker process could be started (or it died before it was ready): judge here instead."""


class _Worker:
    """One worker process, fed from the shared queue by a thread here, with `WINDOW` chunks in flight.

    The next chunk already waits in the pipe while the worker judges one, so it never idles
    for this process to hand it work. Results are read by a second thread (reading and writing
    in one would deadlock on full pipes), in the order the chunks were sent. The process is
    started when the first chunk arrives and again after it died; a death fails the chunk it
    was judging (`_WorkerLost`) and sends the one still waiting in its pipe back to the queue.
    """

    WINDOW = 2

    def __init__(self, tasks: queue.SimpleQueue[tuple[Future[Any], tuple[Any, ...]] | None]) -> None:
        self.tasks = tasks
        self.lock = threading.Lock()
        self.slots = threading.Semaphore(self.WINDOW)
        self.proc: subprocess.Popen[bytes] | None = None
        self.outbox: _Pipe | None = None
        self.reader: threading.Thread | None = None
        self.inflight: collections.deque[tuple[Future[Any], tuple[Any, ...]]] = collections.deque()
        self.dead = False     # the process died; the feeding thread replaces it
        self.thread = threading.Thread(target=self._feed, name="mail-judge-feeder", daemon=True)
        self.thread.start()

    def _start(self) -> _Pipe:
        """A new worker process, ready to judge (it imported the parser); its pipe for chunks."""
        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        for fd in (parent_read, parent_write):
            _widen(fd)
        inbox, outbox = _Pipe(parent_read), _Pipe(parent_write)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(child_read), str(child_write)],
                pass_fds=(child_read, child_write), stdin=subprocess.DEVNULL)
        except (OSError, ValueError, TypeError) as exc:   # no interpreter to start (sys.executable empty), no fds
            inbox.close()
            outbox.close()
            raise _NoWorker(type(exc).__name__) from None
        finally:
            os.close(child_read)
            os.close(child_write)
        try:
            ready = inbox.receive() == (b"", bytearray())
        except (EOFError, OSError):
            ready = False
        if not ready:
            inbox.close()
            outbox.close()
            _reap(proc, kill=True)
            raise _NoWorker("the worker process ended before it was ready")
        self.proc, self.outbox, self.dead = proc, outbox, False
        self.reader = threading.Thread(target=self._read, args=(proc, inbox), name="mail-judge-reader", daemon=True)
        self.reader.start()
        return outbox

    def _retire(self, stop: bool) -> None:
        """Done with the current process: asked to stop after its chunks (or already dead), reaped."""
        proc, outbox, reader = self.proc, self.outbox, self.reader
        self.proc = self.outbox = self.reader = None
        if outbox is not None:
            if stop:
                try:
                    outbox.send(b"")
                except OSError:
                    pass
            outbox.close()
        if reader is not None:
            reader.join()
        if proc is not None:
            _reap(proc, kill=not stop)

    def _feed(self) -> None:
        while True:
            self.slots.acquire()
            task = self.tasks.get()
            if task is None:
                self._retire(stop=True)
                return
            future, args = task
            # A chunk handed back by a dead worker that never started it is already running.
            if not future.running() and not future.set_running_or_notify_cancel():
                self.slots.release()
                continue
            try:
                head, body = _encode(*args)
                outbox = self._held(task)
            except BaseException as exc:  # noqa: BLE001 - no worker, or arguments that do not pickle: raised there
                future.set_exception(exc)
                self.slots.release()
                continue
            try:
                outbox.send(head, body)
            except OSError:   # it died: the reading thread fails what it held
                pass

    def _held(self, task: tuple[Future[Any], tuple[Any, ...]]) -> _Pipe:
        """Record `task` as in flight on a live process (started, or replaced when dead); its pipe."""
        while True:
            with self.lock:
                if self.outbox is not None and not self.dead:
                    self.inflight.append(task)
                    return self.outbox
            self._retire(stop=False)
            self._start()

    def _read(self, proc: subprocess.Popen[bytes], inbox: _Pipe) -> None:
        try:
            while True:
                try:
                    ok, value = pickle.loads(inbox.receive()[0])
                except (EOFError, OSError):
                    break
                with self.lock:
                    future, _ = self.inflight.popleft()
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(RuntimeError(f"{value} in a mail parse worker"))
                self.slots.release()
        finally:
            inbox.close()
        with self.lock:   # the process ended: stopped after its chunks, or died holding some
            held = list(self.inflight)
            self.inflight.clear()
            self.dead = True
        if not held:
            return
        proc.kill()
        # The first chunk held is the one it was judging when it died; the others it never started,
        # so they go back to the queue for a live worker.
        held[0][0].set_exception(_WorkerLost())
        for task in held[1:]:
            self.tasks.put(task)
        for _ in held:
            self.slots.release()


def _widen(fd: int) -> None:
    """A pipe buffer of `PIPE_BYTES` where the system allows it: a chunk or its results then pass in a few
    system calls, and a worker rarely waits for this process's threads to take its results."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):   # not Linux, or above the system's limit: the default size
        pass


def _reap(proc: subprocess.Popen[bytes], kill: bool) -> None:
    if kill:
        proc.kill()
    try:
        proc.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Pool:
    """Worker processes for one run, fed from one queue; `close` lets them finish and stop."""

    def __init__(self, workers: int) -> None:
        self.tasks: queue.SimpleQueue[tuple[Future[Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self.workers = [_Worker(self.tasks) for _ in range(workers)]

    def submit(self, *args: Any) -> Future[tuple[list[Result], Records]]:
        future: Future[tuple[list[Result], Records]] = Future()
        self.tasks.put((future, args))
        return future

    def close(self) -> None:
        while True:   # chunks nobody waits for any more are not judged
            try:
                task = self.tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task[0].cancel()
        for _ in self.workers:
            self.tasks.put(None)
        for worker in self.workers:
            worker.thread.join()


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
        self._pool: _Pool | None = None
        self._unavailable = self.workers < 2
        self.used_pool = False

    def __enter__(self) -> MailJudge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _executor(self) -> _Pool | None:
        if self._unavailable:
            return None
        if self._pool is None:
            self._pool = _Pool(self.workers)
        return self._pool

    def _here(self, mails: Sequence[Any], folder_source: str, outbound: bool) -> list[Result]:
        return _judge_all(mails, self.rules, self.run_time, folder_source, outbound, self.judge_fn)

    def submit(self, mails: Sequence[Any], *, folder_source: str, outbound: bool) -> Callable[[], list[Result]]:
        """Start judging `mails` (RawMail); the returned function gives their results, in order."""
        pool = self._executor() if len(mails) >= self.min_batch else None
        if pool is None:
            results = self._here(mails, folder_source, outbound)
            return lambda: results
        self.used_pool = True
        chunks = _chunks(mails)
        futures = [pool.submit(chunk, self.rules, self.run_time, folder_source, outbound, self.judge_fn)
                   for chunk in chunks]
        return lambda: self._collect(chunks, futures, folder_source, outbound)

    def _collect(self, chunks: list[list[Any]], futures: list[Future[tuple[list[Result], Records]]],
                 folder_source: str, outbound: bool) -> list[Result]:
        results: list[Result] = []
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                judged, records = future.result()
            except _WorkerLost:
                judged, records = self._one_by_one(chunk, folder_source, outbound), []
            except _NoWorker as exc:
                judged, records = self._no_workers(exc, chunk, folder_source, outbound), []
            _log_again(records)
            results.extend(judged)
        return results

    def _no_workers(self, exc: _NoWorker, chunk: list[Any], folder_source: str, outbound: bool) -> list[Result]:
        if not self._unavailable:
            log.warning("mail parsing stays in this process: no worker processes (%s)", exc)
            self._unavailable = True
        return self._here(chunk, folder_source, outbound)

    def _one_by_one(self, chunk: list[Any], folder_source: str, outbound: bool) -> list[Result]:
        """After a worker died: each mail of its chunk alone, so only the one that kills a worker is parked."""
        pool = self._executor()
        if pool is None:
            return self._here(chunk, folder_source, outbound)
        futures = [pool.submit([mail], self.rules, self.run_time, folder_source, outbound, self.judge_fn)
                   for mail in chunk]
        results: list[Result] = []
        for mail, future in zip(chunk, futures, strict=True):
            try:
                judged, records = future.result()
            except _WorkerLost:
                log.error("mail %s ended the parser's process; parked", mail.ref)
                results.append(Rejected(CHANNEL, folder_source, mail.ref, "parser_crash",
                                        "the parser's process died on this mail; the rest of the batch went on",
                                        mail.raw))
                continue
            except _NoWorker as exc:
                judged, records = self._no_workers(exc, [mail], folder_source, outbound), []
            _log_again(records)
            results.extend(judged)
        return results


def _log_again(records: Records) -> None:
    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)
