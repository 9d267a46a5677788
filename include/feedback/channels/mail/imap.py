"""Reading a mailbox over IMAP: the reader the mail intake uses.

Stdlib `imaplib` + `ssl`, one connection per task. Reading is read-only (EXAMINE and
BODY.PEEK, so nothing is marked \\Seen); the optional cleanup after a committed batch
moves or deletes by UID. Every failure — refused connection, timeout, TLS, login,
missing folder, a connection dropped mid-batch — surfaces as one `MailboxError` line
naming host:port and what to fix (never the password). Nothing is retried here: the
caller commits per batch and the Airflow task retries from the last committed UID.
"""

from __future__ import annotations

import base64
import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from feedback import connections
from feedback.errors import ConfigError, FeedbackError

log = logging.getLogger(__name__)

SECURITY_MODES = ("ssl", "starttls", "plain")
DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "plain": 143}
EXAMPLE_URI = "imaps://user:password@imap.example.com:993"
FETCH_CHUNK = 500                      # UIDs per FETCH command

_warned_insecure: set[str] = set()


class MailboxError(FeedbackError):
    """The mailbox cannot be read: host:port, what failed and how to fix it, in one line."""


# --- settings ------------------------------------------------------------------------------------


_FALSE = {"false", "0", "no", "off"}
_TRUE = {"true", "1", "yes", "on"}


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str                      # 'ssl' | 'starttls' | 'plain'
    username: str
    password: str = field(repr=False)
    timeout: float = 60.0
    verify_tls: bool = True
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}, got {self.security!r}")

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def from_uri(cls, value: str, source: str) -> ImapSettings:
        """An Airflow connection value: `imaps://user:pw@host:993` / `imap://…?security=starttls` or JSON.

        Extras: security (ssl | starttls | plain), timeout (seconds), verify (false/0 to skip
        certificate checks), ca_file (PEM file of the CA that signed the server's certificate).
        """
        conn = connections.parse(value, source, {"imap", "imaps"}, f"an imap:// or imaps:// URI such as {EXAMPLE_URI}")
        if conn.scheme not in {"imap", "imaps"}:
            raise ConfigError(f"{source}: expected an IMAP connection (conn_type imap), got {conn.scheme!r}")
        extra = conn.extra
        security = "ssl" if conn.scheme == "imaps" else "starttls"
        if extra.get("security") not in (None, ""):
            security = str(extra["security"]).strip().lower()
            if security not in SECURITY_MODES:
                raise ConfigError(f"{source}: security must be ssl, starttls or plain, got {extra['security']!r}")
        missing = [part for part, present in (("host", conn.host), ("login", conn.login),
                                              ("password", conn.password)) if not present]
        if missing:
            raise ConfigError(f"{source}: the IMAP connection has no {' and no '.join(missing)}; "
                              f"expected e.g. {EXAMPLE_URI} (user and password percent-encoded)")
        try:
            timeout = float(extra.get("timeout", 60.0))
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: timeout must be a number of seconds, got {extra['timeout']!r}") from None
        if not timeout > 0:
            raise ConfigError(f"{source}: timeout must be a positive number of seconds, got {extra['timeout']!r}")
        verify = extra.get("verify", True)
        if not isinstance(verify, bool):
            text = str(verify).strip().lower()
            if text not in _FALSE | _TRUE:
                raise ConfigError(f"{source}: verify must be true or false, got {verify!r}")
            verify = text in _TRUE
        ca_file = extra.get("ca_file") or None
        return cls(
            host=str(conn.host), port=conn.port or DEFAULT_PORTS[security], security=security,
            username=str(conn.login), password=str(conn.password), timeout=timeout, verify_tls=verify,
            ca_file=str(ca_file) if ca_file else None,
        )


# --- modified UTF-7 (RFC 3501 §5.1.3) ----------------------------------------------------------------


