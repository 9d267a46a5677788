"""What the endpoint's routes share: the register, the forms, the clock and the secrets, all resolved lazily.

Airflow imports plugins in every component (scheduler, DAG processor, API server),
so building the app must cost nothing: no database connection, no config read.
The first request resolves each piece once; tests pass their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from sqlalchemy.engine import Engine

from feedback import connections
from feedback.channels.config import Channels, WebForm, load_channels
from feedback.paths import local_dir
from feedback.settings import load_settings
from feedback.web.verify import ConnectionGetter

if TYPE_CHECKING:
    from feedback.web.landing_async import AsyncLanding

T = TypeVar("T")


def _default_engine() -> Engine:
    from feedback.db.engine import get_engine

    return get_engine()


def _default_channels() -> Channels:
    return load_channels()


def _default_attachments_dir() -> Path:
    folder = Path(load_settings().mail.attachments_dir)
    return folder if folder.is_absolute() else local_dir() / folder


def _default_hash_key() -> bytes:
    from feedback.privacy import keys

    return keys.hash_key()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IntakeRuntime:
    engine_factory: Callable[[], Engine] = _default_engine
    channels_factory: Callable[[], Channels] = _default_channels
    now: Callable[[], datetime] = _utc_now
    connection_lookup: ConnectionGetter = connections.value
    attachments_dir_factory: Callable[[], Path] = _default_attachments_dir
    hash_key_factory: Callable[[], bytes] = _default_hash_key
    _cache: dict[str, object] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resolved(self, key: str) -> bool:
        """Whether `key` ("engine", "hash_key", …) was already resolved: then reading it touches nothing."""
        return key in self._cache

    def _once(self, key: str, make: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = make()
            return cast(T, self._cache[key])     # stored by this key's own factory just above

    def engine(self) -> Engine:
        return self._once("engine", self.engine_factory)

    def forms(self) -> dict[str, WebForm]:
        """The configured forms by name (read once: a change to channels.yaml needs a restart)."""
        return self._once("forms", lambda: {f.name: f for f in self.channels_factory().webforms.forms})

    def attachments_dir(self) -> Path:
        return self._once("attachments_dir", self.attachments_dir_factory)

    def hash_key(self) -> bytes:
        return self._once("hash_key", self.hash_key_factory)

    def async_landing(self) -> AsyncLanding:
        """The event loop's way to the register that `engine()` resolves to (imported here: plugins load fast)."""
        from feedback.web.landing_async import AsyncLanding

        return self._once("async_landing", lambda: AsyncLanding(self.engine))
