"""`feedback run DAG_ID`: the Airflow-backed command of the `feedback` CLI (the `feedback.cli` entry point).

It lives with the Airflow glue because it needs Airflow (the dags folder, `dag.test()`), which
the product package does not import; the root pyproject.toml declares the entry point, so the
command exists wherever the project is installed, in a checkout and in the image.
"""

from __future__ import annotations

import argparse
import sys


def cmd_run(args: argparse.Namespace) -> int:
    from feedback.business_time import business_zone
    from feedback_airflow.run_now import parse_at, run_dag

    run_dag(args.dag_id, parse_at(args.at, business_zone().key),
            lambda message: print(message, file=sys.stderr, flush=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `run` to the `feedback` parser."""
    help_ = ("run one DAG now through Airflow (dag.test) on the configured register and SMTP, "
             "e.g. after a fix and a release")
    run = sub.add_parser("run", help=help_, description=help_)
    run.set_defaults(func=cmd_run)
    run.add_argument("dag_id", help="e.g. feedback_sla_monitor, feedback_retention")
    run.add_argument("--at", help="logical date, ISO 8601 (default now); without an offset it is business time")
