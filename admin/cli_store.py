"""`priorauth` commands that use the store: db, rulesets/forms push|pull|list|diff|publish..., audit.

    priorauth db upgrade
    priorauth rulesets push FILE_OR_DIR... [--publish]      (and the same for `forms`)
    priorauth rulesets list [ID]
    priorauth rulesets pull ID [--version N] [--out FILE]
    priorauth rulesets diff ID V1 V2
    priorauth rulesets submit|publish|retire VERSION_ID
    priorauth rulesets rollback ID VERSION
    priorauth rulesets backtest VERSION_ID (--cases CASES.jsonl | --last N) [--csv OUT.csv]
    priorauth audit verify

The database is PRIORAUTH_DATABASE_URL, else SQLite in the instance folder. The actor recorded in
the audit trail is `cli:<PRIORAUTH_ACTOR or the login name>`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from admin import audit, backtest, store
from admin.config import database_url, instance_path
from admin.db import Database, NotMigrated, safe_url
from admin.models import DocumentVersion
from admin.progress import Progress
from engine import LoadError

Handler = Callable[[argparse.Namespace], int]
EXIT_OK, EXIT_FAIL = 0, 1


class StoreCliError(Exception):
    """A problem the person at the terminal must fix (printed without a traceback)."""


def actor() -> str:
    name = os.environ.get("PRIORAUTH_ACTOR") or _login()
    return f"cli:{name}"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def open_database(migrated: bool = True) -> Database:
    url = database_url(instance_path(), os.environ)
    db = Database(url)
    if migrated:
        try:
            db.check_migrated()
        except NotMigrated as exc:
            db.dispose()
            raise StoreCliError(str(exc)) from None
    return db


def add_commands(sub: Any, parser_class: Any) -> None:
    dbp = sub.add_parser("db", help="the database").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    up = dbp.add_parser("upgrade", help="create or migrate the tables to this version of priorauth")
    up.set_defaults(handler=cmd_db_upgrade)

    aud = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    ver = aud.add_parser("verify", help="check the hash chain: exit 1 if a row was edited or removed")
    ver.set_defaults(handler=cmd_audit_verify)


def add_document_commands(kind: str, actions: Any) -> None:
    """push/list/pull/diff/submit/publish/retire/rollback under `rulesets` or `forms`."""
    plural = f"{kind}s"
    push = actions.add_parser("push", help=f"store {plural} from files as drafts (atomic: all or nothing)")
    push.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    push.add_argument("--publish", action="store_true", help="publish each one too (runs its tests)")
    push.set_defaults(handler=lambda a: cmd_push(kind, a))
    lst = actions.add_parser("list", help=f"the stored {plural} and their versions")
    lst.add_argument("id", nargs="?", help=f"only this {kind}")
    lst.set_defaults(handler=lambda a: cmd_list(kind, a))
    pull = actions.add_parser("pull", help=f"print (or write) a stored {kind} version's text")
    pull.add_argument("id")
    pull.add_argument("--version", type=int, help="a version number (default: the published one)")
    pull.add_argument("--out", metavar="FILE", help="write to this file instead of stdout")
    pull.set_defaults(handler=lambda a: cmd_pull(kind, a))
    dif = actions.add_parser("diff", help="a unified diff between two versions")
    dif.add_argument("id")
    dif.add_argument("old", type=int, metavar="V1")
    dif.add_argument("new", type=int, metavar="V2")
    dif.set_defaults(handler=lambda a: cmd_diff(kind, a))
    for name, helptext in (
        ("submit", "send a draft to review"),
        ("publish", "publish a draft or reviewed version (runs its tests)"),
        ("retire", "retire a published version (the engine stops using it)"),
    ):
        move = actions.add_parser(name, help=helptext)
        move.add_argument("version_id", type=int, metavar="VERSION_ID", help="the id shown by `list`")
        move.set_defaults(handler=lambda a, n=name: cmd_move(kind, n, a))
    if kind == "ruleset":
        bt = actions.add_parser(
            "backtest", help="evaluate a draft beside the published version and show what changes"
        )
        bt.add_argument("version_id", type=int, metavar="VERSION_ID", help="the draft (id shown by `list`)")
        source = bt.add_mutually_exclusive_group(required=True)
        source.add_argument("--cases", metavar="CASES.jsonl", help="one case's facts per line")
        source.add_argument("--last", type=int, metavar="N", help="the last N stored cases")
        bt.add_argument("--csv", metavar="OUT.csv", help="also write every difference to this CSV file")
        bt.set_defaults(handler=cmd_backtest)
    back = actions.add_parser("rollback", help="publish a new version with an old version's text")
    back.add_argument("id")
    back.add_argument("version", type=int)
    back.set_defaults(handler=lambda a: cmd_rollback(kind, a))


def run(handler: Handler, args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except store.StoreError as exc:
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        print("priorauth: nothing was changed", file=sys.stderr)
        return EXIT_FAIL
    except StoreCliError as exc:
        print(f"priorauth: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except SQLAlchemyError as exc:
        # the database's own words can quote values; say which kind of failure and how to look further
        print(
            f"priorauth: the database refused the change ({type(exc).__name__}); nothing was changed. "
            "Run `priorauth db upgrade`, check PRIORAUTH_DATABASE_URL, and try again",
            file=sys.stderr,
        )
        return EXIT_FAIL


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    db = open_database(migrated=False)
    try:
        before, now = db.upgrade()
    finally:
        db.dispose()
    if before == now:
        print(f"priorauth: {safe_url(db.url)} is already at revision {now}")
    else:
        print(f"priorauth: {safe_url(db.url)} migrated from {before or 'empty'} to revision {now}")
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            report = audit.verify(session)
    finally:
        db.dispose()
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.problems:
        print(
            f"priorauth: the audit trail is BROKEN: {len(report.problems)} problem(s) in {report.events} events",
            file=sys.stderr,
        )
        return EXIT_FAIL
    print(f"ok  {report.events} audit events, chain intact; head {report.head}")
    return EXIT_OK


def cmd_push(kind: str, args: argparse.Namespace) -> int:
    files = store.files_of(args.paths)
    db = open_database()
    try:
        with db.transaction() as session:
            results = store.push(session, actor(), kind, files, publish_now=args.publish)
    finally:
        db.dispose()
    for r in results:
        if r.outcome == "unchanged":
            print(f"same  {r.file}: {kind} {r.slug} is unchanged ({_number(r.version)})")
        elif r.outcome == "draft":
            print(f"draft {r.file}: {kind} {r.slug} stored as draft #{r.version_id}")
        else:
            note = f" (the file said v{r.replaced}; the store already has it or later)" if r.replaced else ""
            print(f"live  {r.file}: {kind} {r.slug} published as v{r.version}{note}")
    return EXIT_OK


def cmd_list(kind: str, args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            rows = store.versions(session, kind, args.id)
            lines = [
                (
                    str(r.id),
                    r.document.slug,
                    _number(r.version),
                    r.status,
                    _window(r),
                    r.sha256[:12],
                    f"{r.updated_by} {r.updated_at:%Y-%m-%d %H:%M}",
                )
                for r in rows
            ]
    finally:
        db.dispose()
    if not lines:
        print(
            f"no {kind}s stored"
            + (f" with id '{args.id}'" if args.id else "")
            + f": `priorauth {kind}s push` adds them"
        )
        return EXIT_OK if not args.id else EXIT_FAIL
    header = ("ID", kind.upper(), "VERSION", "STATUS", "EFFECTIVE", "SHA256", "LAST CHANGE")
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def cmd_pull(kind: str, args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            row = store.find(session, kind, args.id, args.version)
            text = row.text
    finally:
        db.dispose()
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise StoreCliError(f"{args.out}: cannot write the file ({exc.strerror})") from None
        print(f"priorauth: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_diff(kind: str, args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            text = store.diff(
                store.find(session, kind, args.id, args.old), store.find(session, kind, args.id, args.new)
            )
    finally:
        db.dispose()
    sys.stdout.write(text or f"v{args.old} and v{args.new} have the same text\n")
    return EXIT_OK


def cmd_move(kind: str, name: str, args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            row = session.get(DocumentVersion, args.version_id)
            if row is None or row.document.kind != kind:
                raise store.NotFound(
                    [f"there is no {kind} version with id {args.version_id}: see `priorauth {kind}s list`"]
                )
            if name == "publish":
                result = store.publish(session, actor(), args.version_id)
                message = f"{kind} {result.slug} published as v{result.version}"
            else:
                moved = getattr(store, name)(session, actor(), args.version_id)
                message = f"{kind} {moved.document.slug} {_number(moved.version)} is now {moved.status}"
    finally:
        db.dispose()
    print(f"priorauth: {message}")
    return EXIT_OK


def cmd_rollback(kind: str, args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            result = store.rollback(session, actor(), kind, args.id, args.version)
    finally:
        db.dispose()
    print(f"priorauth: {kind} {args.id} v{args.version} published again as v{result.version}")
    return EXIT_OK


def cmd_backtest(args: argparse.Namespace) -> int:
    """A draft beside what is published, on a JSONL file (with a progress bar) or the last N cases."""
    bad: list[str] = []
    progress: Progress | None = None
    stream: Any = None
    if args.last is not None:
        if not 1 <= args.last <= backtest.MAX_STORED:
            raise StoreCliError(f"--last takes 1 to {backtest.MAX_STORED:,} cases")
    else:
        path = Path(args.cases)
        try:
            size = path.stat().st_size
            stream = path.open("rb")
        except OSError as exc:
            raise StoreCliError(f"{args.cases}: cannot read the file ({exc.strerror})") from None
        progress = Progress(size) if sys.stderr.isatty() else None

    def from_file() -> Any:
        for number, raw in enumerate(stream, start=1):
            if progress:
                progress.advance(len(raw))
            if not raw.strip():
                continue
            try:
                facts = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                bad.append(f"{args.cases}:{number}: not valid JSON ({getattr(exc, 'msg', exc)})")
                continue
            if not isinstance(facts, dict):
                bad.append(f"{args.cases}:{number}: a case is a JSON object")
                continue
            yield str(facts.get("case_id") or f"line {number}"), facts

    db = open_database()
    try:
        with db.transaction() as session:
            row = session.get(DocumentVersion, args.version_id)
            if row is None or row.document.kind != "ruleset":
                raise store.NotFound(
                    [f"there is no ruleset version with id {args.version_id}: see `priorauth rulesets list`"]
                )
            cases = backtest.stored_cases(session, args.last) if stream is None else from_file()
            try:
                result = backtest.of_version(session, row, cases)
            except LoadError as exc:
                raise store.StoreError(exc.problems) from None
            slug = row.document.slug
    finally:
        db.dispose()
        if stream is not None:
            stream.close()
    if progress:
        progress.done(result.cases, len(result.errors) + len(bad))
    for line in bad:
        print(line, file=sys.stderr)
    _print_backtest(result, slug, args)
    return EXIT_FAIL if bad or result.errors else EXIT_OK


def _print_backtest(result: backtest.Result, slug: str, args: argparse.Namespace) -> None:
    for name, message in result.errors:
        print(f"{name}: {message}", file=sys.stderr)
    print(f"{result.changed} of {result.cases} cases decide differently with {slug} #{args.version_id}")
    for name, count in result.by_field.most_common():
        print(f"  {name:<8} {count:>7,}  {'#' * max(1, round(40 * count / max(result.cases, 1)))}")
    for d in result.differences[:20]:
        print(f"  {d.case}: {d.field} {d.before or '-'} -> {d.after or '-'}")
    if len(result.differences) > 20:
        print(f"  ... {len(result.differences) - 20} more (use --csv)")
    if args.csv:
        try:
            Path(args.csv).write_text(backtest.to_csv(result), encoding="utf-8")
        except OSError as exc:
            raise StoreCliError(f"{args.csv}: cannot write the file ({exc.strerror})") from None
        print(f"priorauth: wrote {args.csv}", file=sys.stderr)


def _number(version: int | None) -> str:
    return f"v{version}" if version is not None else "-"


def _window(row: Any) -> str:
    if row.effective_from is None:
        return "-"
    return f"{row.effective_from}..{row.effective_to or ''}"
