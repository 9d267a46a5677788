"""The callback queue on a real register: scheduling, claims under contention, attempts, reveal.

Items are written straight into `feedback` (status `resolved`, contacts in the vault), so
each test controls exactly what the scheduler sees. Times are Asia/Shanghai.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import ROOT, scalar

from feedback.callbacks import queue
from feedback.callbacks.errors import NotClaimHolder, TaskClosed, UnknownAgent
from feedback.callbacks.policy import AgentSpec, AssignmentPolicy, TeamPolicy, UnreachableRule, load_policy
from feedback.privacy import vault
from feedback.sla.monitor import load_setup

SH = ZoneInfo("Asia/Shanghai")
RESOLVED = datetime(2026, 10, 12, 10, 0, tzinfo=SH)      # Monday
PHONE = "+8613912345678"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture(scope="module")
def setup():
    return load_setup()


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    """Identity hashes and survey links from test keys, never a key file under .local/."""
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "callback-queue-test-hash-key-0123")
    monkeypatch.setenv("FEEDBACK_SURVEY_KEY", "callback-queue-test-survey-key-0123")


def team(*agents: str, mode: str = "round_robin"):
    """The shipped policy with its own team (agents a, b, …) and assignment mode."""
    return load_policy().replace(team=TeamPolicy(agents=[AgentSpec(id=a, name=a.upper()) for a in agents]),
                                 assignment=AssignmentPolicy(mode=mode))


def make_item(engine, n: int, *, resolved: datetime = RESOLVED, priority: str = "medium", tier: str = "normal",
              phone: str | None = PHONE, email: str | None = None, status: str = "resolved",
              department: str = "product_engineering") -> int:
    """A registered, resolved item with its contacts in the vault (as triage and the monitor leave it)."""
    with engine.begin() as conn:
        contacts = [(k, v) for k, v in (("phone", phone), ("email", email)) if v]
        ids = vault.store_contacts(conn, contacts, resolved) if contacts else []
        refs = {kind: vid for (kind, _), vid in zip(contacts, ids, strict=True)}
        return conn.execute(
            sa.text("""INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at,
                              description, subject, priority, customer_tier, department, status, handling_cycle,
                              resolved_at, updated_at, contact_refs, contact_vault_id, contact_masked, language,
                              sla_preset)
                       VALUES (:no, 'webform', 'contact_zh', :rec, :rec, '支付失败，请尽快处理', '支付失败', :p, :tier,
                               :dept, :status, 1, :res, :res, CAST(:refs AS jsonb), :vid, '139****5678', 'zh', 'A')
                       RETURNING id"""),
            {"no": f"20261012-{n:03d}", "rec": resolved - timedelta(days=2), "p": priority, "tier": tier,
             "dept": department, "status": status, "res": resolved if status == "resolved" else None,
             "refs": json.dumps(refs), "vid": refs.get("phone", refs.get("email"))},
        ).scalar_one()


def add_agents(engine, *agents: str, team_name: str = "night", supervisor: bool = False) -> None:
    """Agents outside the policy's team: they claim from the shared pool, nothing is assigned to them."""
    with engine.begin() as conn:
        for agent in agents:
            conn.execute(sa.text("INSERT INTO feedback.callback_agent (agent_id, display_name, team, supervisor) "
                                 "VALUES (:a, :a, :t, :s)"), {"a": agent, "t": team_name, "s": supervisor})


def task_of(engine, feedback_id: int, cycle: int = 1):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM feedback.callback_task WHERE feedback_id = :f "
                                    "AND handling_cycle = :c"), {"f": feedback_id, "c": cycle}).one()


# --- claiming -----------------------------------------------------------------------------------


def test_two_agents_claiming_at_the_same_moment_never_get_the_same_task(register, setup):
    rounds = 30
    for n in range(2 * rounds):
        make_item(register, n + 1, resolved=RESOLVED + timedelta(minutes=n))
    policy = team()                                   # a team with nobody in it: every task unassigned
    assert queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), policy, setup)["scheduled"] == 2 * rounds
    add_agents(register, "a1", "a2")
    now = local(2026, 10, 13, 14, 0)                  # after the survey-less items became workable
    barrier = threading.Barrier(2)
    claimed: dict[str, list[int | None]] = {"a1": [], "a2": []}
    errors: list[BaseException] = []

    def agent(name: str) -> None:
        try:
            for _ in range(rounds):
                barrier.wait(timeout=30)
                task = queue.claim_next(register, name, now, policy)
                claimed[name].append(task.task_id if task else None)
                barrier.wait(timeout=30)              # both have claimed before either records
                if task:
                    queue.record_outcome(register, task.task_id, name, "满意", None, now, policy=policy,
                                         ladder=None)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=agent, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for first, second in zip(claimed["a1"], claimed["a2"], strict=True):
        assert first is not None and second is not None, "a task was due but an agent got none"
        assert first != second, "two agents claimed the same task"
    every = claimed["a1"] + claimed["a2"]
    assert len(set(every)) == len(every) == 2 * rounds
    assert scalar(register, "SELECT count(*) FROM feedback.callback_task WHERE status = 'done'") == 2 * rounds


