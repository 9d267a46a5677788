"""`make demo`: the whole pipeline over a simulated month, through Airflow, on sample data.

It shows a new user what the product does without any infrastructure: the
embedded register, Airflow's metadata in SQLite, a local SMTP server capturing
every mail, seeded sample data delivered day by day, and every DAG that exists
run in pipeline order with `dag.test()` at a handful of logical dates. It ends
with counts a person can check, and verifies that every delivered item is
accounted for (stored once or quarantined), so it doubles as a smoke test.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from feedback.errors import FeedbackError
from feedback.paths import local_dir

# Pipeline order of the stable DAG ids (design.md); the demo runs those that exist.
PIPELINE = (
    "feedback_ingest_email",
    "feedback_ingest_webforms",
    "feedback_ingest_platforms",
    "feedback_triage",
    "feedback_sla_monitor",
    "feedback_callbacks",
    "feedback_report_weekly",
    "feedback_report_monthly",
    "feedback_retention",
)
ZONE = ZoneInfo("Asia/Shanghai")
# DAGs that run before the handling teams see an item (ingest and triage).
INTAKE_SIDE = {"feedback_ingest_email", "feedback_ingest_webforms", "feedback_ingest_platforms", "feedback_triage"}
# DAGs that report on a closed month: run once, on the 1st of the next month (their schedule).
MONTH_END = ("feedback_report_monthly",)
# Recurring DAGs run once more at month end, before the report, to apply what the month's last runs left.
SETTLE = ("feedback_sla_monitor", "feedback_callbacks")


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 20261001
    volume: int = 400
    month: str = "2026-10"
    runs: int = 6


class DemoFailed(FeedbackError):
    """A DAG run in the demo did not succeed."""


def _step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def logical_dates(month: str, runs: int) -> list[datetime]:
    """`runs` evening instants spread over the month, the last one at its final minute."""
    year, mon = (int(p) for p in month.split("-"))
    days = calendar.monthrange(year, mon)[1]
    runs = max(1, min(runs, days))
    picks = sorted({round(days * (i + 1) / runs) for i in range(runs)})
    dates = [datetime(year, mon, d, 18, 0, tzinfo=ZONE) for d in picks]
    dates[-1] = datetime(year, mon, days, 23, 59, tzinfo=ZONE)
    return dates


def month_end_run(month: str) -> datetime:
    """Just after the monthly report's 06:00 slot on the 1st of the next month (its data interval is `month`)."""
    year, mon = (int(p) for p in month.split("-"))
    year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return datetime(year, mon, 1, 6, 5, tzinfo=ZONE)


def order_dags(dag_ids: list[str]) -> list[str]:
    """Known DAGs in pipeline order, then any others (so every DAG that exists runs)."""
    known = [d for d in PIPELINE if d in dag_ids]
    return known + sorted(d for d in dag_ids if d not in PIPELINE)


def _place(target: Path, raw: bytes, staging: Path) -> bool:
    """Write a file the way an MTA delivers: into a staging name, then one rename (readers never see half)."""
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    staging.write_bytes(raw)
    staging.rename(target)
    return True


