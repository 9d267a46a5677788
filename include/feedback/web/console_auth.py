"""Who is using the callback console, and proof that a form post came from the console itself.

Two modes, chosen by ``FEEDBACK_CONSOLE_AUTH``:

``airflow``
    The console runs inside Airflow's API server (the ``feedback_web`` plugin) and
    trusts Airflow's login: the UI's JWT from the ``_token`` cookie, or an
    ``Authorization: Bearer <jwt>`` header, resolved by Airflow (``HostLogin``, implemented in
    ``feedback_airflow.console_login`` and handed over by the web plugin). The agent id
    is the Airflow user's name (it must be an agent of ``callback_agent``, e.g. listed under
    ``team.agents`` in callbacks.yaml, to claim tasks). Without a valid token the browser is sent to the
    auth manager's login page (``get_url_login(next_url=…)``: ``/auth/login?next=…``
    with the simple auth manager, ``/auth/login/?next=…`` with FAB), API clients get
    Airflow's 401/403. This package never imports Airflow: outside Airflow's API server no
    host login is handed over, and this mode is a configuration error.

``token`` (the default when the console runs outside Airflow)
    One secret token per agent in ``FEEDBACK_CONSOLE_TOKENS``, e.g.
    ``FEEDBACK_CONSOLE_TOKENS="wang.li:Zr8…,chen.jie:Qm2…"`` (agent ids may not contain
    ``:`` or ``,``; tokens are at least 16 characters and unique). The login form posts
    the token; the console answers with its session cookie.

When ``FEEDBACK_CONSOLE_AUTH`` is unset the mode is ``airflow`` if this process is an
Airflow API server with its auth manager initialised, else ``token``.

The session cookie ``feedback_console`` (both modes) is signed with itsdangerous
(secret ``FEEDBACK_CONSOLE_SECRET``, else derived from the register's hash key with a
label of its own), HttpOnly, SameSite=Strict, Secure on https, scoped to the console's
path and valid ``FEEDBACK_CONSOLE_SESSION_HOURS`` hours (default 10). It holds the
agent id (token mode: the identity; Airflow mode: the user the CSRF token is bound
to), a random CSRF token and the chosen language — never anything about customers.
Every POST form carries the CSRF token in a hidden ``csrf_token`` field and must match
the session's (session-bound tokens); requests authenticated by a Bearer header cannot
be forged cross-site and skip that check. Logging out deletes the cookie (the cookie is
stateless: a copied cookie stays valid until it expires).

Supervisors (who may open the SLA board): the agent ids in
``FEEDBACK_CONSOLE_SUPERVISORS`` (comma-separated), plus agents flagged ``supervisor``
(and active) in the register's ``callback_agent`` table.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, replace
from typing import Any, Protocol

import sqlalchemy as sa
from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from feedback.errors import ConfigError

AUTH_ENV = "FEEDBACK_CONSOLE_AUTH"
TOKENS_ENV = "FEEDBACK_CONSOLE_TOKENS"
SECRET_ENV = "FEEDBACK_CONSOLE_SECRET"
SUPERVISORS_ENV = "FEEDBACK_CONSOLE_SUPERVISORS"
SESSION_HOURS_ENV = "FEEDBACK_CONSOLE_SESSION_HOURS"

MODES = ("airflow", "token")
COOKIE_NAME = "feedback_console"
CSRF_FIELD = "csrf_token"
LANGS = ("zh", "en")
MIN_TOKEN_LENGTH = 16
_SALT = "feedback.console.session.v1"
_SECRET_LABEL = b"feedback-console-session-secret/v1"


class ConsoleConfigError(ConfigError):
    """The console's authentication settings are missing or malformed."""


@dataclass(frozen=True)
class ConsoleUser:
    """An authenticated agent: the id recorded in claims, attempts and contact reveals."""

    agent: str
    via: str            # "token", "airflow-cookie" or "airflow-bearer"

    @property
    def needs_csrf(self) -> bool:
        """Cookie-borne identities can be ridden by another site's form; a Bearer header cannot."""
        return self.via != "airflow-bearer"


@dataclass(frozen=True)
class ConsoleSession:
    """What the console's own cookie holds; `changed` says it must be written back."""

    agent: str | None
    csrf: str
    lang: str
    changed: bool = False


