"""The sample-data generator: determinism, mix, wire formats, planted data, disk layout."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from feedback_dev.sample import SampleItem, SampleSet, generate, write_sample

SHANGHAI = timezone(timedelta(hours=8))
MONTH = "2026-10"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.fixture(scope="module")
def big() -> SampleSet:
    return generate(seed=7, volume=2000, month=MONTH)


@pytest.fixture(scope="module")
def small() -> SampleSet:
    return generate(seed=42, volume=300, month=MONTH)


def parse(item: SampleItem) -> email.message.EmailMessage:
    return email.message_from_bytes(item.raw, policy=email.policy.default)


def mail_text(item: SampleItem) -> str:
    """Everything a reader sees in a mail: decoded headers of every part and decoded text bodies."""
    msg = parse(item)
    chunks = []
    for part in msg.walk():
        chunks += [f"{k}: {v}" for k, v in part.items()]
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        data = part.get_payload(decode=True) or b""
        charset = "gbk" if item.malformed == "bad_charset" else (part.get_content_charset() or "us-ascii")
        chunks.append(data.decode(charset))  # strict: a wrong label fails here
    return "\n".join(chunks)


def item_text(item: SampleItem) -> str:
    return mail_text(item) if item.channel == "email" else item.raw.decode("utf-8")


def strip_reply(subject: str) -> str:
    return re.sub(r"^((Re: |回复：|催办：|Follow-up: ))+", "", subject)


def valid_id_number(s: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", s):
        return False
    total = sum(int(d) * w for d, w in zip(s[:17], ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == s[-1]


# --- determinism and volume -------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(small: SampleSet) -> None:
    again = generate(seed=42, volume=300, month=MONTH)
    def wire(sample: SampleSet) -> list[tuple[str, bytes]]:
        return [(i.file_name, i.raw) for i in sample.all_items()]

    assert wire(again) == wire(small)
    assert again.platform_pages == small.platform_pages
    assert again == small


def test_different_seed_gives_different_bytes(small: SampleSet) -> None:
    other = generate(seed=43, volume=300, month=MONTH)
    assert [i.raw for i in other.emails] != [i.raw for i in small.emails]
    assert {i.external_id for i in other.all_items()} != {i.external_id for i in small.all_items()}


def test_output_does_not_depend_on_hash_randomisation() -> None:
    code = ("import hashlib; from feedback_dev.sample import generate; s = generate(5, 120, '2026-02'); "
            "print(hashlib.sha256(b''.join(i.raw for i in s.all_items())).hexdigest())")
    digests = set()
    include = str(Path(__file__).parents[2] / "include")
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=include)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


@pytest.mark.parametrize("volume", [0, 1, 2, 3, 7, 31, 300])
def test_volume_is_honoured_exactly(volume: int) -> None:
    s = generate(seed=1, volume=volume, month=MONTH)
    assert len(s.all_items()) == volume
    assert len(s.emails) + len(s.webforms) + len(s.platform_items) == volume
    assert {i.channel for i in s.emails} <= {"email"} and {i.channel for i in s.webforms} <= {"webform"}
    pages = [p for platform_pages in s.platform_pages.values() for p in platform_pages]
    in_pages = sum(len(p.get("tickets", p.get("reviews", []))) for p in pages)
    assert in_pages == len(s.platform_items)
    assert all(pages for pages in s.platform_pages.values())  # an empty platform still answers one page


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        generate(seed=1, volume=10, month="2026-13")
    with pytest.raises(ValueError):
        generate(seed=1, volume=-1, month=MONTH)
    with pytest.raises(TypeError):
        generate(seed="1", volume=1, month=MONTH)  # type: ignore[arg-type]


# --- mix --------------------------------------------------------------------------------------


def test_mix_is_roughly_right(big: SampleSet) -> None:
    items = big.all_items()
    n = len(items)
    assert (len(big.emails), len(big.webforms), len(big.platform_items)) == (1000, 600, 400)
    types = Counter(i.expected_type for i in items if not i.not_feedback)
    feedback = sum(types.values())
    assert 0.25 < types["function_problem"] / feedback < 0.42
    assert 0.20 < types["service_complaint"] / feedback < 0.36
    assert 0.08 < types["feature_request"] / feedback < 0.22
    assert 0.07 < types["other"] / feedback < 0.20
    assert 0.06 < types["praise"] / feedback < 0.18
    priorities = Counter(i.expected_priority for i in items)
    assert set(priorities) == {"urgent", "high", "medium", "low"}
    assert 0.04 < priorities["urgent"] / n < 0.16
    assert 0.06 < sum(i.is_vip for i in items) / n < 0.14
    assert 0.10 < sum(i.expected_emotion == "angry" for i in items) / n < 0.22
    assert 0.06 < sum(i.reply_to_external_id is not None for i in items) / n < 0.14
    assert 0.015 < sum(i.malformed is not None for i in items) / n < 0.05
    assert 0.75 < sum(i.language == "zh" for i in items) / n < 0.95
    assert {i.source for i in big.emails} == {"support", "complaints"}
    assert {i.source for i in big.webforms} == {"contact_zh", "contact_en"}
    assert {i.source for i in big.platform_items} == {"zendesk", "trustpilot"}
    assert {i.topic for i in items} >= {"payment_failed", "data_lost", "enterprise_batch", "frequent_crash",
                                        "rude_agent", "delivery_delay", "refund_slow", "overcharge",
                                        "billing_question", "campaign_rules", "praise_agent"}


def test_timestamps_are_utc_and_inside_the_month(big: SampleSet) -> None:
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    hours = Counter()
    for item in big.all_items():
        assert item.received_at.utcoffset() == timedelta(0)
        assert start <= item.received_at < end
        local = item.received_at.astimezone(SHANGHAI)
        assert (local.year, local.month) == (2026, 10)
        hours[local.hour] += 1
    office = sum(hours[h] for h in range(9, 18))
    assert office / len(big.all_items()) > 0.55  # office hours dominate
    assert sum(hours[h] for h in range(0, 7)) > 0  # but some nights exist


# --- e-mail -----------------------------------------------------------------------------------


def test_every_wellformed_mail_parses_and_decodes(big: SampleSet) -> None:
    for item in big.emails:
        if item.malformed:
            continue
        msg = parse(item)
        assert not msg.defects, item.file_name
        assert msg["From"] and msg["Date"] and msg["To"]
        assert msg["Date"].datetime == item.received_at
        text = mail_text(item)  # raises if a declared charset is wrong
        assert text.strip()
        expected_id = msg["Message-ID"] or f"sha256:{hashlib.sha256(item.raw).hexdigest()}"
        assert item.external_id == expected_id
        assert re.fullmatch(r"\d{8}T\d{6}-\d{6}\.eml", item.file_name)


def test_mail_variants_are_all_present(small: SampleSet) -> None:
    for sample in (small, generate(seed=3, volume=120, month=MONTH)):
        charsets, kinds, filenames, english = set(), set(), [], False
        for item in sample.emails:
            msg = parse(item)
            kinds.add(msg.get_content_type())
            for part in msg.walk():
                if part.get_content_maintype() == "text" and part.get_content_charset():
                    charsets.add(part.get_content_charset().lower())
                if part.get_filename():
                    filenames.append(part.get_filename())
            english |= item.language == "en" and not item.not_feedback
        assert {"gb2312", "gbk", "utf-8"} <= charsets
        assert {"text/plain", "text/html", "multipart/alternative", "multipart/mixed",
                "multipart/report"} <= kinds
        assert filenames and english
        assert any(i.not_feedback and parse(i)["Auto-Submitted"] == "auto-replied" for i in sample.emails)
        assert any(i.external_id.startswith("sha256:") for i in sample.emails)
        assert {i.malformed for i in sample.emails} >= {"bad_charset", "truncated_mime", "empty_body"}


def test_gb_mails_use_standard_labels_and_encoded_words(big: SampleSet) -> None:
    gb = [i for i in big.emails if i.variant in ("plain_gb2312", "plain_gbk")]
    assert gb
    for item in gb:
        head = item.raw.split(b"\n\n", 1)[0].lower()
        assert b"eucgb2312_cn" not in head
        assert b"=?gb2312?b?" in head or b"=?gbk?b?" in head


def test_attachments_are_real_files(big: SampleSet) -> None:
    seen = Counter()
    for item in big.emails:
        if item.malformed:
            continue
        for part in parse(item).walk():
            if part.get_content_disposition() == "attachment":
                data = part.get_payload(decode=True)
                assert 1000 < len(data) < 12000
                magic = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8", "application/pdf": b"%PDF"}
                assert data.startswith(magic[part.get_content_type()])
                seen[part.get_content_type()] += 1
    assert set(seen) == {"image/png", "image/jpeg", "application/pdf"}


def test_mislabelled_charset_fails_gb2312_but_decodes_as_gbk(big: SampleSet) -> None:
    bad = [i for i in big.emails if i.malformed == "bad_charset"]
    assert bad
    for item in bad:
        part = next(p for p in parse(item).walk() if p.get_content_type() == "text/plain")
        assert part.get_content_charset().lower() == "gb2312"
        data = part.get_payload(decode=True)
        with pytest.raises(UnicodeDecodeError):
            data.decode("gb2312")
        text = data.decode("gbk")
        assert any(name in text for name in item.planted_pii)


def test_truncated_and_empty_mails_are_broken_as_labelled(big: SampleSet) -> None:
    truncated = [i for i in big.emails if i.malformed == "truncated_mime"]
    empty = [i for i in big.emails if i.malformed == "empty_body"]
    assert truncated and empty
    for item in truncated:
        msg = parse(item)
        boundary = msg.get_boundary()
        assert boundary and f"--{boundary}--".encode() not in item.raw
        assert any(isinstance(d, email.errors.CloseBoundaryNotFoundDefect) for d in msg.defects)
    for item in empty:
        assert parse(item).get_payload(decode=True) == b""


def test_non_feedback_mails_are_flagged(big: SampleSet) -> None:
    skipped = [i for i in big.emails if i.not_feedback]
    assert {i.variant for i in skipped} == {"auto_reply", "bounce"}
    for item in skipped:
        msg = parse(item)
        assert item.expected_type == "other" and item.reply_to_external_id is None
        if item.variant == "bounce":
            assert msg.get_content_type() == "multipart/report"
            assert msg.get_param("report-type") == "delivery-status"
        else:
            assert msg["Auto-Submitted"] == "auto-replied"
    assert not any(i.not_feedback for i in big.webforms + big.platform_items)


def test_replies_point_to_earlier_existing_items(big: SampleSet) -> None:
    by_id = {i.external_id: i for i in big.all_items()}
    replies = [i for i in big.all_items() if i.reply_to_external_id]
    assert {i.channel for i in replies} == {"email", "webform"}
    header_replies = subject_replies = 0
    for item in replies:
        target = by_id[item.reply_to_external_id]
        assert target.channel == item.channel and target.received_at <= item.received_at
        assert target.malformed is None and not target.not_feedback
        assert target.expected_type == item.expected_type
        if item.channel == "webform":
            assert target.external_id in item.raw.decode("utf-8")
            continue
        msg, original = parse(item), parse(target)
        if msg["In-Reply-To"]:
            assert msg["In-Reply-To"] == target.external_id == original["Message-ID"]
            assert target.external_id in msg["References"]
            header_replies += 1
        else:  # no threading headers: only the subject ties it to the original
            assert msg["Subject"].startswith(("Re: ", "回复："))
            assert strip_reply(msg["Subject"]) == strip_reply(original["Subject"])
            subject_replies += 1
    assert header_replies and subject_replies


# --- web forms and platforms ------------------------------------------------------------------


def test_webform_json_loads_or_fails_as_labelled(big: SampleSet) -> None:
    fields = {"name", "phone", "email", "category", "subject", "message", "order_no", "expected_resolution"}
    reasons = Counter()
    for item in big.webforms:
        reasons[item.malformed] += 1
        if item.malformed == "invalid_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(item.raw.decode("utf-8"))
            continue
        doc = json.loads(item.raw.decode("utf-8"))
        assert item.raw == json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")
        assert doc["submission_id"] == item.external_id and doc["form"] == item.source
        assert item.file_name.endswith(f"-{item.external_id}.json")
        assert set(doc) == {"submission_id", "form", "submitted_at", "locale", "fields", "attachments",
                            "client"}
        if item.malformed == "missing_field":
            assert set(doc["fields"]) == fields - {"message"}
            continue
        assert set(doc["fields"]) == fields
        if item.malformed == "bad_timestamp":
            with pytest.raises(ValueError):
                datetime.fromisoformat(doc["submitted_at"])
            continue
        assert item.malformed is None
        assert datetime.fromisoformat(doc["submitted_at"]) == item.received_at
        assert doc["submitted_at"].endswith("+08:00")
        for att in doc["attachments"]:
            assert set(att) == {"filename", "content_type", "size", "sha256"}
    assert {"invalid_json", "missing_field", "bad_timestamp"} <= set(reasons)
    anonymous = [i for i in big.webforms if i.malformed is None and not json.loads(i.raw)["fields"]["name"]]
    assert anonymous


def test_platform_pages_hold_the_items_in_time_order(big: SampleSet) -> None:
    """Pages are the vendors' documented response bodies (Zendesk cursor export, Trustpilot reviews)."""
    records = {}
    for platform, pages in big.platform_pages.items():
        flat = []
        for n, page in enumerate(pages, start=1):
            if platform == "zendesk":
                assert set(page) == {"tickets", "after_cursor", "before_cursor", "after_url", "before_url",
                                     "end_of_stream"}
                assert len(page["tickets"]) <= 50 and page["end_of_stream"] == (n == len(pages))
                assert page["after_cursor"] and page["after_url"].endswith(page["after_cursor"])
                flat += page["tickets"]
            else:
                assert set(page) == {"reviews", "links"}
                nexts = [link["href"] for link in page["links"] if link["rel"] == "next-page"]
                assert nexts == ([] if n == len(pages) else [nexts[0]])
                if nexts:
                    assert f"page={n + 1}&" in nexts[0]
                flat += page["reviews"]
        field = "created_at" if platform == "zendesk" else "createdAt"
        stamps = [datetime.fromisoformat(r[field].replace("Z", "+00:00")) for r in flat]
        assert stamps == sorted(stamps)
        records[platform] = flat
    for platform in ("zendesk", "trustpilot"):
        items = [i for i in big.platform_items if i.source == platform]
        assert [json.loads(i.raw) for i in items] == records[platform]
        assert [i.external_id for i in items] == [f"{platform}:{r['id']}" for r in records[platform]]
        for n, item in enumerate(items):
            assert item.file_name == f"{platform}/page-{n // 50 + 1:04d}.json"
    assert all(1 <= r["stars"] <= 5 for r in records["trustpilot"])
    assert any("****" in r["custom_fields"][0]["value"] for r in records["zendesk"])
    assert len({r["id"] for r in records["zendesk"]}) == len(records["zendesk"])


