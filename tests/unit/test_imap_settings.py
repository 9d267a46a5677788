"""IMAP connection settings from Airflow connection values, modified UTF-7, and response parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedback.channels.mail.imap import (
    ImapSettings,
    _fetch_records,
    _parse_list,
    _uid_set,
    decode_mutf7,
    encode_mutf7,
    quote_mailbox,
)
from feedback.errors import ConfigError

SOURCE = "AIRFLOW_CONN_FEEDBACK_IMAP_SUPPORT"


# --- from_uri: URI form ---------------------------------------------------------------------------


def test_imaps_defaults_to_ssl_on_993_with_verification():
    s = ImapSettings.from_uri("imaps://support%40example.com:p%40ss%3Aword@imap.example.com", SOURCE)
    assert (s.host, s.port, s.security) == ("imap.example.com", 993, "ssl")
    assert (s.username, s.password) == ("support@example.com", "p@ss:word")
    assert s.timeout == 60.0 and s.verify_tls is True and s.ca_file is None


def test_imap_defaults_to_starttls_on_143():
    s = ImapSettings.from_uri("imap://u:p@mail.example.com", SOURCE)
    assert (s.port, s.security) == (143, "starttls")


@pytest.mark.parametrize(("uri", "security", "port"), [
    ("imap://u:p@h?security=plain", "plain", 143),
    ("imap://u:p@h?security=ssl", "ssl", 993),
    ("imaps://u:p@h?security=starttls", "starttls", 143),
    ("imap://u:p@h:10143?security=PLAIN", "plain", 10143),
    ("imaps://u:p@h:10993", "ssl", 10993),
])
def test_the_security_extra_overrides_the_scheme(uri, security, port):
    s = ImapSettings.from_uri(uri, SOURCE)
    assert (s.security, s.port) == (security, port)


def test_timeout_verify_and_ca_file_extras():
    s = ImapSettings.from_uri("imaps://u:p@h?timeout=12.5&verify=false&ca_file=/etc/ssl/our-ca.pem", SOURCE)
    assert s.timeout == 12.5 and s.verify_tls is False and s.ca_file == "/etc/ssl/our-ca.pem"
    assert ImapSettings.from_uri("imaps://u:p@h?verify=0", SOURCE).verify_tls is False
    assert ImapSettings.from_uri("imaps://u:p@h?verify=true", SOURCE).verify_tls is True


def test_the_password_is_not_in_the_repr():
    s = ImapSettings.from_uri("imaps://u:TopSecret123@h", SOURCE)
    assert "TopSecret123" not in repr(s)


# --- from_uri: Airflow's JSON form -----------------------------------------------------------------------


def test_json_form_with_extra_object_and_string():
    value = json.dumps({"conn_type": "imap", "host": "imap.example.com", "port": 993, "login": "support",
                        "password": "pw", "extra": {"security": "ssl", "timeout": 30}})
    s = ImapSettings.from_uri(value, SOURCE)
    assert (s.host, s.port, s.security, s.username, s.password, s.timeout) == (
        "imap.example.com", 993, "ssl", "support", "pw", 30.0)
    value = json.dumps({"conn_type": "imap", "host": "h", "login": "u", "password": "p",
                        "extra": json.dumps({"verify": False, "ca_file": "/ca.pem"})})
    s = ImapSettings.from_uri(value, SOURCE)
    assert (s.security, s.port, s.verify_tls, s.ca_file) == ("starttls", 143, False, "/ca.pem")


def test_json_form_without_conn_type_is_imap():
    s = ImapSettings.from_uri('{"host": "h", "login": "u", "password": "p"}', SOURCE)
    assert (s.security, s.port) == ("starttls", 143)


def test_json_form_imaps_conn_type():
    s = ImapSettings.from_uri('{"conn_type": "imaps", "host": "h", "login": "u", "password": "p"}', SOURCE)
    assert (s.security, s.port) == ("ssl", 993)


# --- from_uri: errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "missing"), [
    ("imaps://u:p@", "no host"),
    ("imaps://h", "no login and no password"),
    ("imaps://u@h", "no password"),
    ('{"conn_type": "imap", "host": "h", "password": "p"}', "no login"),
])
def test_missing_parts_name_the_source_and_the_part(value, missing):
    with pytest.raises(ConfigError) as caught:
        ImapSettings.from_uri(value, SOURCE)
    assert str(caught.value).startswith(f"{SOURCE}: ") and missing in str(caught.value)


@pytest.mark.parametrize(("value", "words"), [
    ("pop3://u:p@h", "expected an imap:// or imaps:// URI"),
    ('{"conn_type": "smtp", "host": "h", "login": "u", "password": "p"}', "expected an IMAP connection"),
    ("imaps://u:p@h?security=tls", "security must be ssl, starttls or plain"),
    ("imaps://u:p@h?timeout=soon", "timeout must be a number"),
    ("imaps://u:p@h?timeout=0", "timeout must be a positive number"),
    ("imaps://u:p@h?verify=maybe", "verify must be true or false"),
    ("imaps://u:p@h:99999x", "port is not a number"),
    ("{not json", "not valid JSON"),
])
def test_bad_values_are_config_errors(value, words):
    with pytest.raises(ConfigError, match=words) as caught:
        ImapSettings.from_uri(value, SOURCE)
    assert str(caught.value).startswith(SOURCE)


def test_an_unknown_security_mode_is_refused_when_built_directly():
    with pytest.raises(ValueError, match="security must be one of"):
        ImapSettings("h", 993, "tls", "u", "p")


# --- modified UTF-7 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "wire"), [
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),     # RFC 3501 §5.1.3
    ("已发送", "&XfJT0ZAB-"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("Tom & Jerry", "Tom &- Jerry"),
    ("&", "&-"),
    ("INBOX", "INBOX"),
    ("Kunden/Rückfragen", "Kunden/R&APw-ckfragen"),
    ("📬 Post", "&2D3c7A- Post"),                                      # outside the BMP: a surrogate pair
    ("", ""),
])
def test_modified_utf7_vectors(text, wire):
    assert encode_mutf7(text) == wire
    assert decode_mutf7(wire) == text


@given(st.text())
def test_modified_utf7_round_trips_and_is_ascii(text):
    wire = encode_mutf7(text)
    assert wire.isascii() and all(0x20 <= ord(ch) <= 0x7E for ch in wire)
    assert decode_mutf7(wire) == text


@pytest.mark.parametrize("bad", ["&U,BTFw", "&*-", "&Zg-"])
def test_malformed_modified_utf7_is_a_value_error(bad):
    with pytest.raises(ValueError):
        decode_mutf7(bad)


def test_quote_mailbox_escapes_quotes_and_backslashes():
    assert quote_mailbox('a"b\\c') == '"a\\"b\\\\c"'
    assert quote_mailbox("已发送") == '"&XfJT0ZAB-"'


# --- response parsing ----------------------------------------------------------------------------------------


def test_uid_sets_name_only_the_given_uids():
    assert _uid_set([5, 1, 2, 3, 9, 10, 3]) == "1:3,5,9:10"
    assert _uid_set([7]) == "7"
    assert _uid_set([]) == ""


def test_fetch_records_cope_with_literals_item_order_and_unsolicited_flags():
    data = [
        (b"1 (UID 11 BODY[] {5}", b"hello"), b")",
        b"2 (FLAGS (\\Flagged))",                              # unsolicited, no literal
        (b"3 (BODY[] {3}", b"abc"), b" UID 13)",               # UID after the literal
        (b"4 (UID 14 BODY[HEADER] {4}", b"H: 1"), (b" BODY[] {2}", b"xy"), b")",   # two literals
    ]
    records = _fetch_records(data)
    assert [lits for _, lits in records] == [{"BODY[]": b"hello"}, {}, {"BODY[]": b"abc"},
                                             {"BODY[HEADER]": b"H: 1", "BODY[]": b"xy"}]
    assert b"UID 13" in records[2][0] and b"hello" not in records[0][0]


def test_list_parsing_handles_quoted_atom_and_literal_names():
    data = [
        b'(\\HasNoChildren) "/" INBOX',
        b'(\\HasNoChildren \\Sent) "/" "&XfJT0ZAB-"',
        b'(\\Noselect \\HasChildren) "/" "Kunden"',
        b'(\\HasNoChildren) NIL "a \\"quoted\\" name"',
        (b'(\\HasNoChildren) "/" {8}', b"Odd{name"),
    ]
    assert _parse_list(data) == [
        ({"\\hasnochildren"}, "INBOX"),
        ({"\\hasnochildren", "\\sent"}, "&XfJT0ZAB-"),
        ({"\\noselect", "\\haschildren"}, "Kunden"),
        ({"\\hasnochildren"}, 'a "quoted" name'),
        ({"\\hasnochildren"}, "Odd{name"),
    ]
