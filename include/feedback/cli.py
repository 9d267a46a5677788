"""`feedback`: the operator's command line.

One entry point for what operators do by hand (migrate, inspect, open a shell on the
register); each capability adds its commands here. Commands that need what the product
does not import come through the `feedback.cli` entry point group: `run` from the Airflow
glue (plugins/feedback_airflow), the demo and the local servers from the development
package in a checkout. Errors print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from feedback import extensions
from feedback.errors import FeedbackError
from feedback.holds import STAGES
from feedback.vocabulary import Priority, codes

if TYPE_CHECKING:
    from feedback.callbacks.tasks import ClaimedTask

# PostgreSQL undefined_table / invalid_schema_name: a register not (fully) migrated.
UNMIGRATED = {"42P01", "3F000"}
# A feedback number as triage writes it (feedback.triage.numbering): business date, then the day's serial.
FEEDBACK_NO = re.compile(r"^[0-9]{8}-[0-9]{3,}$")
# Entry point group of the commands the product does not define itself (see the module docstring).
COMMANDS_GROUP = "feedback.cli"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    from feedback.db.engine import display_url, get_engine
    from feedback.db.migrations import migrate

    engine = get_engine()
    _say(f"register: {display_url(engine)}")
    report = migrate(engine, progress=lambda m: _say(f"  {m}"))
    _say(f"migrations: {len(report.applied)} applied, {len(report.skipped)} already present")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from feedback.db import status
    from feedback.db.engine import display_url, get_engine

    engine = get_engine()
    result = status.collect(engine)
    if args.json:
        print(json.dumps({"register": display_url(engine), **result.as_dict()}, indent=2, ensure_ascii=False))
    else:
        print(f"register: {display_url(engine)}")
        print(status.render(result))
    return 0


def cmd_db_url(args: argparse.Namespace) -> int:
    from feedback.db.engine import get_engine, libpq_url

    print(libpq_url(get_engine()))
    return 0


def cmd_psql(args: argparse.Namespace) -> int:
    from feedback.db.engine import embedded_register, get_engine, libpq_url

    url = libpq_url(get_engine())
    binary = shutil.which("psql") or embedded_register().psql()
    os.execv(binary, [binary, url, *args.psql_args])
    return 0  # not reached


def cmd_config_check(args: argparse.Namespace) -> int:
    from feedback.config_check import validate_all

    names = validate_all(Path(args.dir) if args.dir else None)
    _say(f"configuration OK: {', '.join(names)}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from feedback.privacy.masking import Masker, load_mask_config
    from feedback.triage.classify import Classifier

    if args.jsonl:
        from feedback.triage.batch import classify_lines

        if args.jsonl == "-":
            fh = sys.stdin
        else:
            try:
                fh = Path(args.jsonl).open(encoding="utf-8")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise FeedbackError(f"cannot read {args.jsonl}: {exc.strerror}") from None
        try:
            summary = classify_lines(fh, sys.stdout, Classifier.from_config(preset=args.preset),
                                     Masker(load_mask_config()), channel=args.channel, vip=args.vip,
                                     progress=sys.stderr)
        finally:
            if fh is not sys.stdin:
                fh.close()
        _say(f"{summary.decided:,} decisions written, {summary.errors} unreadable line(s)")
        return 0 if not summary.errors else 1
    text = " ".join(args.text) if args.text else sys.stdin.read()
    masked = Masker(load_mask_config()).mask(text)
    decision = Classifier.from_config(preset=args.preset).decide(
        masked.text, channel=args.channel, customer_tier="vip" if args.vip else "normal"
    )
    result = {**decision.as_dict(), "masked_text": masked.text, "masked": [f.kind for f in masked.findings]}
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        print(f"{key:<{width}}  {shown}")
    return 0


def cmd_vault(args: argparse.Namespace) -> int:
    from feedback.db.engine import get_engine
    from feedback.privacy import vault

    counts = vault.rotate_keys(get_engine(), progress=lambda m: _say(f"  {m}"))
    _say(f"re-encrypted with the newest key: {counts}; older keys can be removed once every store is done")
    return 0


def cmd_vip(args: argparse.Namespace) -> int:
    from feedback.db.engine import get_engine
    from feedback.triage.tiers import set_tier

    values = list(args.contacts)
    if args.file:
        values += [line.strip() for line in Path(args.file).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not values:
        raise FeedbackError("give phone numbers / e-mail addresses, or --file with one per line")
    with get_engine().begin() as conn:
        stored, rejected = set_tier(conn, values, "vip" if args.action == "add" else "normal", source="cli")
    _say(f"{stored} contact(s) stored as keyed hashes ({args.action}), {rejected} not a phone number or e-mail")
    return 0 if not rejected else 1


def cmd_reclassify(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from feedback.db.engine import get_engine
    from feedback.triage.classify import Classifier
    from feedback.triage.corrections import reclassify

    if not FEEDBACK_NO.match(args.feedback_no):
        raise FeedbackError(f"not a feedback number: {args.feedback_no!r} (expected the business date and the day's "
                            "serial, e.g. 20261014-003)")
    classifier = Classifier.from_config(preset=args.preset)
    with get_engine().begin() as conn:
        result = reclassify(conn, args.feedback_no, args.category, classifier=classifier, actor=args.actor,
                            at=datetime.now(UTC), department=args.department, priority=args.priority)
    _say(f"{result['feedback_no']}: {', '.join(result['from'])} -> {args.category} (recorded for retraining)")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from feedback.db.engine import get_engine
    from feedback.triage.classify import Classifier
    from feedback.triage.corrections import retrain

    result = retrain(get_engine(), Classifier.from_config(preset=args.preset), datetime.now(UTC))
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_triage(args: argparse.Namespace) -> int:
    """The learned classifier's data and versions: import labelled history, retrain, list and roll back models."""
    from datetime import UTC, datetime

    from feedback.db.engine import get_engine
    from feedback.triage import corrections
    from feedback.triage.classify import Classifier

    classifier = Classifier.from_config(preset=args.preset)
    now = datetime.now(UTC)
    if args.triage_action == "import-labels":
        from feedback.privacy.masking import Masker, load_mask_config
        from feedback.triage.labels_import import import_labels

        report = import_labels(get_engine(), Path(args.file), classifier=classifier, masker=Masker(load_mask_config()),
                               at=now, actor=args.actor, encoding=args.encoding, dry_run=args.dry_run)
        for bad in report.bad:
            _say(f"{report.file}: {bad}")
        verb = "would import" if report.dry_run else "imported"
        _say(f"{report.file}: {report.rows} row(s): {verb} {report.imported}, updated {report.updated}, unchanged "
             f"{report.unchanged}, {len(report.bad)} bad; {report.masked} text(s) carried contact data (masked)")
        if args.json:
            print(json.dumps(report.as_dict(), ensure_ascii=False))
        return 1 if report.bad and not args.skip_bad else 0
    if args.triage_action == "retrain":
        result = corrections.retrain(get_engine(), classifier, now, force=args.force, actor=args.actor)
        print(json.dumps(result, ensure_ascii=False))
        return 0
    if args.model_action == "list":
        versions = corrections.list_models(get_engine(), classifier.preset)
        if args.json:
            print(json.dumps(versions, ensure_ascii=False))
            return 0
        if not versions:
            _say(f"preset {classifier.preset}: no model trained yet (feedback triage retrain)")
        for v in versions:
            acc = v["accuracy"] or {}
            print(f"{'*' if v['active'] else ' '} v{v['version']}  {v['trained_at'][:19]}  {v['examples']} labels  "
                  f"{'chosen' if v['chosen'] else 'not chosen'}  macro-F1 rules {v['rules_macro_f1']} -> with model "
                  f"{v['learned_macro_f1']}  accuracy rules {acc.get('rules')} -> with model "
                  f"{acc.get('rules_with_model')} ({v['method'] or 'n/a'})")
        return 0
    if not args.version:
        raise FeedbackError("give the version to roll back to: feedback triage model rollback VERSION (or 'rules')")
    result = corrections.rollback(get_engine(), classifier.preset, args.version, actor=args.actor, at=now)
    active = f"v{result['active']}" if result["active"] else "the rules alone (no model)"
    _say(f"preset {classifier.preset}: triage now uses {active} (was "
         f"{'v' + str(result['previous']) if result['previous'] else 'no model'})")
    return 0


