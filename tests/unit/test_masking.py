"""Masking personal data in feedback text: the labelled set, formats, config, and the sample generator."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.errors import ConfigError
from feedback.privacy.masking import (
    KINDS,
    Finding,
    MaskConfig,
    Masker,
    MaskResult,
    load_mask_config,
    normalize_email,
    normalize_phone,
)
from feedback_dev.sample import generate
from feedback_dev.sample.read import item_texts

CASES_FILE = Path(__file__).resolve().parent.parent / "data" / "pii_cases.yaml"
CASES: list[dict] = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))["cases"]
MASKER = Masker()
UNMASKED = {kind for kind in KINDS if not getattr(MASKER.config, kind).mask}


def expected_spans(case: dict) -> list[tuple[str, int, int]]:
    """(kind, start, end) of each expected value; a repeated value takes its next occurrence."""
    text, spans, next_from = case["text"], [], {}
    for item in case["expect"]:
        value = item["value"]
        start = text.find(value, next_from.get(value, 0))
        assert start >= 0, f"{case['id']}: {value!r} is not in the text"
        next_from[value] = start + 1
        spans.append((item["kind"], start, start + len(value)))
    return sorted(spans, key=lambda s: s[1])


# --- the labelled set ----------------------------------------------------------------------------


def test_labelled_set_is_big_and_covers_every_family():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 150
    negatives = [c for c in CASES if not c["expect"]]
    assert len(negatives) >= 60
    families = ("neg-order", "neg-amount", "neg-date", "neg-time", "neg-tracking", "neg-feedback",
                "neg-version", "neg-model", "neg-11", "neg-qty", "neg-masked")
    for family in families:
        assert any(c["id"].startswith(family) for c in negatives), family
    kinds = {e["kind"] for c in CASES for e in c["expect"]}
    assert kinds == set(KINDS)
    assert any(c["id"].startswith("zh-") for c in CASES) and any(c["id"].startswith("en-") for c in CASES)
    mixed = [c for c in CASES if c["expect"] and c.get("keep")]
    assert len(mixed) >= 15
    for case in CASES:
        assert set(case) <= {"id", "text", "expect", "note", "keep"}, case["id"]
        assert case["note"], case["id"]
        for kept in case.get("keep", []):
            assert kept in case["text"], case["id"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_findings_match_exactly(case):
    found = MASKER.find(case["text"])
    assert [(f.kind, f.start, f.end) for f in found] == expected_spans(case)
    for f in found:
        assert f.raw == case["text"][f.start : f.end]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_masking_removes_personal_data_and_keeps_lookalikes(case):
    result = MASKER.mask(case["text"])
    for item in case["expect"]:
        if item["kind"] in UNMASKED:
            assert item["value"] in result.text
        else:
            assert item["value"] not in result.text, item["kind"]
    for kept in case.get("keep", []):
        assert kept in result.text
    if not case["expect"]:
        assert result.text == case["text"]
    # Idempotent: the masked text holds nothing left to mask and masks to itself.
    again = MASKER.mask(result.text)
    assert again.text == result.text
    assert [f.kind for f in again.findings if f.kind not in UNMASKED] == []


# --- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13812345678。", "电话138****5678。"),
        ("电话+86 138 1234 5678。", "电话138****5678。"),
        ("电话１３８１２３４５６７８。", "电话138****5678。"),
        ("座机010-87654321", "座机010-****4321"),
        ("座机(0571)88886666", "座机0571-****6666"),
        ("热线400-123-4567", "热线400-123-4567"),
        ("call +1 415 555 2671 now", "call +1****2671 now"),
        ("call +852 9123 4567 now", "call +852****4567 now"),
        ("请联系zhangsan@qq.com谢谢", "请联系zhangsan@***谢谢"),
        ("请联系ZhangSan@QQ.com谢谢", "请联系zhangsan@***谢谢"),
        ("邮箱13812345678@163.com", "邮箱138****5678@***"),
        ("邮箱781234567@qq.com", "邮箱****67@***"),
        ("身份证110101199003071233", "身份证110101********1233"),
        ("身份证31010419851215002x", "身份证310104********002X"),
        ("卡号6222021234567890128", "卡号************0128"),
        ("QQ：781234567", "QQ：****67"),
        ("微信号：zhang_san88", "微信号：****88"),
    ],
)
def test_default_formats(text, masked):
    assert MASKER.mask(text).text == masked


def test_nothing_detectable_is_left_between_masked_spans():
    # The address swallows the phone's last group; what is left of the phone is masked in a second look.
    result = MASKER.mask("+1 415 555 2671-zhangsan@qq.com")
    assert [f.kind for f in result.findings] == ["email"]
    assert result.text == "+1****2671-zhangsan@***"


def test_fullwidth_span_points_at_the_original_characters():
    text = "手机：１３８ １２３４ ５６７８，邮箱ｗａｎｇ＠１６３．ｃｏｍ"
    found = MASKER.find(text)
    assert [(f.kind, f.raw, f.normalized) for f in found] == [
        ("mobile", "１３８ １２３４ ５６７８", "+8613812345678"),
        ("email", "ｗａｎｇ＠１６３．ｃｏｍ", "wang@163.com"),
    ]
    assert MASKER.mask(text).text == "手机：138****5678，邮箱wang@***"


def test_normalized_values_are_canonical():
    text = "电话0086-13812345678，座机(0571)88886666，热线4001234567，+44 20 7946 0958，身份证31010419851215002x，卡 6225 8801 2345 6783"
    assert [(f.kind, f.normalized) for f in MASKER.find(text)] == [
        ("mobile", "+8613812345678"),
        ("landline", "+8657188886666"),
        ("service_number", "+864001234567"),
        ("intl_phone", "+442079460958"),
        ("id_card", "31010419851215002X"),
        ("bank_card", "6225880123456783"),
    ]


def test_finding_repr_hides_personal_data():
    finding = MASKER.find("电话13812345678")[0]
    assert isinstance(finding, Finding)
    assert "13812345678" not in repr(finding) and "5678" not in repr(finding)
    result = MASKER.mask("电话13812345678")
    assert isinstance(result, MaskResult) and "13812345678" not in repr(result)


def test_masked_kinds_follow_the_config():
    assert MASKER.masked_kinds == frozenset(KINDS) - {"service_number"}


# --- helpers for contact fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+8613812345678",
     "0086-13812345678", "86-13812345678", "１３８１２３４５６７８", " 138 1234 5678 ", "(+86)13812345678"],
)
def test_normalize_phone_accepts_every_spelling(raw):
    assert normalize_phone(raw) == "+8613812345678"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("010-87654321", "+861087654321"), ("(0571)88886666", "+8657188886666"),
     ("400-123-4567", "+864001234567"), ("+1 415-555-0142", "+14155550142"), ("+852 9123 4567", "+85291234567")],
)
def test_normalize_phone_other_kinds(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    ["", "138****5678", "10012345678", "1381234567", "电话13812345678", "13812345678, 13912345678",
     "DD20261003123456", "zhangsan@qq.com", "2026-10-03"],
)
def test_normalize_phone_rejects_non_phones(raw):
    assert normalize_phone(raw) is None


def test_normalize_email():
    assert normalize_email(" ZhangSan@QQ.com ") == "zhangsan@qq.com"
    assert normalize_email("ｗａｎｇ＠１６３．ｃｏｍ") == "wang@163.com"
    for bad in ("zhangsan@***", "zhangsan", "请联系zhangsan@qq.com", "a@b", ""):
        assert normalize_email(bad) is None


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("phone", "13812345678", "138****5678"),
        ("phone", "+86 138 1234 5678", "138****5678"),
        ("phone", "１３８１２３４５６７８", "138****5678"),
        ("phone", "010-87654321", "010-****4321"),
        ("phone", "+1 415-555-0142", "+1****0142"),
        ("phone", "400-123-4567", "400****4567"),
        ("phone", "12", "****"),
        ("email", "ZhangSan@qq.com", "zhangsan@***"),
        ("email", "13812345678@163.com", "138****5678@***"),
        ("email", "not-an-address", "***"),
        ("name", "张三", "张*"),
        ("name", "欧阳娜娜", "欧***"),
        ("name", "Zhang San", "Z*** S***"),
        ("name", "Emily Carter", "E*** C***"),
        ("name", "José Núñez", "J*** N***"),
        ("name", "迪丽热巴·迪力木拉提", "迪*********"),
        ("name", "", ""),
    ],
)
def test_mask_contact(kind, value, masked):
    assert MASKER.mask_contact(kind, value) == masked


def test_mask_contact_unknown_kind_does_not_echo_the_value():
    with pytest.raises(ValueError) as err:
        MASKER.mask_contact("address", "北京市朝阳区某某路1号")
    assert "朝阳" not in str(err.value)


# --- configuration -------------------------------------------------------------------------------


def test_shipped_file_equals_the_defaults():
    assert load_mask_config() == MaskConfig()
    assert Masker(load_mask_config()).config == Masker().config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "privacy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_disabled_kind_is_not_detected_and_unmasked_kind_is_reported(tmp_path):
    config = load_mask_config(_write(tmp_path, "qq:\n  enabled: false\n  format: '****{last2}'\n"
                                               "  context: [QQ]\n"
                                               "mobile:\n  mask: false\n  format: '{first3}****{last4}'\n"))
    masker = Masker(config)
    result = masker.mask("QQ：781234567，电话13812345678，邮箱a.b@qq.com")
    assert [f.kind for f in result.findings] == ["mobile", "email"]
    assert result.text == "QQ：781234567，电话13812345678，邮箱a.b@***"


def test_custom_format_and_context(tmp_path):
    config = load_mask_config(_write(tmp_path, "mobile:\n  format: '[手机 {last4}]'\n"
                                               "wechat:\n  format: '[微信]'\n  context: [微信, 薇信]\n"))
    masker = Masker(config)
    assert masker.mask("电话+86 13812345678，薇信号 zhang_san88").text == "电话[手机 5678]，薇信号 [微信]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mobile:\n  format: '{first4}****'\n", "privacy.yaml: mobile: format: unknown placeholder {first4}"),
        ("email:\n  format: '{area}@***'\n", "privacy.yaml: email: format: unknown placeholder {area}"),
        ("mobile:\n  format: '{first3'\n", "privacy.yaml: mobile: format: not a valid template"),
        ("mobile:\n  enabled: maybe\n  format: 'x'\n", "privacy.yaml: mobile.enabled: expected true or false"),
        ("mobil:\n  format: 'x'\n", "privacy.yaml: mobil: unknown key"),
        ("qq:\n  format: '****'\n  context: []\n", "privacy.yaml: qq.context"),
        ("bank_card:\n  format: '****'\n  prefixes: [visa]\n", "privacy.yaml: bank_card.prefixes[0]"),
        ("id_card:\n  format: '****'\n  min_birth_year: 2000\n  max_birth_year: 1990\n",
         "max_birth_year is before min_birth_year"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_mask_config(_write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [("mobile", "{first6}{last4}0"), ("email", "{local}@{domain}"), ("qq", "{first3}{last4}")],
)
def test_format_that_leaves_the_value_detectable_is_refused(kind, fmt):
    base = MaskConfig()
    config = base.model_copy(update={kind: getattr(base, kind).model_copy(update={"format": fmt})})
    with pytest.raises(ConfigError, match=rf"privacy.yaml: {kind}.format: masked values would still be detected"):
        Masker(config)


def test_order_context_rule_is_configurable(tmp_path):
    text = "订单号 6202610031234569"
    assert MASKER.find(text) == []
    config = load_mask_config(_write(tmp_path, "order_context:\n  words: []\n"))
    assert [f.kind for f in Masker(config).find(text)] == ["bank_card"]


# --- robustness ----------------------------------------------------------------------------------


_PIECES = st.sampled_from([
    "13812345678", "138 1234 5678", "+86 ", "0086-", "010-87654321", "(0571)", "88886666", "400-123-4567",
    "+1 415 555 2671", "110101199003071233", "6222021234567890128", "zhangsan@qq.com", "＠", "１３８",
    "QQ：", "781234567", "微信号", "zhang_san88", "订单", "卡", "DD", "2026", "-", " ", ".", "@", "x", "X",
    "1", "0", "5", "，", "电话", "****", "¥",
])


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_masking_is_idempotent_on_glued_fragments(text):
    result = MASKER.mask(text)
    again = MASKER.mask(result.text)
    assert again.text == result.text
    assert [f.kind for f in again.findings if f.kind not in UNMASKED] == []
    ends = [(f.start, f.end) for f in result.findings]
    assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:], strict=False)), "findings overlap"


@pytest.mark.timeout(60)  # a hang guard against catastrophic regex backtracking, not a speed check
def test_pathological_input_terminates_and_masks_nothing_spurious():
    texts = ["1" * 5000, "1 " * 3000, "+1 " + "12 " * 2000, "a@" * 3000, "QQ" * 3000 + "1" * 20,
             "微信" + " " * 50 + "a" * 5000, "0" * 4000 + "-" + "1" * 4000]
    for text in texts:
        result = MASKER.mask(text)
        assert len(result.text) >= len(text) // 2


# --- the sample generator ------------------------------------------------------------------------


def _contact_like(value: str) -> bool:
    """Planted phones, e-mails and IDs (names are out of scope for free text)."""
    return "@" in value or sum(ch.isdigit() for ch in value) >= 7


def test_sample_generator_pii_is_masked_and_lookalikes_survive():
    planted = masked = negatives = 0
    unexpected: list[str] = []
    for item in generate(seed=3, volume=600).all_items():
        if item.malformed:
            continue
        for text in item_texts(item):
            result = MASKER.mask(text)
            for value in item.planted_pii:
                if value in text and _contact_like(value):
                    planted += 1
                    masked += value not in result.text
            for value in item.hard_negatives:
                if value in text:
                    negatives += 1
                    assert value in result.text, f"{item.external_id}: a look-alike was masked"
            for f in result.findings:
                if not any(f.raw in p or p in f.raw for p in item.planted_pii):
                    unexpected.append(f"{item.external_id}:{f.kind}")
    assert planted > 300 and negatives > 300
    assert masked == planted, f"recall {masked}/{planted}"
    assert unexpected == []


@pytest.mark.parametrize(
    ("text", "masked", "e164"),
    [
        ("call +3670/977-8379 pls", "call +36****8379 pls", "+36709778379"),
        ("tel +36 70 977 8379", "tel +36****8379", "+36709778379"),
        ("+36/70/977-8379", "+36****8379", "+36709778379"),
        ("London +44 20 7946 0958", "London +44****0958", "+442079460958"),
        ("phone: (+1) 415-555-2671", "phone: +1****2671", "+14155552671"),
        ("(+1) 415 555 2671", "+1****2671", "+14155552671"),
        ("(0044) 20 7946 0958", "+44****0958", "+442079460958"),
        ("call +44 20 7946 0958thanks", "call +44****0958thanks", "+442079460958"),   # a word glued on
    ],
)
def test_international_phones_in_common_spellings_are_masked(text, masked, e164):
    result = MASKER.mask(text)
    assert result.text == masked
    assert [(f.kind, f.normalized) for f in result.findings] == [("intl_phone", e164)]
    assert MASKER.mask(result.text).text == result.text


@pytest.mark.parametrize("text", ["日期2026/10/03 13:00", "订单 12/34/5678/9012", "第3/4页，共12/100条"])
def test_slashes_in_dates_and_counts_are_not_phones(text):
    assert MASKER.mask(text).text == text
