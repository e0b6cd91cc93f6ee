"""`priorauth cases ...`: the same rules as the app, for IT and scripts.

    priorauth cases import FILE...        # case facts JSON, FHIR Bundle JSON or a worklist CSV
    priorauth cases show REFERENCE [--json]
    priorauth cases submit REFERENCE [--reference PAYER-REF]
    priorauth cases respond REFERENCE --status approved|partially-approved|denied|pended
            [--auth-number N] [--units N] [--from DATE --to DATE] [--reason TEXT] [--code CODE]
            [--asked TEXT] [--due DATE]
    priorauth cases renew REFERENCE
    priorauth cases usage REFERENCE --on DATE --units N [--claim-id ID] [--code CODE]
    priorauth cases claims FILE...        # a claims CSV: usage for many cases (docs/usage.md)
    priorauth cases sweep                 # the daily pass: expiries, renewal windows, checks due

Cases belong to an organization: `--org SLUG`, else the only one (made as "default" on first use).
Every file of an import is read and checked first; a file with errors imports nothing and says
where, the others go on; the exit status says whether any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from admin import cases, intake
from admin.cli_store import StoreCliError, actor, open_database

EXIT_OK, EXIT_FAIL = 0, 1
MAX_FILE = 10 * 1024 * 1024


def add_commands(sub: Any, parser_class: Any) -> None:
    cs = sub.add_parser("cases", help="authorization cases").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    imp = cs.add_parser("import", help="case facts JSON, FHIR R4 Bundle JSON or a worklist CSV")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.set_defaults(handler=cmd_import)
    show = cs.add_parser("show", help="a case: facts, status, stage, owner, deadlines, latest decision")
    show.add_argument("reference")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)
    sub_ = cs.add_parser("submit", help="record a submission made by hand (refused unless ready)")
    sub_.add_argument("reference")
    sub_.add_argument(
        "--reference", dest="payer_reference", metavar="PAYER-REF", help="the payer's reference number"
    )
    sub_.set_defaults(handler=cmd_submit)
    resp = cs.add_parser("respond", help="record what the payer said")
    resp.add_argument("reference")
    resp.add_argument("--status", required=True, choices=cases.RESPONSES)
    resp.add_argument("--auth-number")
    resp.add_argument("--units", type=int)
    resp.add_argument("--from", dest="start", type=_date, metavar="YYYY-MM-DD")
    resp.add_argument("--to", dest="end", type=_date, metavar="YYYY-MM-DD")
    resp.add_argument("--reason", help="the denial's reason text")
    resp.add_argument("--code", help="the denial's reason code")
    resp.add_argument("--asked", help="what a pend asks for")
    resp.add_argument("--due", type=_date, metavar="YYYY-MM-DD", help="when a pend's answer is due")
    resp.set_defaults(handler=cmd_respond)
    renew = cs.add_parser("renew", help="a new draft case renewing an approval; prints its reference")
    renew.add_argument("reference")
    renew.set_defaults(handler=cmd_renew)
    use = cs.add_parser("usage", help="record units used on a day against an approval; prints the meter")
    use.add_argument("reference")
    use.add_argument("--on", required=True, type=_date, metavar="YYYY-MM-DD", help="the date of the service")
    use.add_argument("--units", required=True, type=_units, metavar="N", help="units or visits used")
    use.add_argument("--claim-id", help="the claim line's id: sent twice, it is counted once")
    use.add_argument("--code", help="the service code")
    use.set_defaults(handler=cmd_usage)
    claims = cs.add_parser("claims", help="usage from a claims CSV: one line per row; exit 1 if any failed")
    claims.add_argument("files", nargs="+", metavar="FILE")
    claims.set_defaults(handler=cmd_claims)
    sweep = cs.add_parser(
        "sweep", help="derive every open case again (expiries, renewals, checks due): run it daily"
    )
    sweep.set_defaults(handler=cmd_sweep)
    for parser in (imp, show, sub_, resp, renew, use, claims, sweep):
        parser.add_argument("--org", metavar="SLUG", help="the organization (default: the only one)")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: write YYYY-MM-DD") from None


def _units(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of units: write a whole number above 0")
    return int(text)


def _read(path: str) -> bytes:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE:
            raise StoreCliError(f"{path}: the file is over {MAX_FILE // (1024 * 1024)} MiB")
        return file.read_bytes()
    except OSError as exc:
        raise StoreCliError(f"{path}: cannot read the file ({exc.strerror})") from None


def cmd_import(args: argparse.Namespace) -> int:
    failed = 0
    db = open_database()
    try:
        for path in args.files:
            read = intake.read_file(path, _read(path))
            for problem in read.errors + read.warnings:
                print(problem, file=sys.stderr)
            failed += bool(read.errors)
            for where, facts in read.cases:
                try:
                    with db.transaction() as session:
                        org = cases.organization(session, args.org)
                        case = cases.create(session, org, actor(), facts)
                        print(f"{case.reference}  {where}  {case.stage}: {case.next_action}")
                except cases.CaseError as exc:
                    failed += 1
                    for field, what in exc.problems:
                        print(f"{where}: {field + ': ' if field else ''}{what}", file=sys.stderr)
    finally:
        db.dispose()
    if failed:
        print(f"priorauth: {failed} problem(s); the rest was imported", file=sys.stderr)
    return EXIT_FAIL if failed else EXIT_OK


def with_case(args: argparse.Namespace, change: Any) -> Any:
    db = open_database()
    try:
        with db.transaction() as session:
            org = cases.organization(session, args.org)
            case = cases.get(session, org, args.reference)
            return change(session, case)
    except cases.CaseError as exc:
        raise StoreCliError("; ".join(f"{f + ': ' if f else ''}{w}" for f, w in exc.problems)) from None
    finally:
        db.dispose()


def cmd_show(args: argparse.Namespace) -> int:
    shown = with_case(args, lambda session, case: cases.show(case))
    if args.json:
        print(json.dumps(shown, indent=2, ensure_ascii=False, default=str))
    else:
        decision = shown["decision"] or {}
        print(f"{shown['reference']}: {shown['status']} · stage {shown['stage']}")
        print(
            f"  next      {shown['next_action']}"
            + (f" (by {shown['next_due'][:10]})" if shown["next_due"] else "")
        )
        print(f"  decision  auth {decision.get('auth')}, ready {decision.get('ready')}")
        for item in decision.get("missing") or []:
            print(f"  MISSING   {item.get('label')} [{item.get('id')}]")
    return EXIT_OK


def cmd_submit(args: argparse.Namespace) -> int:
    status = with_case(args, lambda s, c: cases.submit(s, c, actor(), args.payer_reference).status)
    print(f"priorauth: {args.reference} is {status}")
    return EXIT_OK


def cmd_respond(args: argparse.Namespace) -> int:
    def change(session: Any, case: Any) -> str:
        cases.respond(
            session,
            case,
            actor(),
            args.status,
            auth_number=args.auth_number,
            units=args.units,
            start=args.start,
            end=args.end,
            reason=args.reason,
            code=args.code,
            asked=args.asked,
            due=args.due,
        )
        return f"{case.status} · stage {case.stage}"

    print(f"priorauth: {args.reference} is {with_case(args, change)}")
    return EXIT_OK


def cmd_renew(args: argparse.Namespace) -> int:
    print(with_case(args, lambda s, c: cases.renew(s, c, actor()).reference))
    return EXIT_OK


def cmd_usage(args: argparse.Namespace) -> int:
    from admin import usage

    def change(session: Any, case: Any) -> tuple[Any, Any, str]:
        done = usage.record(session, case, actor(), args.on, args.units, "hand", args.claim_id, args.code)
        return done, usage.meter(session, case), case.stage

    done, meter, stage = with_case(args, change)
    for warning in done.warnings:
        print(f"priorauth: {args.reference}: {warning}", file=sys.stderr)
    what = "already recorded (the same claim line): nothing changed" if done.duplicate else "recorded"
    approved = meter.approved if meter.approved is not None else "—"
    remaining = meter.remaining if meter.remaining is not None else "—"
    print(
        f"priorauth: {args.reference}: {args.units} on {args.on.isoformat()} {what} · "
        f"{meter.used} of {approved} used, {remaining} remaining · stage {stage}"
    )
    return EXIT_OK


def cmd_claims(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm.exc import StaleDataError

    from admin import usage

    failed = 0
    db = open_database()
    try:
        for path in args.files:
            data = _read(path)
            try:
                with db.transaction() as session:
                    results = usage.import_file(session, cases.organization(session, args.org), actor(), data)
            except cases.CaseError as exc:
                raise StoreCliError("; ".join(w for _, w in exc.problems)) from None
            except (IntegrityError, StaleDataError):
                raise StoreCliError(
                    f"{path}: a case changed at the same moment and nothing of this file was recorded: "
                    "run it again (lines already recorded count once)"
                ) from None
            for r in results:
                where = f"{path}:{r.line}:{r.column}" if r.column else f"{path}:{r.line}"
                if r.outcome in ("bad row", "note"):
                    print(f"{where}: {r.outcome}: {r.message}", file=sys.stderr)
                    continue
                claim = f" claim {r.claim_id}" if r.claim_id else ""
                line = f"{where}: {r.outcome}: {r.case or '—'}{claim} {r.units} units: {r.message}"
                print(line, file=sys.stderr if r.failed else sys.stdout)
            failed += sum(r.failed for r in results)
    finally:
        db.dispose()
    if failed:
        print(f"priorauth: {failed} line(s) not recorded; the rest was", file=sys.stderr)
    return EXIT_FAIL if failed else EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            org = cases.organization(session, args.org) if args.org else None
            counts = cases.sweep(session, org, commit=True)
    finally:
        db.dispose()
    print(
        f"{counts['expired']} expired, {counts['restaged']} moved to another stage or due time"
        + (f", {counts['skipped']} skipped (changed meanwhile: run it again)" if counts["skipped"] else "")
    )
    return EXIT_OK
