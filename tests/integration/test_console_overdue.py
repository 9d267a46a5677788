"""The console's overdue-reason page over real HTTP: who may use it, and what a post must carry.

uvicorn on 127.0.0.1 serving the app Airflow mounts, httpx as the browser, a real register with
one high-priority item whose first response is overdue (breach recorded by the SLA monitor).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from conftest import scalar
from fastapi import FastAPI
from web_server import serve

from feedback.sla import monitor
from feedback.triage import run as triage
from feedback.web import console, console_auth
from feedback.web.app import create_app

SH = ZoneInfo("Asia/Shanghai")
TOKENS = {"cb-li": "li-overdue-token-0123456789abcdef", "sup-wu": "wu-overdue-token-0123456789abcdef"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def base(register, monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "console-overdue-hash-key-0123456789")
    monkeypatch.setenv(console_auth.AUTH_ENV, "token")
    monkeypatch.setenv(console_auth.TOKENS_ENV, ",".join(f"{a}:{t}" for a, t in TOKENS.items()))
    monkeypatch.setenv(console_auth.SUPERVISORS_ENV, "sup-wu")
    monkeypatch.setenv(console_auth.SECRET_ENV, "console-overdue-session-secret-0123")
    received = datetime(2026, 10, 14, 10, 0, tzinfo=SH)
    with register.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256)"
                    " VALUES ('webform', 'contact_zh', 'wf-overdue-http01', :t, CAST(:p AS jsonb), :h)"),
            {"t": received, "p": json.dumps({"body": "app频繁闪退，用不了几分钟就退出"}, ensure_ascii=False),
             "h": "0" * 64},
        )
    triage.triage_pending(register, received, triage.load_context(gate=False))
    monitor.run_monitor(register, datetime(2026, 10, 14, 15, 31, tzinfo=SH), monitor.load_setup())
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register, routers=[console.router]))
    with serve(root) as url:
        yield f"{url}/feedback/console"


@contextmanager
def login(base: str, agent: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as browser:
        form = browser.get("/login")
        answer = browser.post("/login", data={"token": TOKENS[agent], "csrf_token": CSRF.search(form.text).group(1)})
        assert answer.status_code == 303, answer.text
        yield browser


def test_only_supervisors_see_and_set_overdue_reasons(base, register):
    number = scalar(register, "SELECT feedback_no FROM feedback.feedback")
    with login(base, "cb-li") as agent:
        refused = agent.get("/overdue")
        assert refused.status_code == 403 and "仅对主管开放" in refused.text
        token = CSRF.search(agent.get("/").text).group(1)
        answer = agent.post(f"/overdue/{number}", data={"csrf_token": token, "reason": "spare_parts", "cycle": "1"})
        assert answer.status_code == 403
    with login(base, "sup-wu") as supervisor:
        board = supervisor.get("/board")
        assert '/feedback/console/overdue"' in board.text and "待填写超时原因" in board.text
        page = supervisor.get("/overdue")
        assert page.status_code == 200 and number in page.text and "首次响应" in page.text
        assert supervisor.get("/overdue", params={"lang": "en"}).text.count("Overdue without a reason") == 1
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'overdue_reason'") == 0
    assert scalar(register, "SELECT count(*) FROM feedback.sla_breach WHERE reason IS NOT NULL") == 0


def test_a_reason_post_needs_the_csrf_token_a_known_reason_and_a_known_item(base, register):
    number = scalar(register, "SELECT feedback_no FROM feedback.feedback")
    with login(base, "sup-wu") as supervisor:
        token = CSRF.search(supervisor.get("/overdue").text).group(1)
        assert supervisor.post(f"/overdue/{number}", data={"reason": "spare_parts", "cycle": "1"}).status_code == 403
        assert supervisor.post(f"/overdue/{number}", data={"csrf_token": "forged", "reason": "spare_parts",
                                                           "cycle": "1"}).status_code == 403
        for bad in ({"reason": "", "cycle": "1"}, {"reason": "parts_late", "cycle": "1"},
                    {"reason": "spare_parts", "cycle": "x"}, {"reason": "spare_parts"}):
            assert supervisor.post(f"/overdue/{number}", data={"csrf_token": token, **bad}).status_code == 422
        assert supervisor.post("/overdue/20990101-001", data={"csrf_token": token, "reason": "spare_parts",
                                                               "cycle": "1"}).status_code == 404
        assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'overdue_reason'") == 0
        done = supervisor.post(f"/overdue/{number}", data={"csrf_token": token, "reason": "system_failure",
                                                           "reason_text": "工单系统宕机", "cycle": "1"})
        assert done.status_code == 303 and done.headers["location"].endswith("/overdue?notice=overdue_recorded")
        after = supervisor.get("/overdue?notice=overdue_recorded")
        assert "超时原因已登记" in after.text and number not in after.text and "所有超时事项均已登记原因" in after.text
    assert scalar(register, "SELECT reason || '/' || reason_by FROM feedback.sla_breach WHERE kind = 'breach'") == \
        "system_failure/sup-wu"
