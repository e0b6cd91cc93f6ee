"""`priorauth cases ...`: the same rules as the app, for IT and scripts.

    priorauth cases import FILE...        # case facts JSON, FHIR Bundle JSON or a worklist CSV
    priorauth cases show REFERENCE [--json]
    priorauth cases submit REFERENCE [--reference PAYER-REF]
    priorauth cases respond REFERENCE --status approved|partially-approved|denied|pended
            [--auth-number N] [--units N] [--from DATE --to DATE] [--reason TEXT] [--code CODE]
            [--asked TEXT] [--due DATE]
    priorauth cases renew REFERENCE

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

from admin import cases
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
    for parser in (imp, show, sub_, resp, renew):
        parser.add_argument("--org", metavar="SLUG", help="the organization (default: the only one)")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: write YYYY-MM-DD") from None


def _read(path: str) -> bytes:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE:
            raise StoreCliError(f"{path}: the file is over {MAX_FILE // (1024 * 1024)} MiB")
        return file.read_bytes()
    except OSError as exc:
        raise StoreCliError(f"{path}: cannot read the file ({exc.strerror})") from None


def _facts_of(path: str, data: bytes) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(where, facts) for each case in the file, and the problems that stop one (each with where)."""
    if path.lower().endswith(".csv"):
        from connectors.worklist import read_worklist

        sheet = read_worklist(data)
        return [(f"{path}:{line}", facts) for line, facts in sheet.cases], [
            f"{path}:{line}:{column}: {message}" if column else f"{path}:{line}: {message}"
            for line, column, message in sheet.problems
        ]
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f"{path}:{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else path
        return [], [f"{where}: not valid JSON ({getattr(exc, 'msg', exc)}): fix the file"]
    if isinstance(parsed, dict) and parsed.get("resourceType") == "Bundle":
        from connectors.fhir.intake import bundle_to_facts

        intake = bundle_to_facts(parsed)
        errors = [f"{path}: {p.path}: {p.message}" for p in intake.problems if p.severity == "error"]
        for warning in (p for p in intake.problems if p.severity != "error"):
            print(f"{path}: {warning.path}: {warning.message} (not imported)", file=sys.stderr)
        return ([] if errors else [(path, intake.facts)]), errors
    if not isinstance(parsed, dict):
        return [], [f"{path}: a case is a JSON object of facts (or a FHIR Bundle)"]
    return [(path, parsed)], []


def cmd_import(args: argparse.Namespace) -> int:
    failed = 0
    db = open_database()
    try:
        for path in args.files:
            found, problems = _facts_of(path, _read(path))
            for problem in problems:
                print(problem, file=sys.stderr)
            failed += bool(problems)
            for where, facts in found:
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


def _with_case(args: argparse.Namespace, change: Any) -> Any:
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
    shown = _with_case(args, lambda session, case: cases.show(case))
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
    status = _with_case(args, lambda s, c: cases.submit(s, c, actor(), args.payer_reference).status)
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

    print(f"priorauth: {args.reference} is {_with_case(args, change)}")
    return EXIT_OK


def cmd_renew(args: argparse.Namespace) -> int:
    print(_with_case(args, lambda s, c: cases.renew(s, c, actor()).reference))
    return EXIT_OK
