"""A throwaway Dovecot IMAP server for tests, benchmarks and local trials.

Each instance lives in its own folder (configuration, self-signed certificate,
passwd-file, Maildir storage, log) and listens on free loopback ports: plain IMAP
with STARTTLS, and IMAPS. It never reads the system's /etc/dovecot and never
touches the system service. Needs Debian's `dovecot-imapd` (the `dovecot` and
`doveadm` binaries).

    server = DovecotServer.start(tmp_path)
    server.append("INBOX", raw_bytes)
    uri = server.uri("ssl")          # imaps://support:…@127.0.0.1:PORT?ca_file=…
    other = server.with_user("t1")   # same server, a new user with an empty mailbox (live, no restart)
    server.stop()

Users live in `base_dir/users/<name>` (one passwd-file each, so a new user is seen at
once), mail in `base_dir/mail/<name>/Maildir`, the log in `base_dir/dovecot.log`.
`set_uidvalidity` uses `doveadm mailbox update --uid-validity` (messages and UIDs kept);
`kick` uses `doveadm kick` and waits until the user's imap processes have exited.
`python -m feedback_dev.dovecot [DIR]` runs one for a local trial until Ctrl-C.

Dovecot runs in the foreground as our child with a parent-death signal, so a test
process that dies without calling stop() takes its server (and ports) with it. The
signal is tied to the thread that called start(): start a server from a thread that
lives as long as the server (the main thread, for pytest).

Under root, mail is stored as the system user `feedbackmail` (created on first use,
like `feedbackpg` for the embedded register), Dovecot's own processes run as the
package's `dovecot`/`dovenull` users, and the parents of `base_dir` get o+x so those
users can reach it. As another user, everything runs as that user (no chroot).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as dt
import grp
import imaplib
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from feedback.channels.mail.imap import quote_mailbox
from feedback.errors import FeedbackError

SYSTEM_USER = "feedbackmail"
INSTALL_HINT = "install dovecot-imapd (apt-get install -y dovecot-imapd)"
START_TIMEOUT = 15.0
APPEND_CHUNK = 1000                    # messages per MULTIAPPEND command
APPEND_CHUNK_BYTES = 16 * 1024 * 1024  # and at most about this many bytes
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PR_SET_PDEATHSIG = 1


class DovecotError(FeedbackError):
    """The throwaway Dovecot server could not be set up, started or driven."""


class DovecotUnavailable(DovecotError):
    """Dovecot is not installed on this machine."""


def _log(message: str) -> None:
    print(f"[dovecot] {message}", file=sys.stderr, flush=True)


# --- the machine: binaries and accounts -----------------------------------------------------------


def binaries() -> tuple[str, str]:
    """Paths of `dovecot` and `doveadm`, or DovecotUnavailable saying what to install."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    found = [shutil.which(name, path=search) for name in ("dovecot", "doveadm")]
    if None in found:
        raise DovecotUnavailable(f"Dovecot is not installed (no dovecot/doveadm on PATH or in /usr/sbin); {INSTALL_HINT}")
    return found[0], found[1]  # type: ignore[return-value]


@dataclass(frozen=True)
class _Accounts:
    internal: str          # default_internal_user (auth, anvil, stats …)
    login: str             # default_login_user (imap-login)
    mail_uid: int          # owner of the Maildir storage
    mail_gid: int
    internal_gid: int
    root: bool


def _system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    proc = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True, check=False,
    )
    try:
        return pwd.getpwnam(name)   # also when another process created it at the same time
    except KeyError:
        detail = (proc.stderr or proc.stdout).strip() or f"exit {proc.returncode}"
        raise DovecotError(f"cannot create the system user {name} for the mail store ({detail}); "
                           f"create it with: useradd --system --no-create-home {name}") from None


def _accounts() -> _Accounts:
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return _Accounts(me.pw_name, me.pw_name, me.pw_uid, me.pw_gid, me.pw_gid, root=False)
    mail = _system_user(SYSTEM_USER)
    internal = login = mail
    with contextlib.suppress(KeyError):
        internal = pwd.getpwnam("dovecot")
    with contextlib.suppress(KeyError):
        login = pwd.getpwnam("dovenull")
    return _Accounts(internal.pw_name, login.pw_name, mail.pw_uid, mail.pw_gid, internal.pw_gid, root=True)


