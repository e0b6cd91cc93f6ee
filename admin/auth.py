"""Sign-in, roles, and who may open what: Flask-Security-Too on the store, wired in one place.

    auth.init_app(app)                                  # in create_app, after CSRFProtect
    @auth.require_roles("it")                           # one view: only these roles
    bp.before_request(auth.require_roles("coordinator", "analyst"))   # every view of a blueprint
    auth.access_rules(app)                              # endpoint -> Access (admin/access.py)

Every request passes one guard (`_guard`): public endpoints pass; everyone else signs in first;
a session idle for PRIORAUTH_SESSION_MINUTES ends; someone holding a one-time password changes it
before anything else; an endpoint nobody gave a rule is refused to everyone (a new page stays
closed until someone says who may open it); then the endpoint's roles decide.

Sign-in is email + password (argon2id) + a TOTP code from an authenticator app (required unless
PRIORAUTH_REQUIRE_2FA=false), with the lockout of admin/lockout.py on both steps. Every sign-in,
failure, lockout, sign-out, 2FA setup and password change is an audit event (admin/audit.py).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, user_logged_out
from flask_security import Security, SQLAlchemySessionUserDatastore, logout_user
from flask_security.signals import (
    password_changed,
    tf_code_confirmed,
    tf_disabled,
    tf_profile_changed,
    user_authenticated,
)
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from admin import audit, lockout, signin
from admin.access import (
    BLUEPRINTS,
    OFF,
    PUBLIC,
    RULES,
    SIGNED_IN,
    TOKEN,
    Access,
    RoleGuard,
    RolesMissing,
    access_rules,
    may,
    refuse,
    require_roles,
    rule_for,
    to_sign_in,
)
from admin.config import ConfigError, instance_secret
from admin.db import Database
from admin.models import ROLES, Role, User
from admin.signin import db, now, record

__all__ = [  # who may open what lives in admin/access.py; other modules reach it from here
    "BLUEPRINTS",
    "OFF",
    "PUBLIC",
    "RULES",
    "SIGNED_IN",
    "TOKEN",
    "Access",
    "RoleGuard",
    "access_rules",
    "init_app",
    "may",
    "require_roles",
    "rule_for",
]
log = logging.getLogger("priorauth.auth")
PASSWORD_FIRST = ("security.change_password", "security.logout")  # open while a one-time password is held
SEEN = "priorauth_seen"  # session key: when the signed-in user's last request came (epoch seconds)
ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/l/I


# -- settings ---------------------------------------------------------------------------------------
def _flag(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


def _minutes(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("a whole number of minutes, 1 or more")
    return value


# PRIORAUTH_<NAME> -> (how to read it, what it must be, default)
SETTINGS: dict[str, tuple[Callable[[str], Any], str, Any]] = {
    "REQUIRE_2FA": (_flag, "true or false", True),
    "SESSION_MINUTES": (_minutes, "a whole number of minutes, like 30", 30),
    "LOCKOUT_ATTEMPTS": (_minutes, "a whole number of attempts, like 5", 5),
    "LOCKOUT_MINUTES": (_minutes, "a whole number of minutes, like 15", 15),
}


def _settings(app: Flask, environ: Mapping[str, str]) -> None:
    """PRIORAUTH_* for auth, unless the test's mapping (already in app.config) set them."""
    for name, (read, what, default) in SETTINGS.items():
        if name in app.config:
            continue
        text = environ.get(f"PRIORAUTH_{name}", "")
        try:
            app.config[name] = read(text) if text.strip() else default
        except ValueError:
            raise ConfigError(f"PRIORAUTH_{name} is '{text}': set it to {what}") from None


def kept_secret(instance: Path, name: str, environ: Mapping[str, str]) -> str:
    """PRIORAUTH_<NAME>, else a random secret kept in the instance folder (mode 0600), made once.

    Like the secret key (admin/config.py), but its own file: rotating the session key must not
    break every password (the salt peppers them) or every authenticator (the TOTP key encrypts them).
    """
    given = environ.get(f"PRIORAUTH_{name.upper()}")
    return given if given else instance_secret(instance, name)


def one_time_password() -> str:
    """20 characters people can read aloud (no 0/O, 1/l/I), in groups of five: ~115 bits."""
    text = "".join(secrets.choice(ALPHABET) for _ in range(20))
    return "-".join(text[i : i + 5] for i in range(0, 20, 5))


