"""The callback console over HTTP: a real uvicorn on 127.0.0.1, a real register, httpx as the browser.

The app is the one Airflow mounts (`create_app(routers=[console.router])` under /feedback).
Items go through triage (so contacts sit in the vault and texts are masked) and are resolved;
`schedule_callbacks` then makes their callback tasks. The customer's phone must appear in one
response only: the claim holder's reveal.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from conftest import ROOT, scalar
from fastapi import FastAPI

from feedback.callbacks import claims, outcomes, queue
from feedback.callbacks.errors import NotClaimHolder
from feedback.callbacks.policy import load_policy
from feedback.triage import run as triage
from feedback.web import console, console_auth
from feedback.web.app import create_app

PHONES = {"wf-console-0001": "13812345678", "wf-console-0002": "13987654321", "wf-console-0003": "13700001111"}
ITEMS = [
    ("wf-console-0001", "支付失败", "昨天支付失败，钱扣了订单没生成，请回电13812345678。", "张伟"),
    ("wf-console-0002", "客服态度差", "客服态度很差，电话里不耐烦，挂断了两次，13987654321。", "李娜娜"),
    ("wf-console-0003", "APP频繁闪退", "app频繁闪退，用不了几分钟就退出，联系13700001111。", "王芳"),
]
TOKENS = {"cb-li": "li-token-0123456789abcdef", "cb-wang": "wang-token-0123456789abcdef",
          "cb-chen": "chen-token-0123456789abcdef"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- a real server --------------------------------------------------------------------------------


class Served:
    """An ASGI app on a free loopback port, in a thread of this process (so caplog sees its logs)."""

    def __init__(self, app: FastAPI) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.clients: list[httpx.Client] = []
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", access_log=True))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        for browser in self.clients:
            browser.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def console_app(engine: sa.Engine) -> FastAPI:
    """The deployed shape: the feedback app with the console router, mounted at /feedback."""
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: engine, routers=[console.router]))
    return root


@pytest.fixture
def token_mode(monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "console-test-hash-key-0123456789")
    monkeypatch.setenv(console_auth.AUTH_ENV, "token")
    monkeypatch.setenv(console_auth.TOKENS_ENV, ",".join(f"{a}:{t}" for a, t in TOKENS.items()))
    monkeypatch.setenv(console_auth.SECRET_ENV, "console-test-session-secret-0123456789")
    monkeypatch.delenv(console_auth.SUPERVISORS_ENV, raising=False)


@pytest.fixture
def seeded(register, token_mode):
    return seed(register)


@pytest.fixture
def site(register, seeded):
    served = Served(console_app(register))
    yield served
    served.stop()


def seed(engine: sa.Engine) -> dict[str, int]:
    """Three triaged items received three days ago; the first two resolved an hour ago with callback tasks."""
    now = datetime.now(UTC)
    received = now - timedelta(days=3)
    with engine.begin() as conn:
        for external_id, subject, body, name in ITEMS:
            payload = {"subject": subject, "body": body, "contact": {"phone": PHONES[external_id], "name": name}}
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": external_id, "t": received, "p": json.dumps(payload, ensure_ascii=False), "h": "0" * 64},
            )
    triage.triage_pending(engine, received + timedelta(minutes=1), triage.load_context(gate=False))
    ids = {external_id: scalar(engine, "SELECT f.id FROM feedback.feedback f JOIN feedback.intake i "
                                       "ON i.id = f.intake_id WHERE i.external_id = :e", e=external_id)
           for external_id, *_ in ITEMS}
    with engine.begin() as conn:
        for external_id in ("wf-console-0001", "wf-console-0002"):
            conn.execute(
                sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, to_status) "
                        "VALUES (:f, 'resolved', :t, 'crm', 'resolved')"),
                {"f": ids[external_id], "t": now - timedelta(hours=1)},
            )
    outcomes.apply_item_status(engine, now)
    queue.schedule_callbacks(engine, now)
    with engine.begin() as conn:       # unassigned: any agent of the team may take them, earliest due first
        conn.execute(sa.text("UPDATE feedback.callback_task SET assigned_to = NULL"))
    tasks = {external_id: scalar(engine, "SELECT id FROM feedback.callback_task WHERE feedback_id = :f",
                                 f=ids[external_id]) for external_id in ("wf-console-0001", "wf-console-0002")}
    assert all(tasks.values()), tasks
    return {"items": ids, "tasks": tasks}


def rows(engine: sa.Engine, sql: str, **params) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


# --- a browser of sorts ---------------------------------------------------------------------------


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.url}"
    return found.group(1)


def client(site: Served) -> httpx.Client:
    browser = httpx.Client(base_url=f"{site.url}/feedback/console", follow_redirects=False, timeout=30)
    site.clients.append(browser)
    return browser


def login(site: Served, agent: str) -> httpx.Client:
    browser = client(site)
    form = browser.get("/login")
    assert form.status_code == 200
    answer = browser.post("/login", data={"token": TOKENS[agent], "csrf_token": csrf_of(form), "next": ""})
    assert answer.status_code == 303, answer.text
    return browser


def claim(browser: httpx.Client) -> int:
    queue_page = browser.get("/")
    answer = browser.post("/claim", data={"csrf_token": csrf_of(queue_page)})
    assert answer.status_code == 303
    found = re.search(r"/tasks/(\d+)$", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


def no_phone_in(text: str) -> None:
    for phone in PHONES.values():
        assert phone not in text


# --- token mode -----------------------------------------------------------------------------------


def test_every_page_needs_a_login(site):
    browser = client(site)
    for path in ("/", "/board", "/tasks/1"):
        answer = browser.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith(f"{site.url}/feedback/console/login")
    answer = browser.post("/claim", data={"csrf_token": "x"})
    assert answer.status_code == 303 and "/console/login" in answer.headers["location"]


def test_a_wrong_token_is_refused(site, register):
    browser = client(site)
    form = browser.get("/login")
    page = form.text
    assert '<html lang="zh-CN">' in page and "访问令牌" in page
    answer = browser.post("/login", data={"token": "not-a-token-0123456789", "csrf_token": csrf_of(form)})
    assert answer.status_code == 401
    assert "令牌无效" in answer.text
    assert browser.get("/").status_code == 303          # still nobody
    # The same form posted without its CSRF token is refused even with a good token.
    answer = client(site).post("/login", data={"token": TOKENS["cb-li"]})
    assert answer.status_code == 403
    # After a good login the agent goes where they were going, but never off the console.
    for target, landing in ((f"/feedback/console/tasks/{1}", "/feedback/console/tasks/1"),
                            ("https://elsewhere.example/", "/feedback/console/"),
                            ("//elsewhere.example/feedback/console/", "/feedback/console/")):
        other = client(site)
        form = other.get("/login")
        answer = other.post("/login", data={"token": TOKENS["cb-li"], "csrf_token": csrf_of(form), "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == landing


def test_token_settings_errors_name_the_entry_never_the_token(monkeypatch):
    monkeypatch.setenv(console_auth.TOKENS_ENV, "cb-li:short-secret")
    with pytest.raises(console_auth.ConsoleConfigError, match="cb-li") as short:
        console_auth.agent_tokens()
    monkeypatch.setenv(console_auth.TOKENS_ENV, "cb-li:same-token-0123456789,cb-wang:same-token-0123456789")
    with pytest.raises(console_auth.ConsoleConfigError, match="share a token") as shared:
        console_auth.agent_tokens()
    monkeypatch.setenv(console_auth.TOKENS_ENV, "cb-li-without-token-0123456789")
    with pytest.raises(console_auth.ConsoleConfigError, match="entry 1 is not agent:token") as malformed:
        console_auth.agent_tokens()
    for error in (short, shared, malformed):
        assert "short-secret" not in str(error.value) and "same-token" not in str(error.value)
        assert "0123456789" not in str(error.value)
    monkeypatch.setenv(console_auth.AUTH_ENV, "ldap")
    with pytest.raises(console_auth.ConsoleConfigError, match="FEEDBACK_CONSOLE_AUTH"):
        console_auth.auth_mode()


def test_a_post_without_the_csrf_token_is_refused(site, register):
    browser = login(site, "cb-li")
    assert browser.post("/claim").status_code == 403
    assert browser.post("/claim", data={"csrf_token": "forged"}).status_code == 403
    assert scalar(register, "SELECT count(*) FROM feedback.callback_task WHERE status = 'claimed'") == 0
    # Another agent's token does not work in this agent's session either.
    other = login(site, "cb-wang")
    assert browser.post("/claim", data={"csrf_token": csrf_of(other.get("/"))}).status_code == 403
    assert scalar(register, "SELECT count(*) FROM feedback.callback_task WHERE status = 'claimed'") == 0


def test_the_session_cookie_is_httponly_strict_and_signed(site):
    browser = client(site)
    form = browser.get("/login")
    answer = browser.post("/login", data={"token": TOKENS["cb-li"], "csrf_token": csrf_of(form)})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("feedback_console=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/feedback/console" in cookie
    # A cookie signed with another secret is nobody.
    forged = client(site)
    forged.cookies.set("feedback_console", browser.cookies["feedback_console"][:-4] + "AAAA")
    assert forged.get("/").status_code == 303


def test_claim_reveal_and_record_the_outcome(site, register, seeded, caplog):
    caplog.set_level(logging.DEBUG)
    browser = login(site, "cb-li")
    queue_page = browser.get("/")
    assert queue_page.status_code == 200
    assert queue_page.headers["cache-control"] == "no-store"
    numbers = {e: scalar(register, "SELECT feedback_no FROM feedback.feedback WHERE id = :i", i=i)
               for e, i in seeded["items"].items()}
    assert numbers["wf-console-0001"] in queue_page.text and "我的回访队列" in queue_page.text
    no_phone_in(queue_page.text)

    task_id = claim(browser)
    assert task_id == seeded["tasks"]["wf-console-0001"]          # the urgent one is due first
    task_page = browser.get(f"/tasks/{task_id}")
    assert task_page.status_code == 200
    assert numbers["wf-console-0001"] in task_page.text and "138****5678" in task_page.text
    assert "登记" in task_page.text and "安排回访" in task_page.text     # the item's history
    no_phone_in(task_page.text)
    assert scalar(register, "SELECT count(*) FROM feedback.contact_reveal") == 0

    revealed = browser.post(f"/tasks/{task_id}/reveal", data={"csrf_token": csrf_of(task_page)})
    assert revealed.status_code == 200
    assert PHONES["wf-console-0001"] in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    assert PHONES["wf-console-0001"] not in str(revealed.url)
    reveals = rows(register, "SELECT r.actor, r.purpose, r.vault_id = t.contact_vault_id AS same "
                             "FROM feedback.contact_reveal r, feedback.callback_task t WHERE t.id = :t", t=task_id)
    assert [tuple(r) for r in reveals] == [("cb-li", f"callback:{task_id}", True)]

    saved = browser.post(f"/tasks/{task_id}/outcome",
                         data={"csrf_token": csrf_of(revealed), "rating": "满意", "comment": "处理很及时，谢谢"})
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("/feedback/console/?notice=recorded")
    assert "回访结果已记录" in browser.get(saved.headers["location"]).text
    [task] = rows(register, "SELECT status, outcome, rating, comment, answered_by FROM feedback.callback_task "
                            "WHERE id = :t", t=task_id)
    assert tuple(task) == ("done", "satisfied", "满意", "处理很及时，谢谢", "cb-li")

    # Neither the board nor any log line ever carried the number.
    board = login(site, "cb-chen").get("/board")
    assert board.status_code == 200
    no_phone_in(board.text)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "revealed the contact of callback task" in logged
    no_phone_in(logged)


def test_a_reveal_is_audited_even_when_its_page_fails(site, register, seeded, tmp_path, monkeypatch, caplog):
    """The audit row commits before the address leaves: a page that fails after the reveal leaves it recorded.

    The failure is a real one: callbacks.yaml breaks between the task page and the reveal,
    so building the reveal's page (which reads the active scale) fails after the audit.
    """
    caplog.set_level(logging.INFO)
    browser = login(site, "cb-li")
    task_id = claim(browser)
    task_page = browser.get(f"/tasks/{task_id}")
    assert task_page.status_code == 200
    broken = tmp_path / "config"
    shutil.copytree(ROOT / "include" / "config", broken)
    (broken / "callbacks.yaml").write_text("scale: [this is not\n", encoding="utf-8")
    monkeypatch.setenv("FEEDBACK_CONFIG_DIR", str(broken))

    failed = browser.post(f"/tasks/{task_id}/reveal", data={"csrf_token": csrf_of(task_page)})
    assert failed.status_code == 500
    assert failed.headers["cache-control"] == "no-store"
    no_phone_in(failed.text)
    reveals = rows(register, "SELECT actor, purpose FROM feedback.contact_reveal")
    assert [tuple(r) for r in reveals] == [("cb-li", f"callback:{task_id}")]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"the contact reveal of callback task {task_id} is audited, but its page failed (ConfigError)" in logged
    no_phone_in(logged)
    assert not any(r.exc_info for r in caplog.records)      # no traceback: its frames hold the address


def test_only_the_claim_holder_sees_the_contact(site, register, seeded):
    holder = login(site, "cb-li")
    task_id = claim(holder)
    other = login(site, "cb-wang")
    token = csrf_of(other.get("/"))
    refused = other.post(f"/tasks/{task_id}/reveal", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "只有当前领取该任务的专员" in refused.text
    no_phone_in(refused.text)
    assert other.post(f"/tasks/{task_id}/outcome", data={"csrf_token": token, "rating": "满意"}).status_code == 403
    assert other.post(f"/tasks/{task_id}/attempt",
                      data={"csrf_token": token, "result": "no_answer"}).status_code == 403
    assert scalar(register, "SELECT count(*) FROM feedback.contact_reveal") == 0
    assert scalar(register, "SELECT status FROM feedback.callback_task WHERE id = :t", t=task_id) == "claimed"
    # The task page of someone else's claim is not theirs to read either; an unclaimed one is.
    assert other.get(f"/tasks/{task_id}").status_code == 403
    assert other.get(f"/tasks/{seeded['tasks']['wf-console-0002']}").status_code == 200


def test_a_claim_without_expiry_is_held_by_nobody_in_the_console_or_the_outcomes(site, register, seeded):
    """One claim rule (callbacks.claims): a claim that never runs out is no claim, on the page and in the outcomes.

    The schema refuses such a claim; the test lifts that check in its own database to show that
    neither path would treat one as held (the console once did, the outcomes did not).
    """
    task_id = seeded["tasks"]["wf-console-0001"]
    claim_without_expiry = sa.text(
        "UPDATE feedback.callback_task SET status = 'claimed', claimed_by = 'cb-li', claimed_at = now(), "
        "claim_expires_at = NULL WHERE id = :t")
    with pytest.raises(sa.exc.IntegrityError, match="callback_task_claim_chk"), register.begin() as conn:
        conn.execute(claim_without_expiry, {"t": task_id})
    with register.begin() as conn:
        conn.execute(sa.text("ALTER TABLE feedback.callback_task DROP CONSTRAINT callback_task_claim_chk"))
        conn.execute(claim_without_expiry, {"t": task_id})
    now = datetime.now(UTC)
    with register.connect() as conn:
        task = claims.read_task(conn, task_id)
    assert task is not None and (task.status, task.claimed_by, task.claim_expires_at) == ("claimed", "cb-li", None)
    assert not claims.holds_claim(task, "cb-li", now)

    # The console path: the claimant sees the task, but no reveal, attempt or outcome form; posting them is refused.
    browser = login(site, "cb-li")
    page = browser.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    for action in ("reveal", "attempt", "outcome"):
        assert f"/tasks/{task_id}/{action}" not in page.text
    token = csrf_of(page)
    assert browser.post(f"/tasks/{task_id}/reveal", data={"csrf_token": token}).status_code == 403
    assert browser.post(f"/tasks/{task_id}/outcome", data={"csrf_token": token, "rating": "满意"}).status_code == 403
    assert browser.post(f"/tasks/{task_id}/attempt",
                        data={"csrf_token": token, "result": "no_answer"}).status_code == 403

    # The outcomes path, in the caller's transaction as the survey and the queue use it.
    with pytest.raises(NotClaimHolder), register.begin() as conn:
        outcomes.record_answer(conn, task_id, actor="cb-li", via="phone", now=now, policy=load_policy(),
                               rating="满意")
    assert scalar(register, "SELECT count(*) FROM feedback.contact_reveal") == 0
    assert scalar(register, "SELECT status FROM feedback.callback_task WHERE id = :t", t=task_id) == "claimed"

    # With an expiry ahead, the same claim is held: the page offers the forms (so the absence above is the rule's).
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.callback_task SET claim_expires_at = now() + interval '30 minutes' "
                             "WHERE id = :t"), {"t": task_id})
    page = browser.get(f"/tasks/{task_id}")
    for action in ("reveal", "attempt", "outcome"):
        assert f"/tasks/{task_id}/{action}" in page.text


def test_an_unanswered_call_is_recorded_and_the_task_returns_later(site, register):
    browser = login(site, "cb-li")
    task_id = claim(browser)
    page = browser.get(f"/tasks/{task_id}")
    answer = browser.post(f"/tasks/{task_id}/attempt", data={"csrf_token": csrf_of(page), "result": "busy"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?notice=attempt")
    [row] = rows(register, "SELECT t.status, t.attempts, a.agent, a.result FROM feedback.callback_task t "
                           "JOIN feedback.callback_attempt a ON a.task_id = t.id WHERE t.id = :t", t=task_id)
    assert tuple(row) == ("pending", 1, "cb-li", "busy")
    # Not a result the console offers: refused, nothing written.
    task_id = claim(browser)
    page = browser.get(f"/tasks/{task_id}")
    assert browser.post(f"/tasks/{task_id}/attempt",
                        data={"csrf_token": csrf_of(page), "result": "reached"}).status_code == 422


def test_an_unknown_rating_is_refused_and_nothing_recorded(site, register):
    browser = login(site, "cb-li")
    task_id = claim(browser)
    page = browser.get(f"/tasks/{task_id}")
    answer = browser.post(f"/tasks/{task_id}/outcome", data={"csrf_token": csrf_of(page), "rating": "还行吧"})
    assert answer.status_code == 422
    answer = browser.post(f"/tasks/{task_id}/outcome", data={"csrf_token": csrf_of(page), "comment": "没说"})
    assert answer.status_code == 422                  # a satisfaction callback needs a rating
    assert scalar(register, "SELECT status FROM feedback.callback_task WHERE id = :t", t=task_id) == "claimed"


def test_an_unsolvable_item_asks_for_the_final_opinion_only(site, register, seeded):
    item = seeded["items"]["wf-console-0003"]
    now = datetime.now(UTC)
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.callback_task SET status = 'cancelled'"))   # only this one to claim
        conn.execute(
            sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, to_status) "
                    "VALUES (:f, 'status_changed', :t, 'crm', 'unsolvable')"),
            {"f": item, "t": now - timedelta(minutes=30)},
        )
    outcomes.apply_item_status(register, now)
    queue.schedule_callbacks(register, now)
    browser = login(site, "cb-li")
    task_id = claim(browser)
    page = browser.get(f"/tasks/{task_id}")
    assert "听取客户最终意见" in page.text
    answer = browser.post(f"/tasks/{task_id}/outcome",
                          data={"csrf_token": csrf_of(page), "final_opinion": "接受补偿方案，但希望以后改进"})
    assert answer.status_code == 303
    [row] = rows(register, "SELECT feedback_id, purpose, status, outcome, final_opinion FROM feedback.callback_task "
                           "WHERE id = :t", t=task_id)
    assert tuple(row) == (item, "final_opinion", "done", None, "接受补偿方案，但希望以后改进")


def test_a_score_scale_takes_a_score(site, register, tmp_path, monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "include" / "config", config)
    text = (config / "callbacks.yaml").read_text(encoding="utf-8")
    (config / "callbacks.yaml").write_text(text.replace("\nscale: three_level_a", "\nscale: score_100"),
                                           encoding="utf-8")
    monkeypatch.setenv("FEEDBACK_CONFIG_DIR", str(config))
    browser = login(site, "cb-li")
    task_id = claim(browser)
    page = browser.get(f"/tasks/{task_id}")
    assert 'name="score" type="number" min="1" max="100"' in page.text and 'name="rating"' not in page.text
    assert browser.post(f"/tasks/{task_id}/outcome",
                        data={"csrf_token": csrf_of(page), "score": "101"}).status_code == 422
    answer = browser.post(f"/tasks/{task_id}/outcome", data={"csrf_token": csrf_of(page), "score": "75"})
    assert answer.status_code == 303
    [row] = rows(register, "SELECT outcome, rating, score, scale FROM feedback.callback_task WHERE id = :t",
                 t=task_id)
    assert tuple(row) == ("neutral", "基本满意", 75, "score_100")


def test_the_board_is_for_supervisors_only(site, register, seeded):
    agent = login(site, "cb-li")
    refused = agent.get("/board")
    assert refused.status_code == 403 and "仅对主管开放" in refused.text
    assert "时效看板" not in agent.get("/").text.split("<main>")[0]       # no link in the header either

    supervisor = login(site, "cb-chen")                                  # supervisor: true in callbacks.yaml
    board = supervisor.get("/board")
    assert board.status_code == 200
    open_no = scalar(register, "SELECT feedback_no FROM feedback.feedback WHERE id = :i",
                     i=seeded["items"]["wf-console-0003"])
    assert open_no in board.text                        # open item, first response long overdue
    assert "已超时" in board.text
    no_phone_in(board.text)

    # Filters: one department only; only breached; one stage.
    department = scalar(register, "SELECT department FROM feedback.feedback WHERE id = :i",
                        i=seeded["items"]["wf-console-0003"])
    others = [n for (n,) in rows(register, "SELECT feedback_no FROM feedback.feedback "
                                           "WHERE department IS DISTINCT FROM :d", d=department)]
    filtered = supervisor.get("/board", params={"department": department})
    assert open_no in filtered.text and not any(n in filtered.text for n in others)
    callbacks_only = supervisor.get("/board", params={"stage": "callback"})
    assert open_no not in callbacks_only.text
    breached = supervisor.get("/board", params={"breached": "1", "stage": "callback"})
    assert "时间窗口内没有临近或超时的事项" in breached.text             # callbacks are due tomorrow or later

    # An agent named in FEEDBACK_CONSOLE_SUPERVISORS is a supervisor too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(console_auth.SUPERVISORS_ENV, "cb-li")
        assert agent.get("/board").status_code == 200


def test_english_on_request_and_for_the_rest_of_the_session(site):
    browser = login(site, "cb-li")
    english = browser.get("/", params={"lang": "en"})
    assert '<html lang="en">' in english.text and "My callback queue" in english.text
    assert "My callback queue" in browser.get("/").text
    assert "我的回访队列" in browser.get("/", params={"lang": "zh"}).text


def test_logout_ends_the_session(site):
    browser = login(site, "cb-li")
    answer = browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/"))})
    assert answer.status_code == 303 and answer.headers["location"].endswith("/feedback/console/login")
    assert browser.get("/").status_code == 303


# --- Airflow mode ---------------------------------------------------------------------------------


@pytest.fixture
def airflow_mode(airflow_db, register, monkeypatch):
    """The console behind Airflow's own login: the auth manager the API server would initialise."""
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "console-test-hash-key-0123456789")
    monkeypatch.setenv(console_auth.AUTH_ENV, "airflow")
    monkeypatch.setenv(console_auth.SECRET_ENV, "console-test-session-secret-0123456789")
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app

    from feedback_airflow.console_login import AirflowLogin

    previous = console_auth.use_host_login(AirflowLogin())   # as the feedback_web plugin does
    manager = init_auth_manager()
    yield manager
    purge_cached_app()
    console_auth.use_host_login(previous)


