"""
### feedback_ingest_email

Reads every support mailbox into the register's `intake` table, each message exactly once.

* **Mailboxes**: one mapped task per enabled entry under `mailboxes` in `include/config/channels.yaml`, read over
  IMAP through the `feedback_imap_<mailbox>` connection (IMAPS, STARTTLS or plain IMAP) or, without one, from the
  mailbox's `drop_path` (a Maildir, or a folder of `.eml` files).
* **Position**: UIDVALIDITY + last UID per folder in `channel_cursor`, moved in the transaction that stores the
  batch; never the \\Seen flag. A UIDVALIDITY change rereads the folder without duplicating (Message-ID, or a
  content hash where it is missing or reused). Mail is moved or deleted only if `after_commit` says so, after commit.
* **Backlog**: batches of `intake.batch_size`, each committed; at most `mail.max_messages_per_run` messages or
  `mail.max_run_seconds` per run, the rest in the next run.
* **Not feedback**: bounces, auto-replies and our own mail are stored with status `skipped` and the reason; they
  never become items nor get an acknowledgement. The Sent folder (`sent_folder`) is read for our replies, which
  triage records as `responded` events.
* **Bad input**: a mail that cannot be parsed, or is larger than `mail.max_message_bytes`, is parked in
  `quarantine` with the reason (raw bytes encrypted); the batch goes on. `feedback quarantine list|retry`.
* **Output**: counts per folder (no addresses, no subjects); when it stored rows, updates
  `feedback://register/intake`, which triggers triage (a run that stored nothing triggers nothing).
"""

from datetime import timedelta

from airflow.sdk import dag, task

from feedback_airflow.defaults import (
    INTAKE_ALIAS,
    START_DATE,
    TIMEOUTS,
    announce_intake,
    default_args,
    run_instant,
    tags,
)


@dag(
    dag_id="feedback_ingest_email",
    schedule=timedelta(minutes=5),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=tags("ingest", "email"),
    doc_md=__doc__,
    default_args=default_args(),
)
def feedback_ingest_email():
    @task(execution_timeout=TIMEOUTS["lookup"])
    def enabled_mailboxes() -> list[str]:
        """Names only; each mailbox becomes one mapped task."""
        from feedback.channels.config import load_channels

        return [m.name for m in load_channels().mailboxes if m.enabled]

    @task(retries=3, outlets=[INTAKE_ALIAS], execution_timeout=TIMEOUTS["ingest"])
    def ingest_mailbox(mailbox: str, **context) -> dict:
        """Counts per folder for XCom: fetched, inserted, duplicates, skipped, quarantined, position."""
        from feedback.channels.mail.ingest import ingest_mailbox, mailbox_config
        from feedback_airflow.register import connection_uri, register_engine

        uri = connection_uri(mailbox_config(mailbox).connection_id)
        return announce_intake(context, ingest_mailbox(register_engine(), mailbox, uri, run_time=run_instant(context)))

    ingest_mailbox.expand(mailbox=enabled_mailboxes())


feedback_ingest_email()
