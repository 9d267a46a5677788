"""Airflow connections: one way to look them up, one parser for their values.

The register, the mail relay and the sources are Airflow connections. Every part of
the product (tasks, the web app, the CLI) asks `lookup().get(conn_id)` for a
connection's value, and parses it with `parse`, so each connection accepts the same
two forms (URI or Airflow's JSON) and fails with the same kind of one-line message.

Where the value comes from is the deployment's business: without Airflow it is the
`AIRFLOW_CONN_<ID>` variable (`EnvironmentConnections`); with the `feedback_airflow`
package installed, its lookup (registered under the `feedback.connections` entry
point group) also sees connections stored in Airflow's metadata database and in a
secrets backend. This package never imports Airflow itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote, urlsplit

from feedback import extensions
from feedback.errors import ConfigError

GROUP = "feedback.connections"


@runtime_checkable
class ConnectionLookup(Protocol):
    """Finds a connection's value by id: a URI or Airflow's JSON form, None when it is not set.

    The value, not a parsed connection: each user checks the scheme and extras it needs
    with its own message (`parse`), whichever store the value came from.
    """

    def get(self, conn_id: str) -> str | None: ...


def env_name(conn_id: str) -> str:
    """The variable Airflow reads a connection from: `AIRFLOW_CONN_<ID>` (upper case)."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


class EnvironmentConnections:
    """Connections from `AIRFLOW_CONN_<ID>` variables only: the lookup without Airflow."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def get(self, conn_id: str) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        return environ.get(env_name(conn_id), "").strip() or None


def lookup() -> ConnectionLookup:
    """The deployment's connection lookup: the `feedback.connections` entry point if one is installed.

    Without one (no Airflow, e.g. a bare CLI install or the tests of this package) the
    environment variables are the only store. The first entry point by name wins; a
    broken one is a ConfigError naming it, never a silent fall-back to the environment.
    """
    for provided in extensions.load(GROUP):
        found = provided() if isinstance(provided, type) else provided
        if not isinstance(found, ConnectionLookup):
            raise ConfigError(f"entry point group {GROUP}: {provided!r} has no get(conn_id) method")
        return found
    return EnvironmentConnections()


def value(conn_id: str) -> str | None:
    """The value of connection `conn_id` from the deployment's lookup; None when it is not set."""
    return lookup().get(conn_id)


@dataclass(frozen=True)
class ConnectionValue:
    scheme: str
    host: str | None
    port: int | None
    login: str | None
    password: str | None
    schema: str | None          # Airflow's name for the database (path of the URI)
    extra: dict[str, Any] = field(default_factory=dict)


def parse(value: str, source: str, schemes: set[str], expected: str) -> ConnectionValue:
    """Parse a URI (`scheme://login:password@host:port/schema?extra`) or Airflow's JSON form.

    `expected` completes the message for a wrong scheme, e.g. "a postgres:// or postgresql:// URI".
    """
    value = value.strip()
    if value.startswith("{"):
        return _from_json(value, source, next(iter(sorted(schemes))))
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ConfigError(f"{source}: expected {expected}, got scheme {parts.scheme!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{source}: the port is not a number") from None
    extra: dict[str, Any] = {}
    for key, item in parse_qsl(parts.query, keep_blank_values=True):
        if key == "__extra__":
            try:
                extra.update(json.loads(item))
            except (json.JSONDecodeError, TypeError):
                raise ConfigError(f"{source}: __extra__ is not a JSON object") from None
        else:
            extra[key] = item
    return ConnectionValue(
        scheme=parts.scheme,
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=unquote(parts.path.lstrip("/")) or None,
        extra=extra,
    )


def _from_json(text: str, source: str, scheme: str) -> ConnectionValue:
    try:
        conn = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(conn, dict):
        raise ConfigError(f"{source}: expected a JSON object with host, port, login, password, schema, extra")
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra.strip() else {}
        except json.JSONDecodeError:
            raise ConfigError(f"{source}: extra is not valid JSON") from None
    try:
        port = int(conn["port"]) if conn.get("port") not in (None, "") else None
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: the port is not a number") from None
    return ConnectionValue(
        scheme=str(conn.get("conn_type") or scheme), host=conn.get("host"), port=port, login=conn.get("login"),
        password=conn.get("password"), schema=conn.get("schema"), extra=dict(extra),
    )
