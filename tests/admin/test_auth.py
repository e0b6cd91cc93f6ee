"""Sign-in, two-factor codes, lockout, idle timeout, one-time passwords, and who may open what.

The web tests run the app on a copy of the shipped store (SQLite) with the Flask test client; the
lockout counting itself also runs on `empty_db`, so on PostgreSQL too. Time is a clock the test
moves: nothing sleeps.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import url_for
from flask_security import hash_password
from sqlalchemy import func, select

from admin import audit, auth, create_app, lockout
from admin.config import ConfigError
from admin.db import Database
from admin.models import ROLES, AuditEvent, LoginThrottle, Role, User
from tests.accounts import FAST_HASH, PASSWORD, add_user, code, code_for_key, csrf_token, sign_in, user

FORM = "/forms/imaging-readiness"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BAD = (
    "The email or the password is not right. Check both and try again: after 5 failed tries in "
    "15 minutes, sign-in is locked for 15 minutes."
)
LOCKED = (
    "Too many failed tries: sign-in for this account is locked until 09:15 UTC (15 minutes from now). "
    "Try again then, or ask an admin."
)


@dataclass
class Clock:
    now: datetime = field(default=START)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _app(tmp_path: Path, url: str, clock: Clock, **config: Any) -> Any:
    settings = {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": url}
    app = create_app({**settings, **FAST_HASH, **config})
    app.extensions["priorauth.clock"] = clock
    return app


@pytest.fixture
def app(tmp_path: Path, shipped_url: str, clock: Clock) -> Any:
    app = _app(tmp_path, shipped_url, clock)
    add_user(app, "cora@example.org", "coordinator", totp=True)
    return app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def _post(client: Any, url: str, data: dict[str, Any], page: str | None = None) -> Any:
    """A form post with the CSRF token of the page it comes from (as a browser sends it)."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_token(html)})


def _login(client: Any, email: str, password: str) -> Any:
    return _post(client, "/login", {"email": email, "password": password})


