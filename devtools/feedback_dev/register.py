"""The checkout's embedded register, offered to the product through the `feedback.register` entry point.

`feedback.db.engine` asks for it when no `feedback_db` connection is configured in local mode;
the image has no development package, so there a missing connection stays an error.
"""

from __future__ import annotations


class EmbeddedPostgres:
    """The embedded PostgreSQL under .local/pgdata (feedback_dev.postgres), started on demand."""

    source = "the embedded register (.local/pgdata)"

    def url(self) -> str:
        from feedback_dev import postgres

        return postgres.ensure_running().url

    def psql(self) -> str:
        from feedback_dev import postgres

        return str(postgres.bin_dir() / "psql")


EMBEDDED = EmbeddedPostgres()
