"""`priorauth demo seed`: a synthetic practice to look at, made through the case service.

    priorauth demo seed [--cases N] [--org SLUG] [--seed S] [--if-empty]

Cases go to `--org SLUG` (made when missing), else the only organization (made as "default" on
first use). `--if-empty` seeds nothing when there are cases already (in that organization, or
anywhere in the store when no --org is given): `make run` uses it. The rulesets must be published
first (`priorauth rulesets push rulesets --publish`).
"""

from __future__ import annotations

import argparse
from typing import Any

from admin import demo
from admin.cli_store import StoreCliError, actor, open_database
from engine.lifecycle import STAGES

EXIT_OK = 0


def add_commands(sub: Any, parser_class: Any) -> None:
    dm = sub.add_parser("demo", help="a synthetic demo practice").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    seed = dm.add_parser("seed", help="fictional cases across every stage, payer and service line")
    seed.add_argument(
        "--cases", type=_positive, default=demo.DEFAULT_CASES, metavar="N", help="how many (default 300)"
    )
    seed.add_argument("--org", metavar="SLUG", help="the organization (made when missing)")
    seed.add_argument(
        "--seed", type=int, default=demo.SEED, metavar="S", help="the same seed, the same cases"
    )
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when there are cases already (for `make run`)"
    )
    seed.set_defaults(handler=cmd_seed)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of cases: write 1 or more")
    return value


def cmd_seed(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            result = demo.seed_practice(
                session, actor(), args.org, args.cases, args.seed, if_empty=args.if_empty
            )
    except demo.DemoError as exc:
        raise StoreCliError(str(exc)) from None
    finally:
        db.dispose()
    if result.skipped:
        where = f"organization '{args.org}'" if args.org else "the store"
        print(f"priorauth: {where} has cases already; no demo cases added")
        return EXIT_OK
    stages = ", ".join(f"{stage} {n}" for stage, n in sorted(result.stages.items(), key=_stage_order))
    print(f"priorauth: {result.cases} demo cases in organization '{result.organization}' ({stages})")
    return EXIT_OK


def _stage_order(item: tuple[str, int]) -> int:
    return STAGES.index(item[0]) if item[0] in STAGES else len(STAGES)
