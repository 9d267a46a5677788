"""feedback_ingest_platforms through Airflow (dag.test): mapped per platform, against simulators over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from conftest import load_dag, scalar

from feedback_dev.platform_api import TrustpilotSim, ZendeskSim, trustpilot_review, zendesk_ticket

RUN = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
T0 = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)
PHONE = "13712345678"


@pytest.fixture
def sims(monkeypatch):
    zendesk, trustpilot = ZendeskSim(now=lambda: RUN), TrustpilotSim(now=lambda: RUN)
    zendesk.start()
    trustpilot.start()
    zendesk.add([zendesk_ticket(i, T0 + timedelta(hours=i), f"工单{i}", f"第{i}次投诉，电话 {PHONE}",
                                requester_phone=PHONE, requester_name="赵六") for i in range(1, 31)])
    trustpilot.add([trustpilot_review(i + 1, created_at=T0 + timedelta(hours=i), title=f"Review {i}",
                                      text=f"The app crashed again ({i})", stars=1 + i % 5) for i in range(12)])
    login = quote(f"{zendesk.email}/token", safe="")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_PLATFORM_ZENDESK",
                       f"https://{login}:{zendesk.api_token}@h?base_url={quote(zendesk.base_url, safe='')}")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_PLATFORM_TRUSTPILOT", json.dumps({
        "conn_type": "https", "login": trustpilot.client_id, "password": trustpilot.client_secret,
        "extra": {"base_url": trustpilot.base_url, "business_unit_id": trustpilot.business_unit_id}}))
    yield zendesk, trustpilot
    zendesk.stop()
    trustpilot.stop()


def test_each_platform_is_pulled_once_and_logs_carry_no_contacts(airflow_db, register, sims, capfd):
    zendesk, trustpilot = sims
    dag = load_dag("feedback_ingest_platforms.py", "feedback_ingest_platforms")
    assert dag.test(logical_date=RUN).state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE source = 'zendesk'") == 30
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE source = 'trustpilot'") == 12
    assert dag.test(logical_date=RUN + timedelta(minutes=30)).state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE channel = 'platform'") == 42
    text = "".join(capfd.readouterr())
    assert "ingest_platform" in text
    assert PHONE not in text and "赵六" not in text and zendesk.api_token not in text
