"""`priorauth tokens create|list|revoke`: API tokens for machines (admin/tokens.py).

    priorauth tokens create --user it@example.org --name ci-push --scope rulesets.write --scope rulesets.publish
    priorauth tokens list
    priorauth tokens revoke ID

The token is printed once, on create; only its sha256 is kept.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import select

from admin import tokens
from admin.cli_store import StoreCliError, actor, open_database
from admin.models import ApiToken, User

EXIT_OK, EXIT_FAIL = 0, 1


def add_commands(sub: Any, parser_class: Any) -> None:
    tok = sub.add_parser("tokens", help="API tokens for machines").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    create = tok.add_parser("create", help="make a token (printed once)")
    create.add_argument("--user", required=True, metavar="EMAIL", help="whose rights the token carries")
    create.add_argument("--name", required=True, help="what uses it (ci-push, ehr-bridge...)")
    create.add_argument(
        "--scope", action="append", required=True, choices=sorted(tokens.SCOPES), help="repeat for several"
    )
    create.add_argument("--days", type=int, default=90, help="days until it expires (0: never; default 90)")
    create.set_defaults(handler=cmd_create)
    tok.add_parser("list", help="every token: id, name, user, scopes, state").set_defaults(handler=cmd_list)
    revoke = tok.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id", type=int, metavar="ID")
    revoke.set_defaults(handler=cmd_revoke)


def cmd_create(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            user = session.scalar(select(User).where(User.email == args.user))
            if user is None:
                raise StoreCliError(
                    f"there is no user {args.user}: `priorauth users list` shows who there is"
                )
            try:
                row, token = tokens.create(session, actor(), user, args.name, args.scope, args.days or None)
            except tokens.TokenError as exc:
                raise StoreCliError(str(exc)) from None
            token_id, expires = row.id, row.expires_at
    finally:
        db.dispose()
    print(f"token #{token_id} for {args.user}, scopes {', '.join(sorted(set(args.scope)))}", file=sys.stderr)
    print(f"expires {expires:%Y-%m-%d}" if expires else "never expires", file=sys.stderr)
    print("copy it now: it is shown only once", file=sys.stderr)
    print(token)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            rows = [
                (
                    str(t.id),
                    t.name,
                    t.user.email,
                    f"pa_{t.prefix}_…",
                    ",".join(t.scopes),
                    "revoked"
                    if t.revoked_at
                    else (f"until {t.expires_at:%Y-%m-%d}" if t.expires_at else "no expiry"),
                    f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
                )
                for t in session.scalars(select(ApiToken).order_by(ApiToken.id))
            ]
    finally:
        db.dispose()
    if not rows:
        print("no tokens: `priorauth tokens create` makes one")
        return EXIT_OK
    header = ("ID", "NAME", "USER", "TOKEN", "SCOPES", "STATE", "LAST USED")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    db = open_database()
    try:
        with db.transaction() as session:
            try:
                row = tokens.revoke(session, actor(), args.token_id)
            except tokens.TokenError as exc:
                raise StoreCliError(str(exc)) from None
            name = row.name
    finally:
        db.dispose()
    print(f"priorauth: token #{args.token_id} ({name}) is revoked")
    return EXIT_OK