# --- the host's login (Airflow's, handed over by the web plugin) ---------------------------------


class HostLogin(Protocol):
    """The login of the server the console is mounted in: feedback_airflow.console_login for Airflow."""

    def active(self) -> bool:
        """True when the host's auth manager is initialised in this process (it serves requests)."""
        ...

    def login_url(self, next_url: str) -> str:
        """The host's login page, coming back to `next_url`."""
        ...

    def logout_url(self) -> str:
        """The host's logout endpoint."""
        ...

    async def user(self, request: Request) -> ConsoleUser | None:
        """The host's user behind the request; None without a (valid) UI cookie."""
        ...


_host_login: HostLogin | None = None


def use_host_login(login: HostLogin | None) -> HostLogin | None:
    """Hand the console its host's login (the Airflow web plugin does); returns the previous one."""
    global _host_login
    previous, _host_login = _host_login, login
    return previous


def host_login() -> HostLogin:
    """The handed-over login; FEEDBACK_CONSOLE_AUTH=airflow outside Airflow is a configuration error."""
    if _host_login is None:
        raise ConsoleConfigError(f"{AUTH_ENV}=airflow, but the console does not run inside Airflow's API server "
                                 "(the feedback_web plugin hands it Airflow's login); use token mode")
    return _host_login


# --- settings -----------------------------------------------------------------------------------


def auth_mode() -> str:
    """The configured mode; unset means Airflow's login when running inside Airflow's API server."""
    value = os.environ.get(AUTH_ENV, "").strip().lower()
    if not value:
        return "airflow" if _inside_airflow_api_server() else "token"
    if value not in MODES:
        raise ConsoleConfigError(f"{AUTH_ENV}: expected one of {', '.join(MODES)}, got {value!r}")
    return value


def _inside_airflow_api_server() -> bool:
    """True when a host login was handed over and its auth manager is initialised in this process."""
    return _host_login is not None and _host_login.active()


def agent_tokens() -> dict[str, str]:
    """token -> agent id from FEEDBACK_CONSOLE_TOKENS; errors name the entry, never a token."""
    raw = os.environ.get(TOKENS_ENV, "").strip()
    tokens: dict[str, str] = {}
    for number, entry in enumerate((part.strip() for part in raw.split(",")), start=1):
        if not entry:
            continue
        agent, sep, token = entry.partition(":")
        agent, token = agent.strip(), token.strip()
        if not sep or not agent or not token:
            raise ConsoleConfigError(f"{TOKENS_ENV}: entry {number} is not agent:token")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConsoleConfigError(
                f"{TOKENS_ENV}: the token of agent {agent!r} is shorter than {MIN_TOKEN_LENGTH} characters")
        if token in tokens:
            raise ConsoleConfigError(f"{TOKENS_ENV}: agents {tokens[token]!r} and {agent!r} share a token")
        tokens[token] = agent
    return tokens


def configured_supervisors() -> set[str]:
    """Supervisor agent ids named in FEEDBACK_CONSOLE_SUPERVISORS."""
    raw = os.environ.get(SUPERVISORS_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def is_supervisor(engine: sa.Engine, agent: str) -> bool:
    """Whether `agent` may see the SLA board: listed in the environment, or an active supervisor in callback_agent."""
    if agent in configured_supervisors():
        return True
    with engine.connect() as conn:
        flagged = conn.execute(
            sa.text("SELECT supervisor FROM feedback.callback_agent WHERE agent_id = :a AND active"), {"a": agent},
        ).scalar()
    return bool(flagged)


def _session_secret() -> bytes:
    value = os.environ.get(SECRET_ENV, "").strip()
    if value:
        if len(value) < 16:
            raise ConsoleConfigError(f"{SECRET_ENV}: too short; use at least 16 random characters")
        return value.encode()
    from feedback.privacy.keys import hash_key

    return hmac.new(hash_key(), _SECRET_LABEL, hashlib.sha256).digest()


def _session_hours() -> float:
    raw = os.environ.get(SESSION_HOURS_ENV, "").strip()
    if not raw:
        return 10.0
    try:
        hours = float(raw)
    except ValueError:
        raise ConsoleConfigError(f"{SESSION_HOURS_ENV}: expected a number of hours, got {raw!r}") from None
    if hours <= 0:
        raise ConsoleConfigError(f"{SESSION_HOURS_ENV}: must be positive")
    return hours


# --- the session cookie -------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_session_secret(), salt=_SALT)


def _fresh_csrf() -> str:
    return secrets.token_urlsafe(24)


def load_session(request: Request) -> ConsoleSession:
    """The request's console session; a new anonymous one when the cookie is missing, forged or stale."""
    raw = request.cookies.get(COOKIE_NAME)
    if raw:
        try:
            data: Any = _serializer().loads(raw, max_age=int(_session_hours() * 3600))
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("c"), str):
            stored = data.get("l")
            lang = stored if isinstance(stored, str) and stored in LANGS else "zh"
            agent = data.get("a") if isinstance(data.get("a"), str) else None
            return ConsoleSession(agent=agent, csrf=data["c"], lang=lang)
    return ConsoleSession(agent=None, csrf=_fresh_csrf(), lang="zh", changed=True)


