"""The `priorauth` command line. Errors are sentences on stderr and an exit status, never a traceback.

priorauth evaluate --case CASE.json [--ruleset FILE | --rulesets DIR] [--forms DIR] [--json]
priorauth evaluate --cases CASES.jsonl --rulesets DIR [--backend durable|compiled]
priorauth rulesets check FILE_OR_DIR... [--forms DIR]
priorauth forms check FILE_OR_DIR...
priorauth forms validate --form FILE --answers FILE [--json]
priorauth forms questionnaire --form FILE [--answers FILE] [--base URL]
priorauth serve [--host H] [--port P]
priorauth db upgrade · priorauth audit verify · priorauth rulesets|forms push|list|pull|diff|publish...
priorauth tokens create|list|revoke ...   (admin/cli_tokens.py)
priorauth cases import|show|submit|respond|renew ...   (admin/cli_cases.py)
priorauth demo seed [--cases N] [--org SLUG] [--seed S] [--if-empty]   (admin/cli_demo.py)
priorauth packets build|list · templates check|push|...   (admin/cli_packets.py)
priorauth fax send|status|ingest|watch ...   (admin/cli_fax.py)
priorauth users create-admin|add|list|roles|deactivate|activate|reset ...   (admin/cli_users.py)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any

from admin.cli_cases import add_commands as add_case_commands
from admin.cli_demo import add_commands as add_demo_commands
from admin.cli_fax import add_commands as add_fax_commands
from admin.cli_packets import add_commands as add_packet_commands
from admin.cli_store import add_commands, add_document_commands
from admin.cli_store import run as run_store_command
from admin.cli_tokens import add_commands as add_token_commands
from admin.cli_users import add_commands as add_user_commands
from admin.progress import Progress as _Progress
from engine import (
    EngineError,
    Evaluator,
    FactsError,
    LoadError,
    Problem,
    check_rulesets,
    load_forms,
    load_rulesets,
    run_tests,
)
from engine.backends import BACKENDS
from engine.forms import load_form_file
from engine.questionnaire import BASE as QUESTIONNAIRE_BASE
from engine.questionnaire import to_questionnaire, to_response

MAX_CASE_BYTES = 10 * 1024 * 1024
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A problem the person at the terminal must fix; printed without a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors: exit 2, no traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"priorauth: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="priorauth", description="Prior authorization rules and forms engine.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ev = sub.add_parser("evaluate", help="decide one case, or a JSONL file of cases")
    which = ev.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", metavar="CASE.json", help="one case's facts (JSON object; - reads stdin)")
    which.add_argument(
        "--cases", metavar="CASES.jsonl", help="one case per line; one decision per line on stdout"
    )
    source = ev.add_mutually_exclusive_group()
    source.add_argument("--ruleset", metavar="FILE", help="use only this ruleset file")
    source.add_argument("--rulesets", metavar="DIR", help="use the ruleset files in this folder")
    ev.add_argument("--forms", metavar="DIR", help="forms that decide whether answers are complete")
    ev.add_argument("--json", action="store_true", help="print the decision as JSON")
    ev.add_argument(
        "--backend",
        choices=BACKENDS,
        help="evaluation backend (default: $PRIORAUTH_ENGINE, "
        "else durable for one case and compiled for --cases)",
    )
    ev.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluate as of this date when a case has no as_of")

    rs = sub.add_parser("rulesets", help="work with ruleset files").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    check = rs.add_parser("check", help="validate rulesets and run their embedded tests")
    check.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    check.add_argument(
        "--forms", metavar="DIR", help="check form names and answers.* paths against these forms"
    )

    serve = sub.add_parser("serve", help="run the web app (waitress)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--threads", type=int, default=4, help="worker threads (default 4)")

    add_document_commands("ruleset", rs)
    add_commands(sub, _Parser)
    add_user_commands(sub, _Parser)
    add_token_commands(sub, _Parser)
    add_case_commands(sub, _Parser)
    add_demo_commands(sub, _Parser)
    add_packet_commands(sub, _Parser)
    add_fax_commands(sub, _Parser)

    fm = sub.add_parser("forms", help="work with readiness forms").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    fcheck = fm.add_parser("check", help="load and meta-validate forms")
    fcheck.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    validate = fm.add_parser("validate", help="validate answers against a form")
    validate.add_argument("--form", required=True, metavar="FILE.yaml")
    validate.add_argument("--answers", required=True, metavar="A.json")
    validate.add_argument("--json", action="store_true")
    add_document_commands("form", fm)
    quest = fm.add_parser("questionnaire", help="a form as a FHIR R4 Questionnaire (JSON on stdout)")
    quest.add_argument("--form", required=True, metavar="FILE.yaml")
    quest.add_argument(
        "--answers",
        metavar="A.json",
        help="print these answers as a FHIR QuestionnaireResponse instead",
    )
    quest.add_argument(
        "--base",
        default=QUESTIONNAIRE_BASE,
        metavar="URL",
        help=f"base of the canonical URL (default {QUESTIONNAIRE_BASE}; an https base gives <base>/<form id>)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return run_store_command(args.handler, args)
    try:
        if args.command == "evaluate":
            return cmd_evaluate(args)
        if args.command == "rulesets":
            return cmd_rulesets_check(args)
        if args.command == "serve":
            return cmd_serve(args)
        if args.action == "check":
            return cmd_forms_check(args)
        if args.action == "questionnaire":
            return cmd_forms_questionnaire(args)
        return cmd_forms_validate(args)
    except (CliError, EngineError) as exc:
        print(f"priorauth: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("priorauth: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(str(problem), file=sys.stderr)


# -- reading input ----------------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key '{key}'")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, where: str, one_line: bool = False) -> Any:
    """JSON with duplicate keys and NaN/Infinity refused; errors say where (file:line:col)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        at = f"{where}, column {exc.colno}" if one_line else f"{where}:{exc.lineno}:{exc.colno}"
        raise CliError(f"{at}: not valid JSON ({exc.msg}): fix the JSON") from None
    except ValueError as exc:
        raise CliError(f"{where}: not valid JSON ({exc}): fix the JSON") from None
    except RecursionError:
        raise CliError(f"{where}: the JSON nests too deeply: flatten it") from None