def _open_path_for(path: Path) -> None:
    """Let Dovecot's unprivileged users traverse `path` and its parents (o+x)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# --- certificate ------------------------------------------------------------------------------------


def _write_certificate(cert_file: Path, key_file: Path) -> None:
    """A self-signed certificate for 127.0.0.1, ::1 and localhost (clients trust it as their CA file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "feedback throwaway dovecot")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(b"")
    key_file.chmod(0o600)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_file.chmod(0o644)


# --- configuration ----------------------------------------------------------------------------------


def _config(base: Path, run: Path, port: int, ssl_port: int, cert: Path, key: Path, users: Path,
            accounts: _Accounts) -> str:
    lines = [
        "# Written by feedback_dev.dovecot: a throwaway instance; no system configuration is read.",
        f"base_dir = {run}",
        f"state_dir = {run / 'state'}",
        f"instance_name = {_instance_name(port)}",
        f"log_path = {base / 'dovecot.log'}",
        "protocols = imap",
        "listen = 127.0.0.1",
        "ssl = yes",
        f"ssl_cert = <{cert}",
        f"ssl_key = <{key}",
        "disable_plaintext_auth = no",
        "auth_mechanisms = plain login",
        "auth_failure_delay = 0",
        f"default_internal_user = {accounts.internal}",
        f"default_login_user = {accounts.login}",
        f"first_valid_uid = {accounts.mail_uid}",
        f"last_valid_uid = {accounts.mail_uid}",
        f"first_valid_gid = {accounts.mail_gid}",
        f"last_valid_gid = {accounts.mail_gid}",
        "mail_location = maildir:~/Maildir",
        "mail_fsync = never",
        "mail_max_userip_connections = 200",
        "shutdown_clients = yes",
        "namespace inbox {",
        "  inbox = yes",
        "  separator = /",
        "}",
        "passdb {",
        "  driver = passwd-file",
        f"  args = scheme=PLAIN username_format=%u {users}/%u",
        "}",
        "userdb {",
        "  driver = passwd-file",
        f"  args = username_format=%u {users}/%u",
        "}",
        "service imap-login {",
        "  inet_listener imap {",
        "    address = 127.0.0.1",
        f"    port = {port}",
        "  }",
        "  inet_listener imaps {",
        "    address = 127.0.0.1",
        f"    port = {ssl_port}",
        "    ssl = yes",
        "  }",
        *(["  chroot ="] if not accounts.root else []),
        "}",
        # No auth penalty (a growing delay for every login from an IP after a failed one): tests log
        # in with wrong passwords on purpose. Documented way: nobody may connect to this socket.
        "service anvil {",
        "  unix_listener anvil-auth-penalty {",
        "    mode = 0",
        "  }",
        *(["  chroot ="] if not accounts.root else []),
        "}",
    ]
    if not accounts.root:
        # Without root there is no chroot and no switching users: everything runs as us.
        lines.append(f"default_internal_group = {grp.getgrgid(accounts.mail_gid).gr_name}")
        for service in ("ipc", "old-stats", "aggregator", "imap-urlauth-login"):
            lines += [f"service {service} {{", "  chroot =", "}"]
    return "\n".join(lines) + "\n"


# --- a raw IMAP session: fast appends with MULTIAPPEND + LITERAL+ -------------------------------------