def encode_mutf7(name: str) -> str:
    """A folder name as IMAP sends it: printable ASCII as is ('&' as '&-'), the rest as &base64-."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + data.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode_mutf7(name: str) -> str:
    """The inverse of `encode_mutf7`; ValueError on a malformed name."""
    out: list[str] = []
    pos = 0
    while pos < len(name):
        amp = name.find("&", pos)
        if amp < 0:
            out.append(name[pos:])
            break
        out.append(name[pos:amp])
        end = name.find("-", amp + 1)
        if end < 0:
            raise ValueError(f"unterminated modified UTF-7 shift in {name!r}")
        chunk = name[amp + 1:end]
        if not chunk:
            out.append("&")
        else:
            data = chunk.replace(",", "/")
            try:
                out.append(base64.b64decode(data + "=" * (-len(data) % 4), validate=True).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValueError(f"malformed modified UTF-7 in {name!r}: {exc}") from None
        pos = end + 1
    return "".join(out)


def quote_mailbox(name: str) -> str:
    """A folder name as one IMAP argument: modified UTF-7, quoted."""
    encoded = encode_mutf7(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uid_set(uids: Iterable[int]) -> str:
    """`1:3,7,9:10` for the given UIDs (only those: no UID outside the list is named)."""
    ordered = sorted(set(uids))
    runs: list[list[int]] = []      # [first, last] of each run of consecutive UIDs
    for uid in ordered:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(first) if first == last else f"{first}:{last}" for first, last in runs)


# --- response parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderState:
    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    size: int
    raw: bytes = field(repr=False)
    headers_only: bool          # the message is larger than max_bytes: raw holds just the header block
    internal_date: datetime | None = None   # INTERNALDATE: when the server received it (our side of the wire)


_LITERAL_ITEM = re.compile(rb"((?:BODY|BINARY)\[[^\]]*\](?:<\d+>)?|RFC822(?:\.HEADER|\.TEXT)?) ~?\{\d+\}\s*$",
                           re.IGNORECASE)
_UID = re.compile(rb"\bUID (\d+)", re.IGNORECASE)
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)", re.IGNORECASE)
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]{10,40})"', re.IGNORECASE)


_MONTHS = {name: n for n, name in enumerate(
    (b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"), start=1)}
# The form servers send (RFC 3501 date-time), read without strptime, which cost more than the rest of a FETCH.
_DATE_TIME = re.compile(rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)([0-5]\d)")


def _internal_date(text: bytes) -> datetime | None:
    """INTERNALDATE ("12-Oct-2026 09:01:05 +0800") as an aware UTC time; None when absent or garbled."""
    match = _INTERNALDATE.search(text)
    if not match:
        return None
    usual = _DATE_TIME.fullmatch(match.group(1))
    month = _MONTHS.get(usual.group(2).lower()) if usual else None
    try:
        if usual and month:
            day, _, year, hour, minute, second, sign, zone_h, zone_m = usual.groups()
            offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
            value = datetime(int(year), month, int(day), int(hour), int(minute), int(second),
                             tzinfo=timezone(-offset if sign == b"-" else offset))
        else:
            value = datetime.strptime(match.group(1).decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")
    except (ValueError, UnicodeDecodeError):
        return None
    return value.astimezone(UTC)


def _header_block(raw: bytes) -> bytes:
    """The header block of a whole message (through the blank line), as BODY[HEADER] would give it."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(separator)
        if end >= 0:
            return raw[:end + len(separator)]
    return raw


_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<delim>NIL|"(?:[^"\\]|\\.)*") ?(?P<name>.*)$', re.DOTALL)


def _fetch_records(data: Sequence[Any]) -> list[tuple[bytes, dict[str, bytes]]]:
    """imaplib's FETCH data as (response text without literals, {item name: literal}).

    imaplib hands a response with literals as `(text up to {n}, literal)` tuples, possibly
    several, followed by a bytes element with the rest of the line (often just `)`). A
    bytes element on its own is a whole response without literals.
    """
    records: list[tuple[bytes, dict[str, bytes]]] = []
    text = b""
    literals: dict[str, bytes] = {}
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            head, literal = item[0], item[1]
            text += head
            match = _LITERAL_ITEM.search(head)
            if match:
                name = match.group(1).upper().decode("ascii").replace(".PEEK", "")
                literals[name] = literal
            continue
        text += item
        records.append((text, literals))
        text, literals = b"", {}
    if text:
        records.append((text, literals))
    return records


