"""The callback team's console (回访工作台): queue, claim, task page, contact reveal, outcomes, SLA board.

Server-rendered HTML in Chinese by default (``?lang=en`` switches for the session).
Everything shown comes from masked columns; the customer's contact appears only in the
answer to the claim holder's reveal POST, which `reveal_contact` audits in
``contact_reveal`` and which is never cached, redirected to, or logged. Logs carry agent
and task ids only. Who the agent is and the CSRF rules live in `console_auth`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from feedback.business_time import business_zone
from feedback.callbacks import claims, queue
from feedback.callbacks import errors as callback_errors
from feedback.callbacks import policy as callback_policy
from feedback.errors import ConfigError
from feedback.sla import reasons as overdue_reasons
from feedback.sla.policy import overdue_reasons as configured_reasons
from feedback.triage import review_queue
from feedback.triage.taxonomy import category_label, department_label
from feedback.vocabulary import (
    CallbackStatus,
    ItemStatus,
    Outcome,
    Priority,
    Stage,
    codes,
    label,
    locale_table,
    short_label,
)
from feedback.web import console_auth as auth
from feedback.web import deps

if TYPE_CHECKING:
    from feedback.triage.classify import Classifier

log = logging.getLogger(__name__)

router = APIRouter(prefix="/console", tags=["console"])

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STYLESHEET = HERE / "static" / "console.css"
ATTEMPT_RESULTS = ("no_answer", "busy", "wrong_number")
QUEUE_NOTICES = ("empty", "recorded", "attempt")
DEFAULT_WINDOW_HOURS = 24
MAX_WINDOW_HOURS = 24 * 31

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "回访工作台", "login": "登录", "logout": "退出登录", "token": "访问令牌",
        "login_hint": "请输入管理员分配给您的访问令牌。", "login_failed": "令牌无效，请重试。",
        "queue": "我的回访队列", "board": "时效看板", "claim_next": "领取下一条", "agent": "专员",
        "due": "回访期限", "number": "反馈编号", "subject": "主题", "priority": "优先级", "attempts": "尝试次数",
        "state": "状态", "open": "打开", "empty_queue": "队列中暂无任务。",
        "notice_empty": "目前没有可领取的回访任务。", "notice_recorded": "回访结果已记录。",
        "notice_attempt": "联系尝试已记录。",
        "task": "回访任务", "item": "反馈详情", "history": "处理记录", "customer": "客户",
        "contact_masked": "联系方式（已隐去）", "department": "处理部门", "category": "分类",
        "received": "接收时间", "status": "反馈状态", "description": "反馈内容", "demand": "客户诉求",
        "tier": "客户等级", "emotion": "情绪", "cycle": "处理轮次", "claimed_by": "领取人",
        "claim_expires": "领取有效至", "purpose": "回访目的", "assigned_to": "指派给",
        "reveal": "查看客户联系方式", "reveal_note": "查看操作会被记录，仅限当前领取人。",
        "contact": "客户联系方式", "contact_note": "请勿复制、转发或记录在其他地方。",
        "attempt": "记录未接通", "no_answer": "无人接听", "busy": "占线", "wrong_number": "号码错误",
        "reached": "已接通",
        "outcome": "记录回访结果", "rating": "满意度", "score": "评分", "comment": "客户意见",
        "final_opinion": "客户最终意见（无法解决时填写）", "save": "提交",
        "not_holder": "只有当前领取该任务的专员才能执行此操作。",
        "not_in_team": "您不是回访团队的在岗成员，请联系主管。", "task_closed": "该任务已结束，无法再次记录。",
        "no_contact": "该事项没有可用的联系方式（可能已按保留期限清除）。",
        "forbidden": "无权访问", "not_found": "未找到该回访任务。", "supervisors_only": "时效看板仅对主管开放。",
        "bad_input": "输入有误", "refused": "无法完成操作", "back": "返回队列",
        "filters": "筛选", "all": "全部", "stage": "时限阶段", "window": "时间窗口（小时）",
        "breached_only": "仅显示已超时", "apply": "应用", "deadline": "截止时间", "remaining": "剩余", "timing": "时效",
        "overdue": "已超时", "near": "即将到期", "board_empty": "时间窗口内没有临近或超时的事项。",
        "handler": "负责人", "minutes": "分钟", "hours": "小时", "language": "English",
        "event_time": "时间", "event": "事件", "actor": "操作人", "details": "说明",
        "no_events": "暂无记录。", "unavailable": "控制台暂不可用",
        "review": "复核队列", "review_hint": "以下事项分类把握不足，请确认或更正分类、处理部门和优先级（紧急、最新的在前）。",
        "confidence": "置信度", "why": "判定依据", "channel": "渠道", "save_review": "确认并保存",
        "notice_reviewed": "复核结果已保存，该事项已移出复核队列。", "review_empty": "目前没有待复核的事项。",
        "review_waiting": "待复核事项", "review_oldest": "最早一条已等待", "review_urgent": "其中紧急",
        "supervisors_review": "复核队列仅对主管开放。", "review_not_found": "未找到该反馈事项。",
    },
    "en": {
        "title": "Callback console", "login": "Log in", "logout": "Log out", "token": "Access token",
        "login_hint": "Enter the access token your administrator gave you.", "login_failed": "Invalid token.",
        "queue": "My callback queue", "board": "SLA board", "claim_next": "Claim next", "agent": "Agent",
        "due": "Due", "number": "Number", "subject": "Subject", "priority": "Priority", "attempts": "Attempts",
        "state": "State", "open": "Open", "empty_queue": "Your queue is empty.",
        "notice_empty": "No callback is waiting to be claimed.", "notice_recorded": "Outcome recorded.",
        "notice_attempt": "Attempt recorded.",
        "task": "Callback task", "item": "Feedback item", "history": "History", "customer": "Customer",
        "contact_masked": "Contact (masked)", "department": "Department", "category": "Category",
        "received": "Received", "status": "Item status", "description": "Description", "demand": "Demand",
        "tier": "Tier", "emotion": "Emotion", "cycle": "Handling cycle", "claimed_by": "Claimed by",
        "claim_expires": "Claim expires", "purpose": "Purpose", "assigned_to": "Assigned to",
        "reveal": "Show the customer's contact", "reveal_note": "Each reveal is logged; claim holder only.",
        "contact": "Customer contact", "contact_note": "Do not copy, forward or write it down elsewhere.",
        "attempt": "Record a failed attempt", "no_answer": "No answer", "busy": "Busy",
        "wrong_number": "Wrong number", "reached": "Reached",
        "outcome": "Record the outcome", "rating": "Satisfaction", "score": "Score",
        "comment": "Customer's comment", "final_opinion": "Customer's final opinion (if unsolvable)",
        "save": "Save",
        "not_holder": "Only the agent holding the claim on this task can do this.",
        "not_in_team": "You are not an active member of the callback team; ask a supervisor.",
        "task_closed": "This task has ended; nothing more can be recorded.",
        "no_contact": "The item has no contact to call (it may have been purged by retention).",
        "forbidden": "Forbidden", "not_found": "No such callback task.",
        "supervisors_only": "The SLA board is for supervisors.", "bad_input": "Invalid input", "refused": "Cannot do that",
        "back": "Back to the queue",
        "filters": "Filters", "all": "All", "stage": "Stage", "window": "Window (hours)",
        "breached_only": "Breached only", "apply": "Apply", "deadline": "Deadline", "remaining": "left", "timing": "Timing",
        "overdue": "Overdue", "near": "Due soon", "board_empty": "Nothing near or past its deadline.",
        "handler": "Who", "minutes": "min", "hours": "h", "language": "中文",
        "event_time": "Time", "event": "Event", "actor": "Actor", "details": "Details",
        "no_events": "No events yet.", "unavailable": "Console unavailable",
        "review": "Review queue",
        "review_hint": "Triage was unsure about these items: confirm or correct the category, department and "
                       "priority (most urgent and newest first).",
        "confidence": "Confidence", "why": "Why", "channel": "Channel", "save_review": "Confirm / correct",
        "notice_reviewed": "Review saved; the item left the queue.", "review_empty": "Nothing waits for review.",
        "review_waiting": "Waiting for review", "review_oldest": "oldest waiting", "review_urgent": "urgent",
        "supervisors_review": "The review queue is for supervisors.", "review_not_found": "No such feedback item.",
    },
}

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        # The vocabulary's words in the console's short forms; `closed` and `unreachable` name the item's and
        # the callback's status here (not the SLA stage, nor the outcome).
        **locale_table(Priority, "zh"), **locale_table(CallbackStatus, "zh"),
        **{str(s): short_label(s, "zh") for s in ItemStatus},
        **{str(s): label(s, "zh") for s in Stage if s is not Stage.CLOSED},
        **{str(o): short_label(o, "zh") for o in Outcome if o is not Outcome.UNREACHABLE},
        "vip": "VIP", "normal": "普通", "angry": "愤怒", "anxious": "焦虑", "calm": "平和",
        "callback": "回访",
        "created": "登记", "acknowledged": "已告知受理", "responded": "已响应", "status_changed": "状态变更",
        "customer_replied": "客户回复", "progress": "进展", "escalated": "升级", "callback_scheduled": "安排回访",
        "callback_outcome": "回访结果", "sla_recomputed": "时限重算", "note": "备注",
        "satisfaction": "满意度回访", "final_opinion": "听取客户最终意见",
    },
    "en": {
        "waiting_customer": "waiting for customer", "in_progress": "in progress", "first_response": "first response",
        "callback_scheduled": "callback scheduled", "callback_outcome": "callback outcome",
        "customer_replied": "customer replied", "status_changed": "status changed", "sla_recomputed": "SLA recomputed",
        "satisfaction": "satisfaction check", "final_opinion": "customer's final opinion",
    },
}


# --- request context ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """One signed-in request: the agent, their console session, and the page language."""

    user: auth.ConsoleUser
    session: auth.ConsoleSession

    @property
    def agent(self) -> str:
        return self.user.agent


def console_now(request: Request) -> datetime:
    """The request's instant: `deps.clock` when overridden, else the app's clock (`create_app(now=…)`)."""
    override = request.app.dependency_overrides.get(deps.clock)
    runtime = getattr(request.app.state, "feedback", None)
    clock = override or getattr(runtime, "now", None)
    now: datetime = clock() if callable(clock) else deps.clock()    # FastAPI keeps overrides untyped
    return now


def register_engine(request: Request) -> sa.Engine:
    """The register: `deps.engine` when overridden (tests), else the app's engine (`create_app(engine=…)`).

    Resolved per request and lazily, so including the router costs no connection.
    """
    override = request.app.dependency_overrides.get(deps.engine)
    runtime = getattr(request.app.state, "feedback", None)
    make = override or getattr(runtime, "engine", None)
    engine: sa.Engine = make() if callable(make) else deps.engine()    # FastAPI keeps overrides untyped
    return engine


def _mode() -> str:
    try:
        return auth.auth_mode()
    except auth.ConsoleConfigError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None


def _session(request: Request) -> auth.ConsoleSession:
    try:
        session = auth.load_session(request)
    except auth.ConsoleConfigError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    return auth.with_lang(session, request.query_params.get("lang"))


async def signed_in(request: Request) -> Visit:
    """The signed-in agent, or a redirect to the login page (Airflow's, in Airflow mode)."""
    mode = _mode()
    session = _session(request)
    try:
        user = await auth.authenticate(request, session)
    except auth.ConsoleConfigError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    if user is None:
        raise auth.login_redirect(request, mode)
    if user.needs_csrf and session.agent != user.agent:
        session = auth.login_session(session, user.agent)   # Airflow mode: bind the CSRF token to this user
    return Visit(user=user, session=session)


async def posted(request: Request, visit: Annotated[Visit, Depends(signed_in)]) -> Visit:
    """A signed-in form post that carries this session's CSRF token; anything else is refused."""
    form = await request.form()
    submitted = form.get(auth.CSRF_FIELD)
    if not auth.csrf_matches(visit.session, visit.user, submitted if isinstance(submitted, str) else None):
        log.warning("console: form post without a valid CSRF token refused (agent %s, %s)",
                    visit.agent, request.url.path)
        raise HTTPException(status_code=403, detail="CSRF token missing or invalid")
    return visit


Signed = Annotated[Visit, Depends(signed_in)]
Posted = Annotated[Visit, Depends(posted)]
Engine = Annotated[sa.Engine, Depends(register_engine)]
Now = Annotated[datetime, Depends(console_now)]


# --- rendering ----------------------------------------------------------------------------------


def _word(lang: str) -> Callable[[object], str]:
    def word(value: object) -> str:
        if value is None:
            return ""
        text = str(value)
        return WORDS.get(lang, {}).get(text) or (text.replace("_", " ") if lang == "en" else text)
    return word


def _labels(lang: str) -> tuple[Callable[[str | None], str], Callable[[Iterable[str] | None], str]]:
    """Department and category names for people (产品技术部), the register's codes where unknown."""
    locale = "zh-CN" if lang == "zh" else "en"

    def dept(code: str | None) -> str:
        return department_label(code, locale) if code else ""

    def cat(codes: Iterable[str] | None) -> str:
        return ("、" if lang == "zh" else ", ").join(category_label(c, locale) for c in codes or [])
    return dept, cat


def _when(value: object) -> str:
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(business_zone()).strftime("%Y-%m-%d %H:%M")


def render(request: Request, session: auth.ConsoleSession, template: str, *, status: int = 200,
           agent: str | None = None, supervisor: bool = False, **context: Any) -> HTMLResponse:
    """A console page: labels in the session's language, never stored by the browser or a proxy."""
    lang = session.lang
    dept, cat = _labels(lang)
    response = TEMPLATES.TemplateResponse(
        request, f"console/{template}",
        {"t": TEXT[lang], "lang": lang, "word": _word(lang), "when": _when, "dept": dept, "cat": cat,
         "csrf": session.csrf, "csrf_field": auth.CSRF_FIELD, "agent": agent, "supervisor": supervisor,
         "other_lang": "en" if lang == "zh" else "zh", "lang_url": _lang_url(request, lang), **context},
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    auth.store_session(response, request, session)
    return response


def _lang_url(request: Request, lang: str) -> str:
    """This page in the other language (a form's answer links to the queue: a POST cannot be re-fetched)."""
    other = "en" if lang == "zh" else "zh"
    url = request.url if request.method == "GET" else request.url_for("console_queue")
    return str(url.include_query_params(lang=other))


def redirect(request: Request, session: auth.ConsoleSession, url: str) -> RedirectResponse:
    """303 after a form post (Post/Redirect/Get), carrying the session cookie when it changed."""
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    auth.store_session(response, request, session)
    return response


def _problem(request: Request, visit: Visit, status: int, message_key: str, supervisor: bool = False) -> HTMLResponse:
    lang = visit.session.lang
    return render(request, visit.session, "problem.html", status=status, agent=visit.agent, supervisor=supervisor,
                  heading=TEXT[lang]["forbidden" if status == 403 else "refused"], message=TEXT[lang][message_key])


# Why the queue refused, as (HTTP status, message key): the exceptions carry ids only.
REFUSALS: list[tuple[type[Exception], int, str]] = [
    (callback_errors.NotClaimHolder, 403, "not_holder"),
    (callback_errors.UnknownAgent, 403, "not_in_team"),
    (callback_errors.UnknownTask, 404, "not_found"),
    (callback_errors.NoContact, 404, "no_contact"),
    (callback_errors.TaskClosed, 409, "task_closed"),
    (callback_errors.BadAnswer, 422, "bad_input"),
    (callback_errors.CallbackError, 409, "bad_input"),
]


def refused(request: Request, visit: Visit, exc: Exception, what: str, task_id: int | None = None) -> Response:
    """The page for a refusal of the queue, logged with the agent, the task and the reason's class only."""
    status, key = next((s, k) for kind, s, k in REFUSALS if isinstance(exc, kind))
    log.warning("console: %s by agent %s on callback task %s refused (%s)", what, visit.agent, task_id,
                type(exc).__name__)
    return _problem(request, visit, status, key)


# --- login / logout -----------------------------------------------------------------------------


def _safe_next(request: Request, target: str | None) -> str:
    """Only a path inside the console may follow a login: never an open redirect."""
    home = request.url_for("console_queue").path
    if target and target.startswith(home.rstrip("/")) and "//" not in target and "\\" not in target:
        return target
    return home


@router.get("/login", name="console_login_form", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> Response:
    """Token mode's form (it also starts the anonymous session whose CSRF token the form echoes)."""
    mode = _mode()
    session = _session(request)
    if mode == "airflow":
        return redirect(request, session, auth.airflow_login_url(str(request.url_for("console_queue"))))
    if await auth.authenticate(request, session):
        return redirect(request, session, _safe_next(request, next))
    return render(request, session, "login.html", next=_safe_next(request, next), failed=False)


@router.post("/login", name="console_login")
async def login(request: Request) -> Response:
    """Token mode: trade an agent's token for a session (with a fresh CSRF token)."""
    if _mode() != "token":
        raise HTTPException(status_code=404, detail="log in through Airflow")
    session = _session(request)
    form = await request.form()
    submitted, token, target = (form.get(auth.CSRF_FIELD), form.get("token"), form.get("next"))
    if not (isinstance(submitted, str) and submitted and request.cookies.get(auth.COOKIE_NAME)
            and hmac.compare_digest(submitted.encode(), session.csrf.encode())):
        log.warning("console: login post without a valid CSRF token refused")
        raise HTTPException(status_code=403, detail="CSRF token missing or invalid")
    try:
        agent = auth.agent_for_token(token) if isinstance(token, str) and token else None
    except auth.ConsoleConfigError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    target = _safe_next(request, target if isinstance(target, str) else None)
    if agent is None:
        log.warning("console: login refused (unknown token)")
        return render(request, session, "login.html", status=401, next=target, failed=True)
    log.info("console: agent %s logged in", agent)
    return redirect(request, auth.login_session(session, agent), target)


@router.post("/logout", name="console_logout")
async def logout(request: Request, visit: Posted) -> Response:
    """A POST with the CSRF token, so another site cannot log an agent out; Airflow mode revokes the JWT too."""
    log.info("console: agent %s logged out", visit.agent)
    if visit.user.via.startswith("airflow"):
        response = RedirectResponse(auth.airflow_logout_url(), status_code=303)
    else:
        response = RedirectResponse(str(request.url_for("console_login_form")), status_code=303)
    auth.clear_session(response, request)
    return response


@router.get("/console.css", name="console_css", include_in_schema=False)
async def stylesheet() -> FileResponse:
    """Served by the router itself, so the console works wherever it is included."""
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


# --- the agent's queue --------------------------------------------------------------------------


@router.get("/", name="console_queue", response_class=HTMLResponse)
def queue_page(request: Request, visit: Signed, engine: Engine, now: Now, notice: str | None = None) -> Response:
    """The agent's claims, then their assigned and the unassigned tasks, due first (masked fields only)."""
    tasks = queue.agent_queue(engine, visit.agent, now)
    return render(request, visit.session, "queue.html", agent=visit.agent,
                  supervisor=auth.is_supervisor(engine, visit.agent), tasks=tasks, now=now,
                  notice=notice if notice in QUEUE_NOTICES else None)


@router.post("/claim", name="console_claim")
def claim(request: Request, visit: Posted, engine: Engine, now: Now) -> Response:
    """Take the next task (SKIP LOCKED in the queue: two agents never get the same one) and open it."""
    try:
        claimed = queue.claim_next(engine, visit.agent, now)
    except callback_errors.CallbackError as exc:
        return refused(request, visit, exc, "claim")
    if claimed is None:
        return redirect(request, visit.session,
                        str(request.url_for("console_queue").include_query_params(notice="empty")))
    log.info("console: agent %s claimed callback task %s", visit.agent, claimed.task_id)
    return redirect(request, visit.session, str(request.url_for("console_task", task_id=claimed.task_id)))


# --- one task -----------------------------------------------------------------------------------


def load_task(engine: sa.Engine, task_id: int) -> dict[str, Any] | None:
    """The task with its item's masked fields and history; nothing that leads to a raw contact."""
    with engine.connect() as conn:
        task = claims.read_task(conn, task_id)
        if task is None:
            return None
        item = conn.execute(
            sa.text("SELECT feedback_no, subject, description, demand, customer_name, contact_masked, customer_tier,"
                    " emotion, category, department, priority, status, handler, handling_cycle, received_at,"
                    " next_deadline_at, next_deadline_stage FROM feedback.v_feedback WHERE id = :f"),
            {"f": task.feedback_id},
        ).mappings().one()
        events = conn.execute(
            sa.text("SELECT event_type, occurred_at, actor, from_status, to_status, details "
                    "FROM feedback.v_feedback_event WHERE feedback_id = :f ORDER BY occurred_at, id"),
            {"f": task.feedback_id},
        ).mappings().all()
    return {"task": task, "item": dict(item), "events": [_event_view(e) for e in events]}


def _event_view(event: sa.RowMapping) -> dict[str, Any]:
    details = event["details"] if isinstance(event["details"], dict) else {}
    shown = [(str(key), _short(value)) for key, value in details.items()
             if "vault" not in str(key) and "token" not in str(key)]
    return {**dict(event), "details": shown}


def _short(value: object, limit: int = 160) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def may_view(task: claims.TaskState, agent: str, supervisor: bool, now: datetime) -> bool:
    """Supervisors see every task; agents their own, and the open ones `claim next` could give them."""
    if supervisor or agent in (task.claimed_by, task.assigned_to):
        return True
    return task.status == "pending" and (task.assigned_to is None or task.due_at <= now)


def active_scale() -> callback_policy.Scale:
    """The satisfaction scale callbacks.yaml makes active: its choices (or score range) build the outcome form."""
    return callback_policy.load_policy().scale


def _task_page(request: Request, visit: Visit, engine: sa.Engine, now: datetime, task_id: int, *,
               contact: str | None = None, error: str | None = None, status: int = 200) -> Response:
    supervisor = auth.is_supervisor(engine, visit.agent)
    view = load_task(engine, task_id)
    if view is None:
        return _problem(request, visit, 404, "not_found", supervisor)
    if not may_view(view["task"], visit.agent, supervisor, now):
        return _problem(request, visit, 403, "not_holder", supervisor)
    return render(request, visit.session, "task.html", status=status, agent=visit.agent, supervisor=supervisor,
                  **view, contact=contact, error=error, holder=claims.holds_claim(view["task"], visit.agent, now),
                  scale=active_scale(), attempt_results=ATTEMPT_RESULTS)


@router.get("/tasks/{task_id}", name="console_task", response_class=HTMLResponse)
def task_page(request: Request, task_id: int, visit: Signed, engine: Engine, now: Now) -> Response:
    """The item as masked by triage, its history and the forms; the contact only after a reveal."""
    return _task_page(request, visit, engine, now, task_id)


@router.post("/tasks/{task_id}/reveal", name="console_reveal", response_class=HTMLResponse)
def reveal(request: Request, task_id: int, visit: Posted, engine: Engine, now: Now) -> Response:
    """Show the contact to the claim holder, in this response only (no redirect, no cache, no log).

    Two steps, in this order on purpose: `reveal_contact` decrypts and writes the
    `contact_reveal` audit row in its own transaction, committed before it returns; only
    then is the page with the address built and sent. Whatever fails after that (the
    page, the connection) leaves the reveal audited; a failed audit shows nothing.
    """
    try:
        contact = queue.reveal_contact(engine, task_id, visit.agent, now)
    except callback_errors.CallbackError as exc:
        return refused(request, visit, exc, "contact reveal", task_id)
    log.info("console: agent %s revealed the contact of callback task %s", visit.agent, task_id)
    try:
        return _task_page(request, visit, engine, now, task_id, contact=contact)
    except Exception as exc:
        # No traceback: its frames hold the address. The kind of failure is enough to act on.
        log.error("console: the contact reveal of callback task %s is audited, but its page failed (%s)",
                  task_id, type(exc).__name__)
        return HTMLResponse("<!doctype html><title>500</title><p>The page failed; the reveal was recorded.</p>",
                            status_code=500, headers={"Cache-Control": "no-store"})


@router.post("/tasks/{task_id}/attempt", name="console_attempt")
async def attempt(request: Request, task_id: int, visit: Posted, engine: Engine, now: Now) -> Response:
    """A call that reached nobody: the queue retries later and ends the task after too many."""
    result = (await request.form()).get("result")
    if result not in ATTEMPT_RESULTS:
        return _problem(request, visit, 422, "bad_input")
    try:
        queue.record_attempt(engine, task_id, visit.agent, result, now)
    except callback_errors.CallbackError as exc:
        return refused(request, visit, exc, "attempt", task_id)
    log.info("console: agent %s recorded attempt %s on callback task %s", visit.agent, result, task_id)
    return redirect(request, visit.session,
                    str(request.url_for("console_queue").include_query_params(notice="attempt")))


def _asks_final_opinion(engine: sa.Engine, task_id: int) -> bool:
    with engine.connect() as conn:
        task = claims.read_task(conn, task_id)
    return task is not None and task.purpose == "final_opinion"


def _form_text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


@router.post("/tasks/{task_id}/outcome", name="console_outcome")
async def outcome(request: Request, task_id: int, visit: Posted, engine: Engine, now: Now) -> Response:
    """The customer's answer on the active scale; the outcome rules then close or reopen the item."""
    form = await request.form()
    rating, typed = _form_text(form.get("rating")), _form_text(form.get("score"))
    score: int | None = None
    if rating or typed:
        try:
            judged = active_scale().judge(rating=rating, score=typed)
        except callback_policy.InvalidAnswer:
            return _task_page(request, visit, engine, now, task_id, error="score" if typed else "rating", status=422)
        rating, score = (None, judged.score) if judged.score is not None else (judged.label, None)
    elif not _asks_final_opinion(engine, task_id):   # only a final-opinion callback may go without a rating
        return _task_page(request, visit, engine, now, task_id, error="rating", status=422)
    try:
        queue.record_outcome(engine, task_id, visit.agent, rating=rating, score=score,
                             comment=_form_text(form.get("comment")), now=now,
                             final_opinion=_form_text(form.get("final_opinion")))
    except callback_errors.CallbackError as exc:
        return refused(request, visit, exc, "outcome", task_id)
    log.info("console: agent %s recorded the outcome of callback task %s", visit.agent, task_id)
    return redirect(request, visit.session,
                    str(request.url_for("console_queue").include_query_params(notice="recorded")))


# --- the SLA board ------------------------------------------------------------------------------


def _departments(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT DISTINCT department FROM feedback.v_feedback WHERE department IS NOT NULL ORDER BY 1")).scalars())


def _window(raw: str | None) -> int:
    try:
        hours = int(raw) if raw else DEFAULT_WINDOW_HOURS
    except ValueError:
        hours = DEFAULT_WINDOW_HOURS
    return min(max(hours, 1), MAX_WINDOW_HOURS)


@router.get("/board", name="console_board", response_class=HTMLResponse)
def board(request: Request, visit: Signed, engine: Engine, now: Now, department: str | None = None,
          stage: str | None = None, window: str | None = None, breached: str | None = None) -> Response:
    """Supervisors' 超时预警 screen: items and callbacks near or past their deadlines, by department."""
    if not auth.is_supervisor(engine, visit.agent):
        log.warning("console: agent %s refused the SLA board (not a supervisor)", visit.agent)
        return _problem(request, visit, 403, "supervisors_only")
    department, stage = department or None, stage or None
    hours = _window(window)
    breached_only = breached in ("1", "on", "true")
    entries = queue.sla_board(engine, now, department=department, window_hours=hours)
    stages = sorted({e.stage for e in entries if e.stage} | set(KNOWN_STAGES))
    shown = [e for e in entries if (stage is None or e.stage == stage) and (e.overdue or not breached_only)]
    return render(request, visit.session, "board.html", agent=visit.agent, supervisor=True, now=now,
                  groups=by_department(shown), total=len(shown), departments=_departments(engine),
                  department=department, stage=stage, stages=stages, window=hours, breached_only=breached_only,
                  span=_span(visit.session.lang), review=review_queue.summary(engine))


KNOWN_STAGES = ("first_response", "resolution", "engaged", "solution", "closed", "callback")


def by_department(entries: list[queue.BoardEntry]) -> list[tuple[str, list[queue.BoardEntry]]]:
    """Board entries grouped by department (departments with the earliest deadline first)."""
    groups: dict[str, list[queue.BoardEntry]] = {}
    for entry in sorted(entries, key=lambda e: (e.due_at, e.feedback_id)):
        groups.setdefault(entry.department or "", []).append(entry)
    return list(groups.items())


def _span(lang: str) -> Callable[[int], str]:
    """Minutes left (negative: overdue) as 2小时5分 / 2 h 5 min."""
    def span(minutes: int) -> str:
        minutes = abs(int(minutes))
        days, rest = divmod(minutes, 24 * 60)
        hours, mins = divmod(rest, 60)
        if lang == "zh":
            return (f"{days}天" if days else "") + (f"{hours}小时" if hours else "") + f"{mins}分"
        return " ".join(p for p in (f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min") if p)
    return span


# --- the review queue (supervisors) --------------------------------------------------------------

PRIORITY_LEVELS = codes(Priority)
REVIEW_NOTICES = ("reviewed",)


def _classifier(preset: str | None = None) -> Classifier:
    from feedback.triage.classify import Classifier

    return Classifier.from_config(preset=preset)


@router.get("/review", name="console_review", response_class=HTMLResponse)
def review_page(request: Request, visit: Signed, engine: Engine, now: Now, notice: str | None = None) -> Response:
    """Items triage was unsure about (needs_review), most urgent and newest first, each with its one-action form."""
    if not auth.is_supervisor(engine, visit.agent):
        log.warning("console: agent %s refused the review queue (not a supervisor)", visit.agent)
        return _problem(request, visit, 403, "supervisors_review")
    classifier = _classifier()
    return render(request, visit.session, "review.html", agent=visit.agent, supervisor=True, now=now,
                  items=review_queue.pending(engine), summary=review_queue.summary(engine),
                  classes=classifier.classes, departments=list(classifier.taxonomy.departments),
                  priorities=PRIORITY_LEVELS, span=_span(visit.session.lang),
                  notice=notice if notice in REVIEW_NOTICES else None)


@router.post("/review/{feedback_no}", name="console_review_save")
async def review_save(request: Request, feedback_no: str, visit: Posted, engine: Engine, now: Now) -> Response:
    """Confirm or correct category, department and priority at once: audited, kept as training data."""
    from feedback.triage.corrections import CorrectionError

    if not auth.is_supervisor(engine, visit.agent):
        log.warning("console: agent %s refused a review (not a supervisor)", visit.agent)
        return _problem(request, visit, 403, "supervisors_review")
    form = await request.form()
    category, department, priority = (_form_text(form.get(k)) for k in ("category", "department", "priority"))
    if not category:
        return _problem(request, visit, 422, "bad_input", supervisor=True)
    with engine.connect() as conn:
        preset = conn.execute(sa.text("SELECT coalesce(taxonomy_preset, 'A') FROM feedback.feedback "
                                      "WHERE feedback_no = :n"), {"n": feedback_no}).scalar()
    if preset is None:
        return _problem(request, visit, 404, "review_not_found", supervisor=True)
    try:
        result = review_queue.review(engine, feedback_no, category=category, department=department,
                                     priority=priority, classifier=_classifier(preset), actor=visit.agent, at=now)
    except CorrectionError:
        log.warning("console: review by agent %s refused (invalid category, department or priority)", visit.agent)
        return _problem(request, visit, 422, "bad_input", supervisor=True)
    log.info("console: agent %s %s the triage of an item (review)", visit.agent, result["review"])
    return redirect(request, visit.session,
                    str(request.url_for("console_review").include_query_params(notice="reviewed")))


# --- overdue reasons (supervisors) ---------------------------------------------------------------

TEXT["zh"].update({
    "overdue_reasons": "超时原因登记", "overdue_missing": "待填写超时原因",
    "overdue_hint": "以下事项已超时但尚未登记原因（时限最近的在前）。请选择原因，必要时补充说明；报表按此统计超时原因。",
    "overdue_reason": "超时原因", "overdue_text": "补充说明（可选）", "save_reason": "保存原因",
    "overdue_stages": "超时阶段", "first_deadline": "最早时限", "overdue_empty": "所有超时事项均已登记原因。",
    "notice_overdue_recorded": "超时原因已登记。", "overdue_shown": "显示", "overdue_of": "共",
    "supervisors_overdue": "超时原因登记仅对主管开放。", "overdue_not_found": "未找到该反馈事项。",
    "choose_reason": "请选择原因",
})
TEXT["en"].update({
    "overdue_reasons": "Overdue reasons", "overdue_missing": "Overdue without a reason",
    "overdue_hint": "These items went past a deadline and nobody has said why yet (latest deadline first). Choose "
                    "a reason, add a note if it helps; the reports count overdue items by it.",
    "overdue_reason": "Overdue reason", "overdue_text": "Note (optional)", "save_reason": "Save reason",
    "overdue_stages": "Stages overdue", "first_deadline": "First deadline",
    "overdue_empty": "Every overdue item has a reason.", "notice_overdue_recorded": "Overdue reason recorded.",
    "overdue_shown": "showing", "overdue_of": "of",
    "supervisors_overdue": "Overdue reasons are for supervisors.", "overdue_not_found": "No such feedback item.",
    "choose_reason": "Choose a reason",
})
OVERDUE_NOTICES = ("overdue_recorded",)
OVERDUE_LIST_ROWS = 200


def _overdue_reason_choices(lang: str) -> list[tuple[str, str]]:
    """(code, name in the page's language) of sla_policies.yaml `overdue_reasons`, in configured order."""
    try:
        return list(overdue_reasons.labels(configured_reasons(), lang).items())
    except ConfigError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None


@router.get("/overdue", name="console_overdue", response_class=HTMLResponse)
def overdue_page(request: Request, visit: Signed, engine: Engine, now: Now, department: str | None = None,
                 notice: str | None = None) -> Response:
    """Breached items without an overdue reason, each with a one-action form to give one (supervisors)."""

    if not auth.is_supervisor(engine, visit.agent):
        log.warning("console: agent %s refused the overdue reasons (not a supervisor)", visit.agent)
        return _problem(request, visit, 403, "supervisors_overdue")
    department = department or None
    items, total = overdue_reasons.missing(engine, department=department, limit=OVERDUE_LIST_ROWS)
    return render(request, visit.session, "overdue.html", agent=visit.agent, supervisor=True, now=now,
                  items=items, total=total, reasons=_overdue_reason_choices(visit.session.lang),
                  departments=_departments(engine), department=department,
                  notice=notice if notice in OVERDUE_NOTICES else None)


@router.post("/overdue/{feedback_no}", name="console_overdue_save")
async def overdue_save(request: Request, feedback_no: str, visit: Posted, engine: Engine, now: Now) -> Response:
    """Record why the item's breaches of one handling cycle happened: an overdue_reason event by this supervisor."""

    if not auth.is_supervisor(engine, visit.agent):
        log.warning("console: agent %s refused an overdue reason (not a supervisor)", visit.agent)
        return _problem(request, visit, 403, "supervisors_overdue")
    form = await request.form()
    reason, text, cycle = _form_text(form.get("reason")), _form_text(form.get("reason_text")), form.get("cycle")
    codes = [code for code, _ in _overdue_reason_choices(visit.session.lang)]
    if reason not in codes or not (isinstance(cycle, str) and cycle.isascii() and cycle.isdigit()
                                   and 1 <= int(cycle) <= 1000):
        return _problem(request, visit, 422, "bad_input", supervisor=True)
    with engine.begin() as conn:
        item = conn.execute(sa.text("SELECT id FROM feedback.feedback WHERE feedback_no = :n"),
                            {"n": feedback_no}).scalar()
        if item is None:
            return _problem(request, visit, 404, "overdue_not_found", supervisor=True)
        changed = overdue_reasons.record(conn, item, int(cycle), reason, text, visit.agent, now, codes)
    log.info("console: agent %s recorded overdue reason %s for item %s cycle %s (%s breaches)",
             visit.agent, reason, item, cycle, changed)
    return redirect(request, visit.session,
                    str(request.url_for("console_overdue").include_query_params(notice="overdue_recorded")))
