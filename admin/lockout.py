"""Failed sign-ins: a few within a window lock the account for a while (5 in 15 minutes: 15 minutes).

    policy = Policy(attempts=5, window=timedelta(minutes=15), lockout=timedelta(minutes=15))
    target = for_user(user.id)   or   for_unknown(keyed_hash_of_the_email)
    attempt = begin(session, target, now, policy)    # BEFORE the password or code is checked
    if attempt.locked_until: refuse, whatever was typed
    give_back(session, target)                       # the password was right (a code may follow)
    locked_until = failed(session, target, now, policy)   # it was wrong: locked now, or None
    clear(session, target)                           # signed in: the count starts again

A target is a user row, or for an email no user has a row of `login_throttle` keyed by a keyed
hash of the email: an unknown email locks exactly like a real account, so the page never tells
them apart. Every step is one UPDATE (an upsert for unknown emails), atomic on SQLite and
PostgreSQL, and an attempt is counted before its password is checked: parallel guesses cannot slip
past the limit. The caller commits; times come from the caller's clock (tests inject one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, case, delete, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from admin.models import LoginThrottle, User, UTCDateTime

USERS: Table = User.__table__  # type: ignore[assignment]
THROTTLE: Table = LoginThrottle.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Policy:
    attempts: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Target:
    table: Table
    key: Any  # users.id, or login_throttle.key

    def where(self) -> Any:
        return self.table.c.id == self.key if self.table is USERS else self.table.c.key == self.key


@dataclass(frozen=True, slots=True)
class Attempt:
    count: int  # attempts in the current window, this one included
    locked_until: datetime | None  # set: refuse this attempt, whatever was typed


def for_user(user_id: int) -> Target:
    return Target(USERS, user_id)


def for_unknown(key: str) -> Target:
    return Target(THROTTLE, key)


def _at(now: datetime) -> Any:
    return literal(now, UTCDateTime())


def begin(session: Session, target: Target, now: datetime, policy: Policy) -> Attempt:
    """Count one attempt (a new window when the last one is over); say whether it is refused."""
    c = target.table.c
    locked = and_(c.locked_until.is_not(None), c.locked_until > _at(now))
    stale = or_(c.failed_since.is_(None), c.failed_since <= _at(now - policy.window))
    values = {
        "failed_logins": case((locked, c.failed_logins), (stale, 1), else_=c.failed_logins + 1),
        "failed_since": case((locked, c.failed_since), (stale, _at(now)), else_=c.failed_since),
    }
    returning = (c.failed_logins, c.locked_until)
    if target.table is USERS:
        row = session.execute(update(USERS).where(target.where()).values(values).returning(*returning)).one()
    else:
        _forget_stale(session, now, policy)
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = insert(THROTTLE).values(key=target.key, failed_logins=1, failed_since=now)
        statement = statement.on_conflict_do_update(index_elements=[c.key], set_=values)
        row = session.execute(statement.returning(*returning)).one()
    count, until = row
    if until is not None and until > now:
        return Attempt(count, until)
    if count > policy.attempts:  # parallel attempts went past the limit: lock now
        return Attempt(count, _lock(session, target, now, policy))
    return Attempt(count, None)


def give_back(session: Session, target: Target) -> None:
    """The password was right: this attempt does not count (the second factor may still fail)."""
    c = target.table.c
    session.execute(
        update(target.table)
        .where(target.where())
        .values(failed_logins=case((c.failed_logins > 0, c.failed_logins - 1), else_=0))
    )


def failed(session: Session, target: Target, now: datetime, policy: Policy) -> datetime | None:
    """The attempt counted by `begin` failed; at the limit the account locks. Returns until when."""
    c = target.table.c
    at_limit = c.failed_logins >= policy.attempts
    until = session.execute(
        update(target.table)
        .where(target.where())
        .values(
            locked_until=case((at_limit, _at(now + policy.lockout)), else_=c.locked_until),
            failed_since=case((at_limit, None), else_=c.failed_since),
            failed_logins=case((at_limit, 0), else_=c.failed_logins),
        )
        .returning(c.locked_until)
    ).scalar_one()
    return until if until is not None and until > now else None


def clear(session: Session, target: Target) -> None:
    """Signed in (or reset by an admin): no failures, no lock."""
    session.execute(
        update(target.table)
        .where(target.where())
        .values(failed_logins=0, failed_since=None, locked_until=None)
    )


def _lock(session: Session, target: Target, now: datetime, policy: Policy) -> datetime:
    until = now + policy.lockout
    session.execute(
        update(target.table)
        .where(target.where())
        .values(locked_until=until, failed_logins=0, failed_since=None)
    )
    return until


def _forget_stale(session: Session, now: datetime, policy: Policy) -> None:
    """Unknown emails are kept only while they count: the table stays small under a spray."""
    c = THROTTLE.c
    session.execute(
        delete(THROTTLE).where(
            or_(c.locked_until.is_(None), c.locked_until <= _at(now)),
            or_(c.failed_since.is_(None), c.failed_since <= _at(now - policy.window)),
        )
    )
