"""Web-form drop files: received_at is the form system's creation time unless that clock is impossible."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import sqlalchemy as sa

from feedback.channels.config import WebForm
from feedback.channels.webform.drop import ingest_drop

RUN = datetime(2026, 10, 6, 10, 0, tzinfo=UTC)
FORMS = {"contact_zh": WebForm(name="contact_zh")}


def submission(n: int, submitted_at: str) -> bytes:
    return json.dumps({"submission_id": f"wf-{n}", "form": "contact_zh", "submitted_at": submitted_at,
                       "fields": {"message": f"第{n}条：支付失败"}, "attachments": []}, ensure_ascii=False).encode()


def test_an_impossible_submitted_at_gives_way_to_the_files_arrival_and_is_kept_flagged(register, tmp_path):
    arrived = datetime(2026, 10, 6, 9, 30, tzinfo=UTC)
    for n, stamp in enumerate(["2026-10-06T17:00:00+08:00", "1993-02-06T10:00:00+08:00",
                               "2099-01-01T00:00:00+00:00"]):
        path = tmp_path / f"2026100609{n:04d}-wf-{n}.json"
        path.write_bytes(submission(n, stamp))
        os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    assert ingest_drop(register, "site", tmp_path, FORMS, RUN).inserted == 3
    with register.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(
            sa.text("SELECT external_id, received_at, payload FROM feedback.intake")).all()}
    assert rows["wf-0"].received_at == datetime(2026, 10, 6, 9, 0, tzinfo=UTC)   # plausible: the form's own time
    assert "submitted_at_flag" not in rows["wf-0"].payload
    for key, original in (("wf-1", "1993-02-06T10:00:00+08:00"), ("wf-2", "2099-01-01T00:00:00+00:00")):
        assert rows[key].received_at == arrived
        assert (rows[key].payload["submitted_at"], rows[key].payload["submitted_at_flag"]) == (original, "implausible")
