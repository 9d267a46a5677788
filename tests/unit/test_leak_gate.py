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
