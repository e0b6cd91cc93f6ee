"""End to end in a real browser: an analyst edits a rule, sees the error at its line, fixes it,
tries it on a case and sends it to review; a reviewer publishes; the next evaluation uses it."""

from __future__ import annotations

from datetime import date
from typing import Any

from playwright.sync_api import expect

from admin import store
from tests.browser.conftest import edit_in_codemirror as _replace
from tests.browser.conftest import sign_in_page as _sign_in

CASE = {
    "as_of": "2026-11-20",
    "coverage": {"payer": "acme", "plan_type": "commercial"},
    "service": {"codes": ["72148"], "date": "2026-12-03"},
}


LIVE = "then: {auth: required, queue: imaging, forms"
TYPO = "then: {auth: requird, queue: imaging, forms"
FIXED = "then: {auth: required, queue: imaging, notes: [Attach the most recent imaging report.], forms"


def test_an_analyst_edit_reviewed_and_published_is_what_the_engine_uses_next(
    analyst_site: tuple[str, Any], browser: Any, shot: Any
) -> None:
    base, app = analyst_site
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
