"""`feedback channel list` sees a connection however it is set: Airflow's database or AIRFLOW_CONN_<ID>.

Real processes: the connection is stored with `airflow connections add` in the session's
Airflow metadata DB (the `airflow_db` fixture), and the CLI runs as an operator runs it;
it finds Airflow's lookup through the `feedback.connections` entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
CONN_ID = "feedback_platform_zendesk"      # zendesk's connection in include/config/channels.yaml


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    return {**env, "PYTHONPATH": str(ROOT / "include"), **extra}


def channel_list(env: dict[str, str]) -> dict[str, str]:
    """{platform name: its `feedback channel list` line}."""
    out = subprocess.run([sys.executable, "-m", "feedback.cli", "channel", "list"], capture_output=True,
                         text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return {line.split()[1]: line for line in out.stdout.splitlines() if line.strip()}


def airflow(*args: str) -> None:
    proc = subprocess.run([AIRFLOW, *args], capture_output=True, text=True, env=_env(), timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_a_connection_stored_in_airflows_database_is_set(airflow_db):
    assert f"connection {CONN_ID}: NOT SET" in channel_list(_env())["zendesk"]
    airflow("connections", "add", CONN_ID, "--conn-uri", "https://agent%40example.com%2Ftoken:tok@x.zendesk.com")
    try:
        lines = channel_list(_env())
        assert f"connection {CONN_ID}: set" in lines["zendesk"]
        assert "connection feedback_platform_typeform: NOT SET" in lines["typeform"]
        assert "tok" not in "".join(lines.values())       # the listing never shows a secret
    finally:
        airflow("connections", "delete", CONN_ID)


def test_the_environment_form_still_works_with_and_without_airflow():
    value = "https://:tfp_probe@api.typeform.com"
    with_airflow = channel_list(_env(AIRFLOW_CONN_FEEDBACK_PLATFORM_TYPEFORM=value))
    assert "connection feedback_platform_typeform: set" in with_airflow["typeform"]
    bare = {k: v for k, v in _env().items() if not k.startswith("AIRFLOW")}
    without = channel_list({**bare, "AIRFLOW_CONN_FEEDBACK_PLATFORM_TYPEFORM": value})
    assert "connection feedback_platform_typeform: set" in without["typeform"]
    assert f"connection {CONN_ID}: NOT SET" in without["zendesk"]


def test_the_register_connection_stored_in_airflow_is_found_by_the_cli(airflow_db, register):
    """A deployment keeping feedback_db in Airflow (UI, secrets backend): the CLI reaches the register through it."""
    uri = os.environ["AIRFLOW_CONN_FEEDBACK_DB"]          # the test's own register, then taken out of the env
    env = _env(FEEDBACK_LOCAL="0")

    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "feedback.cli", "status"], capture_output=True, text=True,
                              env=env, timeout=180)

    before = status()
    assert before.returncode == 2 and "no register configured" in before.stderr
    airflow("connections", "add", "feedback_db", "--conn-uri", uri)
    try:
        after = status()
        assert after.returncode == 0, after.stderr[-2000:]
        assert "intake" in after.stdout + after.stderr
        password = make_url(uri).password
        assert not password or password not in after.stdout + after.stderr       # never shows the secret
    finally:
        airflow("connections", "delete", "feedback_db")
