"""Landed web-form submissions into intake: exactly once, concurrent runs share, same payload as drop files."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import yaml
from conftest import ROOT, scalar

from feedback.channels import quarantine
from feedback.channels.config import WebForm
from feedback.channels.webform.drop import parse_submission
from feedback.channels.webform.landing import move_landed
from feedback.privacy import keys
from feedback.web.landing import Landing, count_hit, land

RUN = datetime(2026, 10, 20, 3, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 10, 20, 2, 0, 30, tzinfo=UTC)
FORMS = {"contact_zh": WebForm(name="contact_zh"), "contact_en": WebForm(name="contact_en", locale="en")}
FIELDS = {"name": "张三", "phone": "13812345678", "email": "zhang.san@example.cn", "subject": "扣款两次",
          "message": "支付失败，扣款两次", "category": "function_problem", "order_no": "SO-2026-0001",
          "expected_resolution": "2026-10-25"}
ATTACHMENT = {"name": "shot.png", "content_type": "image/png", "size": 120, "sha256": "ab" * 32}


def landing(n: int = 0, form: str = "contact_zh", **fields) -> Landing:
    return Landing(form, None, RECEIVED + timedelta(seconds=n), "zh-CN", {**FIELDS, **fields}, [ATTACHMENT], "c" * 64)


def land_many(engine, count: int, form: str = "contact_zh") -> list[str]:
    with engine.begin() as conn:
        return [land(conn, landing(n, form, message=f"第{n}条"))[0] for n in range(count)]


def intake_payloads(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT external_id, payload FROM feedback.intake WHERE channel = 'webform'"))
        return {r.external_id: r.payload for r in rows}


def test_each_landed_row_is_moved_once(register):
    receipts = land_many(register, 7)
    first = move_landed(register, RUN, batch_size=3, forms=FORMS)
    assert (first["batches"], first["moved"], first["inserted"], first["quarantined"]) == (3, 7, 7, 0)
    again = move_landed(register, RUN, batch_size=3, forms=FORMS)
    assert (again["moved"], again["inserted"]) == (0, 0)
    assert sorted(intake_payloads(register)) == sorted(receipts)
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission WHERE moved_at = :t", t=RUN) == 7
    assert scalar(register, "SELECT count(DISTINCT source) FROM feedback.intake") == 1
    assert scalar(register, "SELECT min(received_at) FROM feedback.intake") == RECEIVED


def test_concurrent_runs_share_the_rows_without_doubling(register):
    land_many(register, 120)
    barrier = threading.Barrier(2)
    results: list[dict] = []

    def run() -> None:
        barrier.wait()
        results.append(move_landed(register, RUN, batch_size=5, forms=FORMS))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 2
    assert sum(r["moved"] for r in results) == 120
    assert sum(r["inserted"] for r in results) == 120
    assert sum(r["duplicates"] for r in results) == 0
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 120
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission WHERE moved_at IS NULL") == 0


def test_a_row_committed_late_with_a_lower_id_is_still_moved(register):
    """Workers commit out of id order: the pending flag, not a last-id cursor, decides what is left."""
    slow = register.connect()
    slow_tx = slow.begin()
    slow_receipt, _ = land(slow, landing(1))  # takes the lower id, not yet committed
    with register.begin() as conn:
        fast_receipt, _ = land(conn, landing(2))
    assert move_landed(register, RUN, forms=FORMS)["moved"] == 1
    slow_tx.commit()
    slow.close()
    assert move_landed(register, RUN, forms=FORMS)["moved"] == 1
    assert set(intake_payloads(register)) == {slow_receipt, fast_receipt}


def test_the_payload_is_the_drop_folder_parsers_for_the_same_fields(register):
    [receipt] = land_many(register, 1)
    move_landed(register, RUN, forms=FORMS)
    stored = intake_payloads(register)[receipt]
    drop_file = json.dumps({
        "submission_id": receipt, "form": "contact_zh", "submitted_at": RECEIVED.isoformat(), "locale": "zh-CN",
        "fields": {**FIELDS, "message": "第0条"},
        "attachments": [{"filename": "shot.png", "content_type": "image/png", "size": 120, "sha256": "ab" * 32}],
    }, ensure_ascii=False).encode()
    assert stored == parse_submission(drop_file, FORMS).payload
    assert stored["contact"] == {"name": "张三", "phone": "13812345678", "email": "zhang.san@example.cn"}
    assert stored["attachments"] == [{"filename": "shot.png", "content_type": "image/png", "size": 120,
                                      "sha256": "ab" * 32}]


def test_a_row_whose_form_was_removed_is_quarantined_and_retryable(register, tmp_path, monkeypatch):
    with register.begin() as conn:
        kept, _ = land(conn, landing(0, "contact_zh"))
        gone, _ = land(conn, landing(1, "retired_form"))
    result = move_landed(register, RUN, forms=FORMS)
    assert (result["moved"], result["inserted"], result["quarantined"]) == (2, 1, 1)
    assert set(intake_payloads(register)) == {kept}
    with register.connect() as conn:
        parked = conn.execute(sa.text("SELECT * FROM feedback.quarantine")).mappings().one()
    assert (parked["channel"], parked["source"], parked["external_ref"], parked["reason"]) == (
        "webform", "retired_form", gone, "unknown_form")
    raw = keys.decrypt(parked["raw_encrypted"])
    assert json.loads(raw)["submission_id"] == gone
    assert b"13812345678" not in bytes(parked["raw_encrypted"])
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission WHERE moved_at IS NULL") == 0
    # The parked bytes are a drop-folder document: once the form is back, quarantine retry takes it.
    assert quarantine.retry(register, RUN).still_parked == 1
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "include" / "config", config_dir)
    doc = yaml.safe_load((config_dir / "channels.yaml").read_text(encoding="utf-8"))
    doc["webforms"]["forms"].append({"name": "retired_form"})
    (config_dir / "channels.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("FEEDBACK_CONFIG_DIR", str(config_dir))
    assert quarantine.retry(register, RUN).resolved == 1
    assert set(intake_payloads(register)) == {kept, gone}


def test_old_rate_windows_are_pruned(register):
    with register.begin() as conn:
        count_hit(conn, "a" * 64, "contact_zh", RUN - timedelta(hours=3))
        count_hit(conn, "a" * 64, "contact_zh", RUN - timedelta(minutes=5))
    assert move_landed(register, RUN, forms=FORMS)["rate_windows_pruned"] == 1
    assert scalar(register, "SELECT count(*) FROM feedback.webform_rate") == 1
