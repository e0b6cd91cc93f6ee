"""Who may open which endpoint: one rule per endpoint, so a test can walk `app.url_map` and check.

    @require_roles("it")                                  # one view: signed in, with one of the roles
    bp.before_request(require_roles("coordinator", ...))  # every view of a blueprint
    app.extensions["priorauth.access"][endpoint] = Access(roles=frozenset({...}))   # by name
    access_rules(app)                                     # endpoint -> Access | None

A rule comes from, first to last: the endpoint's name in RULES (or added to the app's copy of it,
as Flask-Admin views are), its blueprint's name in BLUEPRINTS, `require_roles` on the view or its
blueprint (all of them must hold). No rule at all: admin/auth.py's guard refuses the endpoint to
everyone, so a new page is closed until someone says who may open it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Flask, current_app, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import Forbidden

from admin.models import ROLES


@dataclass(frozen=True, slots=True)
class Access:
    """Who may open an endpoint: everyone (public), nobody (off), callers with an API token (the
    endpoint checks the token itself: a session gives nothing), any signed-in user (roles None), or
    signed-in users with one of `roles`."""

    public: bool = False
    off: bool = False
    token: bool = False
    roles: frozenset[str] | None = None

    def allows(self, user: Any) -> bool:
        if self.off:
            return False
        if self.public or self.token:
            return True
        if not user.is_authenticated:
            return False
        return self.roles is None or any(role.name in self.roles for role in user.roles)


PUBLIC, SIGNED_IN, OFF, TOKEN = Access(public=True), Access(), Access(off=True), Access(token=True)
RULES: dict[str, Access] = {
    "static": PUBLIC,
    "healthz": PUBLIC,
    "security.login": PUBLIC,
    "security.logout": PUBLIC,  # signing out must work from any page, even a stale one
    # steps between the password and the code: Flask-Security checks its own session state there
    "security.two_factor_setup": PUBLIC,
    "security.two_factor_token_validation": PUBLIC,
    "home": SIGNED_IN,
    "security.change_password": SIGNED_IN,
    "security.two_factor_setup_validate": SIGNED_IN,
    "security.verify": SIGNED_IN,
    # Flask-Security pages this app does not use: rescue sends mail, select picks between methods
    "security.two_factor_rescue": OFF,
    "security.tf_select": OFF,
    "security.static": OFF,
}
BLUEPRINTS: dict[str, Access] = {
    "api": TOKEN,  # admin/api.py: bearer tokens with scopes, checked against the user's roles
}


class RoleGuard:
    """What `require_roles` makes: a decorator for one view, or a `before_request` guard."""

    def __init__(self, roles: frozenset[str]) -> None:
        self.access = Access(roles=roles)

    def __call__(self, view: Callable[..., Any] | None = None) -> Any:
        if view is None:  # bp.before_request(require_roles(...)) calls it with no arguments
            return refuse(self.access)

        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            return refuse(self.access) or view(*args, **kwargs)

        guarded.priorauth_access = self.access  # type: ignore[attr-defined]
        return guarded


def require_roles(*roles: str) -> RoleGuard:
    """Only signed-in users with one of these roles: others get the 403 page, anonymous visitors
    the sign-in page. Raises ValueError for a role admin.models.ROLES does not have."""
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise ValueError(f"require_roles: unknown role(s) {unknown}: the roles are {', '.join(ROLES)}")
    return RoleGuard(frozenset(roles))


def rule_for(app: Flask, endpoint: str) -> Access | None:
    """The endpoint's rule (see the module's docstring), or None when nobody gave one."""
    explicit: Access | None = app.extensions["priorauth.access"].get(endpoint)
    if explicit is not None:
        return explicit
    parts = endpoint.split(".")[:-1]
    blueprints = [".".join(parts[: i + 1]) for i in range(len(parts))]
    for name in blueprints:
        if name in BLUEPRINTS:
            return BLUEPRINTS[name]
    found: list[Access] = []
    marked = getattr(app.view_functions.get(endpoint), "priorauth_access", None)
    if marked is not None:
        found.append(marked)
    for name in blueprints:
        found.extend(g.access for g in app.before_request_funcs.get(name, ()) if isinstance(g, RoleGuard))
    if not found:
        return None
    return Access(roles=frozenset.intersection(*(a.roles or frozenset(ROLES) for a in found)))


def access_rules(app: Flask) -> dict[str, Access | None]:
    """Every endpoint of the app with its rule (None: nobody gave one; the guard refuses it)."""
    return {rule.endpoint: rule_for(app, rule.endpoint) for rule in app.url_map.iter_rules()}


def may(endpoint: str) -> bool:
    """Whether the current user may open this endpoint (templates show links with it)."""
    access = rule_for(current_app, endpoint)
    return access is not None and access.allows(current_user)


class RolesMissing(Forbidden):
    """A signed-in user without a role the page needs; the 403 page shows the description."""

    def __init__(self, access: Access) -> None:
        needed = sorted(access.roles or ()) if not access.off else []
        super().__init__(
            "Your account does not have a role that may open this page"
            + (f" (it needs one of: {', '.join(needed)})" if needed else "")
            + ". Ask an admin to give you the role you need."
        )


def refuse(access: Access) -> Any:
    """None when the current user may go on; else the way to the sign-in page, or RolesMissing."""
    if not current_user.is_authenticated and not (access.public or access.token):
        return to_sign_in()
    if not access.allows(current_user):
        raise RolesMissing(access)
    return None


def to_sign_in() -> Any:
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("security.login", next=target))
