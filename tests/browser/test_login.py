"""Signing in with a real browser: a one-time password, the authenticator app set up from the QR
page's key, a password of one's own, a readiness form; a wrong password; the 403 page of a role
without forms; signing out. Screenshots: test-artifacts/screenshots/login-*.png."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.accounts import PASSWORD, add_user, browser_sign_in, code, code_for_key

FORM = "/forms/imaging-readiness"
NO_INLINE = """() => ({
    scripts: [...document.scripts].filter(s => !s.src).length,
    styles: document.querySelectorAll('style, [style]').length,
    unlabeled: [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(el => !el.labels || el.labels.length === 0).map(el => el.name),
})"""


def _clean(page: Any) -> None:
    """No inline script or style (the CSP would block them), and a label on every input."""
    assert page.evaluate(NO_INLINE) == {"scripts": 0, "styles": 0, "unlabeled": []}


def test_a_new_coordinator_sets_up_the_authenticator_chooses_a_password_and_reaches_a_form(
    live_server: str, live_app: Any, page: Any, shot: Any
) -> None:
    add_user(live_app, "nina@example.org", "coordinator", must_change=True, password="Kd7q2-one-time-pass")
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))

    page.goto(f"{live_server}{FORM}")
    expect(page).to_have_url(f"{live_server}/login?next=/forms/imaging-readiness")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    _clean(page)
    shot(page, "login-01-sign-in")
    page.get_by_label("Email").fill("nina@example.org")
    page.get_by_label("Password").fill("Kd7q2-one-time-pass")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator app")
    _clean(page)
    shot(page, "login-02-2fa-setup")
    page.get_by_role("button", name="Show the QR code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Scan this QR code")
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 0  # the data: image loaded under the CSP
    _clean(page)
    shot(page, "login-03-2fa-qr")

    # what someone does who cannot scan: type the key shown under the QR code into the app
    key = page.locator("#authr-key").inner_text()
    page.get_by_label("Code from your authenticator app").fill("123")
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.locator(".field-error")).to_contain_text("That code is not right")
    shot(page, "login-04-2fa-wrong-code")
    page.get_by_label("Code from your authenticator app").fill(code_for_key(key))
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server}/change")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your own password")
    _clean(page)
    shot(page, "login-05-choose-password")
    page.get_by_label("The one-time password you were given").fill("Kd7q2-one-time-pass")
    page.get_by_label("New password", exact=True).fill("river otter lantern 42")
    page.get_by_label("New password again").fill("river otter lantern 42")
    page.get_by_role("button", name="Save my password").click()

    expect(page.locator("#signed-in-as")).to_have_text("nina@example.org")
    page.goto(f"{live_server}{FORM}?case=")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Advanced imaging readiness")
    assert [m for m in messages if "Content Security Policy" in m] == []


def test_a_wrong_password_says_so_without_saying_which(
    live_server: str, live_app: Any, page: Any, shot: Any
) -> None:
    add_user(live_app, "wes@example.org", "coordinator", totp=True)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("wes@example.org")
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The email or the password is not right.")
    expect(page.get_by_label("Email")).to_have_value("wes@example.org")
    expect(page.get_by_label("Password")).to_have_value("")
    shot(page, "login-06-wrong-password")


def test_a_returning_user_types_a_code_and_signs_out(
    live_server: str, live_app: Any, page: Any, shot: Any
) -> None:
    add_user(live_app, "rae@example.org", "analyst", totp=True)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("rae@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Type your code")
    _clean(page)
    shot(page, "login-07-code")
    page.goto(f"{live_server}/login")  # start again: the code page is one step of signing in
    browser_sign_in(page, live_server, live_app, "rae@example.org")
    shot(page, "login-08-signed-in")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/login")
    page.goto(f"{live_server}/forms/")
    expect(page).to_have_url(f"{live_server}/login?next=/forms/")


def test_a_role_without_readiness_forms_gets_the_403_page(
    live_server: str, live_app: Any, page: Any, shot: Any
) -> None:
    add_user(live_app, "max@example.org", "manager", totp=True)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("max@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code from your authenticator app").fill(code(live_app, "max@example.org"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are signed in")
    expect(page.get_by_role("link", name="Readiness forms")).to_have_count(0)

    response = page.goto(f"{live_server}{FORM}?case=")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not for your role")
    expect(page.locator("main")).to_contain_text("it needs one of: admin, analyst, coordinator, reviewer")
    expect(page.locator("main")).to_contain_text(
        "You are signed in as max@example.org with the role manager."
    )
    _clean(page)
    shot(page, "login-09-forbidden")
