"""Serving a FastAPI app for a test: uvicorn on a free loopback port, in a thread (real HTTP)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


class StatusRecorder:
    """ASGI middleware: every status the app starts a response with, in order.

    A test that checks "no 5xx" must see statuses the client may never read (a response
    started, then the connection dropped), so it records them at the ASGI layer.
    """

    def __init__(self, app):
        self.app = app
        self.statuses: list[int] = []

    async def __call__(self, scope, receive, send):
        async def recording_send(message):
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
            await send(message)

        await self.app(scope, receive, recording_send)