def _parse_list(data: Sequence[Any]) -> list[tuple[set[str], str]]:
    """LIST responses as (flags, raw name)."""
    folders: list[tuple[set[str], str]] = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):   # the name came as a literal
            head, literal = item[0], item[1]
            match = _LIST_LINE.match(head)
            if not match:
                continue
            name = literal.decode("utf-8", "replace")
        else:
            match = _LIST_LINE.match(item)
            if not match:
                continue
            raw = match.group("name").strip()
            if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
                raw = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
            name = raw.decode("utf-8", "replace")
        flags = {flag.lower() for flag in match.group("flags").decode("ascii", "replace").split()}
        folders.append((flags, name))
    return folders


def _text(data: object) -> str:
    """The server's words from a response, one short line."""
    if isinstance(data, (list, tuple)):
        data = b" ".join(part if isinstance(part, bytes) else str(part).encode() for part in data if part)
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if isinstance(data, BaseException):
        arg = data.args[0] if len(data.args) == 1 else str(data)
        data = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    # imaplib formats server data as Python reprs ("[b'...']"): keep the words only.
    line = re.sub(r"""\[?b(['"])(.*?)\1\]?""", r"\2", " ".join(str(data).split()))
    return line[:200] + ("…" if len(line) > 200 else "")


# --- the reader ----------------------------------------------------------------------------------------


