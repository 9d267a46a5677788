"""The reference for the Celery deployment test: ingest and triage of a sample through `dag.test()`.

Run as a separate process (so it can work while the deployment starts), the way `make demo` runs the
DAGs: the sample delivered into a local folder of its own and to fresh platform simulators, the VIP
customers registered, then each ingest DAG and triage once with `dag.test()`. The register (given by
AIRFLOW_CONN_FEEDBACK_DB), Airflow's metadata (AIRFLOW_HOME) and FEEDBACK_LOCAL_DIR come from the
environment. Prints one JSON object: the register's counts (see `counts`).

    python tests/e2e/reference_run.py --seed 20261001 --volume 60 --month 2026-11
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "include"), str(ROOT / "plugins")]

INGEST = ("feedback_ingest_email", "feedback_ingest_webforms", "feedback_ingest_platforms")
ZONE = ZoneInfo("Asia/Shanghai")

COUNT_QUERIES = {
    "intake": "SELECT concat_ws('/', channel, status), count(*) FROM feedback.intake GROUP BY 1",
    "quarantine": "SELECT concat_ws('/', channel, reason), count(*) FROM feedback.quarantine GROUP BY 1",
    "feedback": "SELECT concat_ws('/', category::text, priority::text), count(*) FROM feedback.feedback GROUP BY 1",
    "events": "SELECT event_type, count(*) FROM feedback.feedback_event GROUP BY 1",
    "acks": "SELECT kind, count(*) FROM feedback.outbox WHERE kind = 'ack' GROUP BY 1",
}


def counts(engine) -> dict[str, dict[str, int]]:
    """What ingest and triage produced, as counts that do not depend on when or where they ran."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        return {name: dict(conn.execute(sa.text(sql)).all()) for name, sql in COUNT_QUERIES.items()}


def month_end(month: str) -> datetime:
    """The last minute of `month` in Asia/Shanghai: every sample item was received by then."""
    year, mon = (int(p) for p in month.split("-"))
    year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return datetime(year, mon, 1, tzinfo=ZONE) - timedelta(minutes=1)


def deliver_sample(sample, month: str):
    """The demo's delivery (Maildirs, drop folder under FEEDBACK_LOCAL_DIR) and fresh platform simulators.

    Returns the simulators (stop them after use) and the connection variables pointing the platforms at them.
    """
    from feedback_dev.demo import PlatformStandIns, deliver

    platforms = PlatformStandIns()
    connections = platforms.start()
    up_to = month_end(month)
    placed = deliver(sample, up_to)
    served = platforms.deliver(sample.platform_items, up_to)
    if placed["email"] != len(sample.emails) or placed["webform"] != len(sample.webforms):
        raise SystemExit(f"delivered {placed}, the sample has {len(sample.emails)} mails and "
                         f"{len(sample.webforms)} web-form submissions (is {os.environ.get('FEEDBACK_LOCAL_DIR')} "
                         "fresh?)")
    if served != len(sample.platform_items):
        raise SystemExit(f"served {served} platform records, the sample has {len(sample.platform_items)}")
    return platforms, connections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--volume", type=int, required=True)
    parser.add_argument("--month", required=True)
    args = parser.parse_args(argv)

    from airflow.dag_processing.dagbag import DagBag

    from feedback.db.engine import get_engine
    from feedback_dev import smtp_sink
    from feedback_dev.demo import register_vips
    from feedback_dev.sample import generate

    sample = generate(seed=args.seed, volume=args.volume, month=args.month)
    engine = get_engine()
    sink = smtp_sink.start()
    os.environ["AIRFLOW_CONN_FEEDBACK_SMTP"] = f"smtp://127.0.0.1:{sink.port}?disable_tls=true&disable_ssl=true"
    platforms, connections = deliver_sample(sample, args.month)
    os.environ.update(connections)
    try:
        register_vips(engine)
        when = datetime.now(UTC).replace(microsecond=0)
        for dag_id in (*INGEST, "feedback_triage"):
            bag = DagBag(dag_folder=str(ROOT / "dags" / f"{dag_id}.py"))
            if bag.import_errors:
                raise SystemExit(f"{dag_id}: import errors {bag.import_errors}")
            run = bag.dags[dag_id].test(logical_date=when)
            if run.state != "success":
                raise SystemExit(f"reference dag.test() of {dag_id} ended {run.state}")
        result = counts(engine)
    finally:
        platforms.stop()
        sink.stop()
    sys.stdout.flush()
    print("REFERENCE-COUNTS " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
