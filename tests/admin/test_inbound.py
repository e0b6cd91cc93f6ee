"""Faxed replies coming in: stored, read, matched to a case (or queued for a person), offered as a
suggestion, and applied only when a coordinator records it. On SQLite and PostgreSQL; the CLI, the
watched folder and the pages."""

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
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import func, select
from weasyprint import HTML

from admin import cases, create_app, faxinbox, inbound
from admin.db import Database
from admin.models import AuditEvent
from admin.models_cases import Case, CaseDocument
from admin.models_packets import InboundFax
from tests.accounts import add_user, csrf_token, sign_in
from tests.conftest import publish_shipped

ROOT = Path(__file__).resolve().parents[2]
PRIORAUTH = ROOT / ".venv" / "bin" / "priorauth"
FACTS = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
FACTS["patient"]["name"] = "Doe, Jane"
FACTS["patient"]["birth_date"] = "1968-03-02"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
TEXT_FILE = (  # the same check as documents on a case (admin/documents.py)
    "this looks like a text file, not a PDF, TIFF, PNG or JPEG file. "
    "Only PDF, TIFF, PNG or JPEG files are accepted: save or scan it as a PDF and upload that."
)


def letter(reference: str = "", member: str = "ACM482913570", decision: str = "Approved") -> str:
    return f"""ACME HEALTH PLAN                          Utilization Management
PRIOR AUTHORIZATION DETERMINATION
Your reference: {reference}
Member: Jane Doe                             Member ID: {member}
DOB: 03/02/1968
Decision: {decision}
Authorization number: AUT-55012
Approved units: 1
Approved dates: 12/01/2026 - 02/28/2027
Please quote the authorization number on all claims."""


def text_pdf(text: str) -> bytes:
    """A reply as a PDF with a text layer (what e-fax services deliver)."""
    body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines())
    return HTML(string=f"<body style='font: 11pt monospace; white-space: pre'>{body}</body>").write_pdf()


def fax_tiff(text: str) -> bytes:
    """A reply as a real fax: G4 TIFF, 1728 px wide at 204 x 196 dpi, typed in a plain font."""
    page = Image.new("1", (1728, 2156), 1)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT), 34)
    for n, line in enumerate(text.splitlines()):
        draw.text((90, 120 + n * 62), line, font=font, fill=0)
    out = io.BytesIO()
    page.save(out, "TIFF", compression="group4", dpi=(204, 196))
    return out.getvalue()


@pytest.fixture
def db(empty_db: Database) -> Database:
    publish_shipped(empty_db)
    return empty_db


def _submitted(session: Any, facts: dict[str, Any] | None = None, payer_reference: str | None = None) -> Case:
    case = cases.create(session, cases.organization(session), "coo", copy.deepcopy(facts or FACTS))
    cases.submit(session, case, "coo", payer_reference)
    return case


def _ingest(session: Any, data: bytes, tmp_path: Path) -> InboundFax:
    return inbound.ingest(
        session,
        cases.organization(session),
        "coo",
        io.BytesIO(data),
        source="upload",
        root=tmp_path / "faxes",
    )


def test_a_reply_quoting_our_reference_is_matched_and_only_suggested(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        case = _submitted(session)
        fax = _ingest(session, text_pdf(letter(case.reference)), tmp_path)
        assert (fax.state, fax.case_id, fax.matched_by, fax.method) == (
            "matched",
            case.id,
            "reference",
            "pdf-text",
        )
        s = fax.suggestion
        assert (s["decision"], s["auth_number"], s["units"], s["from"], s["to"]) == (
            "approved", "AUT-55012", 1, "2026-12-01", "2027-02-28",
        )  # fmt: skip
        assert case.status == "submitted" and case.auth_number is None  # nothing applied
        assert "AUT-55012" in fax.text
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "fax-in")).one()
        assert event.entity_id == case.reference and "AUT-55012" not in json.dumps(event.after)
        again = _ingest(session, text_pdf(letter(case.reference)), tmp_path)
        assert again.id == fax.id  # the same file twice is one fax
        assert session.scalar(select(func.count()).select_from(InboundFax)) == 1