def _security_config(app: Flask, environ: Mapping[str, str]) -> None:
    instance = Path(app.config["INSTANCE_PATH"])
    defaults: dict[str, Any] = {
        "SECURITY_PASSWORD_HASH": "argon2",  # argon2id, libpass's defaults (RFC 9106: m=64 MiB, t=3, p=4)
        "SECURITY_PASSWORD_SALT": kept_secret(instance, "password_salt", environ),
        "SECURITY_PASSWORD_LENGTH_MIN": 12,
        "SECURITY_TOTP_SECRETS": {"1": kept_secret(instance, "totp_secret", environ)},
        "SECURITY_TOTP_ISSUER": "priorauth",
        "SECURITY_TWO_FACTOR": True,
        "SECURITY_TWO_FACTOR_ENABLED_METHODS": ["authenticator"],
        "SECURITY_TWO_FACTOR_REQUIRED": app.config["REQUIRE_2FA"],
        "SECURITY_TWO_FACTOR_ALWAYS_VALIDATE": True,  # a code at every sign-in, no "trusted device"
        "SECURITY_TWO_FACTOR_AUTHENTICATOR_VALIDITY": 30,  # the code before and after also work
        "SECURITY_TWO_FACTOR_RESCUE_EMAIL": False,  # no mail here: an admin resets (users reset)
        "SECURITY_CHANGEABLE": True,
        "SECURITY_SEND_PASSWORD_CHANGE_EMAIL": False,
        "SECURITY_TRACKABLE": True,
        "SECURITY_DEFAULT_REMEMBER_ME": False,
        "SECURITY_API_ENABLED_METHODS": ["session"],
        "SECURITY_EMAIL_VALIDATOR_ARGS": {"check_deliverability": False},  # no DNS look-ups
        "SECURITY_POST_LOGIN_VIEW": "/",
        "SECURITY_POST_LOGOUT_VIEW": "/login",
        "SECURITY_POST_CHANGE_VIEW": "/",
        "SECURITY_MSG_INVALID_PASSWORD": ("That is not your current password.", "error"),
        "SECURITY_MSG_PASSWORD_IS_THE_SAME": ("Choose a password different from the current one.", "error"),
        "SECURITY_MSG_PASSWORD_CHANGE": ("Your password was changed.", "success"),
        "SECURITY_MSG_TWO_FACTOR_INVALID_TOKEN": (
            "That code is not right, or it was used already. Type the 6 digits your authenticator "
            "app shows now.",
            "error",
        ),
        "SECURITY_MSG_TWO_FACTOR_PERMISSION_DENIED": (
            "That page is a step of signing in: start again from the sign-in page.",
            "error",
        ),
        "SECURITY_MSG_TWO_FACTOR_LOGIN_SUCCESSFUL": ("You are signed in.", "success"),
        "SECURITY_MSG_TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL": (
            "Your authenticator app is set up: use it at every sign-in.",
            "success",
        ),
    }
    for key, value in defaults.items():
        app.config.setdefault(key, value)
    # the cookie's own bound, besides the idle check of _guard (Flask's default is 31 days)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=app.config["SESSION_MINUTES"])
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True


# -- wiring -----------------------------------------------------------------------------------------
def init_app(app: Flask, environ: Mapping[str, str] | None = None) -> Security:
    """Flask-Security on the app's Database; roles made if missing; the guard on every request."""
    env = os.environ if environ is None else environ
    _settings(app, env)
    _security_config(app, env)
    db: Database = app.extensions["priorauth.db"]
    app.extensions.setdefault("priorauth.clock", lambda: datetime.now(UTC))
    app.extensions["priorauth.access"] = dict(RULES)
    app.extensions["priorauth.lockout"] = lockout.Policy(
        attempts=app.config["LOCKOUT_ATTEMPTS"],
        window=timedelta(minutes=app.config["LOCKOUT_MINUTES"]),
        lockout=timedelta(minutes=app.config["LOCKOUT_MINUTES"]),
    )
    security = Security(
        app,
        SQLAlchemySessionUserDatastore(db.scoped, User, Role),
        login_form=signin.LoginForm,
        two_factor_verify_code_form=signin.CodeForm,
        two_factor_setup_form=signin.SetupForm,
        two_factor_rescue_form=signin.RescueForm,
        totp_cls=signin.ReplayProofTotp,
    )
    # Flask-Security's own auth tokens would outlive the idle timeout: sessions only (API tokens
    # are admin/models.py ApiToken, checked by the API itself)
    app.login_manager.request_loader(lambda _request: None)  # type: ignore[attr-defined]
    try:
        with db.transaction() as s:
            ensure_roles(s, "system")
    except IntegrityError:  # another process made them at the same moment
        pass
    user_authenticated.connect(_signed_in, sender=app)
    user_logged_out.connect(_signed_out, sender=app)
    password_changed.connect(_password_changed, sender=app)
    tf_code_confirmed.connect(_code_confirmed, sender=app)
    tf_profile_changed.connect(_tf_changed, sender=app)
    tf_disabled.connect(_tf_disabled, sender=app)
    app.before_request(_guard)
    app.context_processor(lambda: {"may": may})
    return security