def login_session(session: ConsoleSession, agent: str) -> ConsoleSession:
    """A session for `agent` with a new CSRF token: nothing planted before login survives it."""
    return ConsoleSession(agent=agent, csrf=_fresh_csrf(), lang=session.lang, changed=True)


def with_lang(session: ConsoleSession, lang: str | None) -> ConsoleSession:
    """The session with the language chosen by `?lang=`, remembered for the next pages."""
    if lang is None:
        return session
    lang = "en" if lang.lower().startswith("en") else "zh"
    return session if lang == session.lang else replace(session, lang=lang, changed=True)


def cookie_path(request: Request) -> str:
    """The console's path under whatever prefix the app is mounted at (e.g. /feedback/console)."""
    return request.url_for("console_queue").path.rstrip("/") or "/"


def store_session(response: Response, request: Request, session: ConsoleSession) -> None:
    """Write the session cookie when it changed."""
    if not session.changed:
        return
    value = _serializer().dumps({"a": session.agent, "c": session.csrf, "l": session.lang})
    response.set_cookie(
        COOKIE_NAME, value, max_age=int(_session_hours() * 3600), path=cookie_path(request),
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )


def clear_session(response: Response, request: Request) -> None:
    """Logging out forgets the cookie (same path and flags, or the browser keeps it)."""
    response.delete_cookie(COOKIE_NAME, path=cookie_path(request), httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def csrf_matches(session: ConsoleSession, user: ConsoleUser, submitted: str | None) -> bool:
    """A form post is the console's own when it echoes the CSRF token of this agent's session."""
    if not user.needs_csrf:
        return True
    if not submitted or session.agent != user.agent:
        return False
    return hmac.compare_digest(submitted.encode(), session.csrf.encode())


# --- identities ---------------------------------------------------------------------------------


def agent_for_token(token: str) -> str | None:
    """The agent whose token this is; every configured token is compared in constant time."""
    found = None
    for known, agent in agent_tokens().items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = agent
    return found


def login_redirect(request: Request, mode: str) -> HTTPException:
    """Where a browser without a valid identity goes: the console's form, or Airflow's login page."""
    if mode == "airflow":
        location = airflow_login_url(str(request.url if request.method == "GET" else request.url_for("console_queue")))
    else:
        back = request.url.path if request.method == "GET" else request.url_for("console_queue").path
        location = str(request.url_for("console_login_form").include_query_params(next=back))
    return HTTPException(status_code=303, detail="login required", headers={"Location": location})


def airflow_login_url(next_url: str) -> str:
    """Airflow's login page for the configured auth manager, coming back to `next_url`."""
    return host_login().login_url(next_url)


def airflow_logout_url() -> str:
    """Airflow's logout endpoint: it revokes the JWT, then shows the auth manager's login."""
    return host_login().logout_url()


async def airflow_user(request: Request) -> ConsoleUser | None:
    """The Airflow user behind the request's JWT; None when the browser has no (valid) cookie."""
    return await host_login().user(request)


async def authenticate(request: Request, session: ConsoleSession) -> ConsoleUser | None:
    """The agent making this request in the configured mode, or None when nobody is logged in."""
    mode = auth_mode()
    if mode == "airflow":
        return await airflow_user(request)
    if session.agent and session.agent in set(agent_tokens().values()):
        return ConsoleUser(agent=session.agent, via="token")
    return None
