"""A small programmable HTTP server on 127.0.0.1 for REST-source tests.

Each route is a path answered by a function of the request (or a queue of canned
replies); every request is recorded, so tests assert what the client actually sent.
Real sockets and real HTTP, on a free port, one server per test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]           # last value of each parameter
    headers: dict[str, str]         # lower-case names
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0              # seconds to wait before answering (timeouts)


Handler = Callable[[Seen], Reply]


class RestServer:
    def __init__(self, date: str | None = None):
        self.routes: dict[str, Handler | list[Reply]] = {}
        self.seen: list[Seen] = []
        self.date = date            # fixed Date header (RFC 1123), for reset/Retry-After dates
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, answer: Handler | list[Reply] | Reply) -> None:
        self.routes[path] = [answer] if isinstance(answer, Reply) else answer

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def start(self) -> RestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, seen: Seen) -> Reply:
        self.seen.append(seen)
        answer = self.routes.get(seen.path)
        if answer is None:
            return Reply(404, {"error": "no such route"})
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer(seen)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one segment: avoids Nagle + delayed-ACK stalls of ~40 ms per request.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                return server.date or super().date_time_string(timestamp)

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    method=self.command, path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = server._answer(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.text is not None:
                    data, kind = reply.text.encode(), "text/html; charset=utf-8"
                else:
                    data, kind = json.dumps(reply.json).encode(), "application/json"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass                    # the client gave up (a timeout test)

            do_GET = _serve
            do_POST = _serve

        return _Handler


def records(start: int, stop: int, **extra: Any) -> list[dict[str, Any]]:
    """Records id start..stop-1 with an increasing updated_at (epoch seconds from 2026-10-01)."""
    base = 1_790_812_800  # 2026-10-01T00:00:00Z
    return [{"id": i, "body": f"text {i}", "created_at": base + i * 60, "updated_at": base + i * 60, **extra}
            for i in range(start, stop)]
