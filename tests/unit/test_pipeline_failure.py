"""Pipeline-failure alerts: who gets them, one per run, and nothing but ids in them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from feedback.notify.escalation import load_ladder
from feedback.notify.pipeline_failure import KIND, Failure, failure_rows

LADDER = """
version: 1
groups:
  default:
    - email: duty@example.com
supervisors:
  default:
    - email: boss@example.com
urgent_breach: []
roles:
  pipeline:
    - email: data-oncall@example.com
      locale: en
    - webhook: {url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET-KEY", format: wecom}
    - webhook: {url: "https://hooks.example.com/generic", format: generic}
"""

FAILURE = Failure(dag_id="feedback_triage", run_id="scheduled__2026-10-05T02:00:00+00:00",
                  task_id="triage_new_intake", failed_at=datetime(2026, 10, 5, 2, 7, tzinfo=UTC), try_number=3,
                  logical_date=datetime(2026, 10, 5, 2, 0, tzinfo=UTC), error_type="AirflowTaskTimeout",
                  log_url="http://localhost:8080/dags/feedback_triage/runs/x/tasks/triage_new_intake")


def test_the_pipeline_role_gets_mail_and_chat(tmp_path):
    path = tmp_path / "escalation.yaml"
    path.write_text(LADDER)
    rows = failure_rows(FAILURE, load_ladder(path))
    assert [r.recipient.split("?")[0] for r in rows] == [
        "data-oncall@example.com", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "https://hooks.example.com/generic"]
    assert {r.kind for r in rows} == {KIND}
    mail, wecom, generic = rows
    assert mail.subject == "[Pipeline failure] feedback_triage · triage_new_intake"
    assert "AirflowTaskTimeout" in mail.body and "try 3" in mail.body and "2026-10-05 10:00" in mail.body
    assert wecom.payload["channel"] == "webhook" and wecom.payload["json"]["msgtype"] == "markdown"
    assert generic.payload["json"]["kind"] == KIND and generic.payload["json"]["error_type"] == "AirflowTaskTimeout"
    for row in rows:   # the robot's key never goes into a dedup key
        assert "SECRET-KEY" not in row.dedup_key and row.dedup_key.endswith(f":feedback_triage:{FAILURE.run_id}")
    assert len({r.dedup_key for r in rows}) == 3 and len({r.message_id for r in rows}) == 3


def test_without_a_pipeline_role_the_duty_desk_is_told_in_its_locale(tmp_path):
    path = tmp_path / "escalation.yaml"
    path.write_text(LADDER.split("roles:")[0])
    (row,) = failure_rows(FAILURE, load_ladder(path))
    assert row.recipient == "duty@example.com"
    assert row.subject.startswith("[流水线失败] feedback_triage")


def test_a_second_task_of_the_same_run_has_the_same_keys(tmp_path):
    path = tmp_path / "escalation.yaml"
    path.write_text(LADDER)
    ladder = load_ladder(path)
    other = Failure(**{**FAILURE.__dict__, "task_id": "send_acknowledgements"})
    assert [r.dedup_key for r in failure_rows(other, ladder)] == [r.dedup_key for r in failure_rows(FAILURE, ladder)]
    json.dumps([r.payload for r in failure_rows(other, ladder)])  # payloads are JSON as stored
