"""Where mail is read from: an IMAP folder, a Maildir, or a folder of `.eml` files.

Each source knows only how to list what comes after its stored position, read it,
say what the position is after a batch, and what to do once a batch is committed.
The position of an IMAP folder is its UIDVALIDITY and last UID, never the \\Seen flag
(any mail client can set that); a Maildir's position is which files are still in
`new/` (committed files move to `cur/`, which is what "delivered to the reader"
means in Maildir); a plain `.eml` folder's is the last file name, for writers that
name files in arrival order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from feedback.channels.config import Mailbox
    from feedback.channels.mail.imap import ImapReader

log = logging.getLogger(__name__)
# Maildir unique names start with the delivery time: "1791766890.M1P1.mx" (seconds since the epoch,
# as MTAs and Dovecot write them) or "20261012T010130-0001.eml" (UTC, as `feedback sample` writes them).
_EPOCH_NAME = re.compile(r"^(\d{9,11})(?:[._]|$)")
_STAMP_NAME = re.compile(r"^(\d{8}T\d{6})(?:Z)?(?:[._-]|$)")
_OLDEST = datetime(2000, 1, 1, tzinfo=UTC)
_FLAGS = re.compile(r":2,[A-Za-z]*$")


def delivery_time(name: str, mtime: float, run_time: datetime) -> datetime:
    """When a Maildir file was delivered: the stamp in its unique name, else the file's time.

    Never later than the run reading it (a backfill reads mail as of its logical date) and
    never before 2000 (a name that only looks like a stamp).
    """
    when: datetime | None = None
    epoch, stamp = _EPOCH_NAME.match(name), _STAMP_NAME.match(name)
    try:
        if epoch:
            when = datetime.fromtimestamp(int(epoch.group(1)), UTC)
        elif stamp:
            when = datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        when = None
    if when is None or not _OLDEST <= when <= run_time + timedelta(days=1):
        when = datetime.fromtimestamp(mtime, UTC)
    return min(when, run_time)


def maildir_ref(folder: Path, name: str) -> str:
    """The raw_ref of a Maildir message: where it lives once read (`cur/<name>:2,`).

    Stable across the move from new/ to cur/; `locate` still finds it after a mail client
    changes its flags (`:2,S`).
    """
    return f"file://{folder / 'cur' / (name if _FLAGS.search(name) else name + ':2,')}"


def locate(raw_ref: str) -> Path | None:
    """The file a `file://` raw_ref names now: as recorded, or the same Maildir message moved or re-flagged."""
    if not raw_ref.startswith("file://"):
        return None
    path = Path(raw_ref.removeprefix("file://"))
    if path.exists():
        return path
    if path.parent.name not in ("cur", "new"):
        return None
    unique = _FLAGS.sub("", path.name)
    root = path.parent.parent
    for candidate in (root / "new" / unique, *sorted((root / "cur").glob(f"{glob_escape(unique)}:2,*"))):
        if candidate.exists():
            return candidate
    return None


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


@dataclass(frozen=True)
class RawMail:
    ref: str                 # how to find it again in its folder: "uid:123" or a file name
    raw: bytes = field(repr=False)
    raw_ref: str             # where the whole message lives (quoted in quarantine and intake rows)
    size: int
    headers_only: bool = False
    arrived_at: datetime | None = None


@dataclass(frozen=True)
class Batch:
    mails: list[RawMail]
    position: dict[str, Any]       # the cursor once this batch is stored
    handles: list[Any]             # what after_commit needs (UIDs, paths)


class MailSource(Protocol):
    key: str                       # channel_cursor.source, e.g. "support/INBOX"

    def start(self, stored: dict[str, Any] | None) -> None: ...
    def next_batch(self, limit: int) -> Batch | None: ...
    def after_commit(self, batch: Batch) -> None: ...


class ImapFolder:
    """One IMAP folder read by UID after the stored (UIDVALIDITY, last UID)."""

    listing_limit = 1_000_000      # UIDs kept from one SEARCH for the batches that follow

    def __init__(self, reader: ImapReader, mailbox: str, folder: str, max_message_bytes: int,
                 after_commit: str = "keep", move_to: str | None = None, run_time: datetime | None = None) -> None:
        self.run_time = run_time
        self.reader = reader
        self.mailbox = mailbox
        self.folder = folder
        self.max_message_bytes = max_message_bytes
        self.cleanup = after_commit
        self.move_to = move_to
        self.key = f"{mailbox}/{folder}"
        self.uidvalidity = 0
        self.last_uid = 0
        self.resynced = False
        # UIDs after last_uid that the last SEARCH listed and no batch has taken yet: a backlog is searched
        # once, not once per batch (a search lists every UID to the end of the folder).
        self._listed: list[int] = []

    def start(self, stored: dict[str, Any] | None) -> None:
        state = self.reader.select(self.folder)
        self._listed = []
        self.uidvalidity = state.uidvalidity
        stored = stored or {}
        if stored.get("uidvalidity") == state.uidvalidity:
            self.last_uid = int(stored.get("last_uid", 0))
        else:
            self.last_uid = 0
            if stored:
                # The server renumbered the folder: read it again; identities stop duplicates.
                self.resynced = True
                log.warning("%s: UIDVALIDITY changed from %s to %s; rereading the folder (Message-ID and content "
                            "hash recognise what is already stored)", self.key, stored.get("uidvalidity"),
                            state.uidvalidity)

    def _raw_ref(self, uid: int) -> str:
        return f"imap://{self.mailbox}/{self.folder};UIDVALIDITY={self.uidvalidity}/;UID={uid}"

    def _arrival(self, internal_date: datetime | None) -> datetime | None:
        """INTERNALDATE, when the server received the mail; capped at the run (a backfill's logical date)."""
        if internal_date is None or internal_date < _OLDEST:
            return None  # none given, or a server that copied a 1970 date in: the top Received: header decides
        return min(internal_date, self.run_time) if self.run_time else internal_date

    def next_batch(self, limit: int) -> Batch | None:
        if not self._listed:   # new mail is only ever listed after what was listed before (UIDs ascend)
            self._listed = self.reader.uids_after(self.last_uid, self.listing_limit)
        uids, self._listed = self._listed[:limit], self._listed[limit:]
        if not uids:
            return None
        fetched = self.reader.fetch(uids, self.max_message_bytes)
        mails = [RawMail(f"uid:{m.uid}", m.raw, self._raw_ref(m.uid), m.size, m.headers_only,
                         arrived_at=self._arrival(getattr(m, "internal_date", None))) for m in fetched]
        # UIDs expunged between SEARCH and FETCH are simply gone: the position still moves past them.
        self.last_uid = max(uids)
        return Batch(mails, {"uidvalidity": self.uidvalidity, "last_uid": self.last_uid},
                     [m.uid for m in fetched])

    def after_commit(self, batch: Batch) -> None:
        if self.cleanup == "keep" or not batch.handles:
            return
        self.reader.move_or_delete(self.folder, batch.handles, self.move_to if self.cleanup == "move" else None)


def _header_block(path: Path, limit: int = 256 * 1024) -> bytes:
    with path.open("rb") as handle:
        head = handle.read(limit)
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = head.find(separator)
        if end >= 0:
            return head[:end + len(separator)]
    return head


def drop_folder_path(root: Path, folder: str) -> Path:
    """Maildir++ layout: INBOX is the root, other folders are `.Name` beside it."""
    return root if folder.upper() == "INBOX" else root / f".{folder}"


class DropFolder:
    """A Maildir (`new/` → `cur/` after commit) or a flat folder of `.eml` files (name cursor)."""

    def __init__(self, mailbox: str, folder: str, path: Path, run_time: datetime,
                 max_message_bytes: int | None = None) -> None:
        self.max_message_bytes = max_message_bytes
        self.mailbox = mailbox
        self.folder = folder
        self.path = path
        self.maildir = (path / "new").is_dir()
        self.key = f"{mailbox}/{folder}"
        self.run_time = run_time
        self.last_file: str | None = None
        self.pending: list[Path] = []

    def start(self, stored: dict[str, Any] | None) -> None:
        self.last_file = None if self.maildir else (stored or {}).get("last_file")
        if self.maildir:
            names: Iterator[Path] = (self.path / "new").iterdir()
        elif self.path.is_dir():
            names = (p for p in self.path.iterdir() if p.suffix == ".eml")
        else:
            names = iter(())
        self.pending = sorted(
            (p for p in names if p.is_file() and not p.name.startswith(".")
             and (self.last_file is None or p.name > self.last_file)),
            key=lambda p: p.name,
        )

    def next_batch(self, limit: int) -> Batch | None:
        if not self.pending:
            return None
        paths, self.pending = self.pending[:limit], self.pending[limit:]
        mails = []
        for path in paths:
            stat = path.stat()
            if self.maildir:
                arrived = delivery_time(path.name, stat.st_mtime, self.run_time)
                ref = maildir_ref(self.path, path.name)   # where after_commit puts it
            else:
                arrived = min(datetime.fromtimestamp(stat.st_mtime, UTC), self.run_time)
                ref = f"file://{path}"
            if self.max_message_bytes is not None and stat.st_size > self.max_message_bytes:
                # Too big to take in: keep its header block for the quarantine entry, not the whole file.
                mails.append(RawMail(path.name, _header_block(path), ref, stat.st_size,
                                     headers_only=True, arrived_at=arrived))
                continue
            raw = path.read_bytes()
            mails.append(RawMail(path.name, raw, ref, len(raw), arrived_at=arrived))
        self.last_file = paths[-1].name
        return Batch(mails, {"kind": "maildir" if self.maildir else "eml", "last_file": self.last_file}, paths)

    def after_commit(self, batch: Batch) -> None:
        if not self.maildir:
            return
        cur = self.path / "cur"
        cur.mkdir(exist_ok=True)
        for path in batch.handles:
            try:
                path.rename(cur / f"{path.name}:2,")
            except FileNotFoundError:  # another reader moved it after our commit: nothing lost
                continue


def folder_sources(mailbox: Mailbox, *, reader: ImapReader | None = None, drop_root: Path | None = None,
                   run_time: datetime,
                   max_message_bytes: int) -> list[tuple[MailSource, bool]]:
    """The mailbox's folders in reading order, each with whether it holds our outgoing mail."""
    names: Sequence[tuple[str, bool]] = [(f, False) for f in mailbox.folders]
    if mailbox.sent_folder:
        names = [*names, (mailbox.sent_folder, True)]
    out: list[tuple[MailSource, bool]] = []
    for folder, outbound in names:
        if reader is not None:
            cleanup = "keep" if outbound else mailbox.after_commit
            out.append((ImapFolder(reader, mailbox.name, folder, max_message_bytes, cleanup, mailbox.move_to,
                                   run_time=run_time), outbound))
        else:
            assert drop_root is not None
            out.append((DropFolder(mailbox.name, folder, drop_folder_path(drop_root, folder), run_time,
                                   max_message_bytes), outbound))
    return out
