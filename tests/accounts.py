"""People for the tests: users made in an app's store, their TOTP codes, and signing in.

    add_user(app, "ann@example.org", "coordinator", totp=True)
    sign_in(client, app, "ann@example.org")            # password, then the code when one is asked
    browser_sign_in(page, base_url, app, "ann@example.org")   # the same in a real browser
    code(app, "ann@example.org", step=1)              # the TOTP code of the next 30-second step

Codes are computed from the secret stored in the user's row (passlib's TOTP, the library
Flask-Security uses), as an authenticator app would from the QR code. A code works once: a second
sign-in within the same 30 seconds takes `step=1`.
"""

from __future__ import annotations

import re
import time
from typing import Any

from flask_security import hash_password
from passlib.totp import TOTP
from sqlalchemy import select

from admin.models import Role, User

PASSWORD = "correct horse battery staple"
# a cheap argon2id for tests that only need someone signed in: the real cost (64 MiB, 3 passes)
# takes 0.1 s a hash; test_auth.py checks the real one, and the timing of a sign-in, with it
FAST_HASH = {
    "SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS": {
        "argon2__memory_cost": 1024,
        "argon2__rounds": 1,
        "argon2__parallelism": 1,
    }
}


def add_user(
    app: Any,
    email: str,
    *roles: str,
    totp: bool = False,
    must_change: bool = False,
    password: str = PASSWORD,
) -> None:
    db = app.extensions["priorauth.db"]
    security = app.extensions["security"]
    with app.app_context():
        session = db.scoped()
        user = security.datastore.create_user(
            email=email,
            password=hash_password(password),
            roles=list(session.scalars(select(Role).where(Role.name.in_(roles)))),
            must_change_password=must_change,
        )
        if totp:
            user.tf_primary_method = "authenticator"
            user.tf_totp_secret = security.totp_factory.generate_totp_secret()
        session.commit()
        db.scoped.remove()


def user(app: Any, email: str) -> User:
    db = app.extensions["priorauth.db"]
    with db.transaction() as session:
        found = session.scalars(select(User).where(User.email == email)).one()
        session.expunge(found)
        return found


def totp_factory(app: Any) -> Any:
    return TOTP.using(secrets=app.config["SECURITY_TOTP_SECRETS"], issuer=app.config["SECURITY_TOTP_ISSUER"])


def code(app: Any, email: str, step: int = 0) -> str:
    secret = user(app, email).tf_totp_secret
    token: str = totp_factory(app).from_source(secret).generate(time=time.time() + 30 * step).token
    return token


def code_for_key(key: str, step: int = 0) -> str:
    """What an authenticator app shows for the key typed in by hand (the setup page's text)."""
    token: str = (
        TOTP(key=key.replace("-", "").replace(" ", ""), format="base32")
        .generate(time=time.time() + 30 * step)
        .token
    )
    return token


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', html)
    return found.group(1) if found else ""


def sign_in(client: Any, app: Any, email: str, password: str = PASSWORD, step: int = 0) -> Any:
    """Password, then the code when the app asks for one; returns the last response."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    if response.status_code == 302 and response.headers["Location"].startswith("/tf-validate"):
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        response = client.post(
            "/tf-validate", data={"code": code(app, email, step), "csrf_token": csrf_token(page)}
        )
    return response


def browser_sign_in(
    page: Any, base: str, app: Any, email: str, password: str = PASSWORD, step: int = 0
) -> None:
    """Sign in through the pages, as a person does: email, password, then the app's code."""
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code from your authenticator app").fill(code(app, email, step))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/forms/")
