"""The report archive: immutable versions with their sha256, in a folder or any fsspec filesystem."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import fsspec
import sqlalchemy as sa

from feedback.reports.archive import archive, period_label, read_archived

AT = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
OCT = {"kind": "monthly", "start": date(2026, 10, 1), "end": date(2026, 10, 31)}


def rows(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version, file_name, location, sha256, size_bytes, content_hash "
                                    "FROM feedback.report_archive ORDER BY version, file_name")).all()


def test_same_figures_archive_nothing_new_figures_a_new_version(register, tmp_path):
    files = {"feedback-report-2026-10.xlsx": b"xlsx v1", "feedback-report-2026-10.pdf": b"pdf v1"}
    with register.begin() as conn:
        first = archive(conn, str(tmp_path), files=files, content_hash="a" * 64, created_at=AT, **OCT)
    assert (first.version, first.new) == (1, True)
    with register.begin() as conn:   # a rerun: same figures, a different generation stamp inside the files
        again = archive(conn, str(tmp_path), files={k: v + b" stamp2" for k, v in files.items()},
                        content_hash="a" * 64, created_at=AT, **OCT)
    assert (again.version, again.new) == (1, False)
    with register.begin() as conn:
        changed = archive(conn, str(tmp_path), files={k: v.replace(b"v1", b"v2") for k, v in files.items()},
                          content_hash="b" * 64, created_at=AT, **OCT)
    assert (changed.version, changed.new) == (2, True)
    stored = rows(register)
    assert [(r.version, r.file_name) for r in stored] == [
        (1, "feedback-report-2026-10.pdf"), (1, "feedback-report-2026-10.xlsx"),
        (2, "feedback-report-2026-10.pdf"), (2, "feedback-report-2026-10.xlsx")]
    for r in stored:   # the files are where the rows say, unchanged, with the recorded hash
        data = read_archived(r.location)
        assert hashlib.sha256(data).hexdigest() == r.sha256 and len(data) == r.size_bytes
    assert read_archived(stored[1].location) == b"xlsx v1"   # version 1 was never overwritten
    assert (tmp_path / "monthly" / "2026-10" / "v1" / "feedback-report-2026-10.xlsx").exists()


def test_a_folder_left_by_a_crashed_run_is_never_reused(register, tmp_path):
    (tmp_path / "monthly" / "2026-10" / "v1").mkdir(parents=True)
    (tmp_path / "monthly" / "2026-10" / "v1" / "half-written.xlsx").write_bytes(b"?")
    with register.begin() as conn:
        result = archive(conn, str(tmp_path), files={"f.pdf": b"pdf"}, content_hash="c" * 64, created_at=AT, **OCT)
    assert result.version == 2
    assert (tmp_path / "monthly" / "2026-10" / "v1" / "half-written.xlsx").read_bytes() == b"?"


def test_any_fsspec_filesystem_serves_as_the_archive(register):
    with register.begin() as conn:
        result = archive(conn, "memory://reports-archive", files={"f.pdf": b"in memory"}, content_hash="d" * 64,
                         created_at=AT, **OCT)
    location = result.files[0].location
    assert location.startswith("memory://") and location.endswith("reports-archive/monthly/2026-10/v1/f.pdf")
    with fsspec.open(location, "rb") as handle:
        assert handle.read() == b"in memory"


def test_weekly_periods_are_labelled_by_iso_week():
    assert period_label("weekly", date(2026, 10, 19)) == "2026-W43"
    assert period_label("monthly", date(2026, 10, 1)) == "2026-10"
