"""E-mail surveys end to end: outbox rows once, a real HTTP server for the link, answers once.

The survey router is served by uvicorn on 127.0.0.1 (a free port) inside a bare FastAPI
app, with the register and the clock swapped in through `app.dependency_overrides`.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from conftest import scalar
from fastapi import FastAPI
from web_server import serve

from feedback.callbacks import queue, survey, tokens
from feedback.callbacks.policy import AgentSpec, TeamPolicy, load_policy
from feedback.privacy import vault
from feedback.sla.monitor import load_setup
from feedback.web import deps
from feedback.web import survey as survey_web

SH = ZoneInfo("Asia/Shanghai")
RESOLVED = datetime(2026, 10, 12, 10, 0, tzinfo=SH)
SENT = datetime(2026, 10, 12, 11, 0, tzinfo=SH)
EMAIL, PHONE = "li.lei@example.com", "+8613912345678"
BASE = "http://survey.example.test/feedback/survey"


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "survey-test-hash-key-0123456789ab")
    monkeypatch.setenv("FEEDBACK_SURVEY_KEY", "survey-test-link-key-0123456789ab")


@pytest.fixture(scope="module")
def setup():
    return load_setup()


@pytest.fixture
def policy():
    base = load_policy()
    return base.replace(team=TeamPolicy(agents=[AgentSpec(id="a1", name="A1")]),
                        survey=base.survey.model_copy(update={"base_url": BASE}))


@dataclass
class Clock:
    now: datetime


@dataclass
class Site:
    url: str
    clock: Clock
    client: httpx.Client
    settings: dict

    def use(self, policy) -> None:
        """The callbacks policy the page reads from now on (e.g. another scale)."""
        self.settings["policy"] = policy

    def path(self, link: str) -> str:
        return self.url + link.removeprefix(BASE.removesuffix("/survey"))


@pytest.fixture
def site(register, policy):
    """The survey router alone in a bare app, served by uvicorn on a free loopback port."""
    app = FastAPI()
    app.include_router(survey_web.router, prefix="/feedback")
    clock = Clock(SENT + timedelta(hours=1))
    app.dependency_overrides[deps.get_engine] = lambda: register
    app.dependency_overrides[deps.clock] = lambda: clock.now
    settings = {"policy": policy}
    app.dependency_overrides[survey_web.survey_policy] = lambda: settings["policy"]
    with serve(app) as base, httpx.Client(timeout=10, follow_redirects=False) as client:
        yield Site(f"{base}/feedback", clock, client, settings)


def make_item(engine, n: int, *, email: str | None = EMAIL, language: str = "zh") -> int:
    with engine.begin() as conn:
        contacts = [("phone", PHONE)] + ([("email", email)] if email else [])
        ids = vault.store_contacts(conn, contacts, RESOLVED)
        refs = dict(zip([k for k, _ in contacts], ids, strict=True))
        return conn.execute(
            sa.text("""INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at,
                              description, subject, priority, department, status, handling_cycle, resolved_at,
                              updated_at, contact_refs, contact_vault_id, contact_masked, language, sla_preset)
                       VALUES (:no, 'email', 'support', :rec, :rec, '退款一直没到账', '退款没到账', 'medium', 'finance',
                               'resolved', 1, :res, :res, CAST(:refs AS jsonb), :p, '139****5678', :lang, 'A')
                       RETURNING id"""),
            {"no": f"20261012-{n:03d}", "rec": RESOLVED - timedelta(days=1), "res": RESOLVED,
             "refs": json.dumps(refs), "p": refs["phone"], "lang": language},
        ).scalar_one()


def surveyed(engine, policy, setup, n: int = 1, **kwargs) -> tuple[int, str]:
    """An item, its callback task and its survey row; returns (feedback id, the link in the mail)."""
    fid = make_item(engine, n, **kwargs)
    queue.schedule_callbacks(engine, SENT, policy, setup)
    survey.send_surveys(engine, SENT, policy)
    body = scalar(engine, "SELECT body FROM feedback.outbox WHERE kind = 'survey' AND feedback_id = :f", f=fid)
    link = next(word for word in body.split() if word.startswith(BASE))
    return fid, link


def state(engine, feedback_id: int) -> dict:
    with engine.connect() as conn:
        task = conn.execute(sa.text("SELECT status, outcome, answered_via FROM feedback.callback_task "
                                    "WHERE feedback_id = :f"), {"f": feedback_id}).one()
        return {
            "task": tuple(task),
            "events": conn.execute(sa.text("SELECT array_agg(event_type ORDER BY id) FROM feedback.feedback_event "
                                           "WHERE feedback_id = :f"), {"f": feedback_id}).scalar(),
            "attempts": conn.execute(sa.text("SELECT count(*) FROM feedback.callback_attempt")).scalar(),
        }


# --- the mails ----------------------------------------------------------------------------------


def test_survey_rows_are_written_once_and_reminded_once(register, policy, setup):
    surveyed_item = make_item(register, 1)
    make_item(register, 2, email=None)                 # phone only: no survey
    queue.schedule_callbacks(register, SENT, policy, setup)
    assert survey.send_surveys(register, SENT, policy) == {"surveys": 1, "reminders": 0}
    assert survey.send_surveys(register, SENT, policy) == {"surveys": 0, "reminders": 0}
    assert survey.send_surveys(register, SENT + timedelta(hours=1), policy) == {"surveys": 0, "reminders": 0}
    assert survey.send_surveys(register, SENT + timedelta(days=1, hours=23), policy)["reminders"] == 0
    assert survey.send_surveys(register, SENT + timedelta(days=2), policy) == {"surveys": 0, "reminders": 1}
    assert survey.send_surveys(register, SENT + timedelta(days=3), policy) == {"surveys": 0, "reminders": 0}
    assert survey.send_surveys(register, SENT + timedelta(days=6), policy) == {"surveys": 0, "reminders": 0}
    with register.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM feedback.outbox ORDER BY id")).all()
    assert [(r.kind, r.feedback_id) for r in rows] == [("survey", surveyed_item), ("survey_reminder", surveyed_item)]
    for row in rows:
        vault_id = scalar(register, "SELECT CAST(contact_refs ->> 'email' AS bigint) FROM feedback.feedback "
                                    "WHERE id = :f", f=surveyed_item)
        assert (row.recipient, row.recipient_vault_id) == (f"vault:{vault_id}", vault_id)
        text = json.dumps(row._asdict(), ensure_ascii=False, default=str)
        assert EMAIL not in text and "li.lei" not in text and "13912345678" not in text
        assert "20261012-001" in row.subject and BASE + "/" in row.body
        assert row.message_id.startswith("<survey")
    # Both mails carry the same link: the reminder does not extend the expiry.
    links = [next(w for w in r.body.split() if w.startswith(BASE)) for r in rows]
    assert links[0] == links[1]


def test_a_survey_speaks_the_customers_language(register, policy, setup):
    fid = make_item(register, 1, language="en")
    queue.schedule_callbacks(register, SENT, policy, setup)
    survey.send_surveys(register, SENT, policy)
    with register.connect() as conn:
        row = conn.execute(sa.text("SELECT subject, body, payload FROM feedback.outbox WHERE feedback_id = :f"),
                           {"f": fid}).one()
    assert row.subject == "[20261012-001] How did we do? One question about your feedback"
    assert "Satisfied / Average / Dissatisfied" in row.body and row.payload["locale"] == "en"


def test_an_answered_survey_gets_no_reminder(register, policy, setup, site):
    fid, link = surveyed(register, policy, setup)
    assert site.client.post(site.path(link), data={"rating": "满意"}).status_code == 200
    assert survey.send_surveys(register, SENT + timedelta(days=2), policy) == {"surveys": 0, "reminders": 0}
    assert state(register, fid)["task"][0] == "done"


# --- the page -----------------------------------------------------------------------------------


def test_opening_the_link_records_nothing(register, policy, setup, site):
    fid, link = surveyed(register, policy, setup)
    before = state(register, fid)
    page = site.client.get(site.path(link))
    assert page.status_code == 200
    for word in ("满意", "一般", "不满意", "Satisfied", "20261012-001", 'name="comment"', 'method="post"'):
        assert word in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert EMAIL not in page.text and "13912345678" not in page.text
    head = site.client.head(site.path(link))          # what a mail scanner or a link preview does
    assert head.status_code == 200
    site.client.get(site.path(link))
    assert state(register, fid) == before
    assert before["task"] == ("pending", None, None)


def test_posting_the_form_records_the_answer_and_closes_the_item(register, policy, setup, site):
    fid, link = surveyed(register, policy, setup)
    answer = site.client.post(site.path(link), data={"rating": "满意", "comment": "很快就退了，谢谢 13712345678"})
    assert answer.status_code == 200 and "感谢" in answer.text
    now = state(register, fid)
    assert now["task"] == ("done", "satisfied", "survey")
    assert now["events"][-2:] == ["callback_outcome", "closed"]
    comment = scalar(register, "SELECT comment FROM feedback.callback_task WHERE feedback_id = :f", f=fid)
    assert "13712345678" not in comment and "137****5678" in comment
    # A second answer is refused, and changes nothing.
    again = site.client.post(site.path(link), data={"rating": "不满意"})
    assert again.status_code == 409
    assert state(register, fid) == now
    shown = site.client.get(site.path(link))
    assert shown.status_code == 200 and 'method="post"' not in shown.text


def test_a_dissatisfied_answer_reopens_and_escalates(register, policy, setup, site):
    fid, link = surveyed(register, policy, setup)
    answer = site.client.post(site.path(link), data={"rating": "不满意"})
    assert answer.status_code == 200
    assert state(register, fid)["events"][-3:] == ["callback_outcome", "reopened", "escalated"]
    assert scalar(register, "SELECT recipient FROM feedback.outbox WHERE kind = 'callback_escalation'") == \
        "finance-lead@example.com"


def test_an_unknown_rating_shows_the_form_again_and_records_nothing(register, policy, setup, site):
    fid, link = surveyed(register, policy, setup)
    before = state(register, fid)
    answer = site.client.post(site.path(link), data={"rating": "非常满意"})
    assert answer.status_code == 422 and 'method="post"' in answer.text
    assert state(register, fid) == before


def test_a_tampered_link_is_refused(register, policy, setup, site):
    fid, link = surveyed(register, policy, setup)
    other_fid, other_link = surveyed(register, policy, setup, n=2)
    token = link.rsplit("/", 1)[1]
    task_id, expiry, signature = token.split(".")
    other_task = other_link.rsplit("/", 1)[1].split(".")[0]
    forged = [
        f"{other_task}.{expiry}.{signature}",                            # another task, same signature
        f"{task_id}.{int(expiry) + 86400}.{signature}",                  # a later expiry
        f"{task_id}.{expiry}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        "not-a-token",
        f"{task_id}.{expiry}.{tokens._signature(b'some-other-key-0123456789', int(task_id), int(expiry))}",
    ]
    for token in forged:
        url = f"{site.url}/survey/{token}"
        assert site.client.get(url).status_code == 403, token
        assert site.client.post(url, data={"rating": "不满意"}).status_code == 403, token
    assert state(register, fid)["task"][0] == "pending" and state(register, other_fid)["task"][0] == "pending"


def test_an_expired_link_is_gone(register, policy, setup, site):
    fid, link = surveyed(register, policy, setup)
    site.clock.now = SENT + timedelta(days=7)                           # expiry_days: 7
    assert site.client.get(site.path(link)).status_code == 410
    assert site.client.post(site.path(link), data={"rating": "满意"}).status_code == 410
    assert state(register, fid)["task"][0] == "pending"
    site.clock.now = SENT + timedelta(days=6, hours=23)
    assert site.client.get(site.path(link)).status_code == 200


def test_a_score_scale_shows_a_score_field_and_reads_bands(register, setup, site, policy):
    scored = policy.with_scale("score_100")
    site.use(scored)
    fid, link = surveyed(register, scored, setup)
    page = site.client.get(site.path(link))
    assert page.status_code == 200 and 'type="number"' in page.text
    assert "90–100" in page.text and "70–89" in page.text and "1–69" in page.text
    assert site.client.post(site.path(link), data={"score": "101"}).status_code == 422
    assert site.client.post(site.path(link), data={"score": "75"}).status_code == 200
    row = scalar(register, "SELECT row_to_json(t) FROM feedback.callback_task t WHERE feedback_id = :f", f=fid)
    assert (row["outcome"], row["score"], row["rating"], row["scale"], row["action"]) == \
        ("neutral", 75, "基本满意", "score_100", "closed")


def test_links_are_signed_with_the_configured_key(monkeypatch):
    expires = SENT + timedelta(days=7)
    token = tokens.make_token(42, expires)
    assert tokens.verify_token(token, SENT).task_id == 42
    monkeypatch.setenv("FEEDBACK_SURVEY_KEY", "another-survey-link-key-0123456789")
    with pytest.raises(tokens.TokenInvalid):
        tokens.verify_token(token, SENT)
    # Without FEEDBACK_SURVEY_KEY the key comes from the feedback_survey connection, else from the hash key.
    monkeypatch.delenv("FEEDBACK_SURVEY_KEY")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_SURVEY", "generic://:a-connection-secret-0123456789@")
    assert tokens.survey_key() == b"a-connection-secret-0123456789"
    monkeypatch.delenv("AIRFLOW_CONN_FEEDBACK_SURVEY")
    derived = tokens.survey_key()
    assert derived == hmac.new(b"survey-test-hash-key-0123456789ab", b"feedback/survey-link/v1", "sha256").digest()
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "a-different-hash-key-0123456789ab")
    assert tokens.survey_key() != derived
    with pytest.raises(tokens.TokenExpired):
        tokens.verify_token(tokens.make_token(42, expires), expires)
