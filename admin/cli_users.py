"""`priorauth users ...`: the people who sign in, their roles, and one-time passwords.

    priorauth users create-admin EMAIL                  the first admin; prints a one-time password
    priorauth users add EMAIL --role R [--role R2]      prints a one-time password
    priorauth users list
    priorauth users roles EMAIL [--add R] [--remove R]
    priorauth users deactivate EMAIL | activate EMAIL
    priorauth users reset EMAIL                         a new one-time password; the authenticator
                                                        app is set up again; any lock is lifted

A one-time password is printed once and kept only as its argon2 hash. Whoever signs in with it
sets up their authenticator app (when PRIORAUTH_REQUIRE_2FA is on) and must choose their own
password before any other page opens. Every change is an audit event by `cli:<login name>`
(PRIORAUTH_ACTOR overrides the name). There is no default password, and no web page makes admins.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask_security import hash_password
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import audit, lockout
from admin.auth import one_time_password
from admin.cli_store import EXIT_OK, StoreCliError, actor
from admin.models import ROLES, Role, User


def add_commands(sub: Any, parser_class: Any) -> None:
    users = sub.add_parser("users", help="people who sign in, and their roles").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    first = users.add_parser("create-admin", help="create an admin and print a one-time password")
    first.add_argument("email")
    first.set_defaults(handler=cmd_create_admin)
    add = users.add_parser("add", help="add a user with roles and print a one-time password")
    add.add_argument("email")
    add.add_argument("--role", action="append", required=True, choices=list(ROLES), help="repeat for more")
    add.set_defaults(handler=cmd_add)
    lst = users.add_parser("list", help="every user: roles, state, last sign-in")
    lst.set_defaults(handler=cmd_list)
    roles = users.add_parser("roles", help="give or take roles")
    roles.add_argument("email")
    roles.add_argument("--add", action="append", default=[], choices=list(ROLES), metavar="ROLE")
    roles.add_argument("--remove", action="append", default=[], choices=list(ROLES), metavar="ROLE")
    roles.set_defaults(handler=cmd_roles)
    off = users.add_parser("deactivate", help="stop a user signing in (their sessions end now)")
    off.add_argument("email")
    off.set_defaults(handler=lambda a: cmd_active(a, False))
    on = users.add_parser("activate", help="let a deactivated user sign in again")
    on.add_argument("email")
    on.set_defaults(handler=lambda a: cmd_active(a, True))
    reset = users.add_parser("reset", help="a new one-time password; the authenticator app is set up again")
    reset.add_argument("email")
    reset.set_defaults(handler=cmd_reset)


@contextmanager
def _store() -> Iterator[tuple[Flask, Session]]:
    """The app (Flask-Security with the web's own settings and secrets) and a session committed at
    the end, or rolled back on any error."""
    from admin import create_app
    from admin.config import ConfigError
    from admin.db import NotMigrated
    from admin.library import LibraryError

    try:
        app = create_app()
    except (ConfigError, NotMigrated) as exc:
        raise StoreCliError(str(exc)) from None
    except LibraryError as exc:
        where = "; ".join(str(p) for p in exc.problems[:3])
        raise StoreCliError(f"the app cannot start ({where}): fix that first") from None
    db = app.extensions["priorauth.db"]
    try:
        with app.app_context():
            session = db.scoped()
            try:
                yield app, session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    finally:
        db.dispose()


def _email(app: Flask, text: str) -> str:
    try:
        email: str = app.extensions["security"].mail_util.validate(text)
    except ValueError:
        raise StoreCliError(f"'{text}' is not an email address: write it like ann@example.org") from None
    return email


def find(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())).first()


def _user(session: Session, email: str) -> User:
    user = find(session, email)
    if user is None:
        raise StoreCliError(f"there is no user {email}: `priorauth users list` shows them")
    return user


def create(
    app: Flask, session: Session, who: str, email: str, roles: list[str], via: str
) -> tuple[User, str]:
    """A user who must set their own password; returns it with its one-time password."""
    email = _email(app, email)
    found = find(session, email)
    if found is not None:
        email = found.email
        raise StoreCliError(
            f"there is already a user {email}: `priorauth users roles {email} --add ROLE` changes their "
            f"roles, `priorauth users reset {email}` gives them a new one-time password"
        )
    password = one_time_password()
    datastore = app.extensions["security"].datastore
    user = datastore.create_user(
        email=email,
        password=hash_password(password),
        roles=_roles(session, roles),
        must_change_password=True,
    )
    session.flush()
    audit.record(
        session, who, "create", "user", str(user.id), None, {"email": email, "roles": roles, "via": via}
    )
    return user, password


def _roles(session: Session, names: list[str]) -> list[Role]:
    found = {r.name: r for r in session.scalars(select(Role).where(Role.name.in_(names)))}
    return [found[name] for name in dict.fromkeys(names)]  # every role exists: create_app made them


def _names(user: User) -> list[str]:
    return sorted(role.name for role in user.roles)


def _other_admins(session: Session, user: User) -> int:
    return sum(
        1
        for u in session.scalars(select(User).where(User.active.is_(True)))
        if u.id != user.id and "admin" in _names(u)
    )


def _handout(email: str, password: str) -> None:
    print(f"one-time password: {password}")
    print(
        f"Give it to {email} by a channel only they read. It works for one sign-in: they then set up "
        "their authenticator app and choose their own password. It is not stored and not shown again; "
        f"`priorauth users reset {email}` makes a new one."
    )


def cmd_create_admin(args: argparse.Namespace) -> int:
    with _store() as (app, session):
        user, password = create(app, session, actor(), args.email, ["admin"], "create-admin")
        email, number = user.email, user.id
    print(f"priorauth: created the admin {email} (user {number})")
    _handout(email, password)
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    with _store() as (app, session):
        user, password = create(app, session, actor(), args.email, args.role, "add")
        email, number, roles = user.email, user.id, _names(user)
    print(f"priorauth: added {email} (user {number}) with the role(s) {', '.join(roles)}")
    _handout(email, password)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with _store() as (app, session):
        now = app.extensions["priorauth.clock"]()
        rows = [
            (
                str(u.id),
                u.email,
                ",".join(_names(u)) or "-",
                _state(u, now),
                "yes" if u.tf_primary_method else "no",
                f"{u.current_login_at:%Y-%m-%d %H:%M}" if u.current_login_at else "never",
            )
            for u in session.scalars(select(User).order_by(User.id))
        ]
    if not rows:
        print("no users yet: `priorauth users create-admin you@example.org` makes the first admin")
        return EXIT_OK
    header = ("ID", "EMAIL", "ROLES", "STATE", "2FA", "LAST SIGN-IN")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _state(user: User, now: Any) -> str:
    if not user.active:
        return "deactivated"
    if user.locked_until is not None and user.locked_until > now:
        return f"locked until {user.locked_until:%H:%M} UTC"
    if user.must_change_password:
        return "one-time password"
    return "active"


def cmd_roles(args: argparse.Namespace) -> int:
    if not args.add and not args.remove:
        raise StoreCliError("say which roles change: --add ROLE and/or --remove ROLE")
    both = sorted(set(args.add) & set(args.remove))
    if both:
        raise StoreCliError(f"{', '.join(both)}: both added and removed; say one or the other")
    with _store() as (_app, session):
        user = _user(session, args.email)
        before = _names(user)
        after = sorted((set(before) | set(args.add)) - set(args.remove))
        if "admin" in before and "admin" not in after and not _other_admins(session, user):
            raise StoreCliError(f"{user.email} is the only active admin: make another admin first")
        user.roles = _roles(session, after)
        if after != before:
            audit.record(session, actor(), "roles", "user", str(user.id), {"roles": before}, {"roles": after})
        email = user.email
    print(f"priorauth: {email} now has the role(s) {', '.join(after) or '(none)'}")
    return EXIT_OK


def cmd_active(args: argparse.Namespace, active: bool) -> int:
    word = "active" if active else "deactivated"
    with _store() as (app, session):
        user = _user(session, args.email)
        email = user.email
        if user.active == active:
            print(f"priorauth: {email} is already {word}")
            return EXIT_OK
        if not active and "admin" in _names(user) and not _other_admins(session, user):
            raise StoreCliError(f"{email} is the only active admin: make another admin first")
        user.active = active
        app.extensions["security"].datastore.set_uniquifier(user)  # every session of theirs ends now
        action = "activate" if active else "deactivate"
        audit.record(
            session, actor(), action, "user", str(user.id), {"active": not active}, {"active": active}
        )
    print(f"priorauth: {email} is now {word}")
    return EXIT_OK


def cmd_reset(args: argparse.Namespace) -> int:
    with _store() as (app, session):
        user = _user(session, args.email)
        password = one_time_password()
        user.password = hash_password(password)
        user.must_change_password = True
        user.tf_last_counter = None
        datastore = app.extensions["security"].datastore
        datastore.tf_reset(user)
        datastore.set_uniquifier(user)  # every session of theirs ends now
        lockout.clear(session, lockout.for_user(user.id))
        audit.record(
            session, actor(), "reset", "user", str(user.id), None, {"password": "one-time", "2fa": "cleared"}
        )
        email = user.email
    print(
        f"priorauth: {email} has a new one-time password; their authenticator app is set up again at sign-in"
    )
    _handout(email, password)
    return EXIT_OK
