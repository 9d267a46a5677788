"""Poison isolation in every recurring stage: one bad row is held, the rest go through, a release retries it.

Each test plants one poison row among good ones on a real register, runs the stage once and
checks: the good rows are processed on that first run, the run succeeds and counts one held
row, the hold is listed (stage, table, reason, a detail without values), a second run skips
it, and after a fix and a release the next run processes it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback import holds
from feedback.sla import monitor

SH = ZoneInfo("Asia/Shanghai")
HIGH = "app频繁闪退，用不了几分钟就退出"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture(scope="module")
def setup():
    return monitor.load_setup()


def add_items(engine, setup, received: datetime, n: int, priority: str = "high", status: str = "assigned",
              vault_ids: list[int | None] | None = None) -> list[int]:
    """Registered items as triage leaves them (number, deadlines on the policy's calendar, `created` event).

    Written directly, so these tests depend on the monitor's inputs only, not on the classifier.
    """
    from feedback.sla.deadlines import COLUMNS, deadline_rows

    policy = setup.policy(None)
    ids = []
    with engine.begin() as conn:
        for i in range(n):
            vault_id = (vault_ids or [None] * n)[i]
            fid = conn.execute(
                sa.text("""INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at,
                                                          description, priority, status, contact_vault_id,
                                                          contact_refs, department, language, subject)
                           VALUES (:no, 'webform', 'contact_zh', :t, :t, 'app频繁闪退', :p, :s, :v,
                                   CAST(:refs AS jsonb), 'tech_support', 'zh', '闪退')
                           RETURNING id"""),
                {"no": f"{received.astimezone(SH):%Y%m%d}-{900 + i:03d}", "t": received, "p": priority, "s": status,
                 "v": vault_id, "refs": json.dumps({"email": vault_id} if vault_id else {})},
            ).scalar_one()
            for row in deadline_rows(policy, setup.calendars, priority, "normal", received):
                conn.execute(sa.text(f"INSERT INTO feedback.feedback_deadline ({', '.join(COLUMNS)}) "  # noqa: S608
                                     f"VALUES ({', '.join(':' + c for c in COLUMNS)})"),
                             dict(zip(COLUMNS, row.values(fid, 1), strict=True)))
            conn.execute(sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, "
                                 "to_status) VALUES (:f, 'created', :t, 'triage', 'new')"), {"f": fid, "t": received})
            ids.append(fid)
    return ids


def add_event(engine, feedback_id: int, kind: str, at: datetime, to_status: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, to_status) "
                    "VALUES (:f, :k, :t, 'crm', :s)"),
            {"f": feedback_id, "k": kind, "t": at, "s": to_status},
        )


def listed(engine, stage: str) -> list[holds.Held]:
    return holds.list_held(engine, stage=stage)


# --- SLA monitor ------------------------------------------------------------------------------------


def test_sla_monitor_holds_an_item_whose_calendar_is_gone_and_watches_the_others(register, setup):
    good_a, poison, good_b = add_items(register, setup, local(2026, 10, 14, 10, 0), 3)
    # The poison: its deadlines were counted on a calendar since removed from calendars.yaml.
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET calendar = 'retired_2025' WHERE feedback_id = :f"),
                     {"f": poison})
    for fid in (good_a, poison, good_b):
        add_event(register, fid, "status_changed", local(2026, 10, 14, 11, 0), "waiting_customer")
        add_event(register, fid, "status_changed", local(2026, 10, 14, 14, 0), "in_progress")

    first = monitor.run_monitor(register, local(2026, 10, 14, 14, 5).astimezone(UTC), setup)
    assert first.held == 1
    # The good items' clocks were paused and resumed: due 15:30 + 1h30 paused = 17:00.
    for fid in (good_a, good_b):
        assert scalar(register, "SELECT due_at FROM feedback.feedback_deadline WHERE feedback_id = :f "
                                "AND stage = 'first_response'", f=fid) == local(2026, 10, 14, 17, 0)
        assert scalar(register, "SELECT status FROM feedback.feedback WHERE id = :f", f=fid) == "in_progress"
    assert scalar(register, "SELECT status FROM feedback.feedback WHERE id = :f", f=poison) == "assigned"   # untouched
    [hold] = listed(register, "sla_monitor")
    assert (hold.table_name, hold.row_ref, hold.reason) == ("feedback.feedback", str(poison), "key_error")
    assert "applying its events" in hold.detail
    assert scalar(register, "SELECT count(*) FROM feedback.sla_deferred_event WHERE feedback_id = :f",
                  f=poison) == 3   # created + the pause + the resume

    # Later runs skip it (and set aside its new events); the others are watched as usual.
    add_event(register, poison, "responded", local(2026, 10, 14, 16, 0))
    later = monitor.run_monitor(register, local(2026, 10, 14, 17, 1).astimezone(UTC), setup)
    assert later.held == 0 and later.breaches == 2
    assert scalar(register, "SELECT count(*) FROM feedback.sla_deferred_event") == 4
    assert listed(register, "sla_monitor")[0].hold_count == 1

    # The fix (the calendar's name back), then the release: its events are applied, in order.
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET calendar = 'default' WHERE feedback_id = :f"),
                     {"f": poison})
    assert holds.release(register, [hold.id], local(2026, 10, 14, 17, 2)) == 1
    after = monitor.run_monitor(register, local(2026, 10, 14, 17, 5).astimezone(UTC), setup)
    assert after.held == 0 and after.events == 4
    assert scalar(register, "SELECT count(*) FROM feedback.sla_deferred_event") == 0
    assert scalar(register, "SELECT status FROM feedback.feedback WHERE id = :f", f=poison) == "in_progress"
    assert scalar(register, "SELECT met_at FROM feedback.feedback_deadline WHERE feedback_id = :f "
                            "AND stage = 'first_response'", f=poison) == local(2026, 10, 14, 16, 0)
    assert listed(register, "sla_monitor") == []


def test_sla_monitor_holds_a_deadline_whose_warning_instant_cannot_be_computed(register, setup):
    items = add_items(register, setup, local(2026, 10, 14, 10, 0), 3)
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET warn_at = NULL"))
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET calendar = 'retired_2025' WHERE feedback_id = :f "
                             "AND stage = 'first_response'"), {"f": items[1]})
    run = monitor.run_monitor(register, local(2026, 10, 14, 14, 45).astimezone(UTC), setup)
    assert run.held == 1
    assert run.warnings == 2          # the two good items' first-response warnings (14:42)
    [hold] = listed(register, "sla_monitor")
    assert hold.table_name == "feedback.feedback_deadline" and "warning instant" in hold.detail
    assert monitor.run_monitor(register, local(2026, 10, 14, 14, 50).astimezone(UTC), setup).held == 0


def test_measures_cannot_overflow_a_deadline_a_thousand_allowances_late(register, setup):
    # A 4-hour allowance first watched about 1,000 allowances (some 160 days) after its due time: a go-live
    # over a backlog, a monitor paused for months. numeric(6,3) overflowed here and stopped every run.
    [late] = add_items(register, setup, local(2026, 10, 14, 10, 0) - timedelta(hours=4000), 1)
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback SET feedback_no = '20260430-001' WHERE id = :f"), {"f": late})
    endless, normal = add_items(register, setup, local(2026, 10, 14, 10, 0), 2)
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET starts_at = '-infinity', due_at = '-infinity' "
                             "WHERE feedback_id = :f"), {"f": endless})
    run = monitor.run_monitor(register, local(2026, 10, 14, 16, 0).astimezone(UTC), setup)
    assert run.held == 0
    with register.connect() as conn:
        shares = dict(conn.execute(sa.text(
            "SELECT feedback_id, used_share FROM feedback.sla_breach WHERE stage = 'first_response'")).all())
    assert set(shares) == {late, endless, normal}
    assert 900 < shares[late] < 1100
    assert shares[endless] is None
    assert 1 < shares[normal] < 2


# --- outbox sender ------------------------------------------------------------------------------------

CUSTOMERS = ["wang.wu@qq.com", "zhao.liu@163.com"]


def test_outbox_holds_a_row_whose_vault_entry_cannot_be_decrypted_and_sends_the_rest(register, smtp_capture,
                                                                                      monkeypatch):
    from cryptography.fernet import Fernet, MultiFernet

    from feedback.notify.outbox import OutboxRow, write_rows
    from feedback.notify.sender import send_pending
    from feedback.privacy import vault

    now = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
    old_key = Fernet.generate_key().decode()   # a key removed from the configuration before rotation finished
    with register.begin() as conn:
        [good_vid] = vault.store_contacts(conn, [("email", CUSTOMERS[0])], now)
        [lost_vid] = vault.store_contacts(conn, [("email", CUSTOMERS[1])], now, fernet=MultiFernet([Fernet(old_key)]))
        write_rows(conn, [
            OutboxRow("ack", "ack:1", "ops@example.com", now, subject="a", body="staff one"),
            OutboxRow("ack", "ack:2", f"vault:{lost_vid}", now, subject="b", body="customer, lost key",
                      recipient_vault_id=lost_vid),
            OutboxRow("ack", "ack:3", f"vault:{good_vid}", now, subject="c", body="customer",
                      recipient_vault_id=good_vid),
            OutboxRow("ack", "ack:4", "lead@example.com", now, subject="d", body="staff two"),
        ])

    counts = send_pending(register, now=now)
    assert counts == {"sent": 3, "failed": 0, "gave_up": 0, "held": 1}
    assert len(list(smtp_capture.folder.glob("*.eml"))) == 3
    [hold] = listed(register, "outbox")
    assert (hold.table_name, hold.reason) == ("feedback.outbox", "vault_undecryptable")
    poison_id = scalar(register, "SELECT id FROM feedback.outbox WHERE dedup_key = 'ack:2'")
    assert hold.row_ref == str(poison_id)
    assert CUSTOMERS[1] not in hold.detail
    # Nothing was revealed for it, no attempt was spent on it, and later runs leave it alone.
    assert scalar(register, "SELECT count(*) FROM feedback.contact_reveal WHERE vault_id = :v", v=lost_vid) == 0
    assert scalar(register, "SELECT attempts FROM feedback.outbox WHERE id = :i", i=poison_id) == 0
    assert send_pending(register, now=now + timedelta(minutes=5)) == {"sent": 0, "failed": 0, "gave_up": 0}

    # The fix: the old key is configured again (behind the newest); then the release.
    import os

    monkeypatch.setenv("FEEDBACK_VAULT_KEYS", f"{os.environ['FEEDBACK_VAULT_KEYS']},{old_key}")
    assert holds.release(register, [hold.id], now) == 1
    assert send_pending(register, now=now + timedelta(minutes=10)) == {"sent": 1, "failed": 0, "gave_up": 0}
    assert len(list(smtp_capture.folder.glob("*.eml"))) == 4
    assert listed(register, "outbox") == []


def test_outbox_holds_a_row_whose_message_cannot_be_built(register, smtp_capture):
    from feedback.notify.outbox import OutboxRow, write_rows
    from feedback.notify.sender import send_pending

    now = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
    with register.begin() as conn:
        write_rows(conn, [
            OutboxRow("ack", "ack:1", "ops@example.com", now, subject="a", body="one"),
            OutboxRow("ack", "ack:2", "ops@example.com", now, subject="b", body="two",
                      payload={"headers": {"Bcc": "someone@example.com"}}),   # a header the sender never sets
            OutboxRow("ack", "ack:3", "ops@example.com", now, subject="c", body="three"),
        ])
    assert send_pending(register, now=now) == {"sent": 2, "failed": 0, "gave_up": 0, "held": 1}
    [hold] = listed(register, "outbox")
    assert hold.reason == "value_error" and "someone@example.com" not in hold.detail
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.outbox SET payload = '{}' WHERE dedup_key = 'ack:2'"))
    holds.release(register, [hold.id], now)
    assert send_pending(register, now=now)["sent"] == 1


# --- callbacks ------------------------------------------------------------------------------------


def resolved_item(engine, n: int, refs: dict, resolved: datetime) -> int:
    with engine.begin() as conn:
        return conn.execute(
            sa.text("""INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at,
                              description, subject, priority, department, status, handling_cycle, resolved_at,
                              updated_at, contact_refs, language, sla_preset)
                       VALUES (:no, 'webform', 'contact_zh', :rec, :rec, '支付失败', '支付失败', 'medium',
                               'product_engineering', 'resolved', 1, :res, :res, CAST(:refs AS jsonb), 'zh', 'A')
                       RETURNING id"""),
            {"no": f"20261012-{n:03d}", "rec": resolved - timedelta(days=2), "res": resolved,
             "refs": json.dumps(refs)},
        ).scalar_one()


def test_callbacks_hold_an_item_whose_contact_vanished_and_schedule_the_others(register, setup, monkeypatch):
    from feedback.callbacks.schedule import schedule_callbacks
    from feedback.privacy import vault

    monkeypatch.setenv("FEEDBACK_HASH_KEY", "poison-test-hash-key-0123456789")
    resolved = local(2026, 10, 12, 10, 0)
    with register.begin() as conn:
        phones = vault.store_contacts(conn, [("phone", "13912345678"), ("phone", "13812345679")], resolved)
    good_a = resolved_item(register, 1, {"phone": phones[0]}, resolved)
    poison = resolved_item(register, 2, {"phone": 987654}, resolved)        # a vault entry that is not there
    good_b = resolved_item(register, 3, {"phone": phones[1]}, resolved)
    odd = resolved_item(register, 4, {"phone": "not-a-number"}, resolved)   # no usable reference: unreachable

    run = local(2026, 10, 12, 11, 0)
    first = schedule_callbacks(register, run, setup=setup)
    assert first["held"] == 1 and first["scheduled"] == 3 and first["no_contact"] == 1
    with register.connect() as conn:
        tasks = dict(conn.execute(sa.text("SELECT feedback_id, status FROM feedback.callback_task")).all())
    assert tasks == {good_a: "pending", good_b: "pending", odd: "unreachable"}
    [hold] = listed(register, "callbacks")
    assert (hold.table_name, hold.row_ref, hold.reason) == ("feedback.feedback", str(poison), "missing_reference")
    assert "987654" not in hold.detail
    assert schedule_callbacks(register, run + timedelta(hours=1), setup=setup)["held"] == 0

    with register.begin() as conn:   # the fix: the item's reference corrected by the operator
        [fixed] = vault.store_contacts(conn, [("phone", "13712345670")], resolved)
        conn.execute(sa.text("UPDATE feedback.feedback SET contact_refs = CAST(:r AS jsonb) WHERE id = :f"),
                     {"r": json.dumps({"phone": fixed}), "f": poison})
    holds.release(register, [hold.id], run)
    again = schedule_callbacks(register, run + timedelta(hours=2), setup=setup)
    assert again["scheduled"] == 1 and again["held"] == 0
    assert scalar(register, "SELECT status FROM feedback.callback_task WHERE feedback_id = :f", f=poison) == "pending"


# --- retention ------------------------------------------------------------------------------------


def test_retention_holds_a_row_a_constraint_refuses_and_purges_the_others(register, tmp_path, monkeypatch):
    from feedback.privacy.retention import run_retention

    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    now = datetime(2027, 12, 1, 3, 30, tzinfo=UTC)
    phone = "13812345678"
    with register.begin() as conn:
        ids = [conn.execute(sa.text(
            """INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256, status)
               VALUES ('email', 'support', :e, :t, CAST(:p AS jsonb), repeat('0', 64), 'triaged') RETURNING id"""),
            {"e": f"<old{n}@x>", "t": now - timedelta(days=120),
             "p": json.dumps({"body": f"请回电 {phone}"})}).scalar_one() for n in range(3)]
        # The poison: a legal hold a DBA put on one row, as a constraint the purge marker violates.
        conn.execute(sa.text(f"ALTER TABLE feedback.intake ADD CONSTRAINT legal_hold_chk "
                             f"CHECK (id <> {ids[1]} OR NOT (payload ? 'purged_at'))"))

    first = run_retention(register, now)
    assert (first.payloads, first.held) == (2, 1)
    with register.connect() as conn:
        purged = set(conn.execute(sa.text("SELECT id FROM feedback.intake WHERE payload ? 'purged_at'")).scalars())
    assert purged == {ids[0], ids[2]}
    [hold] = listed(register, "retention")
    assert (hold.table_name, hold.row_ref, hold.reason) == ("feedback.intake", str(ids[1]), "check_violation")
    assert phone not in hold.detail
    again = run_retention(register, now + timedelta(days=1))
    assert (again.payloads, again.held) == (0, 0)
    assert listed(register, "retention")[0].hold_count == 1

    with register.begin() as conn:   # the legal hold ends
        conn.execute(sa.text("ALTER TABLE feedback.intake DROP CONSTRAINT legal_hold_chk"))
    holds.release(register, [hold.id], now)
    assert run_retention(register, now + timedelta(days=2)).payloads == 1
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE payload ? 'purged_at'") == 3


# --- ingest -----------------------------------------------------------------------------------------


def test_ingest_parks_an_item_the_register_refuses_and_stores_the_batch_and_cursor(register):
    from feedback.channels.base import IntakeItem
    from feedback.channels.cursor import read_cursor
    from feedback.channels.quarantine import list_parked
    from feedback.channels.store import store_batch

    at = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
    items = [
        IntakeItem("platform", "zendesk", "zd:1", at, {"body": "退款一直没到账"}),
        # A NUL character: JSON allows it, jsonb cannot hold it. Stored as is, it failed the whole page and
        # kept the platform's cursor in place, so every run re-read the same page.
        IntakeItem("platform", "zendesk", "zd:2", at, {"body": "订单\u0000异常，电话13812345678"}),
        IntakeItem("platform", "zendesk", "zd:3", at, {"body": "客服态度差"}),
    ]
    result = store_batch(register, "platform", "zendesk", items, [], {"cursor": "page-2"}, at)
    assert (result.inserted, result.quarantined) == (2, 1)
    with register.connect() as conn:
        stored = sorted(conn.execute(sa.text("SELECT external_id FROM feedback.intake")).scalars())
    assert stored == ["zd:1", "zd:3"]
    assert read_cursor(register, "platform", "zendesk") == {"cursor": "page-2"}
    [parked] = list_parked(register, channel="platform")
    assert (parked["external_ref"], parked["reason"]) == ("zd:2", "store_error")
    assert "13812345678" not in parked["detail"]
    # The same page read again (a retry) stores nothing twice and parks nothing twice.
    again = store_batch(register, "platform", "zendesk", items, [], {"cursor": "page-2"}, at)
    assert (again.inserted, again.quarantined) == (0, 0)
