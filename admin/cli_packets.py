"""`priorauth packets|templates ...`: packets for the payer, and the templates they are made with.

    priorauth packets build CASE_ID --out PACKET.pdf [--tiff PACKET.tif] [--final | --draft]
    priorauth packets list CASE_ID
    priorauth templates check FILE_OR_DIR...
    priorauth templates push|list|pull|diff|submit|publish|retire|rollback ...   (as for rulesets)

CASE_ID is the case's reference (PA-...). Without --final or --draft a packet is final when nothing
blocks it, else a draft (watermarked DRAFT) and what blocks a final one is printed on stderr.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from admin.cli_cases import with_case
from admin.cli_store import StoreCliError, actor, add_document_commands
from engine.catalog import yaml_files
from engine.errors import LoadError
from engine.packets import PacketBlocked

EXIT_OK, EXIT_FAIL = 0, 1


def add_commands(sub: Any, parser_class: Any) -> None:
    pk = sub.add_parser("packets", help="clinical packets for payers (PDF, fax TIFF)").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    build = pk.add_parser("build", help="build the case's packet (a new version) and write it out")
    build.add_argument("reference", metavar="CASE_ID", help="the case's reference (PA-...)")
    build.add_argument("--out", required=True, metavar="PACKET.pdf", help="where to write the PDF")
    build.add_argument("--tiff", metavar="PACKET.tif", help="also write it fax-ready (TIFF Class F, G4)")
    kind = build.add_mutually_exclusive_group()
    kind.add_argument("--final", dest="kind", action="store_const", const="final", help="refuse unless ready")
    kind.add_argument(
        "--draft", dest="kind", action="store_const", const="draft", help="a draft, watermarked"
    )
    build.set_defaults(handler=cmd_build, kind="auto")
    lst = pk.add_parser("list", help="the case's packet versions")
    lst.add_argument("reference", metavar="CASE_ID")
    lst.set_defaults(handler=cmd_list)
    for parser in (build, lst):
        parser.add_argument("--org", metavar="SLUG", help="the organization (default: the only one)")

    tp = sub.add_parser("templates", help="packet templates (the payers' request forms)").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    check = tp.add_parser("check", help="load and check templates (syntax, CSS, a trial render)")
    check.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    check.set_defaults(handler=cmd_check)
    add_document_commands("template", tp)


def cmd_build(args: argparse.Namespace) -> int:
    from admin import packets  # WeasyPrint: loaded by the commands that lay packets out

    def make(session: Any, case: Any) -> tuple[Any, Any, Path]:
        try:
            built = packets.build(session, case, actor(), args.kind)
        except PacketBlocked as exc:
            raise StoreCliError(
                f"{args.reference}: {exc}; build a draft with --draft to review what is there"
            ) from None
        return built, list(built.row.contents.get("blocked") or []), packets.open_packet(case, built.row)

    built, blocked, path = with_case(args, make)
    out = Path(args.out)
    try:
        shutil.copyfile(path, out)
    except OSError as exc:
        raise StoreCliError(f"{args.out}: cannot write the packet ({exc.strerror})") from None
    row = built.row
    if args.tiff:
        from connectors.fax.base import FaxError
        from connectors.fax.tiff import to_fax_tiff

        try:
            to_fax_tiff(out, Path(args.tiff))
        except FaxError as exc:
            raise StoreCliError(f"{args.tiff}: {exc}") from None
    if row.kind == "draft" and blocked:
        print(f"priorauth: {args.reference}: a DRAFT, not final, because:", file=sys.stderr)
        for reason in blocked:
            print(f"  - {reason}", file=sys.stderr)
    again = " (unchanged since it was built)" if built.unchanged else ""
    print(
        f"{args.reference}: packet v{row.version} ({row.kind}){again}, {row.pages} pages, "
        f"sha256 {row.sha256[:12]} -> {args.out}" + (f" and {args.tiff}" if args.tiff else "")
    )
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from admin import packets

    rows = with_case(
        args,
        lambda session, case: [
            (
                r.version,
                r.kind,
                r.pages,
                r.sha256[:12],
                r.template_id,
                r.template_version,
                r.built_at,
                r.built_by,
            )
            for r in packets.packets_of(session, case)
        ],
    )
    if not rows:
        print(f"{args.reference}: no packet yet (priorauth packets build {args.reference} --out FILE.pdf)")
    for version, kind, pages, sha, template, tv, at, by in rows:
        print(f"v{version}  {kind:<5}  {pages:>3} pages  {sha}  {template} v{tv}  {at:%Y-%m-%d %H:%M}  {by}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from connectors.pdf.templates import load_template

    files, problems = yaml_files(args.paths)
    for problem in problems:
        print(str(problem), file=sys.stderr)
    failed = bool(problems)
    for path in files:
        try:
            template = load_template(path.read_bytes(), str(path))
        except LoadError as exc:
            failed = True
            for problem in exc.problems:
                print(str(problem), file=sys.stderr)
            continue
        version = f"v{template.version}" if template.version is not None else "(no version)"
        print(f"ok  {path}: {template.id} {version}")
    return EXIT_FAIL if failed else EXIT_OK