class ImapReader:
    """One logged-in IMAP session; a context manager (connect + login, logout)."""

    def __init__(self, settings: ImapSettings):
        self.settings = settings
        self._conn: imaplib.IMAP4 | None = None
        self._selected: str | None = None
        self._capabilities: set[str] = set()

    # connection ------------------------------------------------------------------------------

    def __enter__(self) -> ImapReader:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _fail(self, what: str, fix: str = "") -> MailboxError:
        return MailboxError(f"IMAP {self.settings.where}: {what}" + (f"; {fix}" if fix else ""))

    def _tls_context(self) -> ssl.SSLContext:
        settings = self.settings
        try:
            context = ssl.create_default_context(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise self._fail(f"cannot load the CA file {settings.ca_file} ({getattr(exc, 'strerror', None) or exc})",
                             "set the connection extra ca_file to a readable PEM file") from exc
        if not settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if settings.where not in _warned_insecure:
                _warned_insecure.add(settings.where)
                log.warning("IMAP %s: TLS certificate verification is off (verify=false); use it only for a "
                            "test server", settings.where)
        return context

    def _connect_error(self, exc: BaseException, stage: str) -> MailboxError:
        settings = self.settings
        if isinstance(exc, ssl.SSLCertVerificationError):
            return self._fail(f"TLS certificate not trusted during {stage} ({exc.verify_message})",
                              "set the connection extra ca_file to the CA that signed the server's certificate "
                              "(verify=false only for a test server)")
        if isinstance(exc, ssl.SSLError):
            return self._fail(f"TLS failed during {stage} ({exc.reason or exc})",
                              f"check security={settings.security} against the port "
                              "(ssl is usually 993, starttls 143)")
        if isinstance(exc, ConnectionRefusedError):
            return self._fail("connection refused",
                              "check the host and port of the connection and that the IMAP server is up")
        if isinstance(exc, TimeoutError):
            return self._fail(f"no answer within {settings.timeout:g}s during {stage}",
                              "check the host, port, firewall and security "
                              "(a plain/starttls client on an ssl port waits for a greeting that never comes)")
        if isinstance(exc, socket.gaierror):
            return self._fail(f"cannot resolve the host ({exc.strerror})", "check the host of the connection")
        if isinstance(exc, imaplib.IMAP4.abort | EOFError):
            return self._fail(f"the server closed the connection during {stage} ({_text(exc)})",
                              f"check security={settings.security} against the port")
        if isinstance(exc, imaplib.IMAP4.error):
            return self._fail(f"{stage} failed ({_text(exc)})", f"check security={settings.security}")
        if isinstance(exc, OSError):
            return self._fail(f"cannot connect ({exc.strerror or exc})",
                              "check the host and port of the connection")
        return self._fail(f"{stage} failed ({type(exc).__name__})")

    def connect(self) -> None:
        settings = self.settings
        stage = "connect"
        try:
            if settings.security == "ssl":
                stage = "TLS handshake"
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(settings.host, settings.port,
                                                        ssl_context=self._tls_context(), timeout=settings.timeout)
            else:
                conn = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
        except MailboxError:
            raise
        except (OSError, imaplib.IMAP4.error, EOFError) as exc:
            raise self._connect_error(exc, stage) from exc
        try:
            if settings.security == "starttls":
                if "STARTTLS" not in conn.capabilities:
                    raise self._fail("the server does not offer STARTTLS",
                                     "use security=ssl (port 993) or, on a trusted network only, security=plain")
                stage = "STARTTLS"
                conn.starttls(ssl_context=self._tls_context())
            stage = "login"
            self._login(conn)
            typ, data = conn.capability()
            if typ == "OK" and data and data[-1]:
                self._capabilities = set(data[-1].decode("ascii", "replace").upper().split())
        except MailboxError:
            self._drop(conn)
            raise
        except (OSError, imaplib.IMAP4.error, EOFError) as exc:
            self._drop(conn)
            raise self._connect_error(exc, stage) from exc
        self._conn = conn

    def _login(self, conn: imaplib.IMAP4) -> None:
        settings = self.settings
        try:
            if settings.username.isascii() and settings.password.isascii():
                conn.login(settings.username, settings.password)
            else:
                secret = f"\0{settings.username}\0{settings.password}".encode()
                conn.authenticate("PLAIN", lambda _challenge: secret)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            reason = _text(exc).replace(settings.password, "***") if settings.password else _text(exc)
            reason = re.sub(r"^(LOGIN|AUTHENTICATE) command error: BAD |^(LOGIN|AUTHENTICATE) command error: ",
                            "", reason)
            raise self._fail(f"login refused for user {settings.username!r} ({reason})",
                             "check the login and password of the connection") from None

    @staticmethod
    def _drop(conn: imaplib.IMAP4) -> None:
        try:
            conn.shutdown()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass

    def close(self) -> None:
        """Log out; errors on a dead connection are ignored."""
        conn, self._conn, self._selected = self._conn, None, None
        if conn is None:
            return
        try:
            conn.sock.settimeout(min(self.settings.timeout, 5.0))
            conn.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            self._drop(conn)

    # commands --------------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(self._capabilities)

    def _connection(self) -> imaplib.IMAP4:
        if self._conn is None:
            raise MailboxError(f"IMAP {self.settings.where}: not connected (the connection was closed or lost "
                               "earlier); the task retry reconnects")
        return self._conn

    def _call(self, what: str, func: Callable[..., tuple[str, list[Any]]], *args: Any,
              fix: str = "", ok: Sequence[str] = ("OK",)) -> tuple[str, list[Any]]:
        """Run one imaplib call; every network or protocol failure becomes a MailboxError."""
        self._connection()
        try:
            typ, data = func(*args)
        except imaplib.IMAP4.abort as exc:
            self._lost()
            raise self._fail(f"the connection was lost during {what} ({_text(exc)})",
                             "nothing after the last committed batch was recorded; the task retry resumes "
                             "from there") from exc
        except TimeoutError as exc:
            self._lost()
            raise self._fail(f"no answer within {self.settings.timeout:g}s during {what}",
                             "the server or the network is slow; raise the connection extra timeout if this "
                             "repeats") from exc
        except OSError as exc:
            self._lost()
            raise self._fail(f"network error during {what} ({exc.strerror or exc})",
                             "the task retry resumes from the last committed batch") from exc
        except imaplib.IMAP4.error as exc:
            raise self._fail(f"{what} was refused ({_text(exc)})", fix) from exc
        if typ not in ok:
            raise self._fail(f"{what} failed ({typ} {_text(data)})", fix)
        return typ, data

    def _lost(self) -> None:
        conn, self._conn, self._selected = self._conn, None, None
        if conn is not None:
            self._drop(conn)

    def folders(self) -> list[str]:
        """Every selectable folder, names decoded from modified UTF-7."""
        conn = self._connection()
        _, data = self._call("LIST", conn.list, '""', "*")
        names = []
        for flags, raw in _parse_list(data):
            if {"\\noselect", "\\nonexistent"} & flags:
                continue
            try:
                names.append(decode_mutf7(raw))
            except ValueError:
                names.append(raw)
        return names

    def _missing_folder_hint(self, folder: str) -> str:
        try:
            known = self.folders()
        except MailboxError:
            return "check the folder name"
        shown = ", ".join(repr(name) for name in known[:10]) + (" …" if len(known) > 10 else "")
        return f"check the folder name (this account has {shown or 'no folders'})"

    def select(self, folder: str) -> FolderState:
        """Open `folder` read-only (EXAMINE): reading never sets \\Seen."""
        return self._open(folder, readonly=True)

    def _open(self, folder: str, readonly: bool) -> FolderState:
        conn = self._connection()
        verb = "EXAMINE" if readonly else "SELECT"
        try:
            typ, data = self._call(f"{verb} {folder!r}", conn.select, quote_mailbox(folder), readonly,
                                   ok=("OK", "NO", "BAD"))
        except MailboxError:
            self._selected = None
            raise
        if typ != "OK":
            self._selected = None
            raise self._fail(f"cannot open folder {folder!r} ({typ} {_text(data)})", self._missing_folder_hint(folder))
        responses = conn.untagged_responses

        def number(key: str) -> int | None:
            values = [v for v in responses.get(key, []) if v]
            try:
                last = values[-1] if values else None
                return int(last) if isinstance(last, bytes) else None
            except (TypeError, ValueError):
                return None

        uidvalidity = number("UIDVALIDITY")
        if uidvalidity is None:
            raise self._fail(f"the server sent no UIDVALIDITY for {folder!r}",
                             "this server cannot be read incrementally by UID")
        self._selected = folder
        return FolderState(name=folder, uidvalidity=uidvalidity, uidnext=number("UIDNEXT"),
                           exists=number("EXISTS") or 0)

    def _need_selected(self) -> imaplib.IMAP4:
        conn = self._connection()
        if self._selected is None:
            raise RuntimeError("ImapReader: select() a folder first")
        return conn

    def uids_after(self, last_uid: int, limit: int) -> list[int]:
        """UIDs above `last_uid` in the selected folder, ascending, at most `limit`."""
        conn = self._need_selected()
        if limit <= 0:
            return []
        _, data = self._call("UID SEARCH", conn.uid, "SEARCH", "UID", f"{int(last_uid) + 1}:*")
        found: set[int] = set()
        for line in data:
            if isinstance(line, bytes):
                found.update(int(token) for token in line.split() if token.isdigit())
        # "n:*" always matches the highest UID, even when it is below n: keep only what is really after.
        return sorted(uid for uid in found if uid > last_uid)[:limit]

    def _larger_than(self, conn: imaplib.IMAP4, uids: list[int], max_bytes: int) -> set[int]:
        """Which of these UIDs are larger than `max_bytes` (RFC822.SIZE), asked in a SEARCH: usually none."""
        larger: set[int] = set()
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start:start + FETCH_CHUNK]
            _, data = self._call("UID SEARCH LARGER", conn.uid, "SEARCH", "UID", _uid_set(chunk), "LARGER",
                                 str(int(max_bytes)))
            for line in data:
                if isinstance(line, bytes):
                    larger.update(int(token) for token in line.split() if token.isdigit())
        return larger & set(uids)

    def _fetch_messages(self, conn: imaplib.IMAP4, uids: list[int], item: str, max_bytes: int) -> list[FetchedMessage]:
        """`item` (BODY.PEEK[] or BODY.PEEK[HEADER]) of each UID with its size and INTERNALDATE, `FETCH_CHUNK` UIDs
        per command. A whole message the server sizes above `max_bytes` after all keeps its header block only."""
        key = item.replace(".PEEK", "")
        whole = key == "BODY[]"
        wanted = set(uids)
        found: list[FetchedMessage] = []
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start:start + FETCH_CHUNK]
            _, data = self._call(f"UID FETCH {key}", conn.uid, "FETCH", _uid_set(chunk),
                                 f"(UID RFC822.SIZE INTERNALDATE {item})")
            for text, literals in _fetch_records(data):
                uid_match = _UID.search(text)
                uid = int(uid_match.group(1)) if uid_match else None
                if uid is None or uid not in wanted:
                    continue
                if key in literals:
                    raw = literals[key]
                elif re.search(re.escape(key.encode()) + rb' (?:NIL|"")', text, re.IGNORECASE):
                    raw = b""
                else:
                    continue
                size_match = _SIZE.search(text)
                size = int(size_match.group(1)) if size_match else len(raw)
                headers_only = not whole or size > max_bytes
                if whole and headers_only:
                    raw = _header_block(raw)
                found.append(FetchedMessage(uid, size, raw, headers_only, _internal_date(text)))
        return found

    def fetch(self, uids: Sequence[int], max_bytes: int) -> list[FetchedMessage]:
        """The messages with these UIDs in the selected folder, ascending by UID.

        A message larger than `max_bytes` comes as its header block only (headers_only): the
        server names those (SEARCH LARGER) before anything is fetched, so their bodies never
        travel. A UID expunged meanwhile is simply absent. Uses BODY.PEEK: \\Seen is never set.
        """
        conn = self._need_selected()
        ordered = sorted({int(uid) for uid in uids})
        if not ordered:
            return []
        # Messages another client expunged since the listing are reported to a NOOP (a SEARCH need not
        # report them), so they are gone, not fetched, as the other client meant.
        self._call("NOOP", conn.noop)
        large = self._larger_than(conn, ordered, max_bytes)
        small = [uid for uid in ordered if uid not in large]
        messages = self._fetch_messages(conn, small, "BODY.PEEK[]", max_bytes) if small else []
        if large:
            messages += self._fetch_messages(conn, sorted(large), "BODY.PEEK[HEADER]", max_bytes)
        return sorted(messages, key=lambda message: message.uid)

    def move_or_delete(self, folder: str, uids: Sequence[int], move_to: str | None) -> None:
        """After a committed batch: move these UIDs of `folder` to `move_to`, or delete them (None).

        Uses UID MOVE when offered, else UID COPY + UID STORE \\Deleted + UID EXPUNGE (UIDPLUS),
        so no other message flagged \\Deleted is expunged. The folder that was selected before
        (or `folder` itself) is opened read-only again afterwards.
        """
        if not uids:
            return
        previous = self._selected
        conn = self._connection()
        self._open(folder, readonly=False)
        uid_set = _uid_set(int(uid) for uid in uids)
        caps = self._capabilities or set(conn.capabilities)
        target_fix = f"create the folder {move_to!r} on the server or fix move_to in the channel config"
        if move_to is not None and "MOVE" in caps:
            self._call(f"UID MOVE to {move_to!r}", conn.uid, "MOVE", uid_set, quote_mailbox(move_to), fix=target_fix)
        else:
            if "UIDPLUS" not in caps:
                raise self._fail("the server offers neither MOVE nor UIDPLUS, so messages cannot be removed by UID "
                                 "without touching others", "set the mailbox's after_commit cleanup to keep")
            if move_to is not None:
                self._call(f"UID COPY to {move_to!r}", conn.uid, "COPY", uid_set, quote_mailbox(move_to),
                           fix=target_fix)
            self._call("UID STORE +FLAGS (\\Deleted)", conn.uid, "STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
            self._call("UID EXPUNGE", conn.uid, "EXPUNGE", uid_set)
        # Back to read-only, on the folder that was selected before (never CLOSE: it would expunge).
        self._open(previous or folder, readonly=True)
