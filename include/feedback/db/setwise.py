"""Set-wise writes: each table in one statement, its rows sent as one JSON document.

Triage used to stage every table of a batch through a temporary table filled by COPY
(`feedback.db.bulk.upsert`), and the COPY text was encoded field by field in Python, which
cost more than the database's own work (issue 17). Here a table's rows become one JSON array (the C encoder), PostgreSQL turns it
into the table's row type (`json_populate_recordset`: arrays, jsonb, intervals and bytea by
the column's type) and inserts it in input order, keyed like before (ON CONFLICT … DO
NOTHING), so a replayed batch writes nothing twice; RETURNING gives the new ids without
another select. All in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import msgspec
import sqlalchemy as sa

from feedback.db.rows import TextRow

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _default(value: object) -> object:
    """JSON for the values the encoder does not take as they are, in the text form their column type reads.

    msgspec encodes the built-in types themselves but not their subclasses: Airflow hands tasks
    pendulum DateTimes, templates give markupsafe Markup strings.
    """
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} value to the register")


# msgspec writes datetimes (RFC 3339), dates and timedeltas (ISO 8601 durations) in forms
# PostgreSQL reads for timestamptz, date and interval columns; bytes it would write as base64,
# which a bytea column does not read, so callers pass binary values as bytea text (`bytea_text`).
_ENCODER = msgspec.json.Encoder(enc_hook=_default)


def bytea_text(value: bytes) -> str:
    """A binary value in the text form a bytea column reads from JSON (`\\x` and hex)."""
    return "\\x" + value.hex()


def records_json(records: Sequence[Mapping[str, object]]) -> str:
    """The rows as one JSON array of objects (keys are column names)."""
    return _ENCODER.encode(records).decode("utf-8")


def insert(
    conn: sa.Connection,
    table: str,
    columns: Sequence[str],
    records: Sequence[Mapping[str, object]],
    conflict: Sequence[str],
    returning: Sequence[str] = (),
) -> list[TextRow]:
    """Insert `records` (dicts by column) in order, skipping those whose `conflict` key exists.

    Returns the `returning` columns of the rows inserted (none for skipped ones).
    """
    if not records:
        return []
    table = _ident(table)
    cols = ", ".join(_ident(c) for c in columns)
    sql = (
        f"INSERT INTO {table} ({cols}) SELECT {cols} "  # noqa: S608 - identifiers checked above
        f"FROM json_populate_recordset(NULL::{table}, CAST(:rows AS json)) WITH ORDINALITY AS r "
        f"ORDER BY r.ordinality ON CONFLICT ({', '.join(_ident(c) for c in conflict)}) DO NOTHING"
    )
    if returning:
        sql += " RETURNING " + ", ".join(_ident(c) for c in returning)
    result = conn.execute(sa.text(sql), {"rows": records_json(records)})
    return list(result.all()) if returning else []
