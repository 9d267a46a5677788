"""What is in the register, as counts: the answer to "did the pipeline do its job?".

Used by `feedback status` and the demo's closing summary. Only counts and labels,
never row contents, so it is safe to print anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

TABLES = (
    "intake", "feedback", "feedback_event", "contact_vault", "quarantine", "channel_cursor",
    "sla_breach", "outbox", "callback_task", "report_archive", "schema_migrations",
)

BREAKDOWNS = {
    "intake by channel": "SELECT channel, count(*) FROM feedback.intake GROUP BY 1 ORDER BY 1",
    "intake by status": "SELECT status, count(*) FROM feedback.intake GROUP BY 1 ORDER BY 1",
    "quarantine by reason": "SELECT channel || ': ' || reason, count(*) FROM feedback.quarantine GROUP BY 1 ORDER BY 1",
    "feedback by channel": "SELECT channel, count(*) FROM feedback.feedback GROUP BY 1 ORDER BY 1",
    "feedback by type": (
        "SELECT coalesce(category[1], '(unclassified)'), count(*) FROM feedback.feedback GROUP BY 1 ORDER BY 1"
    ),
    "feedback by priority": "SELECT priority, count(*) FROM feedback.feedback GROUP BY 1 ORDER BY 1",
    "feedback by status": "SELECT status, count(*) FROM feedback.feedback GROUP BY 1 ORDER BY 1",
    "SLA warnings/breaches": "SELECT kind || ' ' || stage, count(*) FROM feedback.sla_breach GROUP BY 1 ORDER BY 1",
    "callbacks by status": "SELECT status, count(*) FROM feedback.callback_task GROUP BY 1 ORDER BY 1",
    "outbox by kind": (
        "SELECT kind || CASE WHEN sent_at IS NULL THEN ' (pending)' ELSE ' (sent)' END, count(*) "
        "FROM feedback.outbox GROUP BY 1 ORDER BY 1"
    ),
}


@dataclass
class RegisterStatus:
    migrations: list[str]
    tables: dict[str, int]
    breakdowns: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "migrations": self.migrations,
            "tables": self.tables,
            "breakdowns": {k: dict(v) for k, v in self.breakdowns.items()},
        }


def collect(engine: Engine) -> RegisterStatus:
    with engine.connect() as conn:
        present = set(
            conn.execute(
                sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'feedback'")
            ).scalars()
        )
        tables = {
            t: conn.execute(sa.text(f"SELECT count(*) FROM feedback.{t}")).scalar_one()  # noqa: S608 - fixed names
            for t in TABLES
            if t in present
        }
        migrations = (
            list(conn.execute(sa.text("SELECT version || '_' || name FROM feedback.schema_migrations ORDER BY 1"))
                 .scalars())
            if "schema_migrations" in present
            else []
        )
        breakdowns = {}
        if "intake" in present:
            for title, query in BREAKDOWNS.items():
                breakdowns[title] = [(str(k), int(v)) for k, v in conn.execute(sa.text(query)).tuples()]
    return RegisterStatus(migrations, tables, breakdowns)


def render(status: RegisterStatus) -> str:
    lines = [f"migrations applied: {', '.join(status.migrations) or 'none (run `feedback migrate`)'}", ""]
    lines.append("rows per table:")
    keys = [*status.tables, *(k for rows in status.breakdowns.values() for k, _ in rows)]
    width = max((len(k) for k in keys), default=10)
    for table, count in status.tables.items():
        lines.append(f"  {table:<{width}}  {count:>8}")
    for title, rows in status.breakdowns.items():
        if not rows:
            continue
        lines.append("")
        lines.append(f"{title}:")
        for key, count in rows:
            lines.append(f"  {key:<{width}}  {count:>8}")
    return "\n".join(lines)
