"""The IMAP reader against a real Dovecot: TLS modes, errors, UID paging, fetch, cleanup."""

from __future__ import annotations

import dataclasses
import re
import socket
import subprocess

import pytest

from feedback.channels.mail.imap import FETCH_CHUNK, ImapReader, ImapSettings, MailboxError
from feedback_dev.dovecot import DovecotServer


def mail(n: int, body: str = "Die Lieferung kam beschädigt an. 包裹破损了。", extra: str = "") -> bytes:
    return (
        f"From: kunde{n}@example.com\r\nTo: support@example.com\r\nSubject: Beschwerde {n}\r\n"
        f"Message-ID: <m{n}@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n{extra}\r\n{body}\r\nZeile {n}\r\n"
    ).encode()


def reader(server: DovecotServer, security: str = "plain", **changes) -> ImapReader:
    settings = ImapSettings.from_uri(server.uri(security), "the test connection")
    return ImapReader(dataclasses.replace(settings, **changes) if changes else settings)


def flags(server: DovecotServer, folder: str = "INBOX") -> dict[int, str]:
    """FLAGS of every message, read by a separate client."""
    client = server.client()
    try:
        client.select(f'"{folder}"', readonly=True)
        _, data = client.uid("FETCH", "1:*", "(UID FLAGS)")
    finally:
        client.logout()
    found = {}
    for line in data:
        if isinstance(line, bytes):
            match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)", line)
            if match:
                uid = int(match.group(1) or match.group(4))
                found[uid] = (match.group(2) or match.group(3) or b"").decode()
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- connecting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["plain", "starttls", "ssl"])
def test_login_over_plain_starttls_and_imaps(imap_user, security):
    imap_user.append("INBOX", mail(1))
    with reader(imap_user, security) as box:
        state = box.select("INBOX")
        assert state.exists == 1 and state.uidnext == 2 and state.uidvalidity > 0
        assert {"UIDPLUS", "MOVE"} <= box.capabilities
    settings = ImapSettings.from_uri(imap_user.uri(security), "x")
    assert settings.port == (imap_user.ssl_port if security == "ssl" else imap_user.port)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_without_the_ca_file_is_refused_and_says_how_to_fix(imap_user, security):
    with pytest.raises(MailboxError) as caught, reader(imap_user, security, ca_file=None):
        pass
    message = str(caught.value)
    assert "certificate not trusted" in message and "ca_file" in message
    assert f"127.0.0.1:{imap_user.ssl_port if security == 'ssl' else imap_user.port}" in message


def test_verify_false_skips_the_certificate_check(imap_user, caplog):
    with reader(imap_user, "ssl", ca_file=None, verify_tls=False) as box:
        assert box.select("INBOX").exists == 0
    assert "verification is off" in caplog.text


def test_wrong_password_is_a_one_line_error_without_the_password(imap_user):
    wrong = "Wr0ng-S3cret-xyz"
    with pytest.raises(MailboxError) as caught, reader(imap_user, password=wrong):
        pass
    message = str(caught.value)
    assert f"127.0.0.1:{imap_user.port}" in message
    assert "login refused" in message and imap_user.user in message and "password" in message
    assert wrong not in message and imap_user.password not in message
    assert "\n" not in message


def test_a_non_ascii_password_logs_in_with_authenticate_plain(dovecot):
    user = dovecot.with_user("umlaut", password="Pässwört-密码")
    assert "P%C3%A4ssw%C3%B6rt" in user.uri()
    with reader(user, "starttls") as box:
        assert box.select("INBOX").exists == 0


def test_an_unreadable_ca_file_is_reported_before_connecting():
    settings = ImapSettings("127.0.0.1", free_port(), "ssl", "u", "p", ca_file="/nonexistent/ca.pem")
    with pytest.raises(MailboxError, match="cannot load the CA file /nonexistent/ca.pem"), ImapReader(settings):
        pass


def test_a_closed_port_names_host_and_port():
    port = free_port()
    settings = ImapSettings("127.0.0.1", port, "plain", "u", "p", timeout=5)
    with pytest.raises(MailboxError, match=rf"127\.0\.0\.1:{port}: connection refused"), ImapReader(settings):
        pass


def test_a_server_that_never_greets_times_out_with_a_clear_message():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        settings = ImapSettings("127.0.0.1", port, "plain", "u", "p", timeout=0.3)
        with pytest.raises(MailboxError, match=rf"127\.0\.0\.1:{port}: no answer within 0\.3s"), ImapReader(settings):
            pass


def test_imaps_spoken_to_the_plain_port_is_a_tls_error(imap_user):
    settings = dataclasses.replace(ImapSettings.from_uri(imap_user.uri("ssl"), "x"), port=imap_user.port, timeout=5)
    with pytest.raises(MailboxError, match="TLS failed.*security=ssl"), ImapReader(settings):
        pass


# --- paging by UID --------------------------------------------------------------------------------


