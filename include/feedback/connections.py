"""Airflow connection values (`AIRFLOW_CONN_<ID>`, URI or JSON form) read without Airflow.

The register, the mail relay and the sources are Airflow connections; the domain
package reads the same values so it works inside tasks, in the CLI and in tests
alike. One parser, so every connection accepts the same two forms and fails with
the same kind of one-line message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from feedback.errors import ConfigError


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