def mint(manager, name: str) -> str:
    """A JWT for `name`, exactly as Airflow's login hands one to the UI."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return manager.generate_jwt(SimpleAuthManagerUser(username=name, role="user"))


def test_airflow_mode_uses_airflow_login(airflow_mode, register):
    seed(register)
    site = Served(console_app(register))
    try:
        anonymous = client(site)
        answer = anonymous.get("/")
        assert answer.status_code == 303
        assert answer.headers["location"] == airflow_mode.get_url_login(next_url=f"{site.url}/feedback/console/")
        assert anonymous.get("/login").status_code == 303                  # no token form in this mode
        garbage = anonymous.get("/", headers={"Authorization": "Bearer not.a.jwt"})
        assert garbage.status_code in (401, 403)

        token = mint(airflow_mode, "cb-li")
        browser = client(site)
        browser.cookies.set("_token", token)
        page = browser.get("/")
        assert page.status_code == 200 and "cb-li" in page.text
        assert browser.post("/claim").status_code == 403                   # the UI cookie still needs CSRF
        task_id = claim(browser)
        revealed = browser.post(f"/tasks/{task_id}/reveal", data={"csrf_token": csrf_of(page)})
        assert revealed.status_code == 200 and PHONES["wf-console-0001"] in revealed.text
        assert scalar(register, "SELECT actor FROM feedback.contact_reveal") == "cb-li"

        # An API client with a Bearer token (no cookie, so no CSRF to ride) is someone else entirely.
        api = client(site)
        bearer = {"Authorization": f"Bearer {mint(airflow_mode, 'cb-wang')}"}
        assert api.post(f"/tasks/{task_id}/reveal", headers=bearer).status_code == 403
        assert api.post("/claim", headers=bearer).status_code == 303
        assert scalar(register, "SELECT count(*) FROM feedback.contact_reveal") == 1
    finally:
        site.stop()



# --- the review queue (supervisors) ------------------------------------------------------------------

UNSURE = [
    ("wf-review-0001", "zorblat 柜台的事", "zorblat 柜台 quux 的情况，请回电13600001111。"),
    ("wf-review-0002", "zorblat 模块", "zorblat 模块 quux 又出状况，我要找媒体曝光。"),
]


def unsure_items(engine: sa.Engine) -> dict[str, str]:
    """Two items no classification rule understands (so triage flags them for review); the second is urgent."""
    received = datetime.now(UTC) - timedelta(hours=2)
    with engine.begin() as conn:
        for n, (external_id, subject, body) in enumerate(UNSURE):
            payload = {"subject": subject, "body": body, "contact": {"phone": "13600001111"}}
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": external_id, "t": received - timedelta(minutes=n),
                 "p": json.dumps(payload, ensure_ascii=False), "h": "0" * 64},
            )
    triage.triage_pending(engine, received + timedelta(minutes=1), triage.load_context(gate=False))
    return {e: scalar(engine, "SELECT f.feedback_no FROM feedback.feedback f JOIN feedback.intake i "
                              "ON i.id = f.intake_id WHERE i.external_id = :e AND f.needs_review", e=e)
            for e, *_ in UNSURE}


def test_supervisors_confirm_or_correct_items_in_the_review_queue(site, register):
    numbers = unsure_items(register)
    assert all(numbers.values()), numbers                      # both flagged needs_review by triage
    urgent_no, plain_no = numbers["wf-review-0002"], numbers["wf-review-0001"]
    assert scalar(register, "SELECT priority FROM feedback.feedback WHERE feedback_no = :n", n=urgent_no) == "urgent"

    agent = login(site, "cb-li")
    refused = agent.get("/review")
    assert refused.status_code == 403 and "复核队列仅对主管开放" in refused.text
    assert agent.post(f"/review/{plain_no}", data={"csrf_token": csrf_of(agent.get("/")),
                                                   "category": "other"}).status_code == 403

    supervisor = login(site, "cb-chen")
    page = supervisor.get("/review")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "复核队列" in page.text and "确认并保存" in page.text and "待复核事项: <strong>2</strong>" in page.text
    assert page.text.index(urgent_no) < page.text.index(plain_no)       # the urgent one first
    assert "13600001111" not in page.text and "136****1111" in page.text
    english = supervisor.get("/review", params={"lang": "en"})
    assert "Review queue" in english.text and "Confirm / correct" in english.text
    page = supervisor.get("/review", params={"lang": "zh"})          # the session's language: back to Chinese

    # Without the session's CSRF token nothing changes; an unknown category is refused.
    assert supervisor.post(f"/review/{plain_no}", data={"category": "other"}).status_code == 403
    bad = supervisor.post(f"/review/{plain_no}", data={"csrf_token": csrf_of(page), "category": "bogus"})
    assert bad.status_code == 422
    assert supervisor.post("/review/20990101-001", data={"csrf_token": csrf_of(page),
                                                         "category": "other"}).status_code == 404

    saved = supervisor.post(f"/review/{plain_no}", data={
        "csrf_token": csrf_of(page), "category": "service_complaint", "department": "customer_service",
        "priority": "high"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("/console/review?notice=reviewed")
    after = supervisor.get(saved.headers["location"])
    assert "复核结果已保存" in after.text and plain_no not in after.text and urgent_no in after.text
    [item] = rows(register, "SELECT category, department, priority, needs_review FROM feedback.feedback "
                            "WHERE feedback_no = :n", n=plain_no)
    assert tuple(item) == (["service_complaint"], "customer_service", "high", False)
    [event] = rows(register, "SELECT e.actor, e.details FROM feedback.feedback_event e JOIN feedback.feedback f "
                             "ON f.id = e.feedback_id WHERE f.feedback_no = :n AND e.event_type = 'reclassified'",
                   n=plain_no)
    assert event.actor == "cb-chen" and event.details["review"] == "corrected" and event.details["source"] == "review"
    assert event.details["priority"]["to"] == "high" and event.details["department"]["to"] == "customer_service"
    [label] = rows(register, "SELECT source, category, priority, actor FROM feedback.training_label")
    assert tuple(label) == ("review", "service_complaint", "high", "cb-chen")

    # Confirming as it stands is one action too: audited as a confirmation, kept as a label.
    confirm = supervisor.post(f"/review/{urgent_no}", data={
        "csrf_token": csrf_of(after), "category": "other", "department": "cs_management", "priority": "urgent"})
    assert confirm.status_code == 303
    details = scalar(register, "SELECT e.details FROM feedback.feedback_event e JOIN feedback.feedback f "
                               "ON f.id = e.feedback_id WHERE f.feedback_no = :n AND e.event_type = 'reclassified'",
                     n=urgent_no)
    assert details["review"] == "confirmed" and "priority" not in details
    assert scalar(register, "SELECT count(*) FROM feedback.training_label WHERE source = 'review'") == 2
    assert "目前没有待复核的事项" in supervisor.get("/review").text


def test_the_board_shows_the_review_queue_size_and_age(site, register):
    unsure_items(register)
    board = login(site, "cb-chen").get("/board")
    assert board.status_code == 200
    summary = board.text.split('id="review-summary"')[1].split("</p>")[0]
    assert "待复核事项" in summary and "<strong>2</strong>" in summary
    assert "其中紧急 1" in summary and "最早一条已等待 1小时" in summary
