"""A packet and its fax, in a real browser (Debian's chromium): a coordinator sees what blocks the
final packet, builds a draft, attaches the missing order, builds the final packet and faxes it
through the spool; the fax server delivers it, the case is submitted; the payer's faxed approval
comes back, is matched by our reference, and the coordinator checks and records it.
Screenshots: test-artifacts/screenshots/packet-*.png, and the packet's pages as PNG
(packet-pdf-*.png, made with pdftoppm) to look at.
"""

from __future__ import annotations

import copy
import html
import io
import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from weasyprint import HTML

from admin import cases, documents
from tests.browser.conftest import ARTIFACTS

ROOT = Path(__file__).resolve().parents[2]
FACTS = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
FACTS["documents"] = []
FACTS["patient"]["name"] = "Rivera, Sam"


def _pdf(title: str, pages: int = 1) -> bytes:
    body = "".join(
        f"<section style='break-before: page'><h1>{title}</h1><p>Page {n + 1}</p></section>"
        for n in range(pages)
    )
    return HTML(string=f"<body style='font: 12pt serif'>{body}</body>").write_pdf()


@pytest.fixture
def case_reference(live_app: Any) -> str:
    root = Path(live_app.config["INSTANCE_PATH"]) / "documents"
    with live_app.extensions["priorauth.db"].transaction() as session:
        org = cases.organization(session)
        org.fax_number, org.phone = "+16145550199", "+16145550100"
        case = cases.create(session, org, "coo", copy.deepcopy(FACTS))
        documents.attach(
            session, case, "coo", io.BytesIO(_pdf("Office visit note", 3)), type="clinical-note",
            on=date.today(), title="Office visit note", root=root,
        )  # fmt: skip
        return str(case.reference)


def test_a_coordinator_builds_faxes_and_closes_the_loop_on_a_packet(
    live_app: Any, live_server: str, coordinator_page: Any, shot: Any, case_reference: str,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    spool = tmp_path / "spool"
    monkeypatch.setenv("PRIORAUTH_FAX_SPOOL", str(spool))
    page, ref = coordinator_page, case_reference
    page.goto(f"{live_server}/cases/{ref}#packet")
    panel = page.locator("#packet")
    expect(panel.get_by_role("heading", name="Packet for the payer")).to_be_visible()
    expect(panel.get_by_text("missing: Signed order from the ordering clinician")).to_be_visible()
    expect(panel.get_by_role("button", name="Build final packet")).to_be_disabled()
    panel.get_by_role("button", name="Build draft").click()
    expect(page.get_by_text("Packet v1 (draft,")).to_be_visible()
    shot(page, "packet-01-draft")

    # the missing order, attached on the same page
    order = tmp_path / "signed-order.pdf"
    order.write_bytes(_pdf("Signed MRI order"))
    page.get_by_label("File").set_input_files(str(order))
    page.locator("#doc-type").select_option("order")
    page.get_by_label("Date of the document").fill(date.today().isoformat())
    page.get_by_label("Title (optional)").fill("Signed MRI order")
    page.get_by_role("button", name="Attach").click()
    expect(page.get_by_text("is attached and the case re-evaluated")).to_be_visible()

    panel = page.locator("#packet")
    expect(panel.get_by_text("Not ready for a final packet")).to_have_count(0)
    panel.get_by_role("button", name="Build final packet").click()
    expect(page.get_by_text("Packet v2 (final,")).to_be_visible()
    link = page.get_by_role("link", name="PDF of packet v2")
    pdf = page.request.get(live_server + (link.get_attribute("href") or ""))
    assert pdf.ok and pdf.body().startswith(b"%PDF-")
    _pages_as_png(pdf.body(), tmp_path)

    # fax it through the spool; the fax server takes it and delivers it
    panel = page.locator("#packet")
    expect(panel.get_by_label("Fax number")).to_have_value("+15555550100")
    panel.get_by_label("Send through").select_option("spool")
    panel.get_by_role("button", name="Fax the final packet").click()
    expect(page.get_by_text("to +15555550100: queued.")).to_be_visible()
    (ticket,) = (spool / "outgoing").glob("*.json")
    key, pages = ticket.stem, json.loads(ticket.read_text())["pages"]
    (spool / "done").mkdir()
    for path in (spool / "outgoing").glob(f"{key}.*"):
        os.replace(path, spool / "done" / path.name)
    (spool / "done" / f"{key}.result.json").write_text(
        json.dumps({"state": "delivered", "reason": "", "pages_sent": pages, "attempts": 1})
    )
    page.locator("#packet").get_by_role("button", name="Check fax states").click()
    expect(page.locator(".pill.fax-delivered")).to_be_visible()
    expect(page.locator(".case-head .pill")).to_have_text("submitted")
    shot(page, "packet-02-faxed")
    page.locator("#packet").screenshot(path=str(ARTIFACTS / "packet-panel.png"))

    # the payer's approval comes back by fax
    reply = tmp_path / "reply.pdf"
    reply.write_bytes(_reply(ref))
    page.get_by_role("link", name="Faxed replies").click()
    page.get_by_label("The payer's faxed reply").set_input_files(str(reply))
    page.get_by_role("button", name="Read and match").click()
    expect(page.get_by_text("is read and matched by reference")).to_be_visible()
    form = page.locator("form", has=page.get_by_role("button", name="Record the response"))
    expect(form.get_by_label("Auth number")).to_have_value("AUT-55012")
    expect(form.get_by_label("Response")).to_have_value("approved")
    shot(page, "packet-03-reply")
    form.get_by_label("Approved units").fill("1")
    form.get_by_role("button", name="Record the response").click()
    expect(page.get_by_text(f"recorded on {ref}")).to_be_visible()
    page.goto(f"{live_server}/cases/{ref}")
    expect(page.locator(".case-head .pill")).to_have_text("approved")
    shot(page, "packet-04-approved")
    page.goto(f"{live_server}/faxes/")
    shot(page, "packet-05-inbox")


def _reply(reference: str) -> bytes:
    lines = [
        "ACME HEALTH PLAN - Utilization Management",
        "PRIOR AUTHORIZATION DETERMINATION",
        f"Your reference: {reference}",
        "Member: Sam Rivera          Member ID: ACM482913570",
        "Decision: Approved",
        "Authorization number: AUT-55012",
        "Approved units: 1",
        "Approved dates: 12/01/2026 - 02/28/2027",
    ]
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return HTML(string=f"<body style='font: 11pt monospace'>{body}</body>").write_pdf()


def _pages_as_png(pdf: bytes, tmp_path: Path) -> None:
    """The packet's first pages as PNG beside the screenshots, for a person to look at."""
    if shutil.which("pdftoppm") is None:
        return
    path = tmp_path / "packet.pdf"
    path.write_bytes(pdf)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "6", str(path), str(ARTIFACTS / "packet-pdf")],
        check=True, timeout=60,
    )  # fmt: skip