def _summary(response: Any) -> list[str]:
    found = re.search(r'<div class="error-summary".*?<ul>(.*?)</ul>', response.get_data(as_text=True), re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def _events(app: Any, action: str | None = None) -> list[AuditEvent]:
    db: Database = app.extensions["priorauth.db"]
    with db.transaction() as session:
        query = select(AuditEvent).where(AuditEvent.entity_type == "user").order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return list(session.scalars(query))


def _chain_is_whole(app: Any) -> None:
    db: Database = app.extensions["priorauth.db"]
    with db.transaction() as session:
        assert audit.verify(session).problems == []


# -- signing in -------------------------------------------------------------------------------------
def test_an_anonymous_visitor_is_sent_to_sign_in_and_comes_back_after(client: Any, app: Any) -> None:
    response = client.get(f"{FORM}?case=")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/forms/imaging-readiness?case%3D"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    token = csrf_token(page)
    step = client.post(
        "/login?next=/forms/imaging-readiness?case%3D",
        data={"email": "cora@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert step.status_code == 302 and step.headers["Location"].startswith("/tf-validate")
    done = client.post(
        step.headers["Location"], data={"code": code(app, "cora@example.org"), "csrf_token": token}
    )
    assert done.status_code == 302 and done.headers["Location"] == "/forms/imaging-readiness?case="
    assert client.get(done.headers["Location"]).status_code == 200


def test_the_password_alone_does_not_sign_in_when_a_code_is_required(client: Any) -> None:
    response = _login(client, "cora@example.org", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].startswith("/tf-validate")
    assert client.get("/forms/").status_code == 302  # still signed out
    page = client.get("/tf-validate").get_data(as_text=True)
    assert "Type your code" in page and 'autocomplete="one-time-code"' in page


def test_signing_in_with_password_and_code_is_audited(client: Any, app: Any) -> None:
    response = sign_in(client, app, "cora@example.org")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/forms/"  # the start page of a coordinator
    body = client.get("/forms/").get_data(as_text=True)
    assert 'Signed in as <strong id="signed-in-as">cora@example.org</strong>' in body
    (event,) = _events(app, "login")
    assert event.actor == "web:cora@example.org"
    assert event.entity_id == str(user(app, "cora@example.org").id)
    assert event.after == {"via": ["password", "authenticator"], "ip": "127.0.0.1"}
    _chain_is_whole(app)


def test_a_wrong_password_and_an_unknown_email_get_the_same_message(client: Any, app: Any) -> None:
    wrong = _login(client, "cora@example.org", "not the password")
    unknown = _login(client, "nobody@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    assert _summary(wrong) == _summary(unknown) == [BAD]
    for response in (wrong, unknown):
        body = response.get_data(as_text=True)
        assert "does not exist" not in body and "Invalid password" not in body
        assert 'value="not the password"' not in body  # a password is never sent back
    failures = _events(app, "login-failed")
    assert [(e.entity_id, e.after["reason"]) for e in failures] == [
        (str(user(app, "cora@example.org").id), "wrong password"),
        ("unknown", "unknown email"),
    ]
    assert all("not the password" not in str(e.after) for e in failures)
    assert all("nobody" not in str(e.after) for e in failures)  # typed emails are not kept either


def test_a_wrong_password_and_an_unknown_email_both_take_one_password_hash(
    tmp_path: Path, shipped_url: str, clock: Clock
) -> None:
    # the timing class, with the real cost: no answer comes back faster than one password hash
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", "DATABASE_URL": shipped_url})
    app.extensions["priorauth.clock"] = clock
    add_user(app, "cora@example.org", "coordinator", totp=True)
    client = app.test_client()
    with app.app_context():
        started = time.perf_counter()
        hash_password("x" * 20)
        one_hash = time.perf_counter() - started
    for email in ("cora@example.org", "nobody@example.org", "nobody@example.org"):
        for _ in range(4 if email == "nobody@example.org" else 1):  # the last tries are locked
            token = csrf_token(client.get("/login").get_data(as_text=True))
            started = time.perf_counter()
            client.post("/login", data={"email": email, "password": "not the password", "csrf_token": token})
            assert time.perf_counter() - started > 0.5 * one_hash, email
    assert user(app, "cora@example.org").password.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_a_malformed_email_is_an_error_next_to_the_field_and_is_not_counted(client: Any, app: Any) -> None:
    response = _login(client, "not-an-email", "whatever")
    body = response.get_data(as_text=True)
    assert re.search(r'<p class="field-error" id="email-error">.*?Invalid email address', body)
    assert 'aria-invalid="true"' in body
    assert _events(app, "login-failed") == []


# -- lockout ----------------------------------------------------------------------------------------
def test_five_failures_lock_the_account_and_even_the_right_password_is_refused(client: Any, app: Any) -> None:
    for _ in range(4):
        assert _summary(_login(client, "cora@example.org", "wrong")) == [BAD]
    assert _summary(_login(client, "cora@example.org", "wrong")) == [LOCKED]
    refused = _login(client, "cora@example.org", PASSWORD)
    assert refused.status_code == 200 and _summary(refused) == [LOCKED]
    assert client.get("/forms/").status_code == 302
    (locked,) = _events(app, "lockout")
    assert locked.after["until"] == "2026-11-23T09:15:00+00:00" and locked.after["after"] == 5
    assert [e.after["reason"] for e in _events(app, "login-failed")] == ["wrong password"] * 5 + ["locked"]


def test_the_lock_lifts_when_its_time_is_over(client: Any, app: Any, clock: Clock) -> None:
    for _ in range(5):
        _login(client, "cora@example.org", "wrong")
    clock.advance(14)
    assert _summary(_login(client, "cora@example.org", PASSWORD))[0].startswith(
        "Too many failed tries: sign-in for this account is locked until 09:15 UTC (1 minute from now)."
    )
    clock.advance(1)
    assert sign_in(client, app, "cora@example.org").headers["Location"] == "/"


def test_failures_further_apart_than_the_window_do_not_add_up(client: Any, app: Any, clock: Clock) -> None:
    for _ in range(4):
        _login(client, "cora@example.org", "wrong")
    clock.advance(15)
    for _ in range(4):
        assert _summary(_login(client, "cora@example.org", "wrong")) == [BAD]
    assert sign_in(client, app, "cora@example.org").headers["Location"] == "/"


def test_signing_in_clears_the_failures(client: Any, app: Any) -> None:
    for _ in range(4):
        _login(client, "cora@example.org", "wrong")
    sign_in(client, app, "cora@example.org")
    assert user(app, "cora@example.org").failed_logins == 0


def test_an_unknown_email_locks_exactly_like_an_account(client: Any, app: Any) -> None:
    answers = [_summary(_login(client, "nobody@example.org", "wrong")) for _ in range(6)]
    assert answers == [[BAD]] * 4 + [[LOCKED]] * 2
    db: Database = app.extensions["priorauth.db"]
    with db.transaction() as session:
        (row,) = session.scalars(select(LoginThrottle))
        assert "nobody" not in row.key and len(row.key) == 64  # a keyed hash, not the email


def test_wrong_codes_count_too_and_five_lock_the_account(client: Any, app: Any) -> None:
    for attempt in range(5):
        if attempt == 0 or client.get("/tf-validate").status_code != 200:
            _login(client, "cora@example.org", PASSWORD)
        response = _post(client, "/tf-validate", {"code": "000000"})
    body = response.get_data(as_text=True)
    assert LOCKED.replace("(", "&#40;") in body or LOCKED in body
    assert client.get("/tf-validate").status_code == 302  # the half-done sign-in is dropped
    assert _summary(_login(client, "cora@example.org", PASSWORD)) == [LOCKED]
    reasons = [e.after["reason"] for e in _events(app, "login-failed")]
    assert reasons == ["wrong code"] * 5 + ["locked"]


def test_a_code_works_only_once(client: Any, app: Any) -> None:
    # the very code used to sign in is tried again (taking a fresh one could cross into the next
    # 30-second step, which is a new code and rightly accepted)
    token = code(app, "cora@example.org")
    _login(client, "cora@example.org", PASSWORD)
    assert _post(client, "/tf-validate", {"code": token}).status_code == 302
    _post(client, "/logout", {}, page="/forms/")
    _login(client, "cora@example.org", PASSWORD)
    again = _post(client, "/tf-validate", {"code": token})
    assert again.status_code == 200 and "it was used already" in again.get_data(as_text=True)


# -- two-factor setup, one-time passwords -----------------------------------------------------------
def test_a_new_user_sets_up_the_authenticator_then_must_choose_a_password(client: Any, app: Any) -> None:
    add_user(app, "nell@example.org", "analyst", must_change=True, password="one-time-pass-1")
    assert _login(client, "nell@example.org", "one-time-pass-1").headers["Location"] == "/tf-setup"
    first = client.get("/tf-setup").get_data(as_text=True)
    assert "Set up your authenticator app" in first
    shown = _post(client, "/tf-setup", {"setup": "authenticator"}).get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in shown  # the QR code, allowed by the CSP's img-src
    key = re.search(r'<code class="mono" id="authr-key">([^<]+)</code>', shown).group(1)
    done = client.post("/tf-validate", data={"code": code_for_key(key), "csrf_token": csrf_token(shown)})
    assert done.status_code == 302
    # the stored secret is the one the QR code carried: the next sign-in's code comes from it
    assert code(app, "nell@example.org", step=1) == code_for_key(key, step=1)
    assert [e.action for e in _events(app)][-2:] == ["2fa-setup", "login"]

    for url in ("/", "/forms/", f"{FORM}?case="):  # nothing opens before the password is changed
        assert client.get(url).headers["Location"] == "/change"
    page = client.get("/change").get_data(as_text=True)
    assert "Choose your own password" in page and "The one-time password you were given" in page
    short = _post(
        client,
        "/change",
        {"password": "one-time-pass-1", "new_password": "short", "new_password_confirm": "short"},
    )
    assert re.search(r'id="new_password-error">.*?at least 12 characters', short.get_data(as_text=True))
    changed = _post(
        client,
        "/change",
        {
            "password": "one-time-pass-1",
            "new_password": "a new pass phrase",
            "new_password_confirm": "a new pass phrase",
        },
    )
    assert changed.status_code == 302
    assert client.get("/forms/").status_code == 200
    assert user(app, "nell@example.org").must_change_password is False
    (event,) = _events(app, "password-change")
    assert event.actor == "web:nell@example.org" and event.after["one_time_replaced"] is True
    _chain_is_whole(app)


def test_two_factor_can_be_turned_off_for_local_demos(tmp_path: Path, shipped_url: str, clock: Clock) -> None:
    app = _app(tmp_path, shipped_url, clock, REQUIRE_2FA=False)
    add_user(app, "demo@example.org", "coordinator")
    client = app.test_client()
    assert _login(client, "demo@example.org", PASSWORD).headers["Location"] == "/"
    assert client.get("/forms/").status_code == 200
    (event,) = _events(app, "login")
    assert event.after["via"] == ["password"]


def test_the_require_2fa_setting_is_read_from_the_environment(
    tmp_path: Path, shipped_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIORAUTH_REQUIRE_2FA", "false")
    monkeypatch.setenv("PRIORAUTH_SESSION_MINUTES", "45")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": shipped_url})
    assert app.config["SECURITY_TWO_FACTOR_REQUIRED"] is False
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=45)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REQUIRE_2FA", "maybe", "PRIORAUTH_REQUIRE_2FA is 'maybe': set it to true or false"),
        (
            "SESSION_MINUTES",
            "half an hour",
            "PRIORAUTH_SESSION_MINUTES is 'half an hour': set it to a whole number of minutes, like 30",
        ),
        (
            "LOCKOUT_ATTEMPTS",
            "0",
            "PRIORAUTH_LOCKOUT_ATTEMPTS is '0': set it to a whole number of attempts, like 5",
        ),
    ],
)
def test_a_bad_security_setting_is_a_configuration_error_that_names_it(
    tmp_path: Path, shipped_url: str, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"PRIORAUTH_{name}", value)
    with pytest.raises(ConfigError) as raised:
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": shipped_url})
    assert str(raised.value) == message


def test_the_password_salt_and_totp_key_are_made_once_per_instance_and_kept_private(
    tmp_path: Path, shipped_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": shipped_url}).config
    second = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": shipped_url}).config
    assert first["SECURITY_PASSWORD_SALT"] == second["SECURITY_PASSWORD_SALT"]
    assert first["SECURITY_TOTP_SECRETS"] == second["SECURITY_TOTP_SECRETS"]
    assert (
        len(first["SECURITY_PASSWORD_SALT"]) >= 40 and first["SECURITY_PASSWORD_SALT"] != first["SECRET_KEY"]
    )
    for name in ("password_salt", "totp_secret"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    other = create_app({"INSTANCE_PATH": str(tmp_path / "other"), "DATABASE_URL": shipped_url}).config
    assert other["SECURITY_PASSWORD_SALT"] != first["SECURITY_PASSWORD_SALT"]  # nothing hard-coded
    monkeypatch.setenv("PRIORAUTH_PASSWORD_SALT", "shared-by-every-host")
    shared = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": shipped_url}).config
    assert shared["SECURITY_PASSWORD_SALT"] == "shared-by-every-host"


# -- sessions ---------------------------------------------------------------------------------------
def test_an_idle_session_ends_and_says_why(client: Any, app: Any, clock: Clock) -> None:
    sign_in(client, app, "cora@example.org")
    clock.advance(29)
    assert client.get("/forms/").status_code == 200  # activity keeps the session going
    clock.advance(29)
    assert client.get("/forms/").status_code == 200
    clock.advance(30.5)
    response = client.get("/forms/")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/forms/"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You were signed out after 30 minutes without activity. Sign in again to go on." in page
    (event,) = _events(app, "logout")
    assert event.after["reason"] == "idle"
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)  # the cookie, too


def test_signing_out_ends_the_session_and_is_audited(client: Any, app: Any) -> None:
    sign_in(client, app, "cora@example.org")
    assert client.get("/logout").status_code == 405  # a link cannot sign anyone out
    response = _post(client, "/logout", {}, page="/forms/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/forms/").status_code == 302
    (event,) = _events(app, "logout")
    assert event.actor == "web:cora@example.org" and event.after["reason"] == "signed out"


def test_a_copy_of_the_session_cookie_is_useless_after_signing_out(client: Any, app: Any) -> None:
    sign_in(client, app, "cora@example.org")
    copied = client.get_cookie("session").value
    _post(client, "/logout", {}, page="/forms/")
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/forms/").status_code == 302


def test_there_is_no_remember_me(client: Any) -> None:
    body = client.get("/login").get_data(as_text=True)
    assert "remember" not in body.lower()


def test_a_deactivated_user_is_signed_out_and_cannot_sign_in(client: Any, app: Any) -> None:
    sign_in(client, app, "cora@example.org")
    db: Database = app.extensions["priorauth.db"]
    with db.transaction() as session:
        session.scalars(select(User).where(User.email == "cora@example.org")).one().active = False
    assert client.get("/forms/").status_code == 302
    client.cookie_jar.clear() if hasattr(client, "cookie_jar") else None
    assert _summary(_login(app.test_client(), "cora@example.org", PASSWORD)) == [BAD]


# -- CSRF -------------------------------------------------------------------------------------------
def test_signing_in_without_the_csrf_token_is_refused(client: Any, app: Any) -> None:
    response = client.post("/login", data={"email": "cora@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "This page expired" in response.get_data(as_text=True)
    assert _events(app, "login-failed") == [] and user(app, "cora@example.org").failed_logins == 0


def test_signing_out_without_the_csrf_token_is_refused(client: Any, app: Any) -> None:
    sign_in(client, app, "cora@example.org")
    assert client.post("/logout").status_code == 400
    assert client.get("/forms/").status_code == 200  # still signed in


def test_every_security_form_carries_a_csrf_token_and_a_label_for_each_input(client: Any, app: Any) -> None:
    add_user(app, "nell@example.org", "analyst", must_change=True)
    pages = [client.get("/login").get_data(as_text=True)]
    _login(client, "nell@example.org", PASSWORD)
    pages.append(client.get("/tf-setup").get_data(as_text=True))
    pages.append(_post(client, "/tf-setup", {"setup": "authenticator"}).get_data(as_text=True))
    for page in pages:
        assert 'name="csrf_token"' in page
        assert "<script>" not in page and "style=" not in page and "<style" not in page  # the CSP holds
        for input_id in re.findall(r'<input (?=[^>]*type="(?:email|password|text)")[^>]*id="([^"]+)"', page):
            assert f'<label class="label" for="{input_id}">' in page, input_id


# -- who may open what ------------------------------------------------------------------------------
ANON = "anonymous"
READERS = {"coordinator", "analyst", "reviewer", "admin"}


def _everyone(status: int) -> dict[str, int]:
    return {who: status for who in (ANON, *ROLES)}


def _readers(anonymous: int, readers: int, others: int) -> dict[str, int]:
    return {ANON: anonymous, **{role: readers if role in READERS else others for role in ROLES}}


def _signed_in(anonymous: int, signed_in: int) -> dict[str, int]:
    return {ANON: anonymous, **{role: signed_in for role in ROLES}}


# every endpoint of the app: a URL to GET, and the status each visitor gets (302: to sign in, or on)
MATRIX: dict[str, tuple[str, dict[str, int]]] = {
    "static": ("/static/app.css", _everyone(200)),
    "healthz": ("/healthz", _everyone(200)),
    "home": ("/", _readers(302, 302, 200)),  # readers: on to the forms; others: a start page
    "readiness.index": ("/forms/", _readers(302, 200, 403)),
    "readiness.fill": (f"{FORM}?case=", _readers(302, 200, 403)),
    "readiness.questionnaire": (f"{FORM}/questionnaire.json", _readers(302, 200, 403)),
    "security.login": ("/login", _signed_in(200, 302)),
    "security.logout": ("/logout", _everyone(405)),  # POST only (test_signing_out_...)
    "security.change_password": ("/change", _signed_in(302, 200)),
    "security.verify": ("/verify", _signed_in(302, 200)),
    "security.two_factor_setup": ("/tf-setup", _signed_in(302, 200)),  # anonymous: only mid sign-in
    "security.two_factor_setup_validate": ("/tf-setup/token", _everyone(405)),  # POST only
    "security.two_factor_token_validation": ("/tf-validate", _everyone(302)),  # only mid sign-in
    "security.two_factor_rescue": ("/tf-rescue", _everyone(404)),  # would send mail: off
    "security.tf_select": ("/tf-select", _everyone(404)),
    "security.static": ("/fs-static/js/webauthn.js", _everyone(404)),
}


def test_every_endpoint_has_an_access_rule(app: Any) -> None:
    rules = auth.access_rules(app)
    assert [endpoint for endpoint, rule in rules.items() if rule is None] == []
    assert rules["readiness.fill"] == auth.Access(roles=frozenset(READERS))
    assert rules["security.login"] == auth.PUBLIC and rules["home"] == auth.SIGNED_IN


def _status(client: Any, method: str, url: str) -> tuple[int, str]:
    # each request starts from the session of the sign-in (GET /tf-validate, for one, signs out)
    if getattr(client, "signed_in", None):
        client.set_cookie("session", client.signed_in)
    with client.open(url, method=method) as response:
        return response.status_code, response.headers.get("Location", "")


def _sample_url(app: Any, rule: Any) -> str:
    """A URL for the rule, its arguments filled in (the guard looks only at the endpoint)."""
    samples = {"form_id": "imaging-readiness", "filename": "app.css"}
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: samples.get(name, "1") for name in rule.arguments})


def _derived(access: auth.Access, who: str, status: int, location: str) -> bool:
    """Whether what the guard did matches the endpoint's rule (for endpoints MATRIX does not pin)."""
    to_sign_in = status == 302 and location.startswith("/login?next=")
    if access.off:
        return status == 404
    if access.public or access.token:
        return status != 403 and not to_sign_in
    if who == ANON:
        return to_sign_in
    if who in (access.roles or ROLES):
        return status != 403 and not to_sign_in
    return status == 403


def test_the_role_matrix_every_endpoint_for_anonymous_and_each_role(
    tmp_path: Path, shipped_url: str, clock: Clock
) -> None:
    # endpoints in MATRIX get exactly their status; any other endpoint (pages added later) must
    # do what its rule says: sign-in page for anonymous, 403 for the wrong roles, through for the rest
    app = _app(tmp_path, shipped_url, clock, REQUIRE_2FA=False, WTF_CSRF_ENABLED=False)
    rules = auth.access_rules(app)
    assert set(MATRIX) <= set(rules), "MATRIX names an endpoint the app no longer has"
    clients = {ANON: app.test_client()}
    for role in ROLES:
        add_user(app, f"{role}@example.org", role)
        clients[role] = app.test_client()
        assert _login(clients[role], f"{role}@example.org", PASSWORD).headers["Location"] == "/"
        clients[role].signed_in = clients[role].get_cookie("session").value
    wrong: dict[tuple[str, str], Any] = {}
    for rule in app.url_map.iter_rules():
        endpoint, access = rule.endpoint, rules[rule.endpoint]
        assert access is not None, endpoint
        methods = sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"})
        method = "GET" if "GET" in methods else methods[0]
        for who, client in clients.items():
            if endpoint in MATRIX:
                url, row = MATRIX[endpoint]
                status, _ = _status(client, "GET", url)
                if status != row[who]:
                    wrong[(endpoint, who)] = (status, "expected", row[who])
                continue
            allowed = access.public or access.token or (who != ANON and who in (access.roles or ROLES))
            if method != "GET" and allowed and not access.off:
                continue  # it would run: a POST by someone allowed is each feature's own test
            status, location = _status(client, method, _sample_url(app, rule))
            if not _derived(access, who, status, location):
                wrong[(endpoint, who)] = (method, status, location, access)
    assert wrong == {}


def test_a_page_without_a_rule_is_refused_to_everyone(tmp_path: Path, shipped_url: str, clock: Clock) -> None:
    app = _app(tmp_path, shipped_url, clock, REQUIRE_2FA=False)
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    add_user(app, "adam@example.org", "admin")
    client = app.test_client()
    assert client.get("/forgotten").status_code == 403
    _login(client, "adam@example.org", PASSWORD)
    assert client.get("/forgotten").status_code == 403
    assert auth.access_rules(app)["forgotten"] is None


def test_require_roles_guards_one_view_and_the_role_matrix_sees_it(
    tmp_path: Path, shipped_url: str, clock: Clock
) -> None:
    app = _app(tmp_path, shipped_url, clock, REQUIRE_2FA=False)
    app.add_url_rule("/tokens", "tokens", auth.require_roles("it")(lambda: "tokens"))
    assert auth.access_rules(app)["tokens"] == auth.Access(roles=frozenset({"it"}))
    add_user(app, "ivy@example.org", "it")
    add_user(app, "cora2@example.org", "coordinator")
    anonymous, ivy, cora = app.test_client(), app.test_client(), app.test_client()
    _login(ivy, "ivy@example.org", PASSWORD)
    _login(cora, "cora2@example.org", PASSWORD)
    assert anonymous.get("/tokens").headers["Location"] == "/login?next=/tokens"
    assert ivy.get("/tokens").get_data(as_text=True) == "tokens"
    refused = cora.get("/tokens")
    assert refused.status_code == 403
    body = refused.get_data(as_text=True)
    assert "Not for your role" in body
    assert "Your account does not have a role that may open this page (it needs one of: it)." in body
    assert "You are signed in as cora2@example.org with the role coordinator." in body


def test_require_roles_refuses_a_role_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match=r"unknown role\(s\) \['coordinater'\]"):
        auth.require_roles("coordinater")


def test_the_forms_link_shows_only_to_roles_that_may_open_it(
    tmp_path: Path, shipped_url: str, clock: Clock
) -> None:
    app = _app(tmp_path, shipped_url, clock, REQUIRE_2FA=False)
    add_user(app, "max@example.org", "manager")
    client = app.test_client()
    _login(client, "max@example.org", PASSWORD)
    body = client.get("/").get_data(as_text=True)
    assert "You are signed in" in body and ">Readiness forms<" not in body
    assert "sees reports" in body


# -- roles at start ---------------------------------------------------------------------------------
def test_the_roles_are_made_once_whatever_the_number_of_starts(tmp_path: Path, shipped_url: str) -> None:
    for _ in range(2):
        app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": shipped_url})
    db: Database = app.extensions["priorauth.db"]
    with db.transaction() as session:
        assert sorted(session.scalars(select(Role.name))) == sorted(ROLES)
        made = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "role")).all()
        assert sorted(e.entity_id for e in made) == sorted(ROLES) and {e.actor for e in made} == {"system"}
        assert audit.verify(session).problems == []


