"""API tokens for machines: scoped, revocable, shown once, stored as sha256 only.

    row, token = create(session, actor, user, "ci-push", ["rulesets.write", "rulesets.publish"])
    found = authenticate(session, token)      # (row, user) or None: unknown, revoked, expired, inactive
    revoke(session, actor, row.id)

A token looks like `pa_<prefix>_<secret>`; the prefix is kept in clear so people can tell tokens
apart in lists and logs; the whole token is never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import audit
from admin.models import ApiToken, User, utcnow

SCOPES = {
    "rulesets.read": "list and read ruleset versions",
    "rulesets.write": "push ruleset drafts",
    "rulesets.publish": "publish, retire and roll back rulesets",
    "forms.read": "list and read form versions",
    "forms.write": "push form drafts",
    "forms.publish": "publish, retire and roll back forms",
    "templates.read": "list and read packet template versions",
    "templates.write": "push packet template drafts",
    "templates.publish": "publish, retire and roll back packet templates",
    "cases.evaluate": "evaluate case facts against what is published",
    "cases.read": "read the cases of the token's organization",
    "cases.write": "create cases (facts or a FHIR Bundle) and record their usage, in the token's organization",
    "audit.read": "read the audit trail and verify its chain",
}
# the scopes each role may hand to a token of its own
ROLE_SCOPES = {
    "analyst": {
        "rulesets.read",
        "rulesets.write",
        "forms.read",
        "forms.write",
        "templates.read",
        "templates.write",
        "cases.evaluate",
    },
    "reviewer": {
        "rulesets.read",
        "forms.read",
        "templates.read",
        "rulesets.publish",
        "forms.publish",
        "templates.publish",
        "cases.evaluate",
    },
    "it": {
        "rulesets.read",
        "rulesets.write",
        "rulesets.publish",
        "forms.read",
        "forms.write",
        "forms.publish",
        "templates.read",
        "templates.write",
        "templates.publish",
        "cases.evaluate",
        "cases.read",
        "cases.write",
    },
    "coordinator": {"cases.evaluate", "cases.read", "cases.write", "forms.read"},
    "manager": {"rulesets.read", "forms.read", "templates.read"},
    "admin": {"audit.read", "rulesets.read", "forms.read", "templates.read"},
}


class TokenError(Exception):
    """A token request that cannot be granted; the message says why and what would work."""


def allowed_scopes(user: User) -> set[str]:
    out: set[str] = set()
    for role in user.roles:
        out |= ROLE_SCOPES.get(role.name, set())
    return out


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(
    session: Session,
    actor: str,
    user: User,
    name: str,
    scopes: Iterable[str],
    days: int | None = 90,
) -> tuple[ApiToken, str]:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise TokenError(f"unknown scope(s) {', '.join(unknown)}: use {', '.join(SCOPES)}")
    if not wanted:
        raise TokenError("a token needs at least one scope")
    beyond = [s for s in wanted if s not in allowed_scopes(user)]
    if beyond:
        raise TokenError(
            f"{user.email} may not grant {', '.join(beyond)} (roles: {', '.join(r.name for r in user.roles) or 'none'})"
        )
    if not name.strip() or len(name) > 120:
        raise TokenError("a token needs a name of 1 to 120 characters (say what uses it)")
    prefix = secrets.token_hex(4)
    token = f"pa_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        name=name.strip(),
        user_id=user.id,
        scopes=wanted,
        prefix=prefix,
        token_sha256=_digest(token),
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "token-create",
        "api_token",
        str(row.id),
        None,
        {
            "name": row.name,
            "user": user.email,
            "scopes": wanted,
            "prefix": prefix,
            "expires_at": row.expires_at,
        },
    )
    return row, token


def authenticate(session: Session, token: str) -> tuple[ApiToken, User] | None:
    if not token.startswith("pa_") or len(token) > 200:
        return None
    digest = _digest(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest))
    if row is None or not hmac.compare_digest(row.token_sha256, digest):
        return None
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    user = row.user
    if not user.active:
        return None
    row.last_used_at = now
    return row, user


def revoke(session: Session, actor: str, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise TokenError(f"there is no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        audit.record(
            session, actor, "token-revoke", "api_token", str(row.id), {"revoked": False}, {"revoked": True}
        )
    return row
