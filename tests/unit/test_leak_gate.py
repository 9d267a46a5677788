"""The leak gate (Great Expectations checkpoint) stops personal data, and only personal data."""

from __future__ import annotations

import pytest

from feedback.privacy.leak_gate import LeakDetected, check, enforce, id_cards_in

CLEAN = {
    "id": 1, "description": "请联系138****5678，订单号DD20261003123456，金额¥1,299.00，运单SF1234567890123",
    "contact_masked": "zhangsan@***", "category": ["function_problem"], "order_ref": "202610031234567890",
}


def _row(**overrides):
    return {**CLEAN, **overrides}


def test_masked_rows_and_hard_negatives_pass():
    assert check({"feedback": [_row(), _row(id=2, description="2026年10月3日 10:30 下单，v3.2.1 版本")]}) == []


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("电话13812345678谢谢", "phone"),
        ("call +86 138 1234 5678 please", "phone"),
        ("全角１３８１２３４５６７８", "phone"),
        ("请联系zhangsan@qq.com谢谢", "email"),
        ("身份证11010519491231002X", "id_card"),
    ],
)
def test_planted_leak_fails_and_the_message_carries_no_value(value, kind):
    rows = {"feedback": [_row(), _row(id=2, description=value)]}
    with pytest.raises(LeakDetected) as err:
        enforce(rows)
    message = str(err.value)
    assert f"feedback.description: 1 row(s) with {kind}" in message
    for token in ("13812345678", "１３８１２３４５６７８", "zhangsan@qq.com", "11010519491231002X", "138 1234"):
        assert token not in message


def test_leak_in_event_details_json_is_found():
    events = [{"id": 1, "event_type": "created", "details": {"note": "客户邮箱 lisi@example.com"}}]
    violations = check({"feedback_event": events})
    assert [(v.table, v.column, v.kind, v.rows) for v in violations] == [("feedback_event", "details", "email", 1)]


def test_id_detection_needs_a_valid_checksum():
    assert id_cards_in("11010519491231002X") == "11010519491231002X"
    assert id_cards_in("110105194912310021") is None  # same digits, wrong check character
    assert id_cards_in(None) is None


def test_values_in_neighbouring_columns_do_not_combine_into_a_match():
    # "138" ending one column and "12345678" starting the next must not read as a phone.
    assert check({"feedback": [{"id": 1, "a": "型号138", "b": "12345678号", "c": "abc", "d": "@x.com"}]}) == []


# --- personal data, not our own identifiers (issue 13) -------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["call +3670/977-8379 pls", "tel +36 70 977 8379", "London +44 20 7946 0958", "phone: (+1) 415-555-2671",
     "(0044) 20 7946 0958", "+1 (415) 555-2671"],
)
def test_international_phones_in_common_spellings_are_gated(text):
    assert [(v.column, v.kind, v.rows) for v in check({"feedback": [_row(description=text)]})] \
        == [("description", "phone", 1)]


@pytest.mark.parametrize(
    "text",
    [
        "同一笔订单202610207312138192被重复扣费两次",      # an order number: no province 20, order context
        "订单号11010519491231002X重复扣费",                  # checksum-valid, but the order word is nearest
        "invoice 11010519491231002X", "tracking no. 11010519491231002X", "发票 11010519491231002X",
        "证号110105204912310021",                            # born in 2049: not yet
        "证号110105194902300021", "编号990105194912310021",   # 30 February; province 99
        "关于19930206-001，还是没有退款",                    # our feedback number quoted back
        "+36****8379 +1****2671 138****5678",                # already masked
        "订单号 0044207946095812", "v3.2.1 2026-10-03 价格+100元 第3/4页",
    ],
)
def test_order_numbers_our_numbers_and_masked_values_pass(text):
    assert check({"feedback": [_row(description=text)]}) == []


def test_an_id_after_an_id_word_is_gated_even_with_an_order_word_before_it():
    (violation,) = check({"feedback": [_row(description="订单已付款，身份证11010519491231002X")]})
    assert (violation.column, violation.kind) == ("description", "id_card")


def test_system_made_fields_are_not_checked():
    row = _row(
        feedback_no="19930206-001", dedup_key="reply:13812345678", message_id="<abc@mail.example.cn>",
        rule_ids=["r-13812345678"], contact_vault_id=13812345678,
        details={"intake_id": "13812345678", "message_id": "<x.y@qq.com>", "excerpt": "还是没收到"},
    )
    assert check({"feedback": [row], "feedback_event": [row]}) == []


def test_order_ref_holds_order_numbers_but_phones_there_still_count():
    assert check({"feedback": [_row(order_ref="11010519491231002X")]}) == []
    (violation,) = check({"feedback": [_row(order_ref="13812345678")]})
    assert (violation.column, violation.kind) == ("order_ref", "phone")
    (violation,) = check({"feedback_event": [{"details": {"order_no": "13812345678"}}]})
    assert (violation.column, violation.kind) == ("details", "phone")


def test_violations_name_the_rows_they_were_found_in():
    rows = [_row(id=n, description="ok") for n in range(5)]
    rows[1]["description"] = "电话13812345678"
    rows[3]["description"] = "mail lisi@example.com, 身份证11010519491231002X"
    found = {(v.column, v.kind): v.positions for v in check({"feedback": rows})}
    assert found == {("description", "phone"): (1,), ("description", "email"): (3,),
                     ("description", "id_card"): (3,)}


def test_the_message_tells_the_operator_what_to_do_and_carries_no_value():
    with pytest.raises(LeakDetected) as err:
        enforce({"feedback": [_row(description="tel +36 70 977 8379")]})
    text = str(err.value)
    assert "feedback.description: 1 row(s) with phone" in text and "release" in text
    assert "977 8379" not in text and "+36" not in text
    assert [v.where for v in err.value.violations] == ["feedback.description phone"]
