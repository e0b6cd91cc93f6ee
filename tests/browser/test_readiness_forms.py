"""A coordinator fills a readiness form in a real browser: errors, fixes, a complete form, drafts."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

FORM = "/forms/imaging-readiness"


@pytest.fixture
def page(coordinator_page: Any) -> Any:
    """Every test here runs as a coordinator, signed in with password and authenticator code."""
    return coordinator_page


def test_a_coordinator_sees_every_error_fixes_them_and_gets_a_complete_form(
    live_server: str, page: Any, shot: Any
) -> None:
    page.goto(f"{live_server}{FORM}?case=")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Advanced imaging readiness")
    shot(page, "forms-01-blank")

    # show_if: the prior-study questions appear only once "imaged before" is Yes
    modality = page.locator("#q-prior_imaging_modality")
    expect(modality).to_be_hidden()
    page.get_by_role("group", name="This area was imaged before").get_by_label("Yes").check()
    expect(modality).to_be_visible()
    page.get_by_role("group", name="This area was imaged before").get_by_label("No").check()
    expect(modality).to_be_hidden()

    # a first, wrong attempt
    page.get_by_role("group", name="Body region").get_by_label("Spine, lumbar").check()
    page.get_by_label("Weeks of symptoms").fill("-3")
    page.get_by_role("button", name="Check answers").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Weeks of symptoms must be 0 or more")
    expect(summary).to_contain_text("Clinical question the study should answer is required")
    expect(summary).to_contain_text("Conservative therapy tried needs at least 1 choice")
    # what was typed is still there, and each error sits next to its question
    expect(page.get_by_label("Weeks of symptoms")).to_have_value("-3")
    expect(page.get_by_role("group", name="Body region").get_by_label("Spine, lumbar")).to_be_checked()
    expect(page.locator("#e-symptom_weeks")).to_have_text("Error: Weeks of symptoms must be 0 or more")
    expect(page.get_by_label("Weeks of symptoms")).to_have_attribute("aria-invalid", "true")
    shot(page, "forms-02-errors")

    # the summary's links take keyboard focus to the question
    summary.get_by_role("link", name="Clinical question the study should answer is required").click()
    expect(page.get_by_label("Clinical question the study should answer")).to_be_focused()

    # fix everything
    page.get_by_label("Clinical question the study should answer").fill(
        "Left L5 radiculopathy: disc herniation?"
    )
    page.get_by_label("Weeks of symptoms").fill("8")
    therapy = page.get_by_role("group", name="Conservative therapy tried")
    therapy.get_by_label("Physical therapy").check()
    therapy.get_by_label("NSAIDs").check()
    page.get_by_label("Weeks of conservative therapy").fill("7")
    page.get_by_role("group", name="This area was imaged before").get_by_label("No").check()
    expect(page.locator("#progress-text")).to_have_text("6 of 8 questions answered")
    page.get_by_role("button", name="Check answers").click()

    expect(page.locator("#success-summary")).to_contain_text("The form is complete")
    expect(page.locator("#error-summary")).to_have_count(0)
    facts = page.get_by_role("table", name="Fact paths and values")
    expect(facts).to_contain_text("clinical.symptom_weeks")
    expect(facts).to_contain_text("physical-therapy, nsaids")
    shot(page, "forms-03-complete")


def test_answers_saved_as_a_draft_come_back_and_can_be_discarded(
    live_server: str, page: Any, shot: Any
) -> None:
    page.goto(f"{live_server}/forms/pt-readiness?case=")
    page.get_by_label("Visits requested").fill("12")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status").first).to_contain_text("Draft saved")

    page.goto(f"{live_server}/forms/pt-readiness?case=")
    expect(page.get_by_label("Visits requested")).to_have_value("12")
    expect(page.locator(".draft-note")).to_contain_text("Showing the draft saved")
    shot(page, "forms-04-draft")

    page.get_by_role("button", name="Discard draft").click()
    expect(page.get_by_label("Visits requested")).to_have_value("")


def test_the_case_facts_prefill_the_form_and_the_decision_follows_the_answers(
    live_server: str, page: Any, shot: Any
) -> None:
    page.goto(f"{live_server}{FORM}?case=mri-lumbar-acme-ready")
    decision = page.locator("#decision")
    expect(decision).to_contain_text("Ready to send")
    expect(decision.locator(".pill-yes")).to_have_count(2)  # the form is complete, the case ready

    page.get_by_label("Clinical question the study should answer").fill("")
    page.get_by_role("button", name="Check answers").click()
    expect(page.locator("#error-summary")).to_contain_text(
        "Clinical question the study should answer is required"
    )
    expect(decision.locator(".pill-no")).to_have_count(2)  # an incomplete form: not ready to send
    shot(page, "forms-05-case-not-ready")


def test_every_shipped_form_renders_with_a_label_for_every_input(
    live_server: str, page: Any, shot: Any
) -> None:
    page.goto(f"{live_server}/forms/")
    shot(page, "forms-00-index")
    links = page.locator("table a", has_text="").all()
    hrefs = sorted({a.get_attribute("href") for a in links if a.get_attribute("href").count("/") == 2})
    assert len(hrefs) == 6, hrefs
    for href in hrefs:
        page.goto(f"{live_server}{href}")
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('#readiness-form input:not([type=hidden]), #readiness-form select, #readiness-form textarea')]
                 .filter(el => !el.labels || el.labels.length === 0).map(el => el.name)"""
        )
        assert unlabeled == [], f"{href}: inputs without a label: {unlabeled}"
