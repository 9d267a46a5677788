"""Small deterministic attachment files: evidence screenshots, photos and PDFs.

The PNG is a real, decodable image; the JPEG and PDF only look like one (correct
magic bytes and trailer), which is all an intake adapter inspects.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass

ATTACHMENT_KINDS = ("png", "jpeg", "pdf")
_NAMES = {
    "png": ("screenshot.png", "截图.png", "error.png", "IMG_2031.png"),
    "jpeg": ("photo.jpg", "现场照片.jpg", "IMG_4410.jpg"),
    "pdf": ("invoice.pdf", "发票.pdf", "receipt.pdf", "订单截图.pdf"),
}
_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "pdf": "application/pdf"}


@dataclass(frozen=True)
class Blob:
    filename: str
    content_type: str
    data: bytes


def _png(rng: random.Random, width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6))
            + chunk(b"IEND", b""))


def _jpeg(rng: random.Random, size: int) -> bytes:
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + rng.randbytes(size) + b"\xff\xd9"


def _pdf(rng: random.Random, size: int) -> bytes:
    stream = rng.randbytes(size)
    return (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
            + b"3 0 obj\n<< /Length %d >>\nstream\n" % len(stream) + stream
            + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def make_blob(rng: random.Random, kind: str | None = None) -> Blob:
    """One attachment of a few KB; same rng state, same bytes."""
    kind = kind or rng.choice(ATTACHMENT_KINDS)
    if kind == "png":
        data = _png(rng, rng.randint(24, 48), rng.randint(16, 32))
    elif kind == "jpeg":
        data = _jpeg(rng, rng.randint(1500, 5000))
    else:
        data = _pdf(rng, rng.randint(1000, 4000))
    return Blob(rng.choice(_NAMES[kind]), _TYPES[kind], data)
