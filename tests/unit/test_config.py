"""Configuration files: the shipped ones load; a mistake names the file, the key path and what was expected."""

from __future__ import annotations

import pytest

from feedback.channels.config import load_channels
from feedback.config_check import validate_all
from feedback.errors import ConfigError
from feedback.settings import load_settings


def test_shipped_configuration_is_valid():
    assert validate_all() == [
        "settings.yaml", "channels.yaml", "privacy.yaml", "calendars.yaml + sla_policies.yaml", "taxonomy.yaml",
        "escalation.yaml", "callbacks.yaml",
    ]
    channels = load_channels()
    assert {m.name for m in channels.mailboxes} == {"support", "complaints"}
    assert channels.mailboxes[0].connection_id == "feedback_imap_support"
    assert load_settings().timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("webforms:\n  forms:\n    - name: a\n      max_bytes: big\n",
         "channels.yaml: webforms.forms[0].max_bytes: expected a whole number, got 'big'"),
        ("mailboxes:\n  - name: Support Desk\n", "channels.yaml: mailboxes[0].name: expected a lowercase name"),
        ("mailboxs: []\n", "channels.yaml: mailboxs: unknown key"),
        ("platforms:\n  - name: x\n    base_url: ftp://x\n",
         "channels.yaml: platforms[0].base_url: expected an http:// or https:// URL"),
        ("platforms:\n  - name: x\n", "channels.yaml: platforms[0].base_url: a value is required"),
        ("mailboxes:\n  - name: a\n  - name: a\n", "mailboxes: name 'a' is used twice"),
        ("mailboxes: [\n", "channels.yaml line 2 column 1: invalid YAML"),
        ("- just\n- a list\n", "channels.yaml: (top level): expected a mapping of keys, got list"),
    ],
)
def test_invalid_channels_file_is_explained(tmp_path, text, message):
    (tmp_path / "channels.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_channels(tmp_path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_time_zone_is_explained(tmp_path):
    (tmp_path / "settings.yaml").write_text("timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match=r"settings.yaml: timezone: unknown time zone 'Mars/Olympus'"):
        load_settings(tmp_path)


def test_several_problems_are_counted(tmp_path):
    (tmp_path / "settings.yaml").write_text("locale: fr\nintake:\n  batch_size: 0\n")
    with pytest.raises(ConfigError, match=r"\(and 1 more problem\)"):
        load_settings(tmp_path)


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="channels.yaml: file not found .*FEEDBACK_CONFIG_DIR"):
        load_channels(tmp_path)


def test_empty_file_means_defaults(tmp_path):
    (tmp_path / "channels.yaml").write_text("# nothing configured yet\n")
    assert load_channels(tmp_path).mailboxes == []
