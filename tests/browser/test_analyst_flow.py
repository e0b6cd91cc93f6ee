"""End to end in a real browser: an analyst edits a rule, sees the error at its line, fixes it,
tries it on a case and sends it to review; a reviewer publishes; the next evaluation uses it."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from admin import create_app, store
from admin.db import sqlite_url
from tests.accounts import PASSWORD, add_user, code

CASE = {
    "as_of": "2026-11-20",
    "coverage": {"payer": "acme", "plan_type": "commercial"},
    "service": {"codes": ["72148"], "date": "2026-12-03"},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, shipped_template: Path) -> Iterator[tuple[str, Any]]:
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


def _sign_in(page: Any, base: str, app: Any, email: str, step: int = 0) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("#sign-in").click()
    page.get_by_label("Code from your authenticator app").fill(code(app, email, step))
    page.locator("#confirm-code").click()


def _replace(page: Any, old: str, new: str) -> None:
    """Edit through CodeMirror, as a person typing would (the page posts the editor's text)."""
    page.wait_for_selector(".CodeMirror")
    page.evaluate(
        "([a, b]) => { const cm = document.querySelector('.CodeMirror').CodeMirror;"
        " if (!cm.getValue().includes(a)) throw new Error('not in the text: ' + a);"
        " cm.setValue(cm.getValue().replace(a, b)); }",
        [old, new],
    )


LIVE = "then: {auth: required, queue: imaging, forms"
TYPO = "then: {auth: requird, queue: imaging, forms"
FIXED = "then: {auth: required, queue: imaging, notes: [Attach the most recent imaging report.], forms"


def test_an_analyst_edit_reviewed_and_published_is_what_the_engine_uses_next(
    site: tuple[str, Any], browser: Any, shot: Any
) -> None:
    base, app = site
    analyst = browser.new_context(viewport={"width": 1366, "height": 900})
    page = analyst.new_page()
    page.set_default_timeout(15_000)
    _sign_in(page, base, app, "ana@example.org")
    page.goto(f"{base}/admin/rulesets/acme-commercial")
    # v4 is the 2026 policy the example cases are dated in (v5 is 2027's); what is published is v6
    page.get_by_role("button", name="New draft from v4").click()

    _replace(page, LIVE, TYPO)
    page.get_by_role("button", name="Save draft").click()
    problems = page.locator("#problems")
    expect(problems).to_contain_text("1 problem: nothing was saved")
    expect(problems).to_contain_text("auth 'requird' is not one of required, not-required, review")
    page.wait_for_selector(".CodeMirror")
    expect(page.locator(".cm-pa-error-line")).to_contain_text("auth: requird")
    shot(page, "analyst-01-error-at-its-line")

    _replace(page, TYPO, FIXED)
    page.get_by_label("Example case").select_option("mri-lumbar-acme-ready")
    page.get_by_role("button", name="Try it").click()
    tried = page.locator("#tried")
    expect(tried).to_contain_text("Decision for mri-lumbar-acme-ready")
    expect(tried).to_contain_text("Attach the most recent imaging report.")
    shot(page, "analyst-02-try-it")

    page.wait_for_selector(".CodeMirror")
    page.get_by_role("button", name="Save and send to review").click()
    expect(page.get_by_text("Saved and sent to review.")).to_be_visible()
    draft = int(page.url.rstrip("/").rsplit("/", 1)[1])
    analyst.close()

    reviewer = browser.new_context(viewport={"width": 1366, "height": 900})
    page = reviewer.new_page()
    page.set_default_timeout(15_000)
    _sign_in(page, base, app, "rev@example.org", step=1)
    page.goto(f"{base}/admin/rulesets/acme-commercial")
    shot(page, "analyst-03-review")
    page.locator(f"button[form='move-{draft}'][value=publish]").click()
    expect(page.get_by_text("acme-commercial v6 is live.")).to_be_visible()
    shot(page, "analyst-04-published")
    reviewer.close()

    with app.extensions["priorauth.db"].transaction() as session:
        decision = store.evaluator(session, "durable").evaluate(CASE, date(2026, 11, 20))
    assert decision["ruleset"]["version"] == 6
    assert "Attach the most recent imaging report." in decision["notes"]