def test_uids_after_pages_ascending_and_honours_the_star_quirk(imap_user):
    uids = [imap_user.append("INBOX", mail(n)) for n in range(5)]
    assert uids == sorted(uids) and len(set(uids)) == 5
    with reader(imap_user) as box:
        box.select("INBOX")
        assert box.uids_after(0, 100) == uids
        # "UID n:*" matches the highest message even when its UID is below n: nothing is after the last.
        assert box.uids_after(uids[-1], 100) == []
        assert box.uids_after(uids[-1] + 50, 100) == []
        assert box.uids_after(0, 2) == uids[:2]
        assert box.uids_after(uids[1], 2) == uids[2:4]
        assert box.uids_after(0, 0) == []


def test_an_empty_folder_has_no_uids(imap_user):
    with reader(imap_user) as box:
        state = box.select("INBOX")
        assert state.exists == 0
        assert box.uids_after(0, 10) == []
        assert box.fetch([], 1000) == []


# --- fetching --------------------------------------------------------------------------------------


def test_fetch_returns_the_exact_bytes_and_never_sets_seen(imap_user):
    sent = [mail(n) for n in range(3)]
    uids = [imap_user.append("INBOX", raw) for raw in sent]
    with reader(imap_user) as box:
        box.select("INBOX")
        got = box.fetch(list(reversed(uids)), max_bytes=1_000_000)
    assert [m.uid for m in got] == uids
    assert [m.raw for m in got] == sent
    assert [m.size for m in got] == [len(raw) for raw in sent]
    assert not any(m.headers_only for m in got)
    assert all("\\Seen" not in f for f in flags(imap_user).values())


def test_bare_lf_mail_comes_back_with_crlf_line_ends(imap_user):
    # Dovecot stores what it is given but always serves CRLF; RFC822.SIZE counts the CRLF form.
    lf_only = mail(1).replace(b"\r\n", b"\n")
    uid = imap_user.append("INBOX", lf_only)
    with reader(imap_user) as box:
        box.select("INBOX")
        [got] = box.fetch([uid], 1_000_000)
    assert got.raw == mail(1) and got.size == len(mail(1))


def test_an_oversize_mail_comes_as_its_header_block(imap_user):
    big = mail(1, body="x" * 20_000, extra="X-Ticket: 4711\r\n")
    small = mail(2)
    uid_big, uid_small = imap_user.append("INBOX", big), imap_user.append("INBOX", small)
    with reader(imap_user) as box:
        box.select("INBOX")
        got = box.fetch([uid_big, uid_small], max_bytes=10_000)
    assert [(m.uid, m.headers_only) for m in got] == [(uid_big, True), (uid_small, False)]
    head = big.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert got[0].raw == head and got[0].size == len(big)
    assert got[1].raw == small
    assert all("\\Seen" not in f for f in flags(imap_user).values())


def test_an_expunged_uid_is_simply_absent(imap_user):
    uids = [imap_user.append("INBOX", mail(n)) for n in range(3)]
    with reader(imap_user) as box:
        box.select("INBOX")
        found = box.uids_after(0, 10)
        other = imap_user.client()
        other.select("INBOX")
        other.uid("STORE", str(uids[1]), "+FLAGS.SILENT", "(\\Deleted)")
        other.expunge()
        other.logout()
        got = box.fetch(found + [uids[-1] + 100], 1_000_000)
    assert [m.uid for m in got] == [uids[0], uids[2]]


def test_many_messages_cross_fetch_chunks_and_survive_flag_noise(imap_user):
    count = FETCH_CHUNK * 2 + 37
    sent = [mail(n, body=f"Nachricht {n} " + "y" * (n % 50)) for n in range(count)]
    assert imap_user.append_many("INBOX", sent) == count
    with reader(imap_user) as box:
        box.select("INBOX")
        uids = box.uids_after(0, 10_000)
        assert len(uids) == count
        # Another client flags messages meanwhile: unsolicited FETCH (FLAGS …) responses interleave.
        other = imap_user.client()
        other.select("INBOX")
        other.uid("STORE", "1:50", "+FLAGS.SILENT", "(\\Flagged)")
        other.logout()
        got = box.fetch(uids, 1_000_000)
    assert [m.raw for m in got] == sent
    assert [m.uid for m in got] == uids


# --- the folder changes under us --------------------------------------------------------------------------


def test_set_uidvalidity_changes_what_select_reports(imap_user):
    uids = [imap_user.append("INBOX", mail(n)) for n in range(2)]
    with reader(imap_user) as box:
        before = box.select("INBOX")
    imap_user.set_uidvalidity("INBOX", before.uidvalidity + 1000)
    assert imap_user.uidvalidity("INBOX") == before.uidvalidity + 1000
    with reader(imap_user) as box:
        after = box.select("INBOX")
        assert after.uidvalidity == before.uidvalidity + 1000
        assert box.uids_after(0, 10) == uids          # messages (and their UIDs) are kept