class _Session:
    """A minimal IMAP client that sends literals unsynchronised (LITERAL+) and reads raw lines."""

    def __init__(self, host: str, port: int, user: str, password: str, timeout: float = 60.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.counter = 0
        greeting = self.file.readline()
        if not greeting.startswith(b"* OK"):
            self.close()
            raise DovecotError(f"unexpected IMAP greeting from {host}:{port}: {greeting[:100]!r}")
        self.command(f"LOGIN {_quote(user)} {_quote(password)}".encode())

    def command(self, line: bytes, payload: bytes = b"") -> tuple[bytes, list[bytes]]:
        """Send `line` (+ payload, ending with CRLF); the tagged OK text and the untagged lines."""
        self.counter += 1
        tag = b"F%d" % self.counter
        self.sock.sendall(tag + b" " + line + payload + b"\r\n")
        untagged: list[bytes] = []
        while True:
            reply = self.file.readline()
            if not reply:
                raise DovecotError(f"the server closed the connection during {line[:40]!r}")
            if reply.startswith(tag + b" "):
                status = reply[len(tag) + 1:].rstrip(b"\r\n")
                if not status.startswith(b"OK"):
                    raise DovecotError(f"{line.split(b' ')[0].decode()} failed: {status.decode(errors='replace')}")
                return status, untagged
            untagged.append(reply.rstrip(b"\r\n"))

    def append(self, folder: str, raws: list[bytes], when: dt.datetime | None = None) -> list[int]:
        """One APPEND of every message (MULTIAPPEND); their new UIDs."""
        date = f" {imaplib.Time2Internaldate(when)}".encode() if when is not None else b""
        payload = b"".join(b"%s {%d+}\r\n%s" % (date, len(raw), raw) for raw in raws)
        status, _ = self.command(b"APPEND " + quote_mailbox(folder).encode(), payload)
        match = re.search(rb"\[APPENDUID \d+ ([0-9:,]+)\]", status)
        if not match:
            raise DovecotError(f"APPEND gave no APPENDUID: {status.decode(errors='replace')}")
        uids = _expand(match.group(1).decode())
        if len(uids) != len(raws):
            raise DovecotError(f"APPEND stored {len(uids)} of {len(raws)} messages")
        return uids

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"Z LOGOUT\r\n")
        with contextlib.suppress(OSError):
            self.file.close()
            self.sock.close()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _expand(uid_set: str) -> list[int]:
    uids: list[int] = []
    for part in uid_set.split(","):
        low, _, high = part.partition(":")
        start, end = int(low), int(high or low)
        uids.extend(range(min(start, end), max(start, end) + 1))
    return uids


# --- the server ------------------------------------------------------------------------------------------


class _Instance:
    """The running process and its files, shared by every user view of one server."""

    def __init__(self, dovecot: str, doveadm: str, config_file: Path, run_dir: Path, temporary_run_dir: bool,
                 users_dir: Path, mail_dir: Path, accounts: _Accounts):
        self.dovecot = dovecot
        self.doveadm = doveadm
        self.config_file = config_file
        self.run_dir = run_dir
        self.temporary_run_dir = temporary_run_dir
        self.users_dir = users_dir
        self.mail_dir = mail_dir
        self.accounts = accounts
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.users: dict[str, str] = {}