# -- the counting itself, on SQLite and PostgreSQL -------------------------------------------------
POLICY = lockout.Policy()


def _person(db: Database) -> int:
    with db.transaction() as session:
        person = User(email="p@example.org", password="x", active=True, fs_uniquifier=os.urandom(16).hex())
        session.add(person)
        session.flush()
        return person.id


def test_the_count_locks_at_five_and_gives_back_a_right_password(empty_db: Database) -> None:
    target = lockout.for_user(_person(empty_db))
    with empty_db.transaction() as session:
        for n in range(1, 5):
            assert lockout.begin(session, target, START, POLICY) == lockout.Attempt(n, None)
            assert lockout.failed(session, target, START, POLICY) is None
        assert lockout.begin(session, target, START, POLICY) == lockout.Attempt(5, None)
        lockout.give_back(session, target)  # the fifth was right after all
        assert lockout.begin(session, target, START, POLICY).count == 5
        until = lockout.failed(session, target, START, POLICY)
        assert until == START + timedelta(minutes=15)
        assert lockout.begin(session, target, START + timedelta(minutes=14), POLICY).locked_until == until
        assert lockout.begin(session, target, until, POLICY) == lockout.Attempt(1, None)
        lockout.clear(session, target)
        assert lockout.begin(session, target, until, POLICY) == lockout.Attempt(1, None)


