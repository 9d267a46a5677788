"""Web-form drop folders into intake: exactly once, batched, cursor with the rows, bad files parked."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback.channels.base import IntakeItem
from feedback.channels.config import WebForm
from feedback.channels.cursor import read_cursor
from feedback.channels.store import store_batch
from feedback.channels.webform.drop import ingest_drop
from feedback.privacy import keys

RUN = datetime(2026, 10, 6, 10, 0, tzinfo=UTC)
FORMS = {"contact_zh": WebForm(name="contact_zh"), "contact_en": WebForm(name="contact_en", locale="en")}
PHONE = "13812345678"


def submission(n: int, **fields) -> bytes:
    doc = {
        "submission_id": f"wf-{n:05d}",
        "form": "contact_zh",
        "submitted_at": f"2026-10-05T09:{n % 60:02d}:00+08:00",
        "locale": "zh-CN",
        "fields": {"name": "张三", "phone": PHONE, "message": f"第{n}条：支付失败，请联系我", **fields},
        "attachments": [],
    }
    return json.dumps(doc, ensure_ascii=False).encode()


def drop(folder, n: int, raw: bytes | None = None) -> None:
    (folder / f"20261005T09{n:04d}-wf-{n:05d}.json").write_bytes(raw if raw is not None else submission(n))


def test_files_are_stored_once_across_reruns(register, tmp_path):
    for n in range(7):
        drop(tmp_path, n)
    first = ingest_drop(register, "site", tmp_path, FORMS, RUN, batch_size=3)
    assert (first.files, first.batches, first.inserted, first.quarantined) == (7, 3, 7, 0)
    again = ingest_drop(register, "site", tmp_path, FORMS, RUN, batch_size=3)
    assert (again.files, again.inserted) == (0, 0)
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 7
    assert read_cursor(register, "webform", "drop:site") == {"last_file": sorted(p.name for p in tmp_path.iterdir())[-1]}
    assert scalar(register, "SELECT items_total FROM feedback.channel_cursor") == 7


def test_new_files_after_the_cursor_are_picked_up(register, tmp_path):
    for n in range(3):
        drop(tmp_path, n)
    ingest_drop(register, "site", tmp_path, FORMS, RUN)
    for n in range(3, 5):
        drop(tmp_path, n)
    later = ingest_drop(register, "site", tmp_path, FORMS, RUN)
    assert (later.files, later.inserted) == (2, 2)


def test_redelivered_submission_with_a_new_file_name_is_not_duplicated(register, tmp_path):
    drop(tmp_path, 1)
    ingest_drop(register, "site", tmp_path, FORMS, RUN)
    (tmp_path / "20261006T000000-resent.json").write_bytes(submission(1))
    result = ingest_drop(register, "site", tmp_path, FORMS, RUN)
    assert (result.inserted, result.duplicates) == (0, 1)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"submission_id": "wf-1", "form": "contact_zh", ', "invalid_json"),
        (b"\xff\xfe not utf-8", "bad_encoding"),
        (submission(1, message=""), "missing_field"),
        (submission(1).replace(b"contact_zh", b"no_such_form"), "unknown_form"),
        (submission(1).replace(b"2026-10-05T09:01:00+08:00", b"yesterday"), "bad_timestamp"),
        (submission(1).replace(b"+08:00", b""), "bad_timestamp"),
        (submission(1, message="长" * 70_000), "oversize"),
    ],
)
def test_bad_files_are_quarantined_with_reason_and_the_batch_goes_on(register, tmp_path, raw, reason):
    drop(tmp_path, 0)
    drop(tmp_path, 1, raw)
    drop(tmp_path, 2)
    result = ingest_drop(register, "site", tmp_path, FORMS, RUN)
    assert (result.inserted, result.quarantined) == (2, 1)
    with register.connect() as conn:
        row = conn.execute(sa.text("SELECT reason, detail, external_ref, raw_encrypted FROM feedback.quarantine")).one()
    assert row.reason == reason
    assert row.external_ref.endswith("wf-00001.json")
    assert PHONE not in row.detail
    # Raw bytes are kept, encrypted: recoverable with the key, not readable without it.
    assert keys.decrypt(row.raw_encrypted) == raw
    assert raw[:20] not in bytes(row.raw_encrypted)


def test_quarantine_is_not_duplicated_on_rerun(register, tmp_path):
    drop(tmp_path, 1, b"not json")
    ingest_drop(register, "site", tmp_path, FORMS, RUN)
    with register.begin() as conn:
        conn.execute(sa.text("DELETE FROM feedback.channel_cursor"))  # force a re-read of the same file
    ingest_drop(register, "site", tmp_path, FORMS, RUN)
    assert scalar(register, "SELECT count(*) FROM feedback.quarantine") == 1


def test_cursor_and_rows_commit_together(register):
    """A failure inside the batch's transaction leaves neither rows nor a moved cursor."""
    good = IntakeItem("webform", "contact_zh", "wf-1", RUN, {"body": "ok"})
    store_batch(register, "webform", "drop:site", [good], [], {"last_file": "a.json"}, RUN)

    class Poison(IntakeItem):
        @property
        def content_sha256(self) -> str:  # violates the CHECK constraint at INSERT time
            return "not-a-hash"

    bad = Poison("webform", "contact_zh", "wf-2", RUN, {"body": "boom"})
    with pytest.raises(sa.exc.IntegrityError):
        store_batch(register, "webform", "drop:site", [bad], [], {"last_file": "b.json"}, RUN)
    assert read_cursor(register, "webform", "drop:site") == {"last_file": "a.json"}
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 1


def test_normalised_payload_keeps_contact_for_triage(register, tmp_path):
    drop(tmp_path, 3, submission(3, email="zhangsan@qq.com", order_no="DD20261005000001"))
    ingest_drop(register, "site", tmp_path, FORMS, RUN)
    payload = scalar(register, "SELECT payload FROM feedback.intake")
    assert payload["contact"] == {"name": "张三", "phone": PHONE, "email": "zhangsan@qq.com"}
    assert payload["order_no"] == "DD20261005000001"
    assert payload["form"] == "contact_zh"
    assert scalar(register, "SELECT received_at FROM feedback.intake") == datetime(2026, 10, 5, 1, 3, tzinfo=UTC)
