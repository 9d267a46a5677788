"""Storing a plain submission without leaving the event loop: asyncpg, one prepared statement, one round trip.

An unsigned submission without files (the usual kind) is one autocommitted statement: the client's
rate-limit hit and the landing row together. Sent through SQLAlchemy from a worker thread, each one
also cost a thread hop (the GIL going back and forth with the event loop that serves HTTP), a pool
checkout with its pre-ping round trip and SQLAlchemy's per-statement work; under load the server spent
about 1.5-1.8 ms of CPU per submission, against 0.6 ms this way (docs/benchmarks.md, endpoint). Here
the event loop sends the statement over asyncpg's binary protocol, prepared once per connection, and the
answer comes back when PostgreSQL has committed it, as before: a 202 still stands for a committed row.
Signed requests and uploads keep the SQLAlchemy path (`landing.land`), which also remembers signatures
and writes files.

The pool is built lazily from the runtime's engine URL (the same register, user and TLS settings),
one per event loop, since asyncpg connections belong to the loop that opened them. A connection the
server closed (a restart, an administrator) is noticed by the loop and replaced at the next checkout.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Callable
from datetime import datetime

import asyncpg  # type: ignore[import-untyped]  # no py.typed, no stubs in the resolved set
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from feedback.errors import RegisterUnreachable
from feedback.web.landing import Landing, new_receipt_id, window_of

# One event loop drives at most a few thousand of these statements a second and each holds its connection
# for well under a millisecond, so four connections carry a worker with room to spare; more would only
# add backends waiting on the same client's counter row (every request of a client updates it).
POOL_SIZE = 4
CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "feedback-pipeline"
TLS_KEYS = ("sslmode", "sslrootcert", "sslcert", "sslkey")

# What makes a request a 503 (retry later) rather than a 500: the register cannot be reached, is
# shutting down or out of connections. Anything else PostgreSQL refuses is a 500.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    RegisterUnreachable, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError, asyncpg.OperatorInterventionError, asyncpg.PostgresSystemError,
)
REFUSED: tuple[type[BaseException], ...] = (asyncpg.PostgresError,)

# The minute's hit and the row in one statement: the row is written only while the client is within its
# limit, and the whole request is one round trip and one commit. Parameters are numbered, with their types
# spelled out (PostgreSQL infers none from an INSERT … SELECT list): $1 client, $2 form, $3 window,
# $4 limit, $5 receipt, $6 idempotency key, $7 received at, $8 locale, $9 fields (JSON text).
COUNT_AND_INSERT = """
WITH hit AS (
    INSERT INTO feedback.webform_rate (client_hash, form, window_start, hits)
    VALUES ($1::text, $2::text, $3::timestamptz, 1)
    ON CONFLICT (client_hash, form, window_start) DO UPDATE SET hits = feedback.webform_rate.hits + 1
    RETURNING hits
), landed AS (
    INSERT INTO feedback.webform_submission
        (form, receipt_id, idempotency_key, received_at, locale, fields, attachments, client_hash)
    SELECT $2::text, $5::text, $6::text, $7::timestamptz, $8::text, $9::jsonb, '[]'::jsonb, $1::text
    FROM hit WHERE hit.hits <= $4::bigint
    ON CONFLICT (form, idempotency_key) DO NOTHING
    RETURNING receipt_id
)
SELECT (SELECT hits FROM hit) AS hits, (SELECT receipt_id FROM landed) AS receipt_id
"""

COUNT_HIT = """
INSERT INTO feedback.webform_rate (client_hash, form, window_start, hits)
VALUES ($1::text, $2::text, $3::timestamptz, 1)
ON CONFLICT (client_hash, form, window_start) DO UPDATE SET hits = feedback.webform_rate.hits + 1
RETURNING hits
"""

EARLIER = "SELECT receipt_id FROM feedback.webform_submission WHERE form = $1::text AND idempotency_key = $2::text"


def dsn(engine: Engine) -> str:
    """The engine's register as a libpq URL asyncpg reads: host, port, user, password, database, TLS."""
    url = engine.url
    return url.set(drivername="postgresql", query={k: v for k, v in url.query.items() if k in TLS_KEYS}
                   ).render_as_string(hide_password=False)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset at release: nothing to undo. These statements change no session state and run outside any
    transaction (asyncpg still rolls back one left open), so the default reset's extra round trip (RESET ALL,
    UNLISTEN *, …) at every release would only cost time."""


async def _closed_with_the_loop(pool: asyncpg.Pool) -> AsyncGenerator[None, None]:
    """Started once and left waiting: a loop shutting down (asyncio.run, uvicorn's exit) closes the async
    generators it started (`shutdown_asyncgens`), and this one closes the pool's connections then, instead
    of leaving their sockets for the garbage collector after the loop is gone."""
    try:
        yield
    finally:
        pool.terminate()


class AsyncLanding:
    """The runtime's connection pools for the event loop's statements, one per event loop."""

    def __init__(self, engine: Callable[[], Engine]):
        self._engine = engine
        self._pools: dict[asyncio.AbstractEventLoop, asyncpg.Pool] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._guard = threading.Lock()

    async def pool(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is not None:
            return pool
        async with self._opening.setdefault(loop, asyncio.Lock()):
            pool = self._pools.get(loop)
            if pool is None:
                engine = await run_in_threadpool(self._engine)   # the configured register; may check it first
                try:
                    pool = await asyncpg.create_pool(
                        dsn(engine), min_size=1, max_size=POOL_SIZE, reset=_keep_session,
                        timeout=CONNECT_TIMEOUT_SECONDS, server_settings={"application_name": APPLICATION_NAME})
                except Exception as exc:  # refused, unreachable, bad password, too many clients: a 503
                    raise RegisterUnreachable(f"cannot open a connection to the register ({type(exc).__name__})"
                                              ) from None
                closer = _closed_with_the_loop(pool)
                await closer.__anext__()
                with self._guard:  # another loop (another thread) may be opening its own pool at the same time
                    for gone in [other for other in list(self._pools) if other.is_closed()]:
                        del self._pools[gone], self._opening[gone], self._closers[gone]
                    self._pools[loop], self._closers[loop] = pool, closer
        return pool

    async def count_and_land(self, landing: Landing, limit: int) -> tuple[str, bool] | None:
        """Count the request against the client's minute and land it if within `limit`: one statement, committed
        when it returns. None when the client is over its limit (the hit is counted, nothing stored); else
        (receipt id, True when an earlier submission with the same idempotency key answered instead)."""
        receipt = new_receipt_id(landing.received_at)
        async with (await self.pool()).acquire() as conn:
            hits, stored = await conn.fetchrow(
                COUNT_AND_INSERT, landing.client_hash, landing.form, window_of(landing.received_at), limit, receipt,
                landing.idempotency_key, landing.received_at, landing.locale,
                json.dumps(landing.fields, ensure_ascii=False))
            if hits > limit:
                return None
            if stored is not None:
                return stored, False
            earlier: str = await conn.fetchval(EARLIER, landing.form, landing.idempotency_key)
            return earlier, True

    async def count_hit(self, client: str, form: str, now: datetime) -> int:
        """Record one request of `client` to `form` in the current minute (committed); the minute's hits so far."""
        async with (await self.pool()).acquire() as conn:
            hits: int = await conn.fetchval(COUNT_HIT, client, form, window_of(now))
            return hits
