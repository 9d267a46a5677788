"""Two triage runs at once give the result of one run, item for item (issue 13, item 4).

Mail threads (originals, replies, replies to replies, replies naming only References) and
web-form items are triaged by two real concurrent runs against one register, and by a
single run against a copy of the same register. The outcome — which intake rows became
items, which became replies and to which item — must be the same.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import _admin_engine, _drop

from feedback.triage import run as triage

RUN = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
BASE = RUN - timedelta(days=1)
THREADS = 45


@pytest.fixture(scope="module")
def ctx():
    return triage.load_context()


@pytest.fixture
def copy_of(server_url):
    """`copy_of(engine)`: a new database holding what `engine`'s database holds now."""
    admin = _admin_engine(server_url)
    made: list[tuple[str, sa.engine.Engine]] = []

    def make(engine: sa.engine.Engine) -> sa.engine.Engine:
        name = f"feedback_c_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{engine.url.database}"'))
        copy = sa.create_engine(engine.url.set(database=name), poolclass=sa.pool.NullPool)
        made.append((name, copy))
        return copy

    yield make
    for name, engine in made:
        engine.dispose()
        _drop(admin, name)
    admin.dispose()


def _mail(n: int, minute: int, body: str, **headers) -> dict:
    return {"channel": "email", "e": f"<m{n}@mail.example.cn>", "t": BASE + timedelta(minutes=minute),
            "p": json.dumps({"subject": "退款问题", "body": body, "contact": {}, **headers}, ensure_ascii=False)}


def _plant(engine: sa.engine.Engine) -> None:
    """Threads whose messages sit in neighbouring batches: the original in one, its replies in the next.

    Some replies are older than their original (the sender's clock or a delayed delivery), so
    they are claimed first: the batch must fetch the original rather than register the reply.
    """
    rows = []
    for i in range(THREADS):
        o, r, rr, ref = 4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3
        minute = 5 * i
        rows.append(_mail(o, minute, "退款一直没到账，订单DD20261003123456"))
        # Every 7th reply carries an earlier time than its original (clocks differ): claimed first.
        rows.append(_mail(r, minute - 1 if i % 7 == 0 else minute + 1, "还是没有收到，请尽快处理",
                          in_reply_to=f"<m{o}@mail.example.cn>",
                          references=[f"<m{o}@mail.example.cn>"]))
        if i % 3 == 0:   # a reply to the reply
            rows.append(_mail(rr, minute + 2, "已经第三次催了", in_reply_to=f"<m{r}@mail.example.cn>",
                              references=[f"<m{o}@mail.example.cn>", f"<m{r}@mail.example.cn>"]))
        if i % 4 == 0:   # a client that only writes References
            rows.append(_mail(ref, minute + 3, "补充一下情况", references=[f"<m{o}@mail.example.cn>"]))
        if i % 5 == 0:
            rows.append({"channel": "webform", "e": f"wf-conc{i:04d}", "t": BASE + timedelta(minutes=minute + 2),
                         "p": json.dumps({"subject": "建议", "body": "希望增加夜间模式", "contact": {}})})
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256) "
                    "VALUES (:channel, 'support', :e, :t, CAST(:p AS jsonb), repeat('0', 64))"),
            rows,
        )


def _outcome(engine: sa.engine.Engine) -> dict[str, tuple]:
    """Per intake row: its status, and the item it is (itself) or answers, named by the item's intake."""
    with engine.connect() as conn:
        return {
            r.external_id: (r.status, r.own, r.answers)
            for r in conn.execute(sa.text(
                """SELECT i.external_id, i.status,
                          (SELECT fi.external_id FROM feedback.feedback f JOIN feedback.intake fi ON fi.id = f.intake_id
                           WHERE f.intake_id = i.id) AS own,
                          (SELECT fi.external_id FROM feedback.feedback_event e
                           JOIN feedback.feedback f ON f.id = e.feedback_id JOIN feedback.intake fi ON fi.id = f.intake_id
                           WHERE e.dedup_key = 'reply:' || i.id) AS answers
                   FROM feedback.intake i"""
            ))
        }


