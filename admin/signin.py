"""The sign-in forms, counted: Flask-Security-Too's login and code forms with admin/lockout.py.

    Security(app, datastore, login_form=LoginForm, two_factor_verify_code_form=CodeForm,
             two_factor_setup_form=SetupForm, two_factor_rescue_form=RescueForm,
             totp_cls=ReplayProofTotp)

Both steps count failures on the same row: a locked account, and an email no user has, are
refused before the password is looked at, with the same message and the same hashing work as a
wrong password, so the page never tells whether an email has an account. A right password gives
its attempt back (the code is counted on its own); signing in clears the count (admin/auth.py).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app, g, request
from flask_login import current_user
from flask_security import forms as fs_forms
from flask_security import hash_password
from flask_security.tf_plugin import tf_clean_session
from flask_security.totp import Totp
from sqlalchemy.orm import Session
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice

from admin import audit, lockout
from admin.db import Database

WRONG = (
    "The email or the password is not right. Check both and try again: after {attempts} failed "
    "tries in {minutes} minutes, sign-in is locked for {minutes} minutes."
)


def db() -> Session:
    database: Database = current_app.extensions["priorauth.db"]
    return database.scoped()


def now() -> datetime:
    clock: Callable[[], datetime] = current_app.extensions["priorauth.clock"]
    return clock()


def policy() -> lockout.Policy:
    rules: lockout.Policy = current_app.extensions["priorauth.lockout"]
    return rules


def record(action: str, entity_id: str, after: dict[str, Any], actor: str | None = None) -> None:
    """An audit event about a user, in the request's session (the caller's transaction)."""
    who = actor or (f"web:{current_user.email}" if current_user.is_authenticated else "web:anonymous")
    audit.record(db(), who, action, "user", entity_id, None, {**after, "ip": request.remote_addr})


def locked_message(until: datetime, at: datetime) -> str:
    minutes = max(1, math.ceil((until - at).total_seconds() / 60))
    return (
        f"Too many failed tries: sign-in for this account is locked until {until:%H:%M} UTC "
        f"({minutes} minute{'s' if minutes != 1 else ''} from now). Try again then, or ask an admin."
    )


def _email_key(email: str) -> str:
    """A keyed hash of an email no user has: counted without keeping what was typed."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _lockout_event(entity: str, until: datetime | None, rules: lockout.Policy) -> None:
    if until is not None:
        record("lockout", entity, {"until": until.isoformat(), "after": rules.attempts})


class LoginForm(fs_forms.LoginForm):
    """Email and password, counted (see the module's docstring)."""

    remember = None  # no "remember me": a remember cookie would outlive the idle timeout

    def validate(self, **kwargs: Any) -> bool:
        if not fs_forms.Form.validate(self, **kwargs):  # the fields alone: filled in, an email
            return False
        s, at, rules = db(), now(), policy()
        self.ifield = self.email
        self.user = current_app.extensions["security"].datastore.find_user(
            case_insensitive=True, email=self.email.data
        )
        known = self.user is not None
        target = lockout.for_user(self.user.id) if known else lockout.for_unknown(_email_key(self.email.data))
        entity = str(self.user.id) if known else "unknown"
        attempt = lockout.begin(s, target, at, rules)
        s.commit()  # counted before the password is checked: parallel guesses cannot slip past
        if attempt.locked_until is not None:
            hash_password(self.password.data)  # the work of a real check: the timing tells nothing
            self.form_errors.append(locked_message(attempt.locked_until, at))
            record("login-failed", entity, {"reason": "locked"})
            s.commit()
            return False
        if super().validate(**kwargs):
            lockout.give_back(s, target)
            s.commit()
            return True
        for field in (self.email, self.password):
            field.errors = []  # Flask-Security's own would tell an unknown email from a wrong password
        if not known:
            reason = "unknown email"
        elif self.user_authenticated:
            reason = "deactivated"  # the password was right
        else:
            reason = "wrong password"
        until = lockout.failed(s, target, at, rules)
        record("login-failed", entity, {"reason": reason})
        _lockout_event(entity, until, rules)
        minutes = int(rules.window.total_seconds() // 60)
        self.form_errors.append(
            locked_message(until, at) if until else WRONG.format(attempts=rules.attempts, minutes=minutes)
        )
        s.commit()
        return False


class CodeForm(fs_forms.TwoFactorVerifyCodeForm):
    """The code step, counted like the password: knowing the password does not buy unlimited
    guesses at a 6-digit code."""

    def validate(self, **kwargs: Any) -> bool:
        if self.is_setup or self.user is None:  # a signed-in user changing their authenticator
            return bool(super().validate(**kwargs))
        if not fs_forms.Form.validate(self, **kwargs):
            return False
        s, at, rules = db(), now(), policy()
        target, entity = lockout.for_user(self.user.id), str(self.user.id)
        attempt = lockout.begin(s, target, at, rules)
        s.commit()
        until = attempt.locked_until
        if until is not None:
            record("login-failed", entity, {"reason": "locked"})
        elif super().validate(**kwargs):
            g.priorauth_second_factor = self.primary_method
            return True  # signed in: admin/auth.py clears the count
        else:
            until = lockout.failed(s, target, at, rules)
            record("login-failed", entity, {"reason": "wrong code"})
            _lockout_event(entity, until, rules)
        if until is not None:
            self.code.errors = [locked_message(until, at)]
            tf_clean_session()  # type: ignore[no-untyped-call]  # back to the password, after the lock
        s.commit()
        return False


class SetupForm(fs_forms.TwoFactorSetupForm):
    """Flask-Security's setup form with its choices declared the WTForms 3.3 way (its tuples are
    deprecated); the methods offered are still SECURITY_TWO_FACTOR_ENABLED_METHODS."""

    setup = RadioField(
        "Two-factor method",
        choices=[
            SelectChoice("authenticator", "An authenticator app"),
            SelectChoice("disable", "Turn two-factor sign-in off"),
        ],
        validate_choice=False,
    )


class RescueForm(fs_forms.TwoFactorRescueForm):
    """Never shown (its page is off: admin/access.py); declared so building it warns of nothing."""

    help_setup = RadioField("Lost your phone?", choices=[SelectChoice("help", "Ask an admin")])


class ReplayProofTotp(Totp):
    """Flask-Security's TOTP with the replay protection it leaves to apps: a code works once."""

    def get_last_counter(self, user: Any) -> int | None:
        counter: int | None = getattr(user, "tf_last_counter", None)
        return counter

    def set_last_counter(self, user: Any, tmatch: Any) -> None:
        user.tf_last_counter = tmatch.counter
