"""A known customer name is masked as a name in free text, never as a piece of another word."""

from __future__ import annotations

import pytest

from feedback.privacy.masking import mask_name
from feedback.privacy.names import mask_name_in_text


def masked(text: str, name: str) -> str:
    return mask_name_in_text(text, name, mask_name(name))


@pytest.mark.parametrize(("text", "name"), [
    ("test multipart", "test"),                     # the subject of a sender called "test"
    ("test multipart/mixed HTML", "Test"),
    ("Announcement: the annual sale", "Ann"),
    ("Please support me", "Support"),
    ("I will call tomorrow", "Will"),
    ("mail me at ann@example.com", "Ann"),
])
def test_a_one_word_name_is_left_alone_outside_name_context(text, name):
    assert masked(text, name) == text


@pytest.mark.parametrize(("text", "name", "expected"), [
    ("Hi Ann, my order never came.", "Ann", "Hi A***, my order never came."),
    ("Thanks,\nAnn", "Ann", "Thanks,\nA***"),
    ("My name is ann and I want a refund", "Ann", "My name is A*** and I want a refund"),
    ("Regards, Test", "test", "Regards, t***"),
    ("-- \n  Skywalker\n", "Skywalker", "-- \n  S***\n"),
    ("Sehr geehrte Frau Lütkebohle,", "Lütkebohle", "Sehr geehrte Frau L***,"),
])
def test_a_one_word_name_is_masked_where_it_is_used_as_a_name(text, name, expected):
    assert masked(text, name) == expected


@pytest.mark.parametrize(("text", "name", "expected"), [
    ("forwarded message from Barry A. Warsaw", "Barry A. Warsaw", "forwarded message from B*** A*** W***"),
    ("Best, carol  lopez", "Carol Lopez", "Best, C*** L***"),
    ("Carol Lopezz is someone else", "Carol Lopez", "Carol Lopezz is someone else"),
])
def test_a_full_name_is_masked_wherever_it_stands_as_whole_words(text, name, expected):
    assert masked(text, name) == expected


def test_chinese_names_have_no_word_boundaries_and_are_masked_where_they_appear():
    assert masked("您好，我是张三丰，订单没到。谢谢！张三丰", "张三丰") == "您好，我是张**，订单没到。谢谢！张**"
