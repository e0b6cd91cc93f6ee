"""`priorauth fax ...`: the final packet out by fax, and payers' faxed replies in.

    priorauth fax send CASE_ID --provider spool|hylafax [--to NUMBER] [--retry]
    priorauth fax status [CASE_ID]          # ask the providers about every fax not yet done
    priorauth fax ingest FILE...            # each: the case it was matched to, or "unmatched"
    priorauth fax watch DIR [--interval S] [--once]

A fax is the case's final packet (built when needed; a case that is not ready is refused with
what is missing). Provider settings come from PRIORAUTH_FAX_SPOOL, PRIORAUTH_HYLAFAX_HOST,
PRIORAUTH_SENDFAX, PRIORAUTH_FAXSTAT, PRIORAUTH_FAXRM and PRIORAUTH_FAX_SENDER (docs/fax.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from admin.cli_cases import with_case
from admin.cli_store import StoreCliError, actor, open_database
from connectors.fax import providers
from engine.packets import PacketBlocked

# admin.faxes (WeasyPrint, ghostscript) is imported by the commands that use it: every other
# `priorauth` command starts without loading it

EXIT_OK, EXIT_FAIL = 0, 1


def add_commands(sub: Any, parser_class: Any) -> None:
    fx = sub.add_parser("fax", help="send packets by fax, take payers' faxed replies in").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    send = fx.add_parser("send", help="fax the case's final packet to the payer")
    send.add_argument("reference", metavar="CASE_ID", help="the case's reference (PA-...)")
    send.add_argument("--provider", required=True, choices=providers.names())
    send.add_argument("--to", metavar="NUMBER", help="another fax number than the rules give")
    send.add_argument("--retry", action="store_true", help="send again after a failed or cancelled fax")
    send.set_defaults(handler=cmd_send)
    status = fx.add_parser("status", help="ask the providers how every fax not yet done is doing")
    status.add_argument("reference", nargs="?", metavar="CASE_ID", help="only this case's faxes")
    status.set_defaults(handler=cmd_status)
    ingest = fx.add_parser("ingest", help="take faxed replies in: each is read, matched to a case or queued")
    ingest.add_argument("files", nargs="+", metavar="FILE")
    ingest.set_defaults(handler=cmd_ingest)
    watch = fx.add_parser("watch", help="take in every fax a fax server drops in a folder")
    watch.add_argument("folder", metavar="DIR")
    watch.add_argument("--interval", type=float, default=10, help="seconds between looks (default 10)")
    watch.add_argument("--once", action="store_true", help="look once and stop")
    watch.set_defaults(handler=cmd_watch)
    for parser in (send, status, ingest, watch):
        parser.add_argument("--org", metavar="SLUG", help="the organization (default: the only one)")


def cmd_send(args: argparse.Namespace) -> int:
    from admin import faxes

    def fax(session: Any, case: Any) -> Any:
        try:
            job = faxes.send(session, case, actor(), args.provider, to_number=args.to, retry=args.retry)
        except PacketBlocked as exc:
            raise StoreCliError(f"{args.reference}: {exc}") from None
        return job.id, job.state, job.to_number, job.idempotency_key, job.reason

    job_id, state, number, key, reason = with_case(args, fax)
    print(f"{args.reference}: fax job {job_id} to {number}: {state}" + (f" ({reason})" if reason else ""))
    print(f"  idempotency key {key}")
    return EXIT_FAIL if state == "failed" else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from admin import faxes

    if args.reference:
        counts = with_case(args, lambda session, case: faxes.poll(session, case=case))
    else:
        db = open_database()
        try:
            with db.transaction() as session:
                counts = faxes.poll(session)
        finally:
            db.dispose()
    print(
        f"{counts['changed']} fax(es) changed state, {counts['unanswered']} provider question(s) unanswered"
    )
    return EXIT_FAIL if counts["unanswered"] else EXIT_OK


def _line(taken: Any) -> str:
    if taken.problem:
        return f"{taken.file}: not taken in: {taken.problem}"
    if taken.reference:
        return f"{taken.file}: {taken.reference} (matched by {(taken.matched_by or '').replace('-', ' ')}; inbound fax {taken.fax_id})"
    return f"{taken.file}: unmatched (inbound fax {taken.fax_id}: a person matches it in Faxed replies)"


def cmd_ingest(args: argparse.Namespace) -> int:
    from admin import faxinbox

    failed = 0
    db = open_database()
    try:
        for name in args.files:
            taken = faxinbox.take(db, Path(name), actor(), args.org, source="cli")
            print(_line(taken), file=sys.stderr if taken.problem else sys.stdout)
            failed += bool(taken.problem)
    finally:
        db.dispose()
    return EXIT_FAIL if failed else EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    from admin import faxinbox

    folder = Path(args.folder)
    if not folder.is_dir():
        raise StoreCliError(f"{args.folder}: no such folder")
    db = open_database()
    try:
        while True:
            for taken in faxinbox.sweep(db, folder, actor(), args.org):
                print(_line(taken), file=sys.stderr if taken.problem else sys.stdout, flush=True)
            if args.once:
                return EXIT_OK
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        db.dispose()