def read_json_file(path: str) -> Any:
    """A JSON file (`-` reads standard input), bounded in size."""
    if path == "-":
        text = sys.stdin.read(MAX_CASE_BYTES + 1)
        if len(text) > MAX_CASE_BYTES:
            raise CliError(f"standard input is over the limit of {MAX_CASE_BYTES} bytes")
        return parse_json(text, "<stdin>")
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_CASE_BYTES:
            raise CliError(f"{path}: the file is {size} bytes, over the limit of {MAX_CASE_BYTES}")
        text = file.read_text("utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: the file is not UTF-8 text") from None
    return parse_json(text, path)


# -- evaluate ------------------------------------------------------------------------------------------
def _evaluator(args: argparse.Namespace, batch: bool) -> Evaluator:
    backend = args.backend or os.environ.get("PRIORAUTH_ENGINE") or ("compiled" if batch else "durable")
    if backend not in BACKENDS:
        raise CliError(f"PRIORAUTH_ENGINE is '{backend}': set it to one of {', '.join(BACKENDS)}")
    forms: dict[str, Any] = {}
    if args.forms:
        forms, problems = load_forms([args.forms])
        if problems:
            _problems(problems)
            raise CliError(f"{len(problems)} problem(s) in the forms: fix them and try again")
    if args.ruleset:
        paths = [args.ruleset]
    elif args.rulesets:
        paths = [args.rulesets]
    else:
        return _store_evaluator(backend)
    rulesets, problems = load_rulesets(paths, forms if args.forms else None)
    for ruleset in rulesets:  # a ruleset's own tests run on every load (on this backend)
        problems.extend(run_tests(ruleset, forms if args.forms else None, backends=(backend,)))
    if problems:
        _problems(problems)
        raise CliError(
            f"{len(problems)} problem(s) in the rulesets: run `priorauth rulesets check` and fix them"
        )
    return Evaluator(rulesets, forms, backend)


def _store_evaluator(backend: str) -> Evaluator:
    """The published rulesets and forms of the configured store (PRIORAUTH_DATABASE_URL)."""
    from admin import store
    from admin.cli_store import StoreCliError, open_database

    try:
        db = open_database()
    except StoreCliError as exc:
        raise CliError(f"{exc}; or pass --rulesets DIR / --ruleset FILE to evaluate from files") from None
    try:
        with db.transaction() as session:
            if not store.published(session, "ruleset"):
                raise CliError(
                    "the store has no published rulesets: `priorauth rulesets push rulesets/ --publish`, "
                    "or pass --rulesets DIR"
                )
            return store.evaluator(session, backend)
    finally:
        db.dispose()


