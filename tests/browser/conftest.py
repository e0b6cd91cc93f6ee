"""A live app on a free port and Debian's chromium driven by Playwright.

Screenshots go to test-artifacts/screenshots/ (kept by CI as artifacts). No trace is recorded:
Playwright traces keep what was typed, passwords included.

    live_app            the app behind live_server: add users to its store (tests/accounts.py)
    coordinator_page    a page signed in as a coordinator (password and authenticator code)
    analyst_site        (URL, app) of a live app with an analyst and a reviewer, for the admin's editor
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from admin import create_app
from admin.db import sqlite_url
from tests.accounts import FAST_HASH, PASSWORD, add_user, browser_sign_in, code

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("PRIORAUTH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory, shipped_template: Path) -> Iterator[Any]:
    instance = tmp_path_factory.mktemp("instance")
    shutil.copy(shipped_template, instance / "store.db")
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "browser-tests",
            "DATABASE_URL": sqlite_url(instance / "store.db"),
            **FAST_HASH,
        }
    )
    yield app
    app.extensions["priorauth.db"].dispose()


@pytest.fixture(scope="module")
def live_server(live_app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make system)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def coordinator_state(live_app: Any, live_server: str, browser: Any) -> dict[str, Any]:
    """The cookies of a coordinator signed in once per module (a TOTP code works only once)."""
    add_user(live_app, "coordinator@example.org", "coordinator", totp=True)
    context = browser.new_context()
    try:
        browser_sign_in(context.new_page(), live_server, live_app, "coordinator@example.org")
        state: dict[str, Any] = context.storage_state()
    finally:
        context.close()
    return state


@pytest.fixture
def coordinator_page(browser: Any, coordinator_state: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, storage_state=coordinator_state)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def shot() -> Any:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="module")
def analyst_site(
    tmp_path_factory: pytest.TempPathFactory, shipped_template: Path
) -> Iterator[tuple[str, Any]]:
    instance = tmp_path_factory.mktemp("analyst-instance")
    shutil.copy(shipped_template, instance / "store.db")
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "browser",
            "DATABASE_URL": sqlite_url(instance / "store.db"),
        }
    )
    add_user(app, "ana@example.org", "analyst", totp=True)
    add_user(app, "rev@example.org", "reviewer", totp=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(5)


def sign_in_page(page: Any, base: str, app: Any, email: str, step: int = 0) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("#sign-in").click()
    page.get_by_label("Code from your authenticator app").fill(code(app, email, step))
    page.locator("#confirm-code").click()


def edit_in_codemirror(page: Any, old: str, new: str) -> None:
    """Edit through CodeMirror, as a person typing would (the page posts the editor's text)."""
    page.wait_for_selector(".CodeMirror")
    page.evaluate(
        "([a, b]) => { const cm = document.querySelector('.CodeMirror').CodeMirror;"
        " if (!cm.getValue().includes(a)) throw new Error('not in the text: ' + a);"
        " cm.setValue(cm.getValue().replace(a, b)); }",
        [old, new],
    )