def test_parallel_attempts_past_the_limit_lock_before_any_password_is_checked(empty_db: Database) -> None:
    target = lockout.for_user(_person(empty_db))
    with empty_db.transaction() as session:
        attempts = [lockout.begin(session, target, START, POLICY) for _ in range(7)]
    assert [a.locked_until for a in attempts[:5]] == [None] * 5
    assert attempts[5].locked_until == attempts[6].locked_until == START + timedelta(minutes=15)


def test_unknown_emails_are_counted_by_key_and_forgotten_when_stale(empty_db: Database) -> None:
    with empty_db.transaction() as session:
        for _ in range(5):
            lockout.begin(session, lockout.for_unknown("a" * 64), START, POLICY)
            until = lockout.failed(session, lockout.for_unknown("a" * 64), START, POLICY)
        assert until == START + timedelta(minutes=15)
        lockout.begin(session, lockout.for_unknown("b" * 64), START, POLICY)
        lockout.failed(session, lockout.for_unknown("b" * 64), START, POLICY)
        later = START + timedelta(minutes=16)
        assert lockout.begin(session, lockout.for_unknown("c" * 64), later, POLICY).count == 1
        assert sorted(session.scalars(select(LoginThrottle.key))) == ["c" * 64]
        assert session.scalar(select(func.count()).select_from(LoginThrottle)) == 1