def cmd_sla(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from feedback.db.engine import get_engine
    from feedback.sla.monitor import load_setup
    from feedback.sla.recompute import describe, recompute_open_items

    counts = recompute_open_items(get_engine(), load_setup(), datetime.now(UTC), reason=args.reason,
                                  progress=lambda m: _say(f"  {m}"))
    _say(f"deadlines recomputed: {describe(counts)}")
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from feedback import holds
    from feedback.channels import quarantine
    from feedback.db.engine import get_engine

    engine = get_engine()
    if args.action == "list":
        rows = [] if args.stage else quarantine.list_parked(engine, channel=args.channel, reason=args.reason,
                                                            status=args.status, limit=args.limit)
        # Held rows (poison isolation) are open by nature and have no channel: listed with parked items.
        held = [] if args.channel or args.status != "parked" else [
            h for h in holds.list_held(engine, stage=args.stage, limit=args.limit)
            if args.reason is None or h.reason == args.reason]
        if args.json:
            print(json.dumps(rows + [{"kind": "held", **h.as_dict()} for h in held], ensure_ascii=False,
                             default=str, indent=2))
            return 0
        for r in rows:
            print(f"{r['id']:>6}  {r['parked_at']:%Y-%m-%d %H:%M}  {r['channel']:<8} {r['source']:<22} "
                  f"{r['reason']:<16} retries {r['retry_count']}  {r['external_ref'] or ''}  {r['detail']}")
        for h in held:
            print(f"{h.id:>12}  {h.held_at:%Y-%m-%d %H:%M}  {h.stage:<11} {h.table_name:<26} row {h.row_ref:<8} "
                  f"{h.reason:<20} held {h.hold_count}x  {h.detail}")
        if not args.stage:
            _say(f"{len(rows)} {args.status} item(s)"
                 + (" (limit reached; use --limit)" if len(rows) == args.limit else ""))
        if held or args.stage:
            _say(f"{len(held)} held row(s): release after the fix with `feedback quarantine release ID...` "
                 "(or --all [--stage S])")
        return 0
    if args.action == "release":
        now = datetime.now(UTC)
        actor = os.environ.get("USER", "operator")
        if args.all:
            released = holds.release_all(engine, now, stage=args.stage, actor=actor)
        elif args.ids:
            released = holds.release(engine, args.ids, now, actor=actor)
        else:
            raise FeedbackError("say which holds to release: ids such as held:3 or intake:12 (from "
                                "`feedback quarantine list`), or --all [--stage S]")
        _say(f"released {released} hold(s); each stage takes its rows again on its next run "
             "(or now: `feedback run DAG_ID`)")
        return 0
    if not args.ids and not args.all:
        raise FeedbackError("say which items to retry: ids (from `feedback quarantine list`) or --all")
    if any(not str(i).isdigit() for i in args.ids):
        raise FeedbackError("retry takes quarantine ids (numbers); held rows (held:N, intake:N) are released with "
                            "`feedback quarantine release`")
    ids = [int(i) for i in args.ids]
    result = quarantine.retry(engine, datetime.now(UTC), ids=ids or None, channel=args.channel)
    _say(f"retried: {result.resolved} now in intake, {result.still_parked} still parked (reason updated), "
         f"{result.not_retryable} not retryable here (oversize mail: raise mail.max_message_bytes; the mail "
         "is still on the server)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import tempfile
    from datetime import UTC, datetime

    from feedback.business_time import business_zone
    from feedback.db.engine import get_engine
    from feedback.reports.produce import period_for_run, produce, refusal

    if args.from_month or args.to_month:
        # A backfill by month names: exactly the months from --from to --to, one result line each.
        from feedback.reports.backfill import month_range

        if args.kind != "monthly" or args.month or not (args.from_month and args.to_month):
            raise FeedbackError("--from and --to go together, with `report monthly` and without --month "
                                "(e.g. report monthly --from 2026-01 --to 2026-06)")
        try:
            texts = month_range(args.from_month, args.to_month)
        except ValueError as exc:
            raise FeedbackError(str(exc)) from None
    else:
        texts = [args.month if args.kind == "monthly" else args.week]
    if not texts[0]:
        raise FeedbackError("give the period: --month 2026-10 (monthly) or --week 2026-W43 (weekly)")
    if args.out and not args.dry_run:
        raise FeedbackError("--out goes with --dry-run (a real run archives into reports.archive)")
    zone = business_zone().key
    periods = []
    for period_text in texts:
        try:
            periods.append((period_text, period_for_run(args.kind, None, None, period_text, zone)))
        except ValueError:
            raise FeedbackError(f"not a period: {period_text!r} (expected 2026-10 or 2026-W43)") from None
    engine = get_engine()
    today = datetime.now(business_zone()).date()
    refused = 0
    for period_text, period in periods:
        # A future or empty period reads as a quiet month to its readers: refused unless --force.
        why = None if args.force else refusal(engine, args.kind, period, today)
        if why and len(periods) == 1:
            raise FeedbackError(why)
        if why:
            _say(f"{args.kind} report {period_text}: skipped: {why}")
            refused += 1
            continue
        if len(periods) > 1:
            _say(f"{args.kind} report {period_text}:")
        folder = None
        if args.dry_run:
            folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix=f"feedback-{args.kind}-"))
            folder = folder / period_text if len(periods) > 1 else folder
        result = produce(engine, args.kind, period, generated_at=datetime.now(UTC), locale=args.locale,
                         resend=args.resend, progress=lambda m: _say(f"  {m}"), mail_empty=args.force,
                         dry_run_to=folder)
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 2 if refused else 0