def ensure_roles(s: Session, actor: str) -> list[str]:
    """Create the roles of admin.models.ROLES that are missing (audited); returns their names."""
    have = set(s.scalars(select(Role.name)))
    made = [name for name in ROLES if name not in have]
    for name in made:
        s.add(Role(name=name, description=ROLES[name]))
        audit.record(s, actor, "create", "role", name, None, {"description": ROLES[name]})
    return made


def count_users(db: Database) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(User)) or 0


# -- signals: sessions and audit events -------------------------------------------------------------
def _signed_in(app: Flask, user: User, authn_via: list[str] | None = None, **_: Any) -> None:
    session.permanent = True  # PERMANENT_SESSION_LIFETIME then bounds the cookie as well
    session[SEEN] = now().timestamp()
    lockout.clear(db(), lockout.for_user(user.id))
    via = list(authn_via or ["password"])  # after a code, Flask-Security names no way at all
    if g.get("priorauth_second_factor"):
        via.append(g.priorauth_second_factor)
    if "change" not in via:  # Flask-Security signs in again after a password change: not a sign-in
        record("login", str(user.id), {"via": via}, actor=f"web:{user.email}")


def _signed_out(app: Flask, user: User | None = None, **_: Any) -> None:
    if user is None or not getattr(user, "id", None):
        return
    reason = g.get("priorauth_signout", "signed out")
    if request.endpoint == "security.logout":  # the button; not Flask-Security's own sign-outs
        # the session lives in a signed cookie: a copy taken earlier (a shared workstation) would
        # still work; a new uniquifier ends every session of the account. (An idle one is dead
        # anyway: its last-seen time is in it.)
        current_app.extensions["security"].datastore.set_uniquifier(user)
    record("logout", str(user.id), {"reason": reason}, actor=f"web:{user.email}")
    db().commit()


def _password_changed(app: Flask, user: User, **_: Any) -> None:
    was_one_time = user.must_change_password
    user.must_change_password = False
    record("password-change", str(user.id), {"one_time_replaced": was_one_time}, f"web:{user.email}")


def _code_confirmed(app: Flask, user: User, method: str = "", **_: Any) -> None:
    if session.get("tf_state") == "validating_profile":  # the first code of a new authenticator
        record("2fa-setup", str(user.id), {"method": method}, actor=f"web:{user.email}")


def _tf_changed(app: Flask, user: User, method: str = "", **_: Any) -> None:
    record("2fa-change", str(user.id), {"method": method}, actor=f"web:{user.email}")


def _tf_disabled(app: Flask, user: User, **_: Any) -> None:
    record("2fa-off", str(user.id), {}, actor=f"web:{user.email}")


def _guard() -> Any:
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":  # no route (404/405), or a stylesheet
        return None
    access = rule_for(current_app, endpoint)
    if access is None:
        log.error("endpoint %s has no access rule (see admin/access.py): refused", endpoint)
        abort(403)
    if access.off:
        abort(404)
    if access.token:  # the API checks its own tokens and takes no cookies
        return None
    if current_user.is_authenticated:
        minutes = current_app.config["SESSION_MINUTES"]
        at, seen = now().timestamp(), session.get(SEEN)
        if not isinstance(seen, int | float) or at - seen > minutes * 60:
            g.priorauth_signout = "idle"
            logout_user()
            flash(
                f"You were signed out after {minutes} minutes without activity. Sign in again to go on.",
                "info",
            )
            return None if access.public else to_sign_in()
        session[SEEN] = at
        if current_user.must_change_password and endpoint not in PASSWORD_FIRST:
            flash("Choose your own password first: the one you were given works only once.", "info")
            return redirect(url_for("security.change_password"))
    return refuse(access)


def home() -> Any:
    """The start page: the readiness forms when the user may open them, else what they may do."""
    if may("readiness.index"):
        return redirect(url_for("readiness.index"))
    return render_template("security/welcome.html", roles=ROLES)


def forbidden_page(error: HTTPException) -> tuple[str, int]:
    """The 403 page: who is signed in, with which roles, and what to ask for."""
    message = error.description if isinstance(error, RolesMissing) else RolesMissing(Access()).description
    return render_template("security/forbidden.html", message=message, roles=ROLES), 403