def deliver(sample, up_to: datetime) -> dict[str, int]:
    """Place the sample items received by `up_to` where the ingest DAGs read them; new files per channel.

    Mail goes into each mailbox's Maildir (`tmp/` then `new/`, as an MTA delivers);
    web-form submissions into the first drop folder.
    """
    from feedback.channels.config import load_channels

    channels = load_channels()
    placed = {"email": 0, "webform": 0}
    maildirs = {m.name: m.resolved_drop(local_dir()) for m in channels.mailboxes}
    for item in sample.emails:
        root = maildirs.get(item.source)
        if root is None or item.received_at > up_to:
            continue
        for sub in ("new", "cur", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        if (root / "cur" / f"{item.file_name}:2,").exists():
            continue
        placed["email"] += _place(root / "new" / item.file_name, item.raw, root / "tmp" / item.file_name)
    if channels.webforms.drops:
        folder = channels.webforms.drops[0].resolved(local_dir())
        for item in sample.webforms:
            if item.received_at <= up_to:
                placed["webform"] += _place(folder / item.file_name, item.raw,
                                            folder / f".{item.file_name}.part")
    return placed


class PlatformStandIns:
    """The shipped Zendesk and Trustpilot entries, served by local simulators of their APIs.

    The demo has no network: each platform's sample records are handed to its simulator as
    their time comes (`deliver`), the simulators' clocks follow the demo's logical dates, and
    the platforms' connections point the shipped entries at them (`base_url` and the business
    unit in the connection's extra), exactly as a deployment's connections would.
    """

    def __init__(self) -> None:
        from feedback_dev.platform_api import TrustpilotSim, ZendeskSim

        self.now = datetime(2026, 1, 1, tzinfo=ZONE)
        # The simulators' clock never runs behind the wall clock: a demo run again on the same register
        # starts its month with cursors from the first run, which a vendor would call "in the future".
        self.sims = {"zendesk": ZendeskSim(now=self.clock), "trustpilot": TrustpilotSim(now=self.clock)}
        self.served: set[str] = set()

    def clock(self) -> datetime:
        return max(self.now, datetime.now(ZONE))

    def start(self) -> dict[str, str]:
        """Starts the simulators; the connection variables that point the entries at them."""
        import json
        from urllib.parse import quote

        for sim in self.sims.values():
            sim.start()
        zendesk, trustpilot = self.sims["zendesk"], self.sims["trustpilot"]
        login = quote(f"{zendesk.email}/token", safe="")
        return {
            "AIRFLOW_CONN_FEEDBACK_PLATFORM_ZENDESK":
                f"https://{login}:{zendesk.api_token}@demo?base_url={quote(zendesk.base_url, safe='')}",
            "AIRFLOW_CONN_FEEDBACK_PLATFORM_TRUSTPILOT": json.dumps({
                "conn_type": "https", "login": trustpilot.client_id, "password": trustpilot.client_secret,
                "extra": {"base_url": trustpilot.base_url, "business_unit_id": trustpilot.business_unit_id}}),
        }

    def deliver(self, items, up_to: datetime) -> int:
        """Hand the simulators the sample records received by `up_to`; returns how many were new."""
        import json

        self.now = up_to + timedelta(minutes=5)
        fresh: dict[str, list[dict]] = {}
        for item in items:
            if item.received_at <= up_to and item.external_id not in self.served and item.source in self.sims:
                self.served.add(item.external_id)
                fresh.setdefault(item.source, []).append(json.loads(item.raw))
        for name, records in fresh.items():
            self.sims[name].add(records)
        return sum(len(r) for r in fresh.values())

    def stop(self) -> None:
        for sim in self.sims.values():
            sim.stop()


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's stdout/stderr (fd level) to a file: Airflow's task logs are long."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def prepare_airflow_db(env: dict[str, str]) -> None:
    log = local_dir() / "airflow" / "db-migrate.log"
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if proc.returncode != 0:
        raise DemoFailed(f"`airflow db migrate` failed (exit {proc.returncode}); see {log}")
    _step(f"Airflow metadata DB ready in {time.monotonic() - started:.1f}s ({env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']})")


def load_dags():
    from airflow.dag_processing.dagbag import DagBag

    from feedback.paths import dags_dir

    bag = DagBag(dag_folder=str(dags_dir()))
    if bag.import_errors:
        first = next(iter(bag.import_errors.items()))
        raise DemoFailed(f"{len(bag.import_errors)} DAG file(s) failed to import; first: {first[0]}: {first[1]}")
    return bag


def run_dag(dag, when: datetime, log_dir: Path) -> tuple[str, float, Path]:
    log = log_dir / f"{dag.dag_id}-{when:%Y%m%dT%H%M}.log"
    started, wall = time.monotonic(), datetime.now(UTC)
    with _output_to(log):
        run = dag.test(logical_date=when)
    record_wall_clock_start(run, wall)
    return str(run.state), time.monotonic() - started, log


def record_wall_clock_start(run, started_at: datetime) -> None:
    """Give a simulated run the wall-clock start it really had, so the Airflow UI shows its true duration.

    `dag.test()` records a run as started at its logical date (October) and ended now (the
    wall clock), so the UI showed the demo's runs lasting 3 to 59 days. The logical date and
    data interval stay simulated; only the run's start becomes the moment it started.
    """
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.execute(sa.update(DagRun).where(DagRun.id == run.id).values(start_date=started_at)
                        .execution_options(synchronize_session=False))


def register_vips(engine) -> int:
    """The sample's VIP customers, as the CRM would supply them (stored as keyed hashes only)."""
    from feedback.triage.tiers import set_tier
    from feedback_dev.sample import VIP_CUSTOMERS

    contacts = [c.mobile for c in VIP_CUSTOMERS] + [c.email for c in VIP_CUSTOMERS if c.email]
    with engine.begin() as conn:
        stored, _ = set_tier(conn, contacts, "vip", source="demo")
    return stored


# Overdue reasons the simulated CRM gives (codes of sla_policies.yaml overdue_reasons), spare parts most often.
DEMO_OVERDUE_REASONS = ("spare_parts", "cross_department", "spare_parts", "waiting_customer", "system_failure",
                        "cross_department", "other")


def simulate_handlers(engine, up_to: datetime) -> int:
    """Play the handling teams' CRM: feed status events for registered items, as docs/operating.md describes.

    Deterministic per item (from its number): most items get a reply within a few hours, some wait
    on the customer for a day, many are resolved within days; some are never touched, so the
    monitor has warnings and breaches to report. Only events dated up to `up_to` are fed.
    """
    import hashlib

    import sqlalchemy as sa

    with engine.connect() as conn:
        items = conn.execute(sa.text("SELECT id, feedback_no, received_at FROM feedback.feedback")).all()
    rows = []
    for item in items:
        roll = int(hashlib.sha256(item.feedback_no.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        base = item.received_at
        plan = []
        if roll < 0.65:
            plan.append(("responded", None, base + timedelta(hours=1 + 6 * roll)))
        if 0.15 < roll < 0.30:
            plan.append(("status_changed", "waiting_customer", base + timedelta(hours=3)))
            plan.append(("status_changed", "in_progress", base + timedelta(hours=27)))
        if roll < 0.45:
            plan.append(("resolved", None, base + timedelta(days=1 + 4 * roll)))
        if 0.65 <= roll < 0.92:
            # Untouched items: the CRM says why they are late (an overdue_reason event, docs/operating.md);
            # the rest are left to the supervisors' console (/feedback/console/overdue).
            plan.append(("overdue_reason", DEMO_OVERDUE_REASONS[int(roll * 1000) % len(DEMO_OVERDUE_REASONS)],
                         base + timedelta(days=2)))
        for kind, status, at in plan:
            if at <= up_to:
                reason = status if kind == "overdue_reason" else None
                rows.append({"f": item.id, "k": kind, "s": None if reason else status, "r": reason, "t": at,
                             "d": f"demo-crm:{item.id}:{kind}:{status or ''}"})
    if rows:
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, to_status,"
                        " reason, dedup_key) VALUES (:f, :k, :t, 'demo-crm', :s, :r, :d) "
                        "ON CONFLICT (dedup_key) DO NOTHING"),
                rows,
            )
    return len(rows)


def _counts(counts: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing to do"


def callback_summary(engine) -> dict[str, int]:
    """How the month's callbacks ended: tasks by outcome/status, and items closed or reopened after one."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        tasks = dict(conn.execute(sa.text(
            "SELECT coalesce(outcome, status), count(*) FROM feedback.callback_task GROUP BY 1")).all())
        items = dict(conn.execute(sa.text(
            """SELECT event_type, count(DISTINCT feedback_id) FROM feedback.feedback_event
               WHERE event_type IN ('closed', 'reopened') GROUP BY 1""")).all())
        surveys = conn.execute(sa.text("SELECT count(*) FROM feedback.outbox WHERE kind = 'survey'")).scalar_one()
    return {**{f"tasks {k}": v for k, v in sorted(tasks.items())},
            "items closed": items.get("closed", 0), "items reopened": items.get("reopened", 0),
            "survey mails": surveys}


def planted_contacts_outside_vault(engine, sample) -> int:
    """How many of the sample's planted phones/e-mails/IDs appear anywhere but intake and the vault."""
    import sqlalchemy as sa

    planted = {p for item in sample.all_items() for p in item.planted_pii if len(p) >= 3}
    tables = ("feedback", "feedback_event", "feedback_deadline", "quarantine", "outbox", "sla_breach",
              "callback_task", "channel_cursor")
    found = 0
    with engine.connect() as conn:
        for table in tables:
            text = "\n".join(
                conn.execute(sa.text(f"SELECT row_to_json(t)::text FROM feedback.{table} t")).scalars()  # noqa: S608
            )
            found += sum(1 for value in planted if value in text)
    return found


def open_surveys(engine, folder: Path, now: datetime) -> tuple[int, datetime | None, str | None]:
    """Surveys a customer can still answer at `now`: how many, until when, and one link from the captured mails."""
    import email
    import email.policy
    import re

    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            """SELECT f.feedback_no, t.survey_expires_at FROM feedback.callback_task t
               JOIN feedback.feedback f ON f.id = t.feedback_id
               WHERE t.status IN ('pending', 'claimed') AND t.survey_sent_at IS NOT NULL
                 AND t.survey_expires_at > :now ORDER BY t.survey_expires_at DESC"""), {"now": now}).all()
    if not rows:
        return 0, None, None
    numbers = {r.feedback_no for r in rows}
    link = None
    for path in sorted(folder.glob("*.eml")):
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if mail["X-Feedback-Outbox"] == "survey" and mail["X-Feedback-No"] in numbers:
            found = re.search(r"https?://\S+/survey/[A-Za-z0-9._-]+", mail.get_body(("plain",)).get_content())
            if found:
                link = found.group(0)
                break
    return len(rows), rows[0].survey_expires_at, link