def _count(engine: sa.engine.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


@pytest.mark.parametrize("batch_size", [3, 7])
def test_two_runs_at_once_equal_one_run_item_for_item(register, copy_of, ctx, batch_size):
    _plant(register)
    single = copy_of(register)

    triage.triage_pending(single, RUN, ctx, batch_size=batch_size)
    expected = _outcome(single)
    originals = [k for k, v in expected.items() if v[1] is not None]
    assert len(originals) == THREADS + len([i for i in range(THREADS) if i % 5 == 0])
    assert all(status == "triaged" for status, _, _ in expected.values())

    start = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        try:
            start.wait(30)
            results.append(triage.triage_pending(register, RUN, ctx, batch_size=batch_size))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=run) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    assert not errors, errors
    assert all(r.batches for r in results), "both runs must have done work for the overlap to mean anything"

    got = _outcome(register)
    wrong = {k: (got[k], expected[k]) for k in expected if got.get(k) != expected[k]}
    assert not wrong, f"{len(wrong)} intake rows differ from a single run: {sorted(wrong.items())[:5]}"
    for sql in ("SELECT count(*) FROM feedback.feedback",
                "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'customer_replied'",
                "SELECT count(*) FROM feedback.intake WHERE status = 'new'"):
        assert _count(register, sql) == _count(single, sql), sql
    assert sum(r.registered for r in results) == len(originals)
    assert sum(r.deferred for r in results) == 0


def test_worker_processes_equal_one_run_item_for_item(register, copy_of, ctx):
    """A backlog shared by worker processes (feedback.triage.workers) ends where one run ends."""
    from feedback.triage.workers import triage_backlog

    _plant(register)
    single = copy_of(register)
    triage.triage_pending(single, RUN, ctx, batch_size=5)
    expected = _outcome(single)

    lines: list[str] = []
    summary = triage_backlog(register, RUN, ctx, batch_size=5, workers=3, progress=lines.append, min_batches=2)
    workers_seen = {line.split(":")[0] for line in lines}
    assert len(workers_seen) > 1, f"the backlog must really be shared: {sorted(workers_seen)}"

    got = _outcome(register)
    wrong = {k: (got[k], expected[k]) for k in expected if got.get(k) != expected[k]}
    assert not wrong, f"{len(wrong)} intake rows differ from a single run: {sorted(wrong.items())[:5]}"
    for sql in ("SELECT count(*) FROM feedback.feedback",
                "SELECT count(DISTINCT feedback_no) FROM feedback.feedback",
                "SELECT count(*) FROM feedback.feedback_deadline",
                "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'customer_replied'",
                "SELECT count(*) FROM feedback.intake WHERE status = 'new'"):
        assert _count(register, sql) == _count(single, sql), sql
    assert summary.registered == _count(single, "SELECT count(*) FROM feedback.feedback")
    assert summary.deferred == 0 and summary.held == 0
    # Numbers stay gap-free per day: serials 1..n on each business day.
    assert _count(register, """SELECT count(*) FROM (
        SELECT left(feedback_no, 8) d, max(right(feedback_no, 3)::int) m, count(*) n
        FROM feedback.feedback GROUP BY 1) s WHERE m <> n""") == 0


def test_a_small_backlog_stays_in_process(register, ctx):
    """A few batches do not pay for starting workers: the run triages them itself."""
    from feedback.triage import workers

    _plant(register)   # ~70 rows: two batches of 50
    lines: list[str] = []
    summary = workers.triage_backlog(register, RUN, ctx, batch_size=50, workers=4, progress=lines.append,
                                     min_batches=2)
    assert summary.registered > 0
    assert lines and not any(line.startswith("worker") for line in lines)


def test_a_failing_worker_fails_the_run_and_loses_nothing(register, ctx):
    """A worker whose register is unreachable raises in the run; every row stays new for the next one."""
    from feedback.triage import workers

    _plant(register)
    broken = sa.create_engine(register.url.set(port=1), poolclass=sa.pool.NullPool)
    with pytest.raises(sa.exc.OperationalError):
        workers._in_workers(broken, RUN, ctx, 5, 2, None)
    assert _count(register, "SELECT count(*) FROM feedback.feedback") == 0
    assert _count(register, "SELECT count(*) FROM feedback.intake WHERE status <> 'new'") == 0