def _as_of(args: argparse.Namespace) -> date:
    if not args.as_of:
        return date.today()
    try:
        return date.fromisoformat(args.as_of)
    except ValueError:
        raise CliError(f"--as-of '{args.as_of}' is not a date: write YYYY-MM-DD") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.cases:
        return _evaluate_stream(args)
    today = _as_of(args)
    evaluator = _evaluator(args, batch=False)
    facts = read_json_file(args.case)
    if not isinstance(facts, dict):
        raise CliError(f"{args.case}: the case must be a JSON object of facts")
    try:
        decision = evaluator.evaluate(facts, today)
    except FactsError as exc:
        raise CliError(f"{args.case}: facts of the wrong type: {exc}") from None
    if args.json:
        print(json.dumps(decision, indent=2, ensure_ascii=False))
    else:
        print(render(decision))
    return EXIT_OK


def _version(version: int | None) -> str:
    return f"v{version}" if version else "(no version)"


def render(decision: dict[str, Any]) -> str:
    """A decision in words, for a person at a terminal."""
    rs = decision["ruleset"]
    lines = [
        f"case {decision['case_id'] or '(no id)'}: auth {decision['auth'].upper()}"
        + ("  ·  ready" if decision["ready"] else "  ·  not ready"),
        f"  ruleset   {rs['id']} {_version(rs['version'])} ({rs['sha256'][:12]})"
        if rs
        else f"  ruleset   none: {decision['reason']}",
    ]
    if decision.get("rulesets"):
        lines.append("  rulesets  " + ", ".join(decision["rulesets"]))
    if decision["channel"]:
        via = (
            decision["portal"]
            if decision["channel"] == "portal"
            else decision["fax"]
            if decision["channel"] == "fax"
            else None
        )
        lines.append(f"  channel   {decision['channel']}" + (f" ({via})" if via else ""))
    if decision["queue"]:
        lines.append(f"  queue     {decision['queue']}")
    lines.append(
        f"  urgency   {decision['urgency']}"
        + (f", payer decision due {decision['due']}" if decision["due"] else "")
    )
    if decision["forms"]:
        lines.append("  forms     " + ", ".join(decision["forms"]))
    for item in decision["missing"]:
        why = decision.get("why_missing", {}).get(item["id"], f"asked for by rule '{item['rule']}'")
        lines.append(f"  MISSING   {item['label']} [{item['id']}]: {why}")
    for item in decision["satisfied"]:
        by = ", ".join(item["by"]) or "the case facts"
        lines.append(f"  ok        {item['label']} [{item['id']}] by {by}")
    for note in decision["notes"]:
        lines.append(f"  note      {note}")
    for fired in decision["fired"]:
        state = "applied" if fired["applied"] else "cut by an earlier final rule"
        lines.append(f"  rule      {fired['rule']} (priority {fired['priority']}, {state})")
    return "\n".join(lines)


def _lines(
    stream: IO[bytes], pending: deque[int], progress: _Progress | None
) -> Iterator[dict[str, Any] | EngineError]:
    for number, raw in enumerate(stream, start=1):
        if progress:
            progress.advance(len(raw))
        text = raw.strip()
        if not text:
            continue
        pending.append(number)
        if len(raw) > MAX_CASE_BYTES:
            yield EngineError(f"line {number}: the line is over {MAX_CASE_BYTES} bytes")
            continue
        try:
            case = parse_json(text.decode("utf-8"), f"line {number}", one_line=True)
        except UnicodeDecodeError:
            yield EngineError(f"line {number}: not UTF-8 text")
            continue
        except CliError as exc:
            yield EngineError(str(exc))
            continue
        if not isinstance(case, dict):
            yield EngineError(f"line {number}: a case must be a JSON object")
            continue
        yield case


