"""Airflow's login for the callback console (FEEDBACK_CONSOLE_AUTH=airflow): the `HostLogin` of feedback.web.console_auth.

The product package does not import Airflow; the web plugin hands this object to the console
(`console_auth.use_host_login`). The UI's JWT comes from the `_token` cookie or an
`Authorization: Bearer` header and is resolved by `resolve_user_from_token`; the agent id is
the Airflow user's name. Airflow is imported inside each call, so loading this module is cheap.
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import urlencode

from fastapi import HTTPException, Request

from feedback.web.console_auth import ConsoleUser

log = logging.getLogger(__name__)


class AirflowLogin:
    """Airflow's auth manager as the console's login."""

    def active(self) -> bool:
        """True when Airflow's API server initialised its auth manager in this process (no import here)."""
        app_module = sys.modules.get("airflow.api_fastapi.app")
        state = getattr(app_module, "_AuthManagerState", None)
        return getattr(state, "instance", None) is not None

    def login_url(self, next_url: str) -> str:
        """The configured auth manager's login page (`/auth/login?next=…`), coming back to `next_url`."""
        from airflow.api_fastapi.app import API_ROOT_PATH, get_auth_manager

        try:
            return get_auth_manager().get_url_login(next_url=next_url)
        except RuntimeError:  # auth manager not initialised: the API server's own redirecting endpoint
            return f"{API_ROOT_PATH}api/v2/auth/login?{urlencode({'next': next_url})}"

    def logout_url(self) -> str:
        """Airflow's logout endpoint: it revokes the JWT, then shows the auth manager's login."""
        from airflow.api_fastapi.app import API_ROOT_PATH

        return f"{API_ROOT_PATH}api/v2/auth/logout"

    async def user(self, request: Request) -> ConsoleUser | None:
        """The Airflow user behind the request's JWT; None when the browser has no (valid) cookie.

        A bad Bearer header is the API client's error and keeps Airflow's 401/403; a missing or
        expired UI cookie means "log in again".
        """
        from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
        from airflow.api_fastapi.core_api.security import resolve_user_from_token

        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            user = await resolve_user_from_token(credentials.strip())
            return ConsoleUser(agent=user.get_name(), via="airflow-bearer")
        cookie = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
        if not cookie:
            return None
        try:
            user = await resolve_user_from_token(cookie)
        except HTTPException as exc:
            log.info("console: Airflow UI token refused (%s)", exc.status_code)
            return None
        return ConsoleUser(agent=user.get_name(), via="airflow-cookie")