def where_links_open(engine, folder: Path) -> list[str]:
    """Where the links in the demo's mails open: the app `make up` serves, and one survey still open now."""
    from feedback.callbacks.policy import load_policy
    from feedback.notify.escalation import load_ladder

    count, until, link = open_surveys(engine, folder, datetime.now(UTC))
    survey_base = load_policy().survey.base_url
    console = load_ladder().console_url.rstrip("/")
    lines = [f"links in the mails open in the local Airflow's web app: run `make up`, then e.g. {console}/overdue "
             f"(SLA digests, login admin) and the survey links ({survey_base}/…)"]
    if count:
        lines.append(f"surveys still open: {count}, answerable until {until.astimezone(ZONE):%Y-%m-%d %H:%M %Z}; "
                     f"one of them: {link or '(not found in the captured mails)'}")
    else:
        lines.append("surveys still open: 0 (every survey of the month is answered or expired)")
    return lines


def _accounting(engine, channel: str) -> tuple[int, int]:
    """Intake rows (items, replies, skipped mail) and quarantined entries of a channel."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM feedback.intake WHERE channel = :c"),
                              {"c": channel}).scalar_one()
        parked = conn.execute(sa.text("SELECT count(*) FROM feedback.quarantine WHERE channel = :c"),
                              {"c": channel}).scalar_one()
    return stored, parked


def run_demo(opts: DemoOptions) -> int:
    from feedback.callbacks.survey import EXPIRY_FROM_ENV
    from feedback.db import status
    from feedback.db.engine import display_url, get_engine, libpq_url
    from feedback.db.migrations import migrate
    from feedback_airflow import airflow_env
    from feedback_dev import smtp_sink
    from feedback_dev.callback_team import work_queue
    from feedback_dev.sample import generate, write_sample

    started = time.monotonic()
    _step("register")
    engine = get_engine()
    report = migrate(engine, progress=lambda m: _step(f"  {m}"))
    _step(f"  {display_url(engine)}: {len(report.applied)} migration(s) applied, {len(report.skipped)} present")

    _step("local SMTP capture")
    sink = smtp_sink.start()
    _step(f"  listening on 127.0.0.1:{sink.port}, mails stored in {sink.folder}")
    env = airflow_env.airflow_env(register_url=libpq_url(engine), smtp_port=sink.port)
    # The month is in the past: survey links count their validity from the wall clock, so the
    # surveys still open when the demo ends can be answered in `make up` (callbacks.survey.expiry_base).
    env[EXPIRY_FROM_ENV] = os.environ.get(EXPIRY_FROM_ENV, "clock")
    platforms = PlatformStandIns()
    env.update(platforms.start())
    _step(f"  platform simulators: {', '.join(f'{n} on {s.base_url}' for n, s in platforms.sims.items())}")
    airflow_env.apply(env)
    try:
        _step("Airflow metadata DB (SQLite, separate from the register)")
        prepare_airflow_db(env)

        _step(f"sample data: seed {opts.seed}, {opts.volume} items over {opts.month}")
        sample = generate(seed=opts.seed, volume=opts.volume, month=opts.month)
        manifest = write_sample(sample, local_dir() / "sample")
        _step(f"  {manifest.get('counts', {}).get('channel', manifest.get('counts'))}")

        _step(f"  {register_vips(engine)} VIP contacts registered as keyed hashes")

        _step("loading DAGs")
        log_dir = local_dir() / "airflow" / "demo-logs"
        with _output_to(log_dir / "dagbag.log"):
            bag = load_dags()
        order = order_dags(list(bag.dags))
        _step(f"  pipeline order: {', '.join(order)}")

        dates = logical_dates(opts.month, opts.runs)
        for when in dates:
            placed = deliver(sample, when)
            served = platforms.deliver(sample.platform_items, when)
            _step(f"{when:%Y-%m-%d %H:%M %Z}: delivered {placed['email']} mail(s), "
                  f"{placed['webform']} web-form submission(s), {served} platform record(s)")
            crm_fed = False
            for dag_id in order:
                if dag_id in MONTH_END:
                    continue
                if not crm_fed and dag_id not in INTAKE_SIDE:
                    # The handling teams work on registered items; their CRM feeds status events.
                    _step(f"  handlers' CRM has fed {simulate_handlers(engine, when)} status event(s) so far")
                    crm_fed = True
                state, seconds, log = run_dag(bag.dags[dag_id], when, log_dir)
                mark = "ok" if state == "success" else "FAILED"
                _step(f"  {dag_id:<28} {mark:<6} {seconds:5.1f}s")
                if state != "success":
                    raise DemoFailed(f"{dag_id} at {when:%Y-%m-%d} ended {state}; task logs: {log}")
                if dag_id == "feedback_callbacks":
                    # The callback team works the queue the run scheduled, through the console's functions.
                    worked = work_queue(engine, when, opts.seed)
                    _step(f"    callback team's shift: {_counts(worked)}")
        month_end = month_end_run(opts.month)
        _step(f"{month_end:%Y-%m-%d %H:%M %Z}: month end")
        # The last shift's outcomes are applied (closed, reopened, escalation mails) before the month is
        # reported, so the demo ends settled and a second run finds nothing to change.
        for dag_id in (d for d in (*SETTLE, *MONTH_END) if d in bag.dags):
            state, seconds, log = run_dag(bag.dags[dag_id], month_end, log_dir)
            _step(f"  {dag_id:<28} {'ok' if state == 'success' else 'FAILED':<6} {seconds:5.1f}s")
            if state != "success":
                raise DemoFailed(f"{dag_id} at {month_end:%Y-%m-%d} ended {state}; task logs: {log}")
    finally:
        sink.stop()
        platforms.stop()

    print()
    print(f"register: {display_url(engine)}")
    print(status.render(status.collect(engine)))
    print()
    unaccounted = 0
    for channel, label, delivered in (("email", "mails", sample.emails),
                                      ("webform", "web-form submissions", sample.webforms),
                                      ("platform", "platform records (Zendesk, Trustpilot)", sample.platform_items)):
        stored, parked = _accounting(engine, channel)
        print(f"{label}: {len(delivered)} in the sample, {stored} stored in intake, {parked} quarantined")
        unaccounted += len(delivered) - stored - parked
    print(f"callbacks: {_counts(callback_summary(engine))}")
    mails = sorted(sink.folder.glob("*.eml"))
    archive = local_dir() / "archive"
    print(f"mails sent (captured as .eml): {len(mails)} in {sink.folder}")
    reports = sorted(p for p in archive.rglob("*") if p.is_file()) if archive.exists() else []
    print(f"report files: {len(reports)} in {archive}")
    print(f"Airflow task logs: {log_dir}")
    for line in where_links_open(engine, sink.folder):
        print(line)
    print(f"demo finished in {time.monotonic() - started:.0f}s")
    leaks = planted_contacts_outside_vault(engine, sample)
    print(f"planted contacts found outside intake and the vault: {leaks}")
    if leaks:
        raise DemoFailed(f"{leaks} planted contact value(s) found in the register outside intake and the vault")
    if unaccounted:
        raise DemoFailed(f"{unaccounted} delivered item(s) unaccounted for (neither in intake nor quarantined)")
    return 0
