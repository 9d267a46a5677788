"""A local SMTP server that stores every message it receives as an .eml file.

Stands in for the company's mail relay in the demo and the tests, so every mail
the pipeline "sent" can be opened and checked in `.local/outbox/`.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from feedback.paths import local_dir, private_dir, write_private


def outbox_dir() -> Path:
    return local_dir() / "outbox"


class _StoreHandler:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd API
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()[:16]
        existing = len(list(self.folder.glob("*.eml")))
        path = self.folder / f"{existing + 1:06d}-{digest}.eml"
        write_private(path, data)  # 0600: captured mail holds customers' addresses
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SmtpSink:
    controller: Controller
    folder: Path

    @property
    def port(self) -> int:
        return self.controller.port

    def stop(self) -> None:
        self.controller.stop()


def start(folder: Path | None = None, port: int | None = None) -> SmtpSink:
    """Start the capture server in a background thread on 127.0.0.1.

    aiosmtpd logs every envelope recipient at INFO (`mail.log`); in the demo the server
    runs inside the process whose output is the task log, and customers' addresses
    must never reach a log, so its logger is held at WARNING.
    """
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    folder = private_dir(folder or outbox_dir())
    controller = Controller(_StoreHandler(folder), hostname="127.0.0.1", port=port or _free_port())
    controller.start()
    return SmtpSink(controller, folder)
