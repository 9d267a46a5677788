"""The bulk write path (COPY into staging, INSERT … ON CONFLICT) on a real register."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from conftest import scalar

from feedback.db.bulk import copy_into, upsert

T0 = datetime(2026, 10, 1, tzinfo=UTC)
COLS = ("channel", "source", "external_id", "received_at", "payload", "content_sha256")


def _row(external_id: str, body: str = "hello", channel: str = "webform"):
    return (channel, "contact_zh", external_id, T0, {"body": body}, "a" * 64)


def test_upsert_inserts_once_and_reports_new_rows(register):
    rows = [_row(f"wf-{i}") for i in range(100)]
    with register.begin() as conn:
        assert upsert(conn, "feedback.intake", COLS, rows, ("channel", "external_id")) == 100
    with register.begin() as conn:
        assert upsert(conn, "feedback.intake", COLS, rows, ("channel", "external_id")) == 0
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 100


def test_duplicates_inside_one_batch_keep_the_first(register):
    rows = [_row("wf-1", "first"), _row("wf-1", "second"), _row("wf-2")]
    with register.begin() as conn:
        assert upsert(conn, "feedback.intake", COLS, rows, ("channel", "external_id")) == 2
    assert scalar(register, "SELECT payload->>'body' FROM feedback.intake WHERE external_id = 'wf-1'") == "first"


def test_update_mode_overwrites_named_columns(register):
    with register.begin() as conn:
        upsert(conn, "feedback.intake", COLS, [_row("wf-1", "old")], ("channel", "external_id"))
        n = upsert(conn, "feedback.intake", COLS, [_row("wf-1", "new")], ("channel", "external_id"), ("payload",))
    assert n == 1
    assert scalar(register, "SELECT payload->>'body' FROM feedback.intake") == "new"


def test_awkward_text_survives_the_copy_format_unchanged(register):
    nasty = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "", "中文，全角１３８", "emoji 😀", "quote ' \""]
    with register.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE probe (n int, t text, b bytea, j jsonb, f boolean) ON COMMIT DROP")
        copy_into(
            conn,
            "probe",
            ("n", "t", "b", "j", "f"),
            [(i, s, s.encode(), {"v": s, "list": [s]}, i % 2 == 0) for i, s in enumerate(nasty)]
            + [(99, None, None, None, None)],
        )
        got = conn.execute(sa.text("SELECT n, t, b, j, f FROM probe ORDER BY n")).all()
    for (n, t, b, j, f), s in zip(got, nasty, strict=False):
        assert (t, bytes(b), j, f) == (s, s.encode(), {"v": s, "list": [s]}, n % 2 == 0)
    assert got[-1] == (99, None, None, None, None)


def test_upsert_runs_inside_the_callers_transaction(register):
    try:
        with register.begin() as conn:
            upsert(conn, "feedback.intake", COLS, [_row("wf-1")], ("channel", "external_id"))
            raise RuntimeError("crash after the write, before commit")
    except RuntimeError:
        pass
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 0


def test_rows_are_inserted_in_input_order(register):
    keys = ["wf-9", "wf-1", "wf-5"]
    with register.begin() as conn:
        upsert(conn, "feedback.intake", COLS, [_row(k) for k in keys], ("channel", "external_id"))
    with register.connect() as conn:
        by_id = conn.execute(sa.text("SELECT external_id FROM feedback.intake ORDER BY id")).scalars().all()
    assert by_id == keys


def test_text_arrays_survive_commas_quotes_and_backslashes(register):
    from feedback.db.bulk import text_array

    values = ['a,b', 'say "hi"', "back\\slash", "{brace}", "中文"]
    with register.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE arr (v text[]) ON COMMIT DROP")
        copy_into(conn, "arr", ("v",), [(text_array(values),)])
        assert conn.execute(sa.text("SELECT v FROM arr")).scalar_one() == values


def test_setwise_values_arrive_as_their_column_types(register):
    """Every kind of value triage sends in its JSON rows is read back as what was sent (issue 17's encoder)."""
    from datetime import date, timedelta, timezone

    from feedback.db import setwise

    shanghai = timezone(timedelta(hours=8))
    with register.begin() as conn:
        conn.exec_driver_sql(
            """CREATE TABLE feedback.setwise_probe (k text PRIMARY KEY, at timestamptz, day date, span interval,
                                                     blob bytea, tags text[], doc jsonb, n numeric, ok boolean)""")
        records = [
            {"k": "a", "at": datetime(2026, 10, 1, 9, 30, 15, 123456, tzinfo=shanghai), "day": date(2026, 10, 2),
             "span": timedelta(days=1, hours=2, seconds=0.5), "blob": setwise.bytea_text(b"\x00\xffgAAAA=="),
             "tags": ("退款", "app"), "doc": {"text": "订单 \"DD1\"\n", "n": [1, 2.5], "none": None},
             "n": 0.875, "ok": True},
            {"k": "b", "at": None, "day": None, "span": None, "blob": None, "tags": [], "doc": {}, "n": None,
             "ok": False},
        ]
        inserted = setwise.insert(conn, "feedback.setwise_probe", list(records[0]), records, ("k",),
                                  returning=("k",))
        assert [r.k for r in inserted] == ["a", "b"]
        assert setwise.insert(conn, "feedback.setwise_probe", list(records[0]), records, ("k",),
                              returning=("k",)) == []   # keyed: a replay writes nothing
        # Subclasses of the built-in types, as Airflow and the templates hand them over.
        import pendulum
        from markupsafe import Markup

        setwise.insert(conn, "feedback.setwise_probe", ["k", "at", "doc"],
                       [{"k": Markup("c"), "at": pendulum.datetime(2026, 10, 3, 1, 2, 3, tz="Asia/Shanghai"),
                         "doc": {"html": Markup("<b>您好</b>"), "n": 1}}], ("k",))
        c = conn.execute(sa.text("SELECT at, doc FROM feedback.setwise_probe WHERE k = 'c'")).one()
        assert c.at == datetime(2026, 10, 2, 17, 2, 3, tzinfo=UTC) and c.doc == {"html": "<b>您好</b>", "n": 1}
        a, b = conn.execute(sa.text("SELECT * FROM feedback.setwise_probe WHERE k < 'c' ORDER BY k")).all()
    assert a.at == records[0]["at"] and a.day == date(2026, 10, 2)
    assert a.span == timedelta(days=1, hours=2, seconds=0.5)
    assert bytes(a.blob) == b"\x00\xffgAAAA=="
    assert a.tags == ["退款", "app"] and a.doc == records[0]["doc"]
    assert float(a.n) == 0.875 and a.ok is True
    assert (b.at, b.span, b.blob, b.tags, b.doc, b.ok) == (None, None, None, [], {}, False)
