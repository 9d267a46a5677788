"""Overdue reasons from `overdue_reason` events to breaches (the SLA monitor) and to the monthly report.

Item: priority high (频繁闪退), preset A, received Wed 2026-10-14 10:00 Asia/Shanghai: first response
due 15:30 the same day. Events are written the way the SQL contract in docs/operating.md says a
CRM writes them; the monitor runs at explicit instants.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback.errors import ConfigError
from feedback.paths import config_dir
from feedback.reports.model import Label
from feedback.reports.sections import Period, monthly_sections
from feedback.sla import monitor, reasons
from feedback.sla.policy import DEFAULT_OVERDUE_REASONS, overdue_reasons
from feedback.triage import run as triage

SH = ZoneInfo("Asia/Shanghai")
HIGH = "app频繁闪退，用不了几分钟就退出"
PHONE = "13912345678"
CODES = frozenset(r.code for r in DEFAULT_OVERDUE_REASONS)


@pytest.fixture(scope="module")
def setup():
    return monitor.load_setup()


@pytest.fixture(scope="module")
def ctx():
    return triage.load_context(gate=False)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def item(engine, ctx, received: datetime, n: int = 1) -> int:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256)"
                    " VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
            {"e": f"wf-odr{n:06d}", "t": received, "p": json.dumps({"body": HIGH}, ensure_ascii=False),
             "h": "0" * 64},
        )
    triage.triage_pending(engine, received, ctx)
    return scalar(engine, "SELECT f.id FROM feedback.feedback f JOIN feedback.intake i ON i.id = f.intake_id "
                          "WHERE i.external_id = :e", e=f"wf-odr{n:06d}")


def event(engine, feedback_id: int, kind: str, at: datetime, *, reason: str | None = None,
          text: str | None = None, to_status: str | None = None) -> None:
    """An event as the CRM writes it by SQL (docs/operating.md)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, to_status, "
                    "reason, reason_text) VALUES (:f, :k, :t, 'crm', :s, :r, :x)"),
            {"f": feedback_id, "k": kind, "t": at, "s": to_status, "r": reason, "x": text},
        )


def run(engine, setup, at: datetime) -> monitor.MonitorSummary:
    return monitor.run_monitor(engine, at.astimezone(UTC), setup)


def breaches(engine, feedback_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT stage, handling_cycle, reason, reason_text, reason_by FROM feedback.sla_breach "
            "WHERE feedback_id = :f AND kind = 'breach' ORDER BY handling_cycle, id"), {"f": feedback_id})]


def test_the_latest_reason_lands_on_the_breach_whatever_the_order_it_arrives_in(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    assert run(register, setup, local(2026, 10, 14, 15, 31)).breaches == 1
    assert breaches(register, fid) == [("first_response", 1, None, None, None)]
    # Written in this order, but the second one happened earlier: the first one stands.
    event(register, fid, "overdue_reason", local(2026, 10, 14, 16, 0), reason="spare_parts",
          text=f"等供应商发货，联系人电话{PHONE}")
    event(register, fid, "overdue_reason", local(2026, 10, 14, 15, 45), reason="waiting_customer")
    run(register, setup, local(2026, 10, 14, 16, 5))
    [(stage, cycle, reason, text, by)] = breaches(register, fid)
    assert (stage, cycle, reason, by) == ("first_response", 1, "spare_parts", "crm")
    assert text.startswith("等供应商发货") and PHONE not in text          # masked on its way to the breach
    # A later reason replaces it; running again changes nothing.
    event(register, fid, "overdue_reason", local(2026, 10, 14, 16, 10), reason="cross_department")
    run(register, setup, local(2026, 10, 14, 16, 15))
    run(register, setup, local(2026, 10, 14, 16, 20))
    assert breaches(register, fid) == [("first_response", 1, "cross_department", None, "crm")]
    # The events themselves stay as written (append-only), three of them.
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE feedback_id = :f "
                            "AND event_type = 'overdue_reason'", f=fid) == 3