# --- personal data and hard negatives ----------------------------------------------------------


def test_planted_pii_is_really_in_the_wire_bytes(big: SampleSet) -> None:
    planted_total = 0
    for item in big.all_items():
        text = item_text(item)
        for pii in item.planted_pii:
            assert pii in text, (item.file_name, pii)
            planted_total += 1
    assert planted_total > 2000


def test_pii_comes_in_all_the_ways_customers_write_it(big: SampleSet) -> None:
    pii = [p for i in big.all_items() for p in i.planted_pii]
    patterns = {
        "plain mobile": r"1[3-9]\d{9}",
        "spaced mobile": r"1\d\d \d{4} \d{4}",
        "dashed mobile": r"1\d\d-\d{4}-\d{4}",
        "+86 mobile": r"\+86 1\d\d \d{4} \d{4}",
        "0086 mobile": r"0086-1\d{10}",
        "full-width mobile": r"１[０-９]{10}",
        "landline": r"0\d{2,3}-\d{7,8}",
        "bracketed landline": r"\(0\d{2,3}\)\d{7,8}",
        "e-mail": r"[\w.+-]+@[\w-]+(\.[\w-]+)+",
    }
    for label, pattern in patterns.items():
        assert any(re.fullmatch(pattern, p) for p in pii), label
    ids = [p for p in pii if re.fullmatch(r"\d{17}[\dX]", p)]
    assert ids and all(valid_id_number(p) for p in ids)
    texts = [item_text(i) for i in big.all_items() if i.channel != "email"]
    assert any(re.search(r"[\u4e00-\u9fff][\w.]+@[\w.]+?\.(com|cn)[\u4e00-\u9fff]", t) for t in texts)
    names = {p for p in pii if re.fullmatch(r"[\u4e00-\u9fff]{2,4}", p)}
    assert len(names) > 50


