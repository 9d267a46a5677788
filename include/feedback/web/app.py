"""The feedback web app: the intake endpoint, the embeddable form, the survey page and the console.

`create_app()` is what Airflow's API server mounts at `/feedback` (plugin
`feedback_web`); `standalone_app()` mounts the same app at `/feedback` for running
it on its own: `uvicorn --factory feedback.web.app:standalone_app`. Neither touches
the register or the configuration until the first request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from fastapi import APIRouter, FastAPI
from sqlalchemy.engine import Engine

from feedback.channels.config import Channels
from feedback.web import deps
from feedback.web.crm_events import events_router
from feedback.web.intake import intake_router
from feedback.web.pages import pages_router
from feedback.web.runtime import IntakeRuntime
from feedback.web.verify import ConnectionGetter

URL_PREFIX = "/feedback"


def create_app(
    *,
    engine: Callable[[], Engine] | None = None,
    channels: Channels | None = None,
    now: Callable[[], datetime] | None = None,
    routers: Sequence[APIRouter] | None = None,
    connection_lookup: ConnectionGetter | None = None,
) -> FastAPI:
    """The app with its routes relative to where it is mounted.

    `engine` is a factory called at the first request (default: the configured register);
    `channels` replaces channels.yaml; `now` is the clock (tests); `routers` are included
    as they are (default: the survey page and the callback console); `connection_lookup` returns a connection's
    value by id (default: `feedback.connections.value`, the deployment's lookup).
    """
    runtime = IntakeRuntime()
    if engine is not None:
        runtime.engine_factory = engine
    if channels is not None:
        runtime.channels_factory = lambda: channels
    if now is not None:
        runtime.now = now
    if connection_lookup is not None:
        runtime.connection_lookup = connection_lookup
    app = FastAPI(title="Feedback intake", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.feedback = runtime
    # The survey page and the console take the register and the clock as dependencies: the same ones.
    if engine is not None:
        app.dependency_overrides[deps.get_engine] = engine
    if now is not None:
        app.dependency_overrides[deps.clock] = now
    app.include_router(intake_router(runtime))
    app.include_router(pages_router(runtime))
    app.include_router(events_router(runtime))
    for router in default_routers() if routers is None else routers:
        app.include_router(router)
    return app


def default_routers() -> list[APIRouter]:
    """The survey page (satisfaction answers) and the callback team's console."""
    from feedback.web import console, survey

    return [survey.router, console.router]


def standalone_app() -> FastAPI:
    """`create_app()` under /feedback, the same URLs as inside Airflow."""
    root = FastAPI(title="Feedback", docs_url=None, redoc_url=None, openapi_url=None)
    root.mount(URL_PREFIX, create_app())
    return root
