"""A coordinator's whole day with one request, in a real browser (Debian's chromium):

imports a FHIR bundle, sees the case land in packet-prep with its missing items, attaches the
order and fills the readiness form, watches it move to submit, records the submission and the
approval, records usage until the renewal shows up, and renews it. Along the way the wrong things
are tried too: a bad bundle, a text file posing as a PDF, an illegal move; each is refused with a
clear message and changes nothing. Screenshots: test-artifacts/screenshots/coordinator-*.png.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from admin.models_cases import Case

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "examples" / "fhir" / "mri-lumbar-acme.bundle.json"


def _pdf() -> bytes:
    """A small, real, one-page PDF (pypdf writes it)."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    bundle = json.loads(BUNDLE.read_text())
    # without the signed order: the case must wait for it
    bundle["entry"] = [
        e
        for e in bundle["entry"]
        if not (
            e["resource"]["resourceType"] == "DocumentReference"
            and "order" in json.dumps(e["resource"].get("type", {})).lower()
        )
    ]
    bad = json.loads(json.dumps(bundle))
    bad["entry"] = [e for e in bad["entry"] if e["resource"]["resourceType"] != "Patient"]
    out = {
        "bundle": tmp_path / "referral.bundle.json",
        "bad": tmp_path / "no-patient.bundle.json",
        "order": tmp_path / "signed-order.pdf",
        "fake": tmp_path / "not-really.pdf",
    }
    out["bundle"].write_text(json.dumps(bundle))
    out["bad"].write_text(json.dumps(bad))
    out["order"].write_bytes(_pdf())
    out["fake"].write_text("This is a text file with a .pdf name.\n")
    return out


def _cases(app: Any) -> int:
    with app.extensions["priorauth.db"].transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Case)))


