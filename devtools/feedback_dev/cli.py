"""The development commands of `feedback`: demo, local Airflow, embedded register, sample data, SMTP capture.

Added to the product's parser through the `feedback.cli` entry point (devtools/pyproject.toml),
so they exist in a checkout and not in the image. Errors print one line, as every command does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from feedback.errors import FeedbackError

# Modules only the development requirements install (sample data, SMTP capture, embedded register).
DEV_MODULES = ("faker", "aiosmtpd", "pgserver")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _development_command(name: str) -> Iterator[None]:
    """One line instead of a traceback when a development command's own dependency is missing.

    `sample`, `demo`, `smtp-sink` and `up` need modules the runtime set leaves out on
    purpose; whoever runs one in an incomplete environment should learn that, not read an
    import error.
    """
    try:
        yield
    except ModuleNotFoundError as missing:
        module = (missing.name or "").partition(".")[0]
        if module not in DEV_MODULES:
            raise
        raise FeedbackError(f"`feedback {name}` is a development command: install requirements-dev.txt "
                            f"(missing module {module})") from None


def cmd_db(args: argparse.Namespace) -> int:
    from feedback_dev import postgres

    if args.action == "start":
        print(postgres.ensure_running().url)
    elif args.action == "stop":
        _say("embedded register stopped" if postgres.stop() else "embedded register was not running")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    with _development_command("sample"):
        from feedback_dev.sample import generate, write_sample

    sample = generate(seed=args.seed, volume=args.volume, month=args.month)
    manifest = write_sample(sample, Path(args.out))
    _say(f"wrote {args.volume} items to {args.out}: {json.dumps(manifest.get('counts', {}), ensure_ascii=False)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from feedback_dev.demo import DemoOptions, run_demo

    with _development_command("demo"):   # run_demo imports the sample generator and SMTP capture first
        return run_demo(DemoOptions(seed=args.seed, volume=args.volume, month=args.month, runs=args.runs))


def cmd_up(args: argparse.Namespace) -> int:
    from feedback_dev.up import run_local_airflow

    with _development_command("up"):     # run_local_airflow imports the SMTP capture first
        return run_local_airflow(port=args.port)


def cmd_smtp_sink(args: argparse.Namespace) -> int:
    import time

    with _development_command("smtp-sink"):
        from feedback_dev import smtp_sink

    sink = smtp_sink.start(port=args.port)
    _say(f"SMTP capture on 127.0.0.1:{sink.port}, storing mails in {sink.folder} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sink.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the development commands to the `feedback` parser (the `feedback.cli` entry point)."""

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    add("db", cmd_db, "start or stop the embedded register").add_argument("action", choices=["start", "stop"])
    sample = add("sample", cmd_sample, "write seeded sample data (mail, web forms, platform pages) to a folder")
    sample.add_argument("--seed", type=int, default=20261001)
    sample.add_argument("--volume", type=int, default=300)
    sample.add_argument("--month", default="2026-10", help="YYYY-MM the items are spread over")
    sample.add_argument("--out", default=".local/sample")
    demo = add("demo", cmd_demo, "run every DAG over a simulated month on sample data, then summarise")
    demo.add_argument("--seed", type=int, default=20261001)
    demo.add_argument("--volume", type=int, default=400)
    demo.add_argument("--month", default="2026-10")
    demo.add_argument("--runs", type=int, default=6, help="logical dates per DAG across the month")
    add("up", cmd_up, "local Airflow (UI on localhost:8080) against the register").add_argument(
        "--port", type=int, default=8080
    )
    add("smtp-sink", cmd_smtp_sink, "run the local SMTP capture server in the foreground").add_argument(
        "--port", type=int, default=None
    )
