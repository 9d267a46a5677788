"""Files customers attach to a web form: screenshots, scans, PDFs, text logs.

A declared content type is whatever the browser or a bot says, so the bytes are
checked too: a file is kept only if its content is one of the allowed kinds.
Files go where the mail channel keeps attachments (by sha256, mode 0600), written
only after the whole submission was found valid.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback.channels.config import WebForm
from feedback.channels.mail.items import store_attachment
from feedback.channels.mail.parse import Attachment

ALLOWED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain")
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class Upload:
    """One file part as it arrived."""

    filename: str
    content_type: str
    data: bytes


class AttachmentRejected(Exception):
    """`status` is 413 (too many / too big) or 422 (a kind we do not take); `reason` is safe to answer."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sniff(data: bytes) -> str | None:
    """The allowed kind the bytes actually are, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text/plain"
    return None


def safe_name(filename: str) -> str:
    """The file's own name without any path, control characters or excess length."""
    name = _UNSAFE_NAME.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return name[:200] or "attachment"


def check_attachments(form: WebForm, uploads: list[Upload]) -> list[Attachment]:
    """The uploads as attachments to keep; raises AttachmentRejected on the first limit broken."""
    if len(uploads) > form.max_attachments:
        raise AttachmentRejected(413, f"too many attachments (at most {form.max_attachments})")
    kept = []
    for upload in uploads:
        if len(upload.data) > form.max_attachment_bytes:
            raise AttachmentRejected(413, f"an attachment is larger than {form.max_attachment_bytes} bytes")
        declared = upload.content_type.split(";", 1)[0].strip().lower()
        declared = ALIASES.get(declared, declared)
        actual = sniff(upload.data)
        vague = declared in ("", "application/octet-stream")
        if actual is None or not (vague or declared == actual):
            raise AttachmentRejected(422, "type not allowed (images, PDF or plain text)")
        kept.append(Attachment(safe_name(upload.filename), actual, len(upload.data),
                               hashlib.sha256(upload.data).hexdigest(), upload.data))
    return kept


def store_attachments(folder: Path, attachments: list[Attachment]) -> list[dict[str, Any]]:
    """Write each file once by content hash (shared with the mail channel); what the landing row records."""
    out = []
    for attachment in attachments:
        store_attachment(folder, attachment)
        out.append({"name": attachment.filename, "content_type": attachment.content_type, "size": attachment.size,
                    "sha256": attachment.sha256})
    return out