def cmd_retention(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from feedback.db.engine import get_engine
    from feedback.privacy.retention import run_retention

    result = run_retention(get_engine(), datetime.now(UTC), dry_run=args.dry_run)
    print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


def cmd_channel(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from feedback.channels import channel_check

    if args.action == "list":
        for row in channel_check.listing():
            print(f"{row['channel']:<9} {row['name']:<20} {'enabled' if row['enabled'] else 'disabled':<9} "
                  f"connection {row['connection']}: {'set' if row['connection_set'] else 'NOT SET'}  {row['base_url']}")
        return 0
    if not args.name:
        raise FeedbackError(f"say which platform: feedback channel {args.action} NAME (see: feedback channel list)")
    if args.action == "check":
        if not args.replay:
            raise FeedbackError("check needs a recorded response: --replay FILE (a response body saved as JSON)")
        result = channel_check.replay(args.name, args.replay, limit=args.limit)
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str) if args.json
              else channel_check.render(result))
        return 0 if not result["rejected"] else 3
    from feedback.db.engine import get_engine

    counts = channel_check.pull(get_engine(), args.name, datetime.now(UTC), max_pages=args.max_pages,
                                progress=lambda m: _say(f"  {m}"))
    print(json.dumps(counts, ensure_ascii=False))
    return 0