def test_a_kicked_session_raises_mailbox_error_on_the_next_command(imap_user):
    imap_user.append("INBOX", mail(1))
    box = reader(imap_user)
    with box:
        box.select("INBOX")
        imap_user.kick()
        with pytest.raises(MailboxError, match=rf"127\.0\.0\.1:{imap_user.port}: .*connection was lost"):
            box.fetch(box.uids_after(0, 10), 1_000_000)
        with pytest.raises(MailboxError, match="not connected"):
            box.uids_after(0, 10)
    # leaving the with-block on the dead connection raised nothing


def test_select_of_a_missing_folder_names_it_and_the_existing_ones(imap_user):
    with reader(imap_user) as box, pytest.raises(MailboxError) as caught:
        box.select("Archiv/2024")
    message = str(caught.value)
    assert "'Archiv/2024'" in message and "'INBOX'" in message and f"127.0.0.1:{imap_user.port}" in message


# --- cleanup after commit ---------------------------------------------------------------------------------


def test_move_or_delete_moves_and_deletes_by_uid(imap_user):
    imap_user.create_folder("Erledigt")
    uids = [imap_user.append("INBOX", mail(n)) for n in range(4)]
    with reader(imap_user) as box:
        box.select("INBOX")
        box.move_or_delete("INBOX", uids[:2], "Erledigt")
        # the reader is back on INBOX, read-only
        assert box.uids_after(0, 10) == uids[2:]
        box.move_or_delete("INBOX", [uids[2]], None)
        assert box.uids_after(0, 10) == [uids[3]]
        moved = box.select("Erledigt")
        assert moved.exists == 2
        assert [m.raw for m in box.fetch(box.uids_after(0, 10), 1_000_000)] == [mail(0), mail(1)]
    assert list(flags(imap_user)) == [uids[3]]


def test_move_or_delete_without_move_uses_copy_store_expunge(imap_user):
    imap_user.create_folder("Erledigt")
    uids = [imap_user.append("INBOX", mail(n)) for n in range(3)]
    other = imap_user.client()
    other.select("INBOX")
    other.uid("STORE", str(uids[2]), "+FLAGS.SILENT", "(\\Deleted)")   # someone else's pending delete
    other.logout()
    with reader(imap_user) as box:
        box.select("INBOX")
        box._capabilities.discard("MOVE")
        box.move_or_delete("INBOX", [uids[0]], "Erledigt")
        assert box.uids_after(0, 10) == uids[1:]        # UID EXPUNGE left the other \Deleted mail alone
        assert box.select("Erledigt").exists == 1


def test_moving_to_a_missing_folder_says_to_create_it(imap_user):
    uid = imap_user.append("INBOX", mail(1))
    with reader(imap_user) as box, pytest.raises(MailboxError, match="create the folder 'Nirgends'"):
        box.select("INBOX")
        box.move_or_delete("INBOX", [uid], "Nirgends")


# --- non-ASCII folder names ----------------------------------------------------------------------------------


def test_a_chinese_folder_name_round_trips(imap_user):
    imap_user.create_folder("已发送")
    imap_user.create_folder("Kunden/Rückfragen")
    uid = imap_user.append("已发送", mail(7))
    with reader(imap_user) as box:
        # the parent "Kunden" exists only as a hierarchy level (\\NonExistent), so it is not listed
        assert set(box.folders()) == {"INBOX", "已发送", "Kunden/Rückfragen"}
        state = box.select("已发送")
        assert state.name == "已发送" and state.exists == 1
        assert [m.raw for m in box.fetch([uid], 1_000_000)] == [mail(7)]
        box.move_or_delete("已发送", [uid], "Kunden/Rückfragen")
        assert box.select("Kunden/Rückfragen").exists == 1
    raw_list = imap_user.client().list()[1]
    assert any(b'"&XfJT0ZAB-"' in line or line.endswith(b" &XfJT0ZAB-") for line in raw_list)


# --- the throwaway server itself ------------------------------------------------------------------------------


def _instance_processes(server: DovecotServer) -> list[str]:
    out = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines()
            if f"feedback-dovecot-{server.port}/" in line and not line.startswith("Z")]


def test_a_second_server_runs_beside_the_session_one_and_stops_cleanly(dovecot, tmp_path):
    second = DovecotServer.start(tmp_path / "second", user="agent", password="pa ss\"word")
    try:
        assert {second.port, second.ssl_port}.isdisjoint({dovecot.port, dovecot.ssl_port})
        second.append("INBOX", mail(1))
        with reader(second, "ssl") as box:
            assert box.select("INBOX").exists == 1
        client = second.client()           # an open session must not keep the server alive
        client.select("INBOX")
        assert _instance_processes(second)
    finally:
        second.stop()
    second.stop()                          # idempotent
    assert not second.running
    assert _instance_processes(second) == []
    for port in (second.port, second.ssl_port):   # the ports are free again
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    with reader(dovecot) as box:           # the session's server is untouched
        box.select("INBOX")