def test_recording_the_suggestion_applies_the_response_and_keeps_the_fax_as_the_payers_letter(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as session:
        case = _submitted(session)
        fax = _ingest(session, text_pdf(letter(case.reference)), tmp_path)
        s = fax.suggestion
        inbound.record(
            session, fax, "coo", s["decision"], root=tmp_path / "faxes", documents_root=tmp_path / "docs",
            auth_number=s["auth_number"], units=s["units"], start=date(2026, 12, 1), end=date(2027, 2, 28),
        )  # fmt: skip
        assert (case.status, case.auth_number, case.approved_units) == ("approved", "AUT-55012", 1)
        letter_doc = session.get(CaseDocument, fax.document_id)
        assert (letter_doc.type, letter_doc.sha256, fax.state) == ("payer-letter", fax.sha256, "recorded")
        with pytest.raises(cases.CaseError, match="already recorded"):
            inbound.dismiss(session, fax, "coo")


def test_without_our_reference_the_payers_reference_then_the_member_id_match(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as session:
        by_payer = _submitted(session, payer_reference="2026112000417")
        fax = _ingest(session, text_pdf(letter(member="NOPE") + "\nRequest ID: 2026112000417"), tmp_path)
        assert (fax.case_id, fax.matched_by) == (by_payer.id, "payer-reference")
        other = copy.deepcopy(FACTS)
        other["coverage"]["member_id"] = "ZZZ999"
        by_member = _submitted(session, other)
        fax = _ingest(session, text_pdf(letter(member="ZZZ999", decision="Denied")), tmp_path)
        assert (fax.case_id, fax.matched_by, fax.suggestion["decision"]) == (
            by_member.id,
            "member-id",
            "denied",
        )


def test_name_and_birth_date_match_when_nothing_else_does_and_two_candidates_go_to_a_person(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as session:
        first = _submitted(session)
        fax = _ingest(session, text_pdf(letter(member="UNKNOWN1")), tmp_path)
        assert (fax.case_id, fax.matched_by) == (first.id, "name-dob")
        second = _submitted(session)
        fax = _ingest(session, text_pdf(letter(member="UNKNOWN2") + "\n "), tmp_path)
        assert (fax.state, fax.case_id) == ("unmatched", None)
        assert sorted(fax.candidates) == sorted([first.reference, second.reference])
        inbound.assign(session, fax, second, "coo")
        assert (fax.state, fax.case_id, fax.matched_by) == ("matched", second.id, "person")
        inbound.unassign(session, fax, "coo")
        assert (fax.state, fax.case_id) == ("unmatched", None)


def test_a_reference_ocr_misread_s_as_5_and_d_as_0_still_finds_its_case(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        case = _submitted(session)
        case.reference = "PA-SZBGDL23"
        _submitted(session)  # another case waiting, with another reference
        fax = _ingest(session, text_pdf(letter("PA-52860123", member="NOPE")), tmp_path)
        assert (fax.case_id, fax.matched_by) == (case.id, "reference")


def test_a_file_that_is_not_a_fax_is_refused_and_nothing_is_stored(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        with pytest.raises(cases.CaseError) as refused:
            _ingest(session, b"Dear provider, approved.\n", tmp_path)
        assert refused.value.problems == [("file", TEXT_FILE)]
        assert session.scalar(select(func.count()).select_from(InboundFax)) == 0
    assert not [p for p in (tmp_path / "faxes").rglob("*") if p.is_file()]


@pytest.mark.skipif(
    shutil.which("tesseract") is None or not FONT.exists(), reason="tesseract or DejaVu missing"
)
def test_a_real_fax_tiff_is_read_by_ocr_and_matched(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        case = _submitted(session)
        case.reference = "PA-7KQ2M9XD"  # fixed: the same image gives the same OCR every run
        fax = _ingest(session, fax_tiff(letter(case.reference)), tmp_path)
        assert (fax.method, fax.media_type, fax.pages) == ("ocr", "image/tiff", 1)
        assert (fax.case_id, fax.matched_by) == (case.id, "reference")
        assert (fax.suggestion["decision"], fax.suggestion["auth_number"]) == ("approved", "AUT-55012")


# -- the command line and the watched folder -------------------------------------------------------
def _env(shipped_url: str, tmp_path: Path) -> dict[str, str]:
    return {"PRIORAUTH_DATABASE_URL": shipped_url, "PRIORAUTH_INSTANCE_PATH": str(tmp_path / "instance")}


def test_fax_ingest_prints_the_case_each_file_was_matched_to_or_unmatched(
    shipped_url: str, tmp_path: Path
) -> None:
    db = Database(shipped_url)
    with db.transaction() as session:
        reference = _submitted(session).reference
    db.dispose()
    matched, lost, junk = tmp_path / "reply.pdf", tmp_path / "other.pdf", tmp_path / "notes.txt"
    matched.write_bytes(text_pdf(letter(reference)))
    lost.write_bytes(text_pdf(letter("", member="NOBODY").replace("Jane Doe", "John Roe")))
    junk.write_text("not a fax")
    done = subprocess.run(
        [str(PRIORAUTH), "fax", "ingest", str(matched), str(lost), str(junk)],
        capture_output=True, text=True, env={**os.environ, **_env(shipped_url, tmp_path)}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    out = done.stdout.splitlines()
    assert out[0] == f"{matched}: {reference} (matched by reference; inbound fax 1)"
    assert out[1] == f"{lost}: unmatched (inbound fax 2: a person matches it in Faxed replies)"
    assert done.stderr == f"{junk}: not taken in: {TEXT_FILE}\n"


def test_the_watched_folder_takes_finished_files_and_files_them_away(db: Database, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with db.transaction() as session:
        reference = _submitted(session).reference
    (inbox / "0001.pdf").write_bytes(text_pdf(letter(reference)))
    (inbox / "0002.pdf").write_bytes(b"%PDF-1.4 broken")
    (inbox / ".0003.pdf.part").write_bytes(b"still being written")
    old = os.path.getmtime(inbox / "0001.pdf") - 60
    for name in ("0001.pdf", "0002.pdf"):
        os.utime(inbox / name, (old, old))
    taken = faxinbox.sweep(db, inbox, "folder:inbox")
    assert [(Path(t.file).name, t.reference, t.problem) for t in taken] == [
        ("0001.pdf", reference, None),
        (
            "0002.pdf",
            None,
            "the file starts like a PDF but does not open: it may be damaged or cut short. "
            "Save or scan it again and upload the new copy",
        ),
    ]
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["0001.pdf"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["0002.pdf", "0002.pdf.why.txt"]
    assert (inbox / ".0003.pdf.part").exists()
    assert faxinbox.sweep(db, inbox, "folder:inbox") == []


# -- the pages --------------------------------------------------------------------------------------
@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "t", "DATABASE_URL": shipped_url})
    add_user(app, "coo@example.org", "coordinator", totp=True)
    add_user(app, "boss@example.org", "manager", totp=True)
    return app


def test_a_coordinator_uploads_a_reply_checks_it_and_records_it(app: Any) -> None:
    with app.extensions["priorauth.db"].transaction() as session:
        reference = _submitted(session).reference
    client = app.test_client()
    assert sign_in(client, app, "coo@example.org").status_code == 302
    token = csrf_token(client.get("/faxes/").get_data(as_text=True))
    sent = client.post(
        "/faxes/",
        data={"csrf_token": token, "file": (io.BytesIO(text_pdf(letter(reference))), "reply.pdf")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/faxes/1")
    page = client.get("/faxes/1").get_data(as_text=True)
    assert "is read and matched by reference" in page and "AUT-55012" in page
    assert 'value="approved" selected' in page and "Record the payer" in page
    case_page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "looks like approved" in case_page and "check and record it" in case_page
    recorded = client.post(
        "/faxes/1/record",
        data={"csrf_token": token, "status": "approved", "auth_number": "AUT-55012", "units": "1",
              "start": "2026-12-01", "end": "2027-02-28"},
    )  # fmt: skip
    assert recorded.status_code == 302
    assert "The payer&#39;s response is recorded on " + reference in client.get("/faxes/1").get_data(
        as_text=True
    )
    with client.get("/faxes/1/file") as response:
        assert response.data.startswith(b"%PDF-")
    found = client.get("/faxes/?q=aut-55012+jane").get_data(as_text=True)
    assert 'href="/faxes/1"' in found
    none = client.get("/faxes/?q=AUT-99999").get_data(as_text=True)
    assert 'href="/faxes/1"' not in none and "with “AUT-99999” in their text" in none


def test_a_manager_sees_faxes_but_cannot_record_and_another_fax_id_is_not_found(app: Any) -> None:
    with app.extensions["priorauth.db"].transaction() as session:
        case = _submitted(session)
        _ingest(session, text_pdf(letter(case.reference)), Path(app.config["INSTANCE_PATH"]))
    client = app.test_client()
    assert sign_in(client, app, "boss@example.org").status_code == 302
    page = client.get("/faxes/1").get_data(as_text=True)
    assert "What it seems to say" in page and "Record the payer" not in page
    token = csrf_token(client.get("/faxes/").get_data(as_text=True))
    assert client.post("/faxes/1/record", data={"csrf_token": token, "status": "approved"}).status_code == 403
    assert client.get("/faxes/99").status_code == 404