def tune_gc_for_batches() -> None:
    """Collect cycles less often while evaluating a stream.

    A decision is a tree of fresh dicts and lists that reference counting frees; the cyclic
    collector, run every 700 allocations by default, only rescans them (about a third of the
    time of a batch, measured in benchmarks/). Loaded rulesets are frozen out of its scans.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _evaluate_stream(args: argparse.Namespace) -> int:
    today = _as_of(args)
    evaluator = _evaluator(args, batch=True)
    tune_gc_for_batches()
    path = Path(args.cases)
    try:
        stream = path.open("rb")
        size = path.stat().st_size
    except OSError as exc:
        raise CliError(f"{args.cases}: cannot read the file ({exc.strerror})") from None
    progress = _Progress(size) if sys.stderr.isatty() else None
    pending: deque[int] = deque()
    failed = total = 0
    out = sys.stdout
    with stream:
        for result in evaluator.evaluate_many(_lines(stream, pending, progress), today):
            number = pending.popleft()
            total += 1
            if isinstance(result, EngineError):
                failed += 1
                message = str(result)
                if not message.startswith("line "):
                    message = f"line {number}: {message}"
                if isinstance(result, FactsError):
                    message = f"line {number}: facts of the wrong type: {result}"
                record: dict[str, Any] = {"line": number, "error": message}
            else:
                record = result
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    if progress:
        progress.done(total, failed)
    if failed:
        print(f"priorauth: {failed} of {total} line(s) failed; see the error records", file=sys.stderr)
    return EXIT_FAIL if failed else EXIT_OK


# -- rulesets and forms --------------------------------------------------------------------------------
def cmd_rulesets_check(args: argparse.Namespace) -> int:
    forms = None
    if args.forms:
        forms, problems = load_forms([args.forms])
        if problems:
            _problems(problems)
            return EXIT_FAIL
    rulesets, problems = check_rulesets(args.paths, forms)
    if problems:
        _problems(problems)
        print(f"priorauth: {len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_FAIL
    for ruleset in rulesets:
        print(
            f"ok  {ruleset.file}: {ruleset.id} {_version(ruleset.version)} · {len(ruleset.rules)} rules · {len(ruleset.tests)} tests pass on both backends"
        )
    return EXIT_OK


def cmd_forms_check(args: argparse.Namespace) -> int:
    forms, problems = load_forms(args.paths)
    if problems:
        _problems(problems)
        print(f"priorauth: {len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_FAIL
    for form in forms.values():
        count = len(form.fields)
        print(
            f"ok  {form.file}: {form.id} {_version(form.version)} · {count} field{'s' if count != 1 else ''}"
        )
    return EXIT_OK


def cmd_forms_validate(args: argparse.Namespace) -> int:
    try:
        form = load_form_file(args.form)
    except LoadError as exc:
        _problems(exc.problems)
        return EXIT_FAIL
    answers = read_json_file(args.answers)
    errors = form.errors(answers)
    facts = form.to_facts(answers)
    result = {"valid": not errors, "errors": [{"field": f, "message": m} for f, m in errors], "facts": facts}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print("valid" if not errors else "\n".join(f"{f or '(form)'}: {m}" for f, m in errors))
    return EXIT_OK if not errors else EXIT_FAIL


def cmd_serve(args: argparse.Namespace) -> int:
    import waitress

    from admin import create_app
    from admin.config import ConfigError
    from admin.db import NotMigrated
    from admin.library import LibraryError

    try:
        app = create_app()
    except LibraryError as exc:
        _problems(exc.problems)
        print("priorauth: the app did not start; fix the files above", file=sys.stderr)
        return EXIT_FAIL
    except (ConfigError, NotMigrated) as exc:
        raise CliError(str(exc)) from None
    from admin.auth import count_users

    if not count_users(app.extensions["priorauth.db"]):
        print(
            "priorauth: no one can sign in yet: create the first admin with "
            "`priorauth users create-admin you@example.org` (it prints a one-time password)",
            flush=True,
        )
    from admin import sweeper

    sweeping = sweeper.start(app)  # once now, then daily: time moves cases into renewal, makes checks due
    following = sweeper.start_fax_status(app, _seconds("PRIORAUTH_FAX_POLL_SECONDS", 120))
    inbox = os.environ.get("PRIORAUTH_FAX_INBOX")
    if inbox:
        from admin import faxinbox

        watching = faxinbox.start(app, Path(inbox))  # faxed replies a fax server drops there
        print(f"priorauth: taking in faxed replies from {inbox}", flush=True)
    print(f"priorauth: serving on http://{args.host}:{args.port}/ (Ctrl+C stops it)", flush=True)
    try:
        waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="priorauth")
    finally:
        sweeping.stop()
        following.stop()
        if inbox:
            watching.stop()
        app.extensions["priorauth.db"].dispose()
    return EXIT_OK


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "")
    try:
        return float(text) if text else default
    except ValueError:
        raise CliError(f"{name} is '{text}': set it to a number of seconds, such as {default:.0f}") from None


def cmd_forms_questionnaire(args: argparse.Namespace) -> int:
    try:
        form = load_form_file(args.form)
    except LoadError as exc:
        _problems(exc.problems)
        return EXIT_FAIL
    if args.answers:
        answers = read_json_file(args.answers)
        if not isinstance(answers, dict):
            raise CliError(f"{args.answers}: the answers must be a JSON object of question: answer")
        resource = to_response(form, answers, args.base)
    else:
        resource = to_questionnaire(form, args.base)
    print(json.dumps(resource, indent=2, ensure_ascii=False))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