def test_a_coordinator_takes_a_request_from_the_ehr_to_its_renewal(
    live_app: Any, live_server: str, coordinator_page: Any, shot: Any, files: dict[str, Path]
) -> None:
    page = coordinator_page
    page.goto(f"{live_server}/cases/")
    page.get_by_role("link", name="New case or import").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New case")
    shot(page, "coordinator-01-new-case")

    # a bad bundle: a clear error, and no case
    before = _cases(live_app)
    page.get_by_label("FHIR R4 Bundles (.json), worklists (.csv) or case facts (.json)").set_input_files(
        str(files["bad"])
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#error-summary")).to_contain_text("no-patient.bundle.json")
    expect(page.get_by_role("heading", level=1)).to_contain_text("0 cases created")
    assert _cases(live_app) == before
    shot(page, "coordinator-02-bad-bundle")

    # the referral's bundle: one case, in packet-prep, missing the order and the therapy weeks
    page.get_by_role("link", name="Import more").click()
    page.get_by_label("FHIR R4 Bundles (.json), worklists (.csv) or case facts (.json)").set_input_files(
        str(files["bundle"])
    )
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("1 case created")
    made = page.get_by_role("table").get_by_role("row").nth(1)
    expect(made).to_contain_text("packet-prep")
    reference = made.get_by_role("link").inner_text()
    assert re.fullmatch(r"PA-[A-Z0-9]{8}", reference)
    shot(page, "coordinator-03-imported")
    made.get_by_role("link").click()

    missing = page.locator("ul.missing")
    expect(page.locator(".case-head")).to_contain_text("packet-prep")
    expect(missing).to_contain_text("Signed order")
    expect(missing).to_contain_text("Six weeks of documented conservative therapy")
    shot(page, "coordinator-04-packet-prep")

    # a text file named .pdf is refused by its contents, and nothing is attached
    page.get_by_label("File", exact=True).set_input_files(str(files["fake"]))
    page.get_by_label("Type", exact=True).select_option("order")
    page.get_by_role("button", name="Attach").click()
    expect(page.locator(".flash, [role=alert]").first).to_contain_text("PDF")
    expect(page.locator("#documents")).to_contain_text("No documents are attached yet")

    # the signed order, as a real PDF: the order item is satisfied by it
    page.get_by_label("File", exact=True).set_input_files(str(files["order"]))
    page.get_by_label("Type", exact=True).select_option("order")
    page.get_by_label("Date of the document").fill(date.today().isoformat())
    page.get_by_role("button", name="Attach").click()
    expect(page.locator("#documents")).to_contain_text("Signed order")
    expect(missing).not_to_contain_text("Signed order")
    expect(missing).to_contain_text("Six weeks of documented conservative therapy")
    shot(page, "coordinator-05-document")

    # the readiness form, prefilled from the case's facts
    page.get_by_role("link", name=re.compile(r"^Fill in")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Advanced imaging readiness")
    page.get_by_role("group", name="Body region").get_by_label("Spine, lumbar").check()
    page.get_by_label("Clinical question the study should answer").fill(
        "Left L5 radiculopathy: disc herniation?"
    )
    page.get_by_label("Weeks of symptoms").fill("9")
    therapy = page.get_by_role("group", name="Conservative therapy tried")
    therapy.get_by_label("Physical therapy").check()
    therapy.get_by_label("NSAIDs").check()
    page.get_by_label("Weeks of conservative therapy").fill("7")
    page.get_by_role("group", name="This area was imaged before").get_by_label("No").check()
    shot(page, "coordinator-06-form")
    page.get_by_role("button", name="Save answers").click()

    # back on the case: nothing missing, the form complete, the case in submit
    expect(page.locator(".case-head")).to_contain_text("submit")
    expect(page.locator("#forms-title")).to_be_visible()
    expect(page.locator("section[aria-labelledby=forms-title]")).to_contain_text("complete")
    expect(page.locator("ul.missing")).to_have_count(0)

    # an illegal move (the pages offer none: this one is posted by hand) is refused, naming what is
    # allowed from here, and changes nothing
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    page.request.post(
        f"{live_server}/cases/{reference}/respond",
        form={"csrf_token": token, "status": "approved", "auth_number": "X"},
        max_redirects=0,
    )
    page.reload()
    expect(page.locator(".flash").first).to_contain_text(
        "a case cannot go from draft to approved: from draft a case can go to ready"
    )
    expect(page.locator(".case-head")).to_contain_text("draft")

    page.get_by_role("button", name="Assign to me").click()
    page.get_by_label("Payer reference (optional)").fill("ACME-PORTAL-77812")
    page.get_by_role("button", name="Record as submitted").click()
    expect(page.locator(".case-head")).to_contain_text("follow-up")
    expect(page.locator("aside")).to_contain_text("payer reference ACME-PORTAL-77812")
    shot(page, "coordinator-07-submitted")

    # the payer approves 10 units for 90 days
    page.get_by_label("The payer's response").select_option("approved")
    page.get_by_label("Auth number").fill("ACM-778812")
    page.get_by_label("Approved units").fill("10")
    page.get_by_label("Approved from").fill(date.today().isoformat())
    page.get_by_label("Approved to").fill((date.today() + timedelta(days=90)).isoformat())
    page.get_by_role("button", name="Record the response").click()
    expect(page.locator(".case-head")).to_contain_text("approved")
    expect(page.locator(".case-head")).to_contain_text("done")

    # usage: 8 of 10 units used brings the renewal
    page.get_by_label("Date of service").fill(date.today().isoformat())
    page.get_by_label("Units or visits").fill("8")
    page.get_by_role("button", name="Record usage").click()
    expect(page.locator(".case-head")).to_contain_text("renewal")
    expect(page.locator("#usage")).to_contain_text("8 of 10")
    shot(page, "coordinator-08-renewal")

    # the queue shows it in the renewal stage
    page.goto(f"{live_server}/cases/?stage=renewal")
    expect(page.get_by_role("link", name=reference)).to_be_visible()

    page.get_by_role("link", name=reference).click()
    page.get_by_role("button", name="Renew").click()
    expect(page.locator(".flash")).to_contain_text("created as a draft")
    renewal = page.locator("h1.case-ref").inner_text()
    assert renewal != reference
    chain = page.get_by_role("heading", name="Renewal chain").locator("xpath=following-sibling::ol[1]")
    expect(chain).to_contain_text(reference)
    expect(chain).to_contain_text(renewal)
    shot(page, "coordinator-09-renewed")