def test_an_expired_claim_returns_to_the_queue(register, setup):
    fid = make_item(register, 1)
    policy = team()
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), policy, setup)
    add_agents(register, "a1", "a2")
    t0 = local(2026, 10, 12, 14, 0)
    first = queue.claim_next(register, "a1", t0, policy)
    assert first is not None and first.claimed_by == "a1"
    assert first.claim_expires_at == t0 + timedelta(minutes=30)
    assert queue.claim_next(register, "a1", t0 + timedelta(minutes=5), policy).task_id == first.task_id, \
        "an agent at the claim limit gets the task they hold back"
    assert queue.claim_next(register, "a2", t0 + timedelta(minutes=29), policy) is None
    assert queue.release_expired(register, t0 + timedelta(minutes=29)) == 0
    assert queue.release_expired(register, t0 + timedelta(minutes=31)) == 1
    assert task_of(register, fid).status == "pending"
    taken = queue.claim_next(register, "a2", t0 + timedelta(minutes=32), policy)
    assert taken is not None and taken.task_id == first.task_id and taken.claimed_by == "a2"
    with pytest.raises(NotClaimHolder):
        queue.record_attempt(register, first.task_id, "a1", "no_answer", t0 + timedelta(minutes=33), policy)
    # A lapsed claim is also taken over directly, without waiting for release_expired.
    later = t0 + timedelta(minutes=70)
    again = queue.claim_next(register, "a1", later, policy)
    assert again is not None and again.task_id == first.task_id and again.claimed_by == "a1"


def test_k_unanswered_calls_end_the_task_unreachable(register, setup):
    fid = make_item(register, 1)
    policy = team()
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), policy, setup)
    add_agents(register, "a1")
    t = local(2026, 10, 12, 14, 0)
    results = []
    for n, result in enumerate(["no_answer", "busy", "wrong_number"]):
        task = queue.claim_next(register, "a1", t, policy)
        assert task is not None, f"call {n + 1}: the task was not back in the queue"
        results.append(queue.record_attempt(register, task.task_id, "a1", result, t, policy))
        if n < 2:
            assert results[-1].status == "pending"
            assert queue.claim_next(register, "a1", t + timedelta(minutes=119), policy) is None, "retried too early"
        t += timedelta(minutes=120)
    assert [r.unreachable_count for r in results] == [1, 2, 3]
    assert results[-1].status == "unreachable"
    row = task_of(register, fid)
    assert (row.status, row.outcome, row.attempts, row.action) == ("unreachable", "unreachable", 3, "kept")
    assert scalar(register, "SELECT count(*) FROM feedback.callback_attempt WHERE task_id = :t", t=row.id) == 3
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE feedback_id = :f "
                            "AND event_type = 'callback_outcome'", f=fid) == 1
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE feedback_id = :f "
                            "AND event_type = 'closed'", f=fid) == 0
    with pytest.raises(TaskClosed):
        queue.record_outcome(register, row.id, "a1", "满意", None, t, policy=policy)


def test_unreachable_can_be_configured_to_close_the_item(register, setup):
    fid = make_item(register, 1)
    policy = team().replace(unreachable=UnreachableRule(action="close"),
                            queue=load_policy().queue.model_copy(update={"max_unreachable_attempts": 1}))
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), policy, setup)
    add_agents(register, "a1")
    t = local(2026, 10, 12, 14, 0)
    task = queue.claim_next(register, "a1", t, policy)
    assert queue.record_attempt(register, task.task_id, "a1", "no_answer", t, policy).status == "unreachable"
    assert scalar(register, "SELECT to_status FROM feedback.feedback_event WHERE feedback_id = :f "
                            "AND event_type = 'closed'", f=fid) == "closed"


def test_an_item_without_any_contact_is_unreachable_at_once(register, setup):
    fid = make_item(register, 1, phone=None)
    summary = queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), team("a"), setup)
    assert summary["no_contact"] == 1
    row = task_of(register, fid)
    assert (row.status, row.outcome) == ("unreachable", "unreachable")
    details = scalar(register, "SELECT details FROM feedback.feedback_event WHERE feedback_id = :f "
                               "AND event_type = 'callback_outcome'", f=fid)
    assert details["reason"] == "no_contact"


