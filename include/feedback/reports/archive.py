"""The report archive: immutable, versioned files, recorded with their sha256.

Management must be able to say "this is the October report we received", so an
archived file is never overwritten. Re-rendering a period whose figures did not
change (the content hash, computed over the figures, not the generation stamp)
creates nothing; changed figures (late data, a corrected category) become a new
version beside the old one. The archive is a local folder by default and any
fsspec location when configured (`s3://…`, `gs://…`, the same filesystems that
Airflow's ObjectStoragePath uses).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa


@dataclass(frozen=True)
class ArchivedFile:
    file_name: str
    location: str           # full URL or path of the archived file
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ArchiveResult:
    version: int
    new: bool               # False: the same figures were archived before (nothing written)
    files: tuple[ArchivedFile, ...]


def period_label(kind: str, start: date) -> str:
    return f"{start:%Y-%m}" if kind == "monthly" else f"{start.isocalendar().year}-W{start.isocalendar().week:02d}"


def _latest(conn: sa.Connection, kind: str, start: date) -> tuple[int, str | None]:
    row = conn.execute(sa.text("""SELECT version, content_hash FROM feedback.report_archive
                                  WHERE report_kind = :k AND period_start = :s
                                  ORDER BY version DESC LIMIT 1"""), {"k": kind, "s": start}).first()
    return (row.version, row.content_hash) if row else (0, None)


def _files(conn: sa.Connection, kind: str, start: date, version: int) -> tuple[ArchivedFile, ...]:
    rows = conn.execute(sa.text("""SELECT file_name, location, sha256, size_bytes FROM feedback.report_archive
                                   WHERE report_kind = :k AND period_start = :s AND version = :v
                                   ORDER BY file_name"""), {"k": kind, "s": start, "v": version}).all()
    return tuple(ArchivedFile(r.file_name, r.location, r.sha256, r.size_bytes) for r in rows)


def archive(conn: sa.Connection, base_url: str, *, kind: str, start: date, end: date, files: dict[str, bytes],
            content_hash: str, created_at: datetime) -> ArchiveResult:
    """Store `files` as the next version unless the latest version has the same figures.

    Runs in the caller's transaction, which holds an advisory lock on the period, so two
    runs for one period cannot both write version N. Files are written first (under a
    version folder no row points at yet); a crash before commit leaves an orphan folder
    that the next run's version number does not collide with, because it writes only new
    names and refuses to overwrite.
    """
    import fsspec

    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"report:{kind}:{start}"})
    version, latest_hash = _latest(conn, kind, start)
    if latest_hash == content_hash:
        return ArchiveResult(version, False, _files(conn, kind, start, version))
    version += 1
    fs, root = fsspec.core.url_to_fs(base_url)
    folder = f"{root.rstrip('/')}/{kind}/{period_label(kind, start)}/v{version}"
    while fs.exists(folder):   # left by a run that crashed before its commit: never reuse it
        version += 1
        folder = f"{root.rstrip('/')}/{kind}/{period_label(kind, start)}/v{version}"
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    if local:  # report files hold business figures: owner-only folders and files (0700/0600)
        from feedback.paths import private_dir

        private_dir(Path(folder))
    fs.makedirs(folder, exist_ok=True)
    archived = []
    for name, data in sorted(files.items()):
        path = f"{folder}/{name}"
        with fs.open(path, "wb") as handle:
            handle.write(data)
        if local:
            os.chmod(path, 0o600)
        location = fs.unstrip_protocol(path) if "://" in base_url else path
        archived.append(ArchivedFile(name, location, hashlib.sha256(data).hexdigest(), len(data)))
    conn.execute(
        sa.text("""INSERT INTO feedback.report_archive (report_kind, period_start, period_end, version, file_name,
                                                        location, sha256, size_bytes, content_hash, created_at)
                   VALUES (:k, :s, :e, :v, :f, :l, :h, :n, :c, :t)"""),
        [{"k": kind, "s": start, "e": end, "v": version, "f": a.file_name, "l": a.location, "h": a.sha256,
          "n": a.size_bytes, "c": content_hash, "t": created_at} for a in archived],
    )
    return ArchiveResult(version, True, tuple(archived))


def read_archived(location: str) -> bytes:
    import fsspec

    with fsspec.open(location, "rb") as handle:
        data: bytes = handle.read()     # fsspec ships no types
    return data
