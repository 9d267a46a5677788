"""Triage on every core: a backlog is taken by several worker processes, each running the batch loop.

Classification and masking are CPU work in pure Python, so one process triages at the speed
of one core while the database waits (issue 17). Parallel workers are nothing new to the
register: each worker is exactly an overlapping run (`feedback.triage.run`), claiming its
batches with FOR UPDATE SKIP LOCKED, pulling the originals of its replies into its own batch
and deferring a reply whose original another worker holds until that batch commits. Two
runs at once already give the result of one run (`test_triage_concurrency`), so N workers do.

- **When**: only for a backlog (at least `MIN_BACKLOG_BATCHES` batches waiting per worker) and
  only on a machine with more than one core; a scheduled run that finds a few hundred items
  triages them in its own process, since each worker first loads the classifier, the calendars
  and (as every fork-server child does) the task's main module.
- **Locks**: a batch computes its decisions before it locks anything; the vault's new contacts
  are inserted in key order and the day counters in date order, so concurrent batches queue
  and never wait in a cycle; a batch that still loses a deadlock is taken again whole.
- **Fork safety**: workers come from a fork server (or spawn), never a fork of the task process
  with its open connections; each opens its own connection to the register. A daemonic process
  (which may not have children) triages in-process.
- **Failures**: a worker that raises ends the run with its error once the others are done (the
  rows of its open batch roll back and stay new); a worker that dies without a word (the OOM
  killer) does the same with its exit code. Nothing is lost either way: rows are only ever
  marked triaged in the transaction that registers them.
- **Logs**: what a worker logs is logged again here, in the task's log, with its number.

Knob: ``FEEDBACK_TRIAGE_WORKERS`` (worker processes; default the cores this process may use,
0 or 1 to triage in-process).
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue as queues
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.parallel import configured_workers, process_context
from feedback.triage.run import TriageContext, TriageSummary, load_context, triage_pending

log = logging.getLogger(__name__)

# Fewer waiting batches per worker than this: one process. A worker spends a few seconds starting
# (the classifier, the calendars, the segmenter's dictionary), about what it takes to triage 2,000 items.
MIN_BACKLOG_BATCHES = 10
_POLL_SECONDS = 1.0


def default_workers() -> int:
    """Worker processes for a backlog: the cores this process may run on, unless configured."""
    return configured_workers("FEEDBACK_TRIAGE_WORKERS")


def waiting_batches(engine: Engine, batch_size: int, cap: int) -> int:
    """How many batches of new intake rows wait, counted up to `cap` (enough to decide on workers)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT count(*) FROM (SELECT 1 FROM feedback.intake WHERE status = 'new' LIMIT :n) s"),
            {"n": cap * batch_size},
        ).scalar_one()
    return -(-int(rows) // batch_size)


def triage_backlog(
    engine: Engine,
    run_time: datetime,
    ctx: TriageContext,
    batch_size: int = 500,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
    min_batches: int = MIN_BACKLOG_BATCHES,
) -> TriageSummary:
    """Everything new, in worker processes when there is a backlog to share; counts only, like triage_pending."""
    workers = default_workers() if workers is None else workers
    if workers > 1 and multiprocessing.current_process().daemon:
        log.info("triage stays in this process: a daemonic process may not start workers")
        workers = 1
    if workers > 1:
        workers = min(workers, max(waiting_batches(engine, batch_size, min_batches * workers) // min_batches, 1))
    if workers <= 1:
        return triage_pending(engine, run_time, ctx, batch_size, progress=progress)
    return _in_workers(engine, run_time, ctx, batch_size, workers, progress)


def _in_workers(engine: Engine, run_time: datetime, ctx: TriageContext, batch_size: int, workers: int,
                progress: Callable[[str], None] | None) -> TriageSummary:
    mp = process_context(__name__)   # the fork server imports triage once, workers start warm
    messages: Any = mp.Queue()
    url = engine.url.render_as_string(hide_password=False)
    settings = (ctx.taxonomy_preset, ctx.sla_preset, ctx.gate)
    procs = [mp.Process(target=_work, args=(n, url, settings, run_time, batch_size, messages),
                        name=f"triage-worker-{n}") for n in range(1, workers + 1)]
    log.info("triage: %d worker processes for the backlog", workers)
    for proc in procs:
        proc.start()
    total = TriageSummary()
    finished: set[int] = set()
    failure: BaseException | None = None
    try:
        while len(finished) < workers:
            try:
                kind, n, body = messages.get(timeout=_POLL_SECONDS)
            except queues.Empty:
                for number, proc in enumerate(procs, start=1):
                    if number not in finished and not proc.is_alive() and proc.exitcode not in (0, None):
                        finished.add(number)
                        failure = failure or RuntimeError(
                            f"triage worker {number} ended with exit code {proc.exitcode} before finishing; "
                            "its open batch rolled back and its rows stay new for the next run")
                continue
            if kind == "log":
                name, level, text = body
                logging.getLogger(name).log(level, "worker %d: %s", n, text)
            elif kind == "progress":
                if progress:
                    progress(f"worker {n}: {body}")
            elif kind == "done":
                finished.add(n)
                total.add(body)
            elif kind == "error":
                finished.add(n)
                failure = failure or _unpickle_error(n, body)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():   # pragma: no cover - only when the loop above was interrupted
                proc.terminate()
                proc.join()
        messages.close()
    if failure is not None:
        raise failure
    total.deferred = len(total.deferred_ids)
    return total


class _Forward(logging.Handler):
    """A worker's log records, sent to the parent to be logged again in the task's log."""

    def __init__(self, number: int, messages: Any) -> None:
        super().__init__(logging.INFO)
        self.number = number
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.put(("log", self.number, (record.name, record.levelno, record.getMessage())))


def _work(number: int, url: str, settings: tuple[str, str, bool], run_time: datetime, batch_size: int,
          messages: Any) -> None:
    """Worker side: the batch loop of one overlapping run, until nothing new is left."""
    root = logging.getLogger("feedback")
    root.addHandler(_Forward(number, messages))
    root.setLevel(logging.INFO)
    root.propagate = False
    engine = sa.create_engine(url, pool_size=1, max_overflow=1)
    try:
        taxonomy_preset, sla_preset, gate = settings
        ctx = load_context(taxonomy_preset, sla_preset, gate=gate, engine=engine)
        summary = triage_pending(engine, run_time, ctx, batch_size,
                                 progress=lambda text: messages.put(("progress", number, text)))
        messages.put(("done", number, summary))
    except BaseException as error:  # noqa: BLE001 - handed to the parent, which raises it
        messages.put(("error", number, _pickle_error(error)))
    finally:
        engine.dispose()


def _pickle_error(error: BaseException) -> bytes:
    try:
        return pickle.dumps(error)
    except Exception:  # noqa: BLE001 - an exception that cannot travel is described by its class
        return pickle.dumps(RuntimeError(f"triage worker failed: {type(error).__name__}"))


def _unpickle_error(number: int, body: bytes) -> BaseException:
    try:
        error = pickle.loads(body)  # noqa: S301 - our own child process's exception
    except Exception:  # noqa: BLE001
        return RuntimeError(f"triage worker {number} failed (its error could not be read)")
    return error if isinstance(error, BaseException) else RuntimeError(f"triage worker {number} failed")
