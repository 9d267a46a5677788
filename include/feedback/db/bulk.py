"""Bulk upserts: COPY into a temporary table, then one INSERT … ON CONFLICT.

Row-by-row inserts are the usual bottleneck of ingestion after an outage; COPY
moves a whole batch in one round trip, and the single INSERT … ON CONFLICT keeps
the write idempotent by natural key, so a re-run or a re-delivered item changes
nothing. Runs inside the caller's transaction, so a cursor update made in the
same transaction commits (or rolls back) together with the rows.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

import sqlalchemy as sa

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], text)


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _text_field(value: object) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, dict | list):
        # JSON text never holds a raw tab or line break (they are escaped), only backslashes.
        return json.dumps(value, ensure_ascii=False, default=str).replace("\\", "\\\\")
    return _escape(str(value))


def text_array(values: list[str]) -> str:
    """A PostgreSQL text[] literal, for text[] columns on the COPY path (lists are written as JSON)."""
    quoted = ('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def copy_text(rows: Iterable[Sequence[object]]) -> io.StringIO:
    """Rows encoded for `COPY … FROM STDIN` (text format)."""
    buf = io.StringIO()
    write = buf.write
    for row in rows:
        write("\t".join(_text_field(v) for v in row))
        write("\n")
    buf.seek(0)
    return buf


def copy_into(conn: sa.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Raw COPY of rows into `table` within the connection's transaction; returns rows copied."""
    cols = ", ".join(_ident(c) for c in columns)
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("COPY on a closed connection")
    # The DB-API connection is untyped (psycopg2's cursor, found at run time).
    with driver.cursor() as cur:
        cur.copy_expert(f"COPY {_ident(table)} ({cols}) FROM STDIN", copy_text(rows))
        copied: int = cur.rowcount
        return copied


def upsert(
    conn: sa.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    conflict: Sequence[str],
    update: Sequence[str] = (),
) -> int:
    """Insert rows, skipping (or updating `update` columns of) rows whose `conflict` key exists.

    Duplicate keys inside the batch are collapsed to their first occurrence.
    Returns the number of rows inserted or updated.
    """
    if not rows:
        return 0
    table = _ident(table)
    cols = [_ident(c) for c in columns]
    keys = [_ident(c) for c in conflict]
    staging = "bulk_" + table.replace(".", "_")
    col_list = ", ".join(cols)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{staging}")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS "  # noqa: S608 - identifiers checked above
        f"SELECT {col_list}, 0::bigint AS bulk_ord FROM {table} WITH NO DATA"
    )
    copy_into(conn, staging, [*cols, "bulk_ord"], ([*row, i] for i, row in enumerate(rows)))
    if update:
        action = "DO UPDATE SET " + ", ".join(f"{_ident(c)} = EXCLUDED.{c}" for c in update)
    else:
        action = "DO NOTHING"
    result = conn.exec_driver_sql(
        f"INSERT INTO {table} ({col_list}) "  # noqa: S608 - identifiers checked above
        f"SELECT {col_list} FROM (SELECT DISTINCT ON ({', '.join(keys)}) * FROM {staging} "
        f"ORDER BY {', '.join(keys)}, bulk_ord) first_of_key "
        # Insert in input order, so generated ids follow arrival order.
        f"ORDER BY bulk_ord "
        f"ON CONFLICT ({', '.join(keys)}) {action}"
    )
    conn.exec_driver_sql(f"DROP TABLE pg_temp.{staging}")
    return result.rowcount