def test_unknown_or_inactive_agents_cannot_claim(register, setup):
    make_item(register, 1)
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), team("a"), setup)
    with pytest.raises(UnknownAgent):
        queue.claim_next(register, "nobody", local(2026, 10, 12, 14, 0), team("a"))
    # Removing an agent from the file deactivates it at the next scheduling run.
    queue.schedule_callbacks(register, local(2026, 10, 12, 13, 0), team("b"), setup)
    with pytest.raises(UnknownAgent):
        queue.claim_next(register, "a", local(2026, 10, 12, 14, 0), team("b"))


# --- assignment ---------------------------------------------------------------------------------


def test_round_robin_rotates_over_the_team_across_runs(register, setup):
    items = [make_item(register, n + 1, resolved=RESOLVED + timedelta(minutes=n)) for n in range(5)]
    policy = team("a", "b", "c")
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), policy, setup)
    assert [task_of(register, f).assigned_to for f in items] == ["a", "b", "c", "a", "b"]
    more = [make_item(register, n + 10, resolved=RESOLVED + timedelta(hours=3, minutes=n)) for n in range(2)]
    queue.schedule_callbacks(register, local(2026, 10, 12, 14, 0), policy, setup)
    assert [task_of(register, f).assigned_to for f in more] == ["c", "a"]
    # An agent claims their own tasks first, even when an unassigned one is due earlier.
    t = local(2026, 10, 13, 16, 0)
    assert queue.claim_next(register, "b", t, policy).feedback_id == items[1]


def test_least_loaded_gives_new_tasks_to_the_agent_with_fewest_open(register, setup):
    policy = team("a", "b", "c", mode="least_loaded")
    old = [make_item(register, n + 1, resolved=RESOLVED + timedelta(minutes=n)) for n in range(3)]
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), policy, setup)
    with register.begin() as conn:                   # open load: a 2, b 0, c 1
        for fid, agent in zip(old, ["a", "a", "c"], strict=True):
            conn.execute(sa.text("UPDATE feedback.callback_task SET assigned_to = :a WHERE feedback_id = :f"),
                         {"a": agent, "f": fid})
    new = [make_item(register, n + 10, resolved=RESOLVED + timedelta(hours=1, minutes=n)) for n in range(4)]
    queue.schedule_callbacks(register, local(2026, 10, 12, 14, 0), policy, setup)
    assert [task_of(register, f).assigned_to for f in new] == ["b", "b", "c", "a"]


# --- due times ----------------------------------------------------------------------------------


def test_due_is_three_working_days_across_national_day_and_24h_for_urgent_and_vip(register, setup):
    wed = local(2026, 9, 30, 10, 0)                  # then 国庆 1-7 Oct; Sat 10 Oct is a working day (调休)
    normal = make_item(register, 1, resolved=wed)
    urgent = make_item(register, 2, resolved=wed, priority="urgent")
    vip = make_item(register, 3, resolved=wed, tier="vip")
    surveyed = make_item(register, 4, resolved=wed, email="li.lei@example.com")
    summary = queue.schedule_callbacks(register, local(2026, 9, 30, 11, 0), team("a"), setup)
    assert summary["scheduled"] == 4
    assert task_of(register, normal).due_at == local(2026, 10, 10, 10, 0)
    assert task_of(register, urgent).due_at == local(2026, 10, 1, 10, 0)
    assert task_of(register, vip).due_at == local(2026, 10, 1, 10, 0)
    assert task_of(register, normal).due_rule == "default 3wd on default"
    assert task_of(register, vip).due_rule == "vip 24h on always"
    # Phone calls wait a day for the e-mail survey; without an e-mail address they may start at once.
    assert task_of(register, surveyed).not_before == wed + timedelta(hours=24)
    assert task_of(register, normal).not_before == wed
    events = scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'callback_scheduled'")
    assert events == 4
    again = queue.schedule_callbacks(register, local(2026, 9, 30, 12, 0), team("a"), setup)
    assert again["scheduled"] == 0
    assert scalar(register, "SELECT count(*) FROM feedback.callback_task") == 4


def test_a_task_whose_item_moved_on_is_cancelled(register, setup):
    fid = make_item(register, 1)
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), team("a"), setup)
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback SET status = 'in_progress' WHERE id = :f"), {"f": fid})
    assert queue.schedule_callbacks(register, local(2026, 10, 12, 13, 0), team("a"), setup)["cancelled"] == 1
    assert task_of(register, fid).status == "cancelled"


# --- the contact --------------------------------------------------------------------------------