def cmd_callbacks(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from feedback.business_time import business_zone
    from feedback.callbacks import queue
    from feedback.db.engine import get_engine

    engine, now, action = get_engine(), datetime.now(UTC), args.cb_action
    zone = business_zone()

    def show(task: ClaimedTask) -> None:
        if args.json:
            print(json.dumps(task.as_dict(), ensure_ascii=False, default=str))
            return
        due = task.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        print(f"{task.task_id:>6}  {task.feedback_no}  {task.priority:<6} due {due}  {task.status:<7} "
              f"attempts {task.attempts}  {task.claimed_by or task.assigned_to or '-':<10} "
              f"{task.contact_masked or '-':<14} {task.subject or ''}")

    if action == "agents":
        from feedback.callbacks.agents import list_agents

        with engine.connect() as conn:
            agents = list_agents(conn)
        for a in agents:
            role = "supervisor" if a.supervisor else "agent"
            print(f"{a.agent_id:<16} {a.display_name:<12} {a.team:<12} {role:<10} "
                  f"{'active' if a.active else 'inactive':<8} open tasks {a.open_tasks}")
        _say(f"{len(agents)} agent(s); the team is kept in callbacks.yaml (team.agents)")
        return 0
    if action == "queue":
        tasks = queue.agent_queue(engine, args.agent, now)
        for task in tasks:
            show(task)
        _say(f"{len(tasks)} task(s) for {args.agent}: held claims first, then assigned, then unassigned")
        return 0
    if action == "claim":
        claimed = queue.claim_next(engine, args.agent, now)
        if claimed is None:
            _say("nothing to claim: no callback is due for this agent now")
            return 1
        show(claimed)
        until = claimed.claim_expires_at       # set by the claim
        held = f" until {until.astimezone(zone):%H:%M}" if until is not None else ""
        _say(f"claimed task {claimed.task_id}{held}; "
             f"reveal the contact with `feedback callbacks reveal {claimed.task_id} --agent {args.agent}`")
        return 0
    if args.task is None:
        raise FeedbackError(f"say which task: feedback callbacks {action} TASK --agent {args.agent}")
    if action == "reveal":
        print(queue.reveal_contact(engine, args.task, args.agent, now))
        return 0
    if action == "release":
        queue.release_claim(engine, args.task, args.agent, now)
        _say(f"task {args.task} is back in the queue")
        return 0
    if action == "attempt":
        result = queue.record_attempt(engine, args.task, args.agent, args.result, now)
        nxt = f"; try again after {result.not_before.astimezone(zone):%Y-%m-%d %H:%M}" if result.not_before else ""
        _say(f"task {args.task}: {result.result} recorded (attempt {result.attempts}), now {result.status}{nxt}")
        return 0
    if args.rating is None and args.score is None and args.final_opinion is None:
        raise FeedbackError("give the customer's answer: --rating (e.g. 满意) or --score, or --final-opinion")
    outcome = queue.record_outcome(engine, args.task, args.agent, args.rating, args.comment, now,
                                   args.final_opinion, score=args.score)
    _say(f"task {args.task}: {outcome.rating or outcome.outcome or 'final opinion'} recorded; "
         f"item {outcome.feedback_no} {outcome.action}" + (" and escalated" if outcome.escalated else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedback", description="Operate the customer-feedback pipeline.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    add("migrate", cmd_migrate, "apply pending register migrations (sql/migrations)")
    add("status", cmd_status, "what is in the register, per table and channel").add_argument(
        "--json", action="store_true", help="machine-readable output"
    )
    add("db-url", cmd_db_url, "print the register's URL (starts the embedded server if needed)")
    add("psql", cmd_psql, "open psql on the register; further arguments go to psql (e.g. -c 'SELECT 1')")
    config = add("config", cmd_config_check, "configuration: `config check` validates include/config/*.yaml")
    config.add_argument("action", choices=["check"])
    config.add_argument("--dir", help="configuration folder (default include/config)")
    add("config-check", cmd_config_check, "the same as `config check` (older spelling)").add_argument(
        "--dir", help="configuration folder (default include/config)"
    )
    classify = add("classify", cmd_classify, "show the triage decision for one text (masking included)")
    classify.add_argument("text", nargs="*", help="the text (or stdin)")
    classify.add_argument("--preset", choices=["A", "B"], default=None, help="taxonomy preset (default: configured)")
    classify.add_argument("--channel", default="webform", choices=["email", "webform", "platform"])
    classify.add_argument("--vip", action="store_true", help="as if the customer were a VIP")
    classify.add_argument("--json", action="store_true")
    classify.add_argument("--jsonl", metavar="FILE", help="one text per line (JSON object with \"text\" or plain), "
                          "one JSON decision per line on stdout; - reads stdin")
    reclass = add("reclassify", cmd_reclassify, "correct an item's category (teaches the learned classifier)")
    reclass.add_argument("feedback_no")
    reclass.add_argument("category")
    reclass.add_argument("--preset", choices=["A", "B"], default=None)
    reclass.add_argument("--actor", default=os.environ.get("USER", "operator"))
    reclass.add_argument("--department", help="route to this department instead of the category's own")
    reclass.add_argument("--priority", choices=codes(Priority),
                         help="also correct the priority (the item's open deadlines follow)")
    add("retrain", cmd_retrain, "train the learned classifier on corrections; kept only if it beats the rules"
        ).add_argument("--preset", choices=["A"], default=None)
    tri = add("triage", cmd_triage, "the learned classifier: import labelled history, retrain, model versions")
    tri.add_argument("--preset", choices=["A"], default=None, help="taxonomy preset (default: configured)")
    tri.add_argument("--actor", default=os.environ.get("USER", "operator"))
    tri_sub = tri.add_subparsers(dest="triage_action", required=True, metavar="ACTION")
    imp = tri_sub.add_parser("import-labels", help="import a CSV of labelled texts (text, category[, priority])")
    imp.add_argument("file")
    imp.add_argument("--skip-bad", action="store_true", help="exit 0 even when some rows were bad (they are listed)")
    imp.add_argument("--dry-run", action="store_true", help="validate only, store nothing")
    imp.add_argument("--encoding", default="utf-8-sig", help="the file's encoding (e.g. gb18030 for GBK exports)")
    imp.add_argument("--json", action="store_true", help="also print the report as JSON")
    tri_sub.add_parser("retrain", help="train on every label; the new version is used if it beats the rules"
                       ).add_argument("--force", action="store_true", help="train even without new labels")
    mod = tri_sub.add_parser("model", help="model versions: list them, or roll back to one (or to 'rules')")
    mod.add_argument("model_action", choices=["list", "rollback"])
    mod.add_argument("version", nargs="?", help="rollback: a version number (v3 or 3), or 'rules' for no model")
    mod.add_argument("--json", action="store_true")
    sla = add("sla", cmd_sla, "SLA maintenance: recompute open items' deadlines after a calendar/policy change")
    sla.add_argument("action", choices=["recompute"])
    sla.add_argument("--reason", default="configuration changed", help="recorded on each changed item")
    quar = add("quarantine", cmd_quarantine, "list parked items and held rows; re-run parked items through the "
               "current parsers (retry) or release held rows after a fix (release)")
    quar.add_argument("action", choices=["list", "retry", "release"])
    quar.add_argument("ids", nargs="*", help="retry: quarantine ids; release: hold ids (held:N, intake:N)")
    quar.add_argument("--all", action="store_true",
                      help="retry: every parked item (of --channel); release: every open hold (of --stage)")
    quar.add_argument("--stage", choices=STAGES,
                      help="list / release: only the holds of this stage")
    quar.add_argument("--channel", choices=["email", "webform", "platform"])
    quar.add_argument("--reason", help="list: only this reason code")
    quar.add_argument("--status", default="parked", choices=["parked", "resolved"], help="list: which items")
    quar.add_argument("--limit", type=int, default=100)
    quar.add_argument("--json", action="store_true")
    report = add("report", cmd_report, "render, archive and queue the mail of a monthly or weekly report")
    report.add_argument("kind", choices=["monthly", "weekly"])
    report.add_argument("--month", help="monthly: YYYY-MM")
    report.add_argument("--week", help="weekly: YYYY-Www (ISO week)")
    report.add_argument("--from", dest="from_month", metavar="YYYY-MM",
                        help="monthly backfill: the first month to render (with --to)")
    report.add_argument("--to", dest="to_month", metavar="YYYY-MM",
                        help="monthly backfill: the last month to render, included")
    report.add_argument("--locale", choices=["zh-CN", "en"], default=None)
    report.add_argument("--resend", action="store_true", help="mail the current version again")
    report.add_argument("--force", action="store_true",
                        help="render, archive and mail a period that has not started or has no items")
    report.add_argument("--dry-run", action="store_true",
                        help="render the files into a folder (--out) only: nothing archived, nothing mailed")
    report.add_argument("--out", metavar="DIR", help="--dry-run: the folder (default: a new temporary folder)")
    chan = add("channel", cmd_channel, "platforms and form providers: list them, check a configuration against a "
               "recorded response (--replay), or pull one now")
    chan.add_argument("action", choices=["list", "check", "pull"])
    chan.add_argument("name", nargs="?", help="the platform's (or form provider's) name in channels.yaml")
    chan.add_argument("--replay", help="check: a recorded response body (JSON file) to run the configuration on")
    chan.add_argument("--limit", type=int, default=20, help="check: show at most this many items")
    chan.add_argument("--max-pages", type=int, default=None, help="pull: stop after this many pages")
    chan.add_argument("--json", action="store_true")
    add("retention", cmd_retention, "purge expired personal data and export old closed items").add_argument(
        "--dry-run", action="store_true", help="say what would be done, change nothing")
    add("vault", cmd_vault, "contact vault maintenance").add_argument("action", choices=["rotate-keys"])
    vip = add("vip", cmd_vip, "mark customers as VIP (or back to normal) by phone/e-mail; only keyed hashes are kept")
    vip.add_argument("action", choices=["add", "remove"])
    vip.add_argument("contacts", nargs="*")
    vip.add_argument("--file", help="a file with one phone number or e-mail address per line")
    cb = add("callbacks", cmd_callbacks, "the callback queue (回访): an agent's queue, claim, call results, answers")
    cb.add_argument("cb_action", metavar="ACTION",
                    choices=["queue", "claim", "reveal", "attempt", "record", "release", "agents"],
                    help="queue | claim | reveal TASK | attempt TASK | record TASK | release TASK | agents")
    cb.add_argument("task", nargs="?", type=int, help="the callback task id (from queue / claim)")
    cb.add_argument("--agent", default=os.environ.get("USER", "operator"), help="your agent id (callback_agent)")
    cb.add_argument("--result", default="no_answer", choices=["reached", "no_answer", "busy", "wrong_number",
                                                              "voicemail"], help="attempt: what the call gave")
    cb.add_argument("--rating", help="record: the customer's rating on the active scale, e.g. 满意")
    cb.add_argument("--score", type=int, help="record: the score, on a score scale (e.g. 1-100)")
    cb.add_argument("--comment", help="record: what the customer said (masked before storage)")
    cb.add_argument("--final-opinion", dest="final_opinion",
                    help="record: the customer's final opinion on an unsolvable item (masked)")
    cb.add_argument("--json", action="store_true", help="queue / claim: one JSON object per task")
    for register in extensions.load(COMMANDS_GROUP):   # `run` (Airflow glue); demo, up, db… (development package)
        if not callable(register):
            raise FeedbackError(f"a {COMMANDS_GROUP} entry point is not a register(subparsers) function")
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except FeedbackError as err:      # a broken `feedback.cli` provider: named in one line
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "psql":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.psql_args = extra
    try:
        code: int = args.func(args)     # argparse's Namespace is untyped: each command returns its exit code
        return code
    except FeedbackError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:
        if getattr(getattr(err, "orig", None), "pgcode", None) in UNMIGRATED:
            print("error: the register lacks a table or view this command needs: run `feedback migrate` "
                  "(it applies sql/migrations/ to the configured register)", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