@dataclass
class DovecotServer:
    base_dir: Path
    port: int                      # plain IMAP, STARTTLS offered
    ssl_port: int                  # IMAPS
    user: str
    password: str = field(repr=False)
    cert_file: Path                # self-signed, for 127.0.0.1 / localhost: the clients' CA file
    host: str = "127.0.0.1"
    _instance: _Instance | None = field(default=None, repr=False, compare=False)

    # lifecycle ----------------------------------------------------------------------------------

    @classmethod
    def start(cls, base_dir: Path, user: str = "support", password: str | None = None) -> DovecotServer:
        """Write a minimal configuration into `base_dir`, start Dovecot and wait for its greeting."""
        dovecot, doveadm = binaries()
        accounts = _accounts()
        base = Path(base_dir).resolve()
        base.mkdir(parents=True, exist_ok=True)
        _stop_stale(base)
        if accounts.root:
            _open_path_for(base)
        run_dir, temporary = _run_dir(base)
        cert_file, key_file = base / "cert.pem", base / "key.pem"
        _write_certificate(cert_file, key_file)
        mail_dir = base / "mail"
        mail_dir.mkdir(exist_ok=True)
        users_dir = base / "users"
        shutil.rmtree(users_dir, ignore_errors=True)
        users_dir.mkdir()
        if accounts.root:
            os.chown(mail_dir, accounts.mail_uid, accounts.mail_gid)
            os.chown(users_dir, 0, accounts.internal_gid)
        mail_dir.chmod(0o700)
        users_dir.chmod(0o750)
        instance = _Instance(dovecot, doveadm, base / "dovecot.conf", run_dir, temporary, users_dir, mail_dir,
                             accounts)
        server = cls(base_dir=base, port=0, ssl_port=0, user=user, password="", cert_file=cert_file,
                     _instance=instance)
        server._write_users({user: password or secrets.token_urlsafe(12)})
        server.password = instance.users[user]
        for attempt in range(3):
            server.port, server.ssl_port = _free_ports(2)
            instance.config_file.write_text(_config(base, run_dir, server.port, server.ssl_port, cert_file, key_file,
                                                    users_dir, accounts))
            try:
                server._launch()
                break
            except _PortTaken:
                if attempt == 2:
                    raise DovecotError(f"Dovecot could not bind free loopback ports three times; see {base}/dovecot.log"
                                       ) from None
        return server

    def _launch(self) -> None:
        inst = self._require()
        err_path = self.base_dir / "dovecot.stderr"
        parent = os.getpid()

        def die_with_parent() -> None:   # runs in the child, between fork and exec
            if _LIBC is not None:
                _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent:
                os._exit(1)

        with open(err_path, "wb") as err:
            inst.proc = subprocess.Popen(
                [inst.dovecot, "-F", "-c", str(inst.config_file)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, cwd="/",
                start_new_session=True, preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = inst.proc.poll()
            if code is not None:
                inst.proc = None
                tail = self._log_tail()
                if "Address already in use" in tail:
                    raise _PortTaken()
                if "Unknown protocol" in tail or "imap" in tail and "No such file" in tail:
                    raise DovecotUnavailable(f"Dovecot cannot serve IMAP here ({_last_line(tail)}); {INSTALL_HINT}")
                raise DovecotError(f"Dovecot exited with code {code} while starting; log tail: {tail}")
            if _greets(self.host, self.port) and _accepts(self.host, self.ssl_port):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise DovecotError(f"Dovecot did not answer on {self.host}:{self.port} within {START_TIMEOUT:g}s; "
                                   f"log tail: {self._log_tail()}")
            time.sleep(0.02)

    def _log_tail(self, lines: int = 12) -> str:
        tail: list[str] = []
        for name in ("dovecot.stderr", "dovecot.log"):
            with contextlib.suppress(OSError):
                tail += (self.base_dir / name).read_text(errors="replace").splitlines()[-lines:]
        return " | ".join(tail[-lines:]) or "(no log)"

    def stop(self) -> None:
        """Stop the server and wait until every Dovecot process of it is gone; idempotent."""
        inst = self._instance
        if inst is None:
            return
        with inst.lock:
            proc, inst.proc = inst.proc, None
            if proc is None:
                return
            # SIGTERM to the master (what `dovecot stop` sends) and at once to its children: the
            # master alone waits about a second for its log process; `dovecot stop` polls for 3 s.
            children = _children(proc.pid)
            for pid in (proc.pid, *children):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            # Any process of this instance still around (one spawned during shutdown) is found by
            # its title, which carries the instance name.
            _reap(children + _titled(f"dovecot-{_instance_name(self.port)}/"), timeout=5.0)
            if inst.temporary_run_dir:
                shutil.rmtree(inst.run_dir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        inst = self._instance
        return inst is not None and inst.proc is not None and inst.proc.poll() is None

    def _require(self) -> _Instance:
        if self._instance is None:
            raise DovecotError("this DovecotServer was not started with DovecotServer.start()")
        return self._instance

    # users ----------------------------------------------------------------------------------------

    def _write_users(self, new: dict[str, str]) -> None:
        inst = self._require()
        for name, password in new.items():
            if not _USER_NAME.match(name):
                raise ValueError(f"user name {name!r}: use letters, digits, '.', '_' and '-'")
            if any(ch in password for ch in ":\r\n") or not password:
                raise ValueError("the password must be non-empty and contain no ':' or line breaks")
        acc = inst.accounts
        with inst.lock:
            # One passwd-file per user (the path has %u): a new user's file is read on its first
            # login, while an edit of one shared file would be seen only a second later.
            for name, password in new.items():
                tmp = inst.users_dir / f".{name}.{os.getpid()}.{threading.get_ident()}"
                tmp.write_text(f"{name}:{{PLAIN}}{password}:{acc.mail_uid}:{acc.mail_gid}::{inst.mail_dir / name}::\n")
                if acc.root:
                    os.chown(tmp, 0, acc.internal_gid)
                tmp.chmod(0o640)
                tmp.replace(inst.users_dir / name)
                inst.users[name] = password

    def with_user(self, user: str, password: str | None = None) -> DovecotServer:
        """The same server seen as another (new or existing) user, with an empty mailbox when new.

        Users are added to the passwd-file live, so a unique user per test is a fresh mailbox
        in milliseconds. stop() on the returned object stops the shared server.
        """
        inst = self._require()
        password = password or inst.users.get(user) or secrets.token_urlsafe(12)
        if inst.users.get(user) != password:
            self._write_users({user: password})
        return dataclasses.replace(self, user=user, password=password)

    # addresses -------------------------------------------------------------------------------------

    def uri(self, security: str = "plain") -> str:
        """The Airflow-connection URI of this server for `ImapSettings.from_uri`."""
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        ca = quote(str(self.cert_file), safe="/")
        if security == "plain":
            return f"imap://{auth}@{self.host}:{self.port}?security=plain"
        if security == "starttls":
            return f"imap://{auth}@{self.host}:{self.port}?security=starttls&ca_file={ca}"
        if security == "ssl":
            return f"imaps://{auth}@{self.host}:{self.ssl_port}?ca_file={ca}"
        raise ValueError(f"security must be plain, starttls or ssl, got {security!r}")

    # mail -----------------------------------------------------------------------------------------------

    def client(self) -> imaplib.IMAP4:
        """A logged-in plain-IMAP client (imaplib), for test setup and checks."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=30)
        conn.login(self.user, self.password)
        return conn

    @contextlib.contextmanager
    def _session(self) -> Iterator[_Session]:
        session = _Session(self.host, self.port, self.user, self.password)
        try:
            yield session
        finally:
            session.close()

    def create_folder(self, name: str) -> None:
        """Create a folder (any Unicode name; sent in modified UTF-7). An existing folder is fine."""
        with self._session() as session:
            try:
                session.command(b"CREATE " + quote_mailbox(name).encode())
            except DovecotError as exc:
                if "ALREADYEXISTS" not in str(exc):
                    raise

    def append(self, folder: str, raw: bytes, when: dt.datetime | None = None) -> int:
        """Store one message byte for byte (no line-ending rewrite); its new UID (APPENDUID)."""
        with self._session() as session:
            return session.append(folder, [raw], when)[0]

    def append_many(self, folder: str, raws: Iterable[bytes]) -> int:
        """Store many messages over one connection, up to 1000 per MULTIAPPEND command; how many."""
        count = 0
        with self._session() as session:
            batch: list[bytes] = []
            size = 0
            for raw in raws:
                if batch and (len(batch) >= APPEND_CHUNK or size + len(raw) > APPEND_CHUNK_BYTES):
                    count += len(session.append(folder, batch))
                    batch, size = [], 0
                batch.append(raw)
                size += len(raw)
            if batch:
                count += len(session.append(folder, batch))
        return count

    def uidvalidity(self, folder: str) -> int:
        with self._session() as session:
            _, untagged = session.command(b"STATUS " + quote_mailbox(folder).encode() + b" (UIDVALIDITY)")
        for line in untagged:
            match = re.search(rb"UIDVALIDITY (\d+)", line)
            if line.startswith(b"* STATUS") and match:
                return int(match.group(1))
        raise DovecotError(f"STATUS {folder!r} returned no UIDVALIDITY")

    def set_uidvalidity(self, folder: str, value: int) -> None:
        """Give `folder` a new UIDVALIDITY, keeping its messages and UIDs (`doveadm mailbox update`).

        Sessions that have the folder selected notice the change and are disconnected by Dovecot.
        """
        self._doveadm("mailbox", "update", "-u", self.user, "--uid-validity", str(int(value)), folder)

    def kick(self) -> None:
        """Drop every open IMAP connection of this user now, and wait until they are gone."""
        pids = self._imap_pids()
        self._doveadm("kick", self.user, ok=(0, 68))   # 68: nobody was connected
        _reap(pids, timeout=5.0)

    def _imap_pids(self) -> list[int]:
        out = self._doveadm("who", "-1", self.user, ok=(0, 68))
        pids = []
        for line in out.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 3 and cols[0] == self.user and cols[2].isdigit():
                pids.append(int(cols[2]))
        return pids

    def _doveadm(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        inst = self._require()
        proc = subprocess.run([inst.doveadm, "-c", str(inst.config_file), *args],
                              capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode not in ok:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise DovecotError(f"doveadm {' '.join(args[:2])} failed: {detail[-1] if detail else proc.returncode}")
        return proc.stdout


class _PortTaken(Exception):
    pass


# --- processes -------------------------------------------------------------------------------------------


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def _run_dir(base: Path) -> tuple[Path, bool]:
    """Dovecot's base_dir (sockets, master.pid): base/run, or a short temporary one when base is long.

    Unix socket paths are limited to 107 bytes, and Dovecot nests its sockets two levels deep.
    """
    run = base / "run"
    if len(str(run).encode()) <= 60:
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(mode=0o755)
        (base / "run.path").unlink(missing_ok=True)
        return run, False
    temporary = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp" if os.path.isdir("/tmp") else None))
    temporary.chmod(0o755)
    (base / "run.path").write_text(str(temporary))
    return temporary, True


def _stop_stale(base: Path) -> None:
    """A server left running on this base_dir (a crashed run) is stopped before starting anew."""
    runs = [base / "run"]
    with contextlib.suppress(OSError):
        runs.append(Path((base / "run.path").read_text().strip()))
    for run in runs:
        try:
            pid = int((run / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"dovecot" in cmdline and str(base / "dovecot.conf").encode() in cmdline:
            _log(f"stopping a Dovecot left running on {base} (pid {pid})")
            children = _children(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            _reap([pid, *children], timeout=5.0)
        if run != base / "run":
            shutil.rmtree(run, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _instance_name(port: int) -> str:
    return f"feedback-dovecot-{port}"


def _titled(prefix: str) -> list[int]:
    """Processes whose command line (Dovecot's process title) starts with `prefix`."""
    found = []
    wanted = prefix.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "cmdline").read_bytes().startswith(wanted):
                    found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")    # a zombie is dead; only its parent's reaping is pending


def _reap(pids: Iterable[int], timeout: float) -> None:
    """Wait until these processes are gone; SIGKILL those still alive at the deadline."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [pid for pid in pending if _alive(pid)]
        if pending:
            time.sleep(0.01)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _greets(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.settimeout(1)
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _last_line(text: str) -> str:
    return text.split(" | ")[-1]


def main(argv: list[str] | None = None) -> int:
    """`python -m feedback_dev.dovecot [DIR]`: run a throwaway server until Ctrl-C, for local trials."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_dir", nargs="?", type=Path, help="folder for config, mail and log (default: temporary)")
    parser.add_argument("--user", default="support")
    parser.add_argument("--password")
    args = parser.parse_args(argv)
    base = args.base_dir or Path(tempfile.mkdtemp(prefix="feedback-dovecot-"))
    server = DovecotServer.start(base, args.user, args.password)
    _log(f"IMAP on {server.host}:{server.port} (plain/STARTTLS) and :{server.ssl_port} (IMAPS); files in {base}")
    for security in ("plain", "starttls", "ssl"):
        print(server.uri(security))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))   # stop cleanly on kill as on Ctrl-C
    try:
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