def test_hard_negatives_are_present_and_not_personal(big: SampleSet) -> None:
    negatives = []
    for item in big.all_items():
        text = item_text(item)
        for neg in item.hard_negatives:
            assert neg in text, (item.file_name, neg)
            assert neg not in item.planted_pii
        negatives += item.hard_negatives
    assert any(re.fullmatch(r"DD\d{14}", n) for n in negatives)
    order18 = [n for n in negatives if re.fullmatch(r"\d{18}", n)]
    assert order18  # 18 digits like an ID number, but an order id (no valid area code or birth date)
    assert any(re.fullmatch(r"[¥￥][\d,]+\.\d\d", n) for n in negatives)
    assert any(re.fullmatch(r"(SF|YT|JT|ZT)\d{13}", n) for n in negatives)
    assert any(re.fullmatch(r"2026-\d\d-\d\d|\d{1,2}月\d{1,2}日", n) for n in negatives)


# --- disk -------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_sample_layout_and_idempotence(small: SampleSet, tmp_path: Path) -> None:
    first = write_sample(small, tmp_path / "a")
    before = snapshot(tmp_path / "a")
    second = write_sample(small, tmp_path / "a")
    assert snapshot(tmp_path / "a") == before and first == second
    write_sample(generate(seed=42, volume=300, month=MONTH), tmp_path / "b")
    assert snapshot(tmp_path / "b") == before
    for box in ("support", "complaints"):
        for sub in ("new", "cur", "tmp"):
            assert (tmp_path / "a" / "mail" / box / sub).is_dir()
    mails = [k for k in before if k.startswith("mail/")]
    assert len(mails) == len(small.emails)
    assert len([k for k in before if k.startswith("webforms/")]) == len(small.webforms)
    for item in small.emails:
        assert (tmp_path / "a" / "mail" / item.source / "new" / item.file_name).read_bytes() == item.raw
    for platform, pages in small.platform_pages.items():
        for n, page in enumerate(pages, start=1):
            page_file = tmp_path / "a" / "platforms" / platform / f"page-{n:04d}.json"
            assert json.loads(page_file.read_text("utf-8")) == page
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text("utf-8"))
    assert manifest == first
    assert (manifest["seed"], manifest["volume"], manifest["month"]) == (42, 300, MONTH)
    assert manifest["counts"]["channel"] == {"email": 150, "webform": 90, "platform": 60}
    assert sum(manifest["counts"]["type"].values()) == 300
    assert [e["external_id"] for e in manifest["items"]] == [i.external_id for i in small.all_items()]
    for entry in manifest["items"]:
        assert (tmp_path / "a" / entry["path"]).is_file()


def test_manifest_contains_no_personal_data_or_text(big: SampleSet, tmp_path: Path) -> None:
    write_sample(big, tmp_path)
    text = (tmp_path / "manifest.json").read_text("utf-8")
    planted = {p for i in big.all_items() for p in i.planted_pii}
    assert planted
    leaked = [p for p in planted if p in text]
    assert leaked == []
    assert not re.search(r"[\u4e00-\u9fff]", text)  # no Chinese at all: no names, no message text
    assert "@" not in text.replace("@mail.example.cn>", "")
