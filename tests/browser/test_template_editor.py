"""An analyst edits a payer's packet template in the admin, in a real browser: a Jinja mistake is
shown at its line and nothing is saved; the fixed text previews as a PDF for an example case
before it is saved, and is saved as a draft for review. Screenshots: template-*.png."""

from __future__ import annotations

import io
from typing import Any

from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.conftest import edit_in_codemirror as _replace
from tests.browser.conftest import sign_in_page as _sign_in

BROKEN = "<p>Reviewed with the member on {{ packet.date | us_date </p>"
GOOD = "<p>Reviewed with the member on {{ packet.date | us_date }}</p>"


def test_an_analyst_fixes_a_template_at_its_line_and_previews_it_as_a_pdf(
    analyst_site: tuple[str, Any], browser: Any, shot: Any
) -> None:
    base, app = analyst_site
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _sign_in(page, base, app, "ana@example.org")
    page.goto(f"{base}/admin/")
    page.get_by_role("link", name="Packet templates").first.click()
    expect(page.get_by_text("acme-imaging-request")).to_be_visible()
    shot(page, "template-01-list")
    page.goto(f"{base}/admin/templates/acme-imaging-request")
    page.get_by_role("button", name="New draft from v1").click()
    page.wait_for_selector(".CodeMirror")
    text = page.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.getValue()")
    line = text.splitlines().index("html: |") + 2  # the new first line of the form's HTML
    _replace(page, "html: |\n", f"html: |\n  {BROKEN}\n")
    page.get_by_role("button", name="Save draft").click()
    problems = page.locator("#problems")
    expect(problems).to_contain_text("nothing was saved")
    expect(problems).to_contain_text(f"line {line}: template syntax")
    page.wait_for_selector(".CodeMirror")
    expect(page.locator(".cm-pa-error-line")).to_contain_text("Reviewed with the member")
    shot(page, "template-02-error-at-its-line")

    _replace(page, BROKEN, GOOD)
    page.get_by_label("Example case").select_option("mri-lumbar-acme-ready")
    with context.expect_page() as popup:
        page.get_by_role("button", name="Preview as a PDF").click()
    assert popup.value.url.endswith("/admin/templates/preview")  # a new tab, the editor stays
    # what that tab received, asked for again with the same form (a headless browser shows no PDF)
    fields = {
        "csrf_token": page.locator("#editor-form input[name=csrf_token]").input_value(),
        "text": page.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.getValue()"),
        "case": "mri-lumbar-acme-ready",
    }
    response = page.request.post(f"{base}/admin/templates/preview", form=fields)
    assert response.headers["content-type"] == "application/pdf", response.text()[-1500:]
    reader = PdfReader(io.BytesIO(response.body()))
    assert "Reviewed with the member on" in reader.pages[1].extract_text()
    assert "DRAFT" in reader.pages[0].extract_text()

    page.bring_to_front()
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Saved at")).to_be_visible()
    shot(page, "template-03-saved")
    context.close()