def test_only_the_claim_holder_sees_the_contact_and_every_reveal_is_audited(register, setup):
    make_item(register, 1)
    policy = team()
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), policy, setup)
    add_agents(register, "a1", "a2")
    t = local(2026, 10, 12, 14, 0)
    task = queue.claim_next(register, "a1", t, policy)
    assert task.contact_vault_id is not None and not hasattr(task, "contact")
    assert PHONE not in repr(task) and "13912345678" not in repr(task)
    with pytest.raises(NotClaimHolder) as refused:
        queue.reveal_contact(register, task.task_id, "a2", t)
    assert "13912345678" not in str(refused.value)
    assert scalar(register, "SELECT count(*) FROM feedback.contact_reveal") == 0
    assert queue.reveal_contact(register, task.task_id, "a1", t) == PHONE
    assert queue.reveal_contact(register, task.task_id, "a1", t + timedelta(minutes=10)) == PHONE
    with pytest.raises(NotClaimHolder):               # the claim lapsed
        queue.reveal_contact(register, task.task_id, "a1", t + timedelta(minutes=31))
    with register.connect() as conn:
        audit = conn.execute(sa.text("SELECT vault_id, actor, purpose, revealed_at FROM feedback.contact_reveal "
                                     "ORDER BY id")).all()
    assert [(a.actor, a.purpose) for a in audit] == [("a1", f"callback:{task.task_id}")] * 2
    assert {a.vault_id for a in audit} == {task.contact_vault_id}
    assert audit[0].revealed_at == t.astimezone(UTC)


# --- the console's read models ------------------------------------------------------------------


def test_agent_queue_and_sla_board_show_masked_fields_only(register, setup):
    mine = make_item(register, 1, resolved=RESOLVED)
    other = make_item(register, 2, resolved=RESOLVED + timedelta(minutes=1))
    policy = team("a", "b")
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), policy, setup)
    t = local(2026, 10, 15, 11, 0)                   # the callbacks are due Thu 15 Oct 10:00: overdue
    held = queue.claim_next(register, "a", t, policy)
    assert held.feedback_id == mine
    listed = queue.agent_queue(register, "a", t)
    assert [x.feedback_id for x in listed] == [mine]
    assert listed[0].claimed_by == "a" and listed[0].contact_masked == "139****5678"
    board = queue.sla_board(register, t, window_hours=4)
    callbacks = [e for e in board if e.kind == "callback"]
    assert {e.feedback_id for e in callbacks} == {mine, other}
    assert all(e.overdue and e.minutes_left < 0 for e in callbacks)
    assert queue.sla_board(register, t, department="finance") == []
    text = repr(board) + repr(listed)
    assert "13912345678" not in text and PHONE not in text


# --- the operator's command line ----------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    return subprocess.run([sys.executable, "-m", "feedback.cli", "callbacks", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_the_cli_works_the_queue_with_one_line_errors(register, setup):
    first = make_item(register, 1, resolved=RESOLVED)
    second = make_item(register, 2, resolved=RESOLVED + timedelta(minutes=1))
    queue.schedule_callbacks(register, local(2026, 10, 12, 12, 0), load_policy(), setup)   # the shipped team
    agents = cli("agents")
    assert agents.returncode == 0 and "cb-li" in agents.stdout and "supervisor" in agents.stdout
    claim = cli("claim", "--agent", "cb-li", "--json")
    assert claim.returncode == 0, claim.stderr
    task = json.loads(claim.stdout)
    assert task["feedback_id"] == first and task["claimed_by"] == "cb-li"
    assert "13912345678" not in claim.stdout + claim.stderr
    refused = cli("reveal", str(task["task_id"]), "--agent", "cb-wang")
    assert refused.returncode == 2 and refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    attempt = cli("attempt", str(task["task_id"]), "--agent", "cb-li", "--result", "busy")
    assert attempt.returncode == 0 and "now pending" in attempt.stderr
    nxt = json.loads(cli("claim", "--agent", "cb-li", "--json").stdout)   # someone else's, but overdue
    assert nxt["feedback_id"] == second
    bad = cli("record", str(nxt["task_id"]), "--agent", "cb-li", "--rating", "还行")
    assert bad.returncode == 2 and "满意 / 一般 / 不满意" in bad.stderr and "Traceback" not in bad.stderr
    record = cli("record", str(nxt["task_id"]), "--agent", "cb-li", "--rating", "满意", "--comment", "好")
    assert record.returncode == 0, record.stderr
    assert "closed" in record.stderr
    assert task_of(register, second).status == "done" and task_of(register, first).attempts == 1
    unknown = cli("claim", "--agent", "nobody")
    assert unknown.returncode == 2 and "not an active member" in unknown.stderr
