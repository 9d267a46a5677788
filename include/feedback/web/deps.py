"""FastAPI dependencies shared by the web routers: the register and the clock.

Routers declare `Depends(deps.get_engine)` / `Depends(deps.clock)` instead of
building engines or reading the wall clock themselves, so tests swap them with
`app.dependency_overrides[deps.get_engine] = lambda: engine` (`deps.engine` is the
same function under its short name) and travel in time with `deps.clock`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine


def get_engine() -> Engine:
    """The configured register (the feedback_db connection, else the embedded server), resolved per request."""
    from feedback.db.engine import get_engine as register_engine

    return register_engine()


engine = get_engine


def clock() -> datetime:
    """The request's instant (UTC). The web edge is where the wall clock is read; everything below takes it."""
    return datetime.now(UTC)