def test_a_reason_given_before_the_breach_is_carried_by_it(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    event(register, fid, "overdue_reason", local(2026, 10, 14, 14, 0), reason="system_failure", text="工单系统宕机")
    assert run(register, setup, local(2026, 10, 14, 14, 5)).breaches == 0     # read, nothing to set yet
    assert run(register, setup, local(2026, 10, 14, 15, 31)).breaches == 1
    assert breaches(register, fid) == [("first_response", 1, "system_failure", "工单系统宕机", "crm")]


def test_a_code_that_is_not_configured_counts_as_other(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    run(register, setup, local(2026, 10, 14, 15, 31))
    event(register, fid, "overdue_reason", local(2026, 10, 14, 16, 0), reason="parts_late", text="物流延误")
    run(register, setup, local(2026, 10, 14, 16, 5))
    assert breaches(register, fid) == [("first_response", 1, "other", "物流延误", "crm")]


def test_a_reason_belongs_to_its_handling_cycle(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    run(register, setup, local(2026, 10, 14, 15, 31))
    event(register, fid, "overdue_reason", local(2026, 10, 14, 16, 0), reason="spare_parts")
    event(register, fid, "resolved", local(2026, 10, 14, 16, 30))
    event(register, fid, "reopened", local(2026, 10, 15, 9, 0))
    run(register, setup, local(2026, 10, 15, 9, 30))
    # Cycle 2: 4 business hours from Thu 09:00 → 14:30. Cycle 1's reason is not cycle 2's.
    assert run(register, setup, local(2026, 10, 15, 14, 31)).breaches == 1
    assert breaches(register, fid) == [("first_response", 1, "spare_parts", None, "crm"),
                                       ("first_response", 2, None, None, None)]
    # A reason pinned to cycle 1 (as the console writes it) leaves cycle 2 alone, now and when the monitor reads it.
    with register.begin() as conn:
        assert reasons.record(conn, fid, 1, "cross_department", "售后与物流协调", "sup-wu",
                              local(2026, 10, 15, 15, 0), CODES) == 1
    run(register, setup, local(2026, 10, 15, 15, 5))
    assert breaches(register, fid) == [("first_response", 1, "cross_department", "售后与物流协调", "sup-wu"),
                                       ("first_response", 2, None, None, None)]
    # An unpinned reason now belongs to the item's current cycle.
    event(register, fid, "overdue_reason", local(2026, 10, 15, 15, 10), reason="waiting_customer")
    run(register, setup, local(2026, 10, 15, 15, 15))
    assert [b[2] for b in breaches(register, fid)] == ["cross_department", "waiting_customer"]


def test_the_register_refuses_a_reason_where_it_does_not_belong(register, ctx):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    bad = [("overdue_reason", None, None), ("note", "spare_parts", None), ("note", None, "free text"),
           ("overdue_reason", "Spare Parts", None), ("overdue_reason", "other", "x" * 2001)]
    for kind, reason, text in bad:
        with pytest.raises(sa.exc.IntegrityError, match="feedback_event_reason_chk"):
            event(register, fid, kind, local(2026, 10, 14, 11, 0), reason=reason, text=text)
    event(register, fid, "overdue_reason", local(2026, 10, 14, 11, 0), reason="other", text="x" * 2000)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback_event SET reason = 'spare_parts' "
                             "WHERE event_type = 'overdue_reason'"))


def test_the_monthly_report_counts_reasons_by_their_configured_names(register, ctx, setup):
    fids = [item(register, ctx, local(2026, 10, 14, 10, 0), n) for n in range(1, 6)]
    run(register, setup, local(2026, 10, 14, 15, 31))
    given = [("spare_parts", None), ("spare_parts", None), ("other", "客户要求改期"), ("waiting_customer", None)]
    for fid, (code, text) in zip(fids, given, strict=False):
        event(register, fid, "overdue_reason", local(2026, 10, 14, 16, 0), reason=code, text=text)
    run(register, setup, local(2026, 10, 14, 16, 5))
    with register.connect() as conn:
        _, sections = monthly_sections(conn, Period.month("2026-10"))
    section = next(s for s in sections if s.key == "overdue_reasons")
    rows = [(r["key"], r["label"], r["breaches"]) for r in section.rows]
    assert rows == [("spare_parts", Label("备件短缺", "Spare parts shortage"), 2),
                    ("other", Label("其他", "Other"), 1),
                    ("waiting_customer", Label("等待客户", "Waiting for the customer"), 1),
                    ("", Label("未填写", "Not given"), 1)]
    assert section.rows[0]["share"] == pytest.approx(2 / 5)
    items = next(s for s in sections if s.key == "overdue_items").rows
    assert sorted(r["reason"].en for r in items) == ["Not given", "Other", "Spare parts shortage",
                                                     "Spare parts shortage", "Waiting for the customer"]


def test_the_reason_list_must_keep_other_and_unique_names(tmp_path):
    source = (config_dir() / "sla_policies.yaml").read_text(encoding="utf-8")
    (tmp_path / "sla_policies.yaml").write_text(
        source.replace("  - {code: other, zh: 其他, en: Other}\n", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match="overdue_reasons: code 'other' is missing"):
        overdue_reasons(tmp_path)
    (tmp_path / "sla_policies.yaml").write_text(
        source.replace("zh: 系统故障", "zh: 备件短缺"), encoding="utf-8")
    with pytest.raises(ConfigError, match="share the zh name"):
        overdue_reasons(tmp_path)
    assert [r.code for r in overdue_reasons()] == [
        "spare_parts", "waiting_customer", "cross_department", "system_failure", "other"]
