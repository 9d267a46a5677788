"""The satisfaction loop on a real register: answers → events → item status, through the SLA monitor.

Satisfied closes; dissatisfied reopens for a second handling cycle, escalates to the
department's supervisor (an outbox row with the number, department and rating only) and,
once resolved again, gets a second callback. Times are Asia/Shanghai.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback.callbacks import queue
from feedback.callbacks.errors import BadAnswer, NotClaimHolder, TaskClosed
from feedback.callbacks.outcomes import apply_item_status
from feedback.callbacks.policy import AgentSpec, OutcomeRule, TeamPolicy, load_policy
from feedback.notify.escalation import load_ladder
from feedback.privacy import vault
from feedback.sla.monitor import load_setup

SH = ZoneInfo("Asia/Shanghai")
RESOLVED = datetime(2026, 10, 12, 10, 0, tzinfo=SH)
PHONE, EMAIL = "+8613912345678", "wang.fang@example.com"
T = datetime(2026, 10, 12, 15, 0, tzinfo=SH)


@pytest.fixture(scope="module")
def setup():
    return load_setup()


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "callback-outcome-test-hash-key-01")
    monkeypatch.setenv("FEEDBACK_SURVEY_KEY", "callback-outcome-test-survey-key-1")


@pytest.fixture(scope="module")
def ladder():
    return load_ladder()


def policy_with(scale: str = "three_level_a", **sections):
    base = load_policy().with_scale(scale)
    return base.replace(team=TeamPolicy(agents=[AgentSpec(id="a1", name="A1")]), **sections)


def make_item(engine, n: int, *, status: str = "resolved", department: str = "product_engineering") -> int:
    with engine.begin() as conn:
        phone_id, email_id = vault.store_contacts(conn, [("phone", PHONE), ("email", EMAIL)], RESOLVED)
        return conn.execute(
            sa.text("""INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at,
                              description, subject, priority, department, status, handling_cycle, resolved_at,
                              updated_at, contact_refs, contact_vault_id, contact_masked, language, sla_preset)
                       VALUES (:no, 'webform', 'contact_zh', :rec, :rec, 'app 频繁闪退', 'app 闪退', 'high', :dept,
                               :status, 1, :res, :upd, CAST(:refs AS jsonb), :p, '139****5678', 'zh', 'A')
                       RETURNING id"""),
            {"no": f"20261012-{n:03d}", "rec": RESOLVED - timedelta(days=1), "dept": department, "status": status,
             "res": RESOLVED if status == "resolved" else None, "upd": RESOLVED,
             "refs": json.dumps({"phone": phone_id, "email": email_id}), "p": phone_id},
        ).scalar_one()


def claimed(engine, policy, setup, at: datetime = T):
    """Schedule at `at` and let agent a1 claim the next task (phone calls may start after the survey grace)."""
    queue.schedule_callbacks(engine, at, policy, setup)
    return queue.claim_next(engine, "a1", at + timedelta(days=1), policy)


def events(engine, feedback_id: int) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.text("SELECT event_type, to_status FROM feedback.feedback_event WHERE feedback_id = :f ORDER BY id"),
            {"f": feedback_id})]


def item(engine, feedback_id: int):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM feedback.feedback WHERE id = :f"), {"f": feedback_id}).one()


def test_dissatisfied_reopens_escalates_and_the_next_resolution_gets_a_second_callback(register, setup, ladder):
    policy = policy_with()
    fid = make_item(register, 1)
    task = claimed(register, policy, setup)
    at = T + timedelta(days=1, minutes=5)
    result = queue.record_outcome(register, task.task_id, "a1", "不满意", "还是闪退", at, policy=policy, ladder=ladder)
    assert (result.outcome, result.action, result.escalated, result.notifications) == \
        ("dissatisfied", "reopened", True, 1)
    assert events(register, fid)[-3:] == [("callback_outcome", None), ("reopened", "reopened"), ("escalated", None)]
    with register.connect() as conn:
        mail = conn.execute(sa.text("SELECT * FROM feedback.outbox WHERE kind = 'callback_escalation'")).one()
    assert mail.recipient == "pe-lead@example.com"            # escalation.yaml supervisors.product_engineering
    text = json.dumps(mail._asdict(), ensure_ascii=False, default=str)
    # Issue 16: the mail names the department (产品技术部), never its code.
    assert "20261012-001" in text and "产品技术部" in text and "不满意" in text
    assert "product_engineering" not in mail.body + mail.payload["html"]
    assert "13912345678" not in text and EMAIL not in text and "wang.fang" not in text and "还是闪退" not in text

    # The monitor's function applies the reopen: a second handling cycle with fresh deadlines.
    apply_item_status(register, at + timedelta(minutes=1), setup)
    reopened = item(register, fid)
    assert (reopened.status, reopened.handling_cycle, reopened.resolved_at) == ("reopened", 2, None)
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_deadline WHERE feedback_id = :f "
                            "AND handling_cycle = 2", f=fid) >= 1
    assert queue.schedule_callbacks(register, at + timedelta(minutes=2), policy, setup)["scheduled"] == 0

    # Handled again and resolved: a second callback, for cycle 2.
    second_resolution = at + timedelta(days=1)
    with register.begin() as conn:
        conn.execute(sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor) "
                             "VALUES (:f, 'resolved', :t, 'crm')"), {"f": fid, "t": second_resolution})
    apply_item_status(register, second_resolution + timedelta(minutes=1), setup)
    assert item(register, fid).status == "resolved"
    assert queue.schedule_callbacks(register, second_resolution + timedelta(minutes=2), policy, setup)["scheduled"] == 1
    assert scalar(register, "SELECT array_agg(handling_cycle ORDER BY handling_cycle) FROM feedback.callback_task "
                            "WHERE feedback_id = :f", f=fid) == [1, 2]

    # This time the customer is satisfied: closed, once the events are applied.
    later = second_resolution + timedelta(days=1, hours=1)
    second = queue.claim_next(register, "a1", later, policy)
    assert second.handling_cycle == 2
    done = queue.record_outcome(register, second.task_id, "a1", "满意", None, later, policy=policy)
    assert (done.action, done.escalated) == ("closed", False)
    apply_item_status(register, later + timedelta(minutes=1), setup)
    closed = item(register, fid)
    assert closed.status == "closed" and closed.closed_at == later


def test_satisfied_closes_the_item(register, setup):
    policy = policy_with()
    fid = make_item(register, 1)
    task = claimed(register, policy, setup)
    at = T + timedelta(days=1, minutes=5)
    result = queue.record_outcome(register, task.task_id, "a1", "满意", "谢谢", at, policy=policy)
    assert (result.outcome, result.rating, result.action) == ("satisfied", "满意", "closed")
    assert events(register, fid)[-2:] == [("callback_outcome", None), ("closed", "closed")]
    assert scalar(register, "SELECT count(*) FROM feedback.outbox") == 0
    row = scalar(register, "SELECT row_to_json(t) FROM feedback.callback_task t WHERE id = :i", i=task.task_id)
    assert (row["status"], row["answered_via"], row["answered_by"], row["scale"]) == \
        ("done", "phone", "a1", "three_level_a")
    apply_item_status(register, at + timedelta(minutes=1), setup)
    assert item(register, fid).status == "closed"


@pytest.mark.parametrize(
    ("scale", "answer", "outcome", "label"),
    [
        ("three_level_a", "满意", "satisfied", "满意"),
        ("three_level_a", "一般", "neutral", "一般"),
        ("three_level_a", "不满意", "dissatisfied", "不满意"),
        ("three_level_b", "满意", "satisfied", "满意"),
        ("three_level_b", "基本满意", "neutral", "基本满意"),
        ("three_level_b", "Basically satisfied", "neutral", "基本满意"),
        ("three_level_b", "不满意", "dissatisfied", "不满意"),
        ("score_100", 100, "satisfied", "满意"),
        ("score_100", 90, "satisfied", "满意"),
        ("score_100", 89, "neutral", "基本满意"),
        ("score_100", 70, "neutral", "基本满意"),
        ("score_100", 69, "dissatisfied", "不满意"),
        ("score_100", 1, "dissatisfied", "不满意"),
    ],
)
def test_each_scale_maps_answers_to_outcomes(register, setup, ladder, scale, answer, outcome, label):
    policy = policy_with(scale)
    make_item(register, 1)
    task = claimed(register, policy, setup)
    at = T + timedelta(days=1, minutes=5)
    result = queue.record_outcome(register, task.task_id, "a1", answer, None, at, policy=policy, ladder=ladder)
    assert (result.outcome, result.rating) == (outcome, label)
    stored = scalar(register, "SELECT row_to_json(t) FROM feedback.callback_task t WHERE id = :i", i=task.task_id)
    assert (stored["outcome"], stored["rating"], stored["scale"]) == (outcome, label, scale)
    assert stored["score"] == (answer if isinstance(answer, int) else None)
    assert result.action == ("reopened" if outcome == "dissatisfied" else "closed")


@pytest.mark.parametrize(
    ("scale", "answer"),
    [("three_level_a", "基本满意"), ("three_level_b", "一般"), ("three_level_a", 80), ("score_100", 0),
     ("score_100", 101), ("score_100", "满意")],
)
def test_an_answer_the_scale_does_not_know_records_nothing(register, setup, scale, answer):
    policy = policy_with(scale)
    make_item(register, 1)
    task = claimed(register, policy, setup)
    with pytest.raises(BadAnswer):
        queue.record_outcome(register, task.task_id, "a1", answer, None, T + timedelta(days=1), policy=policy)
    assert scalar(register, "SELECT status FROM feedback.callback_task WHERE id = :i", i=task.task_id) == "claimed"
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'callback_outcome'") == 0


def test_neutral_can_be_configured_to_reopen_without_escalation(register, setup):
    policy = policy_with(outcomes={"satisfied": OutcomeRule(action="close"), "neutral": OutcomeRule(action="reopen"),
                                   "dissatisfied": OutcomeRule(action="reopen", escalate=True)})
    fid = make_item(register, 1)
    task = claimed(register, policy, setup)
    result = queue.record_outcome(register, task.task_id, "a1", "一般", None, T + timedelta(days=1), policy=policy)
    assert (result.action, result.escalated) == ("reopened", False)
    assert [e for e, _ in events(register, fid)][-2:] == ["callback_outcome", "reopened"]
    assert scalar(register, "SELECT count(*) FROM feedback.outbox") == 0


def test_a_comment_is_masked_and_no_phone_is_stored_in_clear_outside_the_vault(register, setup, ladder):
    policy = policy_with()
    fid = make_item(register, 1)
    task = claimed(register, policy, setup)
    comment = "还是没修好，打我电话 13712345678 或者发邮件 zhao.lei@example.org"
    queue.record_outcome(register, task.task_id, "a1", "不满意", comment, T + timedelta(days=1), policy=policy,
                         ladder=ladder)
    stored = scalar(register, "SELECT comment FROM feedback.callback_task WHERE id = :i", i=task.task_id)
    assert "137****5678" in stored and "13712345678" not in stored and "zhao.lei@example.org" not in stored
    with register.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'feedback' "
            "AND table_type = 'BASE TABLE' AND table_name NOT IN ('intake', 'contact_vault')")).scalars().all()
        dump = "\n".join(
            text for table in tables
            for text in conn.execute(sa.text(f"SELECT row_to_json(t)::text FROM feedback.{table} t")).scalars())
    assert "callback_task" in tables and "outbox" in tables and "feedback_event" in tables
    for secret in ("13712345678", "zhao.lei@example.org", "13912345678", EMAIL):
        assert secret not in dump, f"{secret[:3]}… stored in clear outside the vault"
    assert item(register, fid).status == "resolved"


def test_an_unsolvable_item_records_the_customers_final_opinion(register, setup):
    policy = policy_with()
    fid = make_item(register, 1, status="unsolvable")
    task = claimed(register, policy, setup)
    assert task.purpose == "final_opinion"
    opinion = "理解无法维修，接受换货方案，联系 13712345678"
    result = queue.record_outcome(register, task.task_id, "a1", None, None, T + timedelta(days=1), opinion,
                                  policy=policy)
    assert (result.action, result.outcome) == ("kept", None)
    stored = scalar(register, "SELECT final_opinion FROM feedback.callback_task WHERE id = :i", i=task.task_id)
    assert stored.startswith("理解无法维修") and "13712345678" not in stored
    assert [e for e, _ in events(register, fid)][-1] == "callback_outcome"
    apply_item_status(register, T + timedelta(days=1, minutes=1), setup)
    assert item(register, fid).status == "unsolvable"


def test_an_answer_needs_the_claim_and_is_recorded_once(register, setup):
    policy = policy_with()
    make_item(register, 1)
    task = claimed(register, policy, setup)
    at = T + timedelta(days=1)
    with pytest.raises(NotClaimHolder):
        queue.record_outcome(register, task.task_id, "someone-else", "满意", None, at, policy=policy)
    queue.record_outcome(register, task.task_id, "a1", "满意", None, at, policy=policy)
    with pytest.raises(TaskClosed):
        queue.record_outcome(register, task.task_id, "a1", "不满意", None, at, policy=policy)
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'callback_outcome'") == 1


def test_the_demo_team_works_the_queue_to_a_deterministic_mix(register, setup, ladder):
    from feedback_dev.callback_team import fate, work_queue

    policy = load_policy().replace(team=TeamPolicy(agents=[AgentSpec(id="a1", name="A1"),
                                                           AgentSpec(id="a2", name="A2")]))
    items = [make_item(register, n + 1) for n in range(40)]
    with register.begin() as conn:                    # phone only, so calls may start at once
        conn.execute(sa.text("UPDATE feedback.feedback SET contact_refs = contact_refs - 'email'"))
    queue.schedule_callbacks(register, T, policy, setup)
    counts = work_queue(register, T + timedelta(hours=1), seed=7, policy=policy)
    assert counts["agents"] == 2
    assert counts["closed"] > 0 and counts["reopened"] > 0 and counts["unreachable"] > 0
    assert scalar(register, "SELECT count(*) FROM feedback.callback_task WHERE status IN ('pending', 'claimed')") == 0
    with register.connect() as conn:
        done = conn.execute(sa.text("SELECT f.feedback_no, t.status, t.outcome FROM feedback.callback_task t "
                                    "JOIN feedback.feedback f ON f.id = t.feedback_id")).all()
    assert len(done) == len(items)
    for number, status, outcome in done:
        expected = fate(7, number, 1)
        assert (status, outcome) == (("unreachable", "unreachable") if expected == "unreachable"
                                     else ("done", expected)), number
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'reopened'") == \
        counts["reopened"]
    assert work_queue(register, T + timedelta(hours=2), seed=7, policy=policy) == {"agents": 2}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("scale: five_level\n", "scale: no scale 'five_level' under scales"),
        ("outcomes:\n  satisfied: {action: reopen}\n  neutral: {action: close}\n  dissatisfied: {action: reopen}\n",
         "outcomes.satisfied: a satisfied customer closes the item"),
        ("queue:\n  claim_minutes: 0\n", "queue.claim_minutes: input should be greater than or equal"),
        ("due:\n  default: {within: 3d}\n", "due.default.within: expected a duration"),
        ("scales:\n  s:\n    kind: score\n    bands:\n      - {min: 90, label: a, en: a, outcome: satisfied}\n"
         "      - {min: 10, label: b, en: b, outcome: dissatisfied}\nscale: s\n",
         "scales.s: bands: the lowest band must start at min (1)"),
        ("survey:\n  max_reminders: 2\n", "survey.max_reminders"),
    ],
)
def test_a_bad_callbacks_file_is_explained_in_one_line(tmp_path, change, message):
    import yaml

    from feedback.errors import ConfigError
    from feedback.paths import config_dir

    shipped = yaml.safe_load((config_dir() / "callbacks.yaml").read_text(encoding="utf-8"))
    shipped.update(yaml.safe_load(change))
    (tmp_path / "callbacks.yaml").write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_policy(tmp_path)
    assert "callbacks.yaml: " in str(err.value) and message in str(err.value), str(err.value)
    assert "\n" not in str(err.value)
