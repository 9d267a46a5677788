"""The customer's signed name is found (to be masked) when no contact field names them."""

import pytest

from feedback.triage.prepare import signed_name, signed_names


@pytest.mark.parametrize(("body", "name"), [
    ("你好\n\n退款没到账。\n\n谢谢！\n刘秀云", "刘秀云"),
    ("建议增加导出。\n\n盼复。\n周晓梅", "周晓梅"),
    ("建议增加导出。\n\n麻烦了，谢谢。\n王建国", "王建国"),
    ("The refund has not arrived.\n\nThanks,\nShane Jones", "Shane Jones"),
    ("It broke.\n\nBest regards,\nCarol Ann Lopez", "Carol Ann Lopez"),
    # The customer's own signature, above the quoted earlier mail.
    ("还没处理。\n\n谢谢！\n李四\n\n在 2026年10月1日 10:00，客服 写道：\n> 盼复。\n> 王五", "李四"),
])
def test_a_name_under_a_sign_off_is_found(body, name):
    assert signed_name(body) == name


@pytest.mark.parametrize("body", [
    "订单没到\n谢谢",                       # the sign-off itself is not a name
    "订单没到\n\n张三",                     # no sign-off above it: could be anything
    "谢谢！\n请尽快处理退款问题",            # a sentence, not a name
    "Thanks,\nthe whole team here",
    "> 谢谢！\n> 王五",                      # only quoted text
    "",
])
def test_no_name_without_a_clear_signature(body):
    assert signed_name(body) is None


def test_names_signed_in_quoted_mail_are_found_too():
    body = ("补充一句：麻烦转达感谢。\n\n麻烦了，谢谢。\n\n在 2026年10月1日 17:58，liuyong@*** 写道：\n"
            "> 尊敬的客服：\n> 之前的问题已经解决了。\n> 谢谢！\n> 李桂英")
    assert signed_names(body) == ["李桂英"]
    assert signed_names("好的\n\n谢谢！\n王五\n\nOn Mon, Oct 5, 2026 at 10:00, a wrote:\n> Thanks,\n> Carol Lopez") == [
        "王五", "Carol Lopez"]
    assert signed_names("> > 谢谢！\n> > 赵六") == ["赵六"]
    assert signed_names("没有签名的一句话") == []
