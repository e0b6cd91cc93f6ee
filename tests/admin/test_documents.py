"""Case documents: the service on SQLite and PostgreSQL, and the pages (upload, download, withdraw)."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import random
import re
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import render_template
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from admin import cases, create_app, documents
from admin.config import ConfigError
from admin.db import Database
from admin.models import AuditEvent, User
from admin.models_cases import Case, CaseDecision, CaseDocument, Organization
from tests.accounts import add_user, csrf_token, sign_in
from tests.conftest import publish_shipped

ROOT = Path(__file__).resolve().parents[2]
# acme's lumbar MRI with no documents: its "order" and "recent-note" items are missing
NO_DOCUMENTS = {
    **json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-missing-therapy.json").read_text()),
    "documents": [],
}
ORDER = "Signed order from the ordering clinician"


def pdf(pages: int = 2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(kind: str, frames: int = 1) -> bytes:
    pixels = bytes((i * 7) % 251 for i in range(40 * 30))  # not one colour: the file is not tiny
    pages = [Image.frombytes("L", (40, 30), pixels[n:] + pixels[:n]) for n in range(frames)]
    out = io.BytesIO()
    pages[0].save(out, format=kind, save_all=frames > 1, append_images=pages[1:])
    return out.getvalue()


TEXT = b"Patient note, typed in a text editor.\n"
FILES = {  # name -> (bytes, media type, pages)
    "scan.pdf": (pdf(2), "application/pdf", 2),
    "fax.tif": (image("TIFF", 3), "image/tiff", 3),
    "photo.png": (image("PNG"), "image/png", 1),
    "photo.jpg": (image("JPEG"), "image/jpeg", 1),
}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _counts(session: Any) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(CaseDocument)),
        session.scalar(select(func.count()).select_from(AuditEvent)),
        session.scalar(select(func.count()).select_from(CaseDecision)),
    )


# -- what the bytes say ----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [(n, f[1]) for n, f in FILES.items()])
def test_the_media_type_comes_from_the_magic_bytes(name: str, expected: str) -> None:
    assert documents.sniff(FILES[name][0][:16]) == expected


@pytest.mark.parametrize(
    ("head", "seen"),
    [
        (b"PK\x03\x04\x14\x00", "a ZIP archive (Word .docx and Excel .xlsx files are ZIP archives)"),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html>", "an HTML page"),
        (TEXT, "a text file"),
        (b"GIF89a\x01\x00", "a GIF image"),
        (b"\x00\x00\x00\x18ftypheic", "an HEIC photo (the iPhone's format)"),
        (b"\x00" * 128 + b"DICM", "a DICOM image (send the radiologist's report instead)"),
        (b"\x00\x01\x02\x03\xfe", "a kind of file this page does not know"),
    ],
)
def test_a_refused_file_is_described_by_what_it_looks_like(head: bytes, seen: str) -> None:
    assert documents.sniff(head) is None
    assert documents.looks_like(head) == seen


# -- the service, on both databases ----------------------------------------------------------------
@pytest.fixture
def db(empty_db: Database) -> Database:
    publish_shipped(empty_db)
    return empty_db


def _case(session: Any) -> Case:
    return cases.create(session, cases.organization(session), "coo", copy.deepcopy(NO_DOCUMENTS))


def test_an_order_is_stored_under_a_made_name_with_its_sha256_and_satisfies_the_order_item(
    db: Database, tmp_path: Path
) -> None:
    root, data = tmp_path / "documents", FILES["scan.pdf"][0]
    with db.transaction() as session:
        case = _case(session)
        assert ORDER in [m["label"] for m in case.decision["missing"]]
        doc = documents.attach(
            session,
            case,
            "coo",
            io.BytesIO(data),
            type="order",
            on=date(2026, 11, 18),
            title="Order from Dr. Lee for Jane Roe",
            filename_hint="jane-roe-order.pdf",
            root=root,
        )
        doc_id = f"DOC-{doc.id}"
        assert (doc.media_type, doc.pages, doc.size) == ("application/pdf", 2, len(data))
        assert doc.sha256 == hashlib.sha256(data).hexdigest()
        assert re.fullmatch(rf"{case.organization_id}/[0-9a-f]{{32}}\.pdf", doc.stored_as)
        assert {"id": doc_id, "type": "order", "date": "2026-11-18", "pages": 2}.items() <= next(
            d for d in case.facts["documents"] if d["id"] == doc_id
        ).items()
        assert case.decisions[-1].why == "document order"
        assert {"id": "order", "label": ORDER, "by": [doc_id]} in case.decision["satisfied"]
        assert documents.satisfies(case) == {doc_id: [ORDER]}
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "document").order_by(AuditEvent.id)
        ).one()
    stored = root / doc.stored_as
    assert stored.read_bytes() == data and _files(root) == [stored]
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == stat.S_IMODE(root.stat().st_mode) == 0o700
    assert event.after["sha256"] == doc.sha256 and event.after["document"] == doc_id
    assert (event.after["type"], event.after["date"], event.after["size"]) == (
        "order",
        "2026-11-18",
        len(data),
    )
    assert "Jane" not in json.dumps(event.after) and "jane" not in json.dumps(event.after)


@pytest.mark.parametrize(
    ("data", "hint", "message"),
    [
        (
            TEXT,
            "x.pdf",
            "its name says PDF, but this looks like a text file, not a PDF, TIFF, PNG or JPEG file. "
            "Only PDF, TIFF, PNG or JPEG files are accepted: save or scan it as a PDF and upload that.",
        ),
        (b"", "x.pdf", "the file is empty: choose the file again"),
        (
            b"%PDF-1.7\nnot really a PDF at all\n",
            "x.pdf",
            "the file starts like a PDF but does not open: it may be damaged or cut short. "
            "Save or scan it again and upload the new copy",
        ),
        (
            FILES["photo.png"][0][: len(FILES["photo.png"][0]) // 2],
            "x.png",
            "the file starts like a PNG but does not open: it may be damaged or cut short. "
            "Save or scan it again and upload the new copy",
        ),
        (
            b"x" * (documents.MiB + 1),
            "big.pdf",
            "the file is larger than the 1 MB limit for documents: "
            "scan it at a lower resolution, or split it, and upload again",
        ),
    ],
    ids=["text-named-pdf", "empty", "broken-pdf", "cut-png", "too-large"],
)
def test_a_wrong_file_is_refused_with_a_clear_message_and_nothing_changes(
    db: Database, tmp_path: Path, data: bytes, hint: str, message: str
) -> None:
    root = tmp_path / "documents"
    with db.transaction() as session:
        case = _case(session)
        reference, facts, before = case.reference, copy.deepcopy(case.facts), _counts(session)
    with pytest.raises(cases.CaseError) as caught, db.transaction() as session:
        case = cases.get(session, cases.organization(session), reference)
        documents.attach(
            session,
            case,
            "coo",
            io.BytesIO(data),
            type="order",
            on=None,
            filename_hint=hint,
            root=root,
            limit=documents.MiB,
        )
    assert caught.value.problems == [("file", message)]
    assert _files(root) == []
    with db.transaction() as session:
        case = cases.get(session, cases.organization(session), reference)
        assert _counts(session) == before and case.facts == facts


def test_a_closed_case_or_an_unknown_type_is_refused_before_any_file_is_written(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "documents"
    with db.transaction() as session:
        case = _case(session)
        cases.cancel(session, case, "coo", "duplicate")
        with pytest.raises(cases.CaseError) as caught:
            documents.attach(
                session, case, "coo", io.BytesIO(FILES["scan.pdf"][0]), type="selfie", on=None, root=root
            )
    assert caught.value.problems == [
        ("", "the case is cancelled: documents can no longer be added"),
        ("type", f"choose one of the document types: {', '.join(documents.TYPES)}"),
    ]
    assert not root.exists()


def test_withdrawing_or_replacing_takes_a_document_out_of_the_facts_and_keeps_its_file(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "documents"
    with db.transaction() as session:
        case = _case(session)
        first = documents.attach(session, case, "coo", io.BytesIO(pdf(1)), type="order", on=None, root=root)
        second = documents.attach(
            session, case, "coo", io.BytesIO(pdf(3)), type="order", on=None, replaces=first.id, root=root
        )
        assert (documents.state(first), first.superseded_by) == ("superseded", second.id)
        assert [d["id"] for d in case.facts["documents"]] == [f"DOC-{second.id}"]
        documents.withdraw(session, case, "coo", second.id)
        assert documents.state(second) == "withdrawn" and case.facts["documents"] == []
        assert ORDER in [m["label"] for m in case.decision["missing"]]
        assert [d.why for d in case.decisions][-3:] == [
            "document order",
            "document order",
            "document order withdrawn",
        ]
        with pytest.raises(cases.CaseError) as caught:
            documents.withdraw(session, case, "coo", second.id)
        assert caught.value.problems == [
            ("document", f"DOC-{second.id} is not a current document of this case")
        ]
        assert session.scalar(select(func.count()).select_from(CaseDocument)) == 2
    assert all((root / d.stored_as).is_file() for d in (first, second))


def test_a_case_changed_meanwhile_refuses_the_upload_and_leaves_no_file(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "documents"
    with db.transaction() as session:
        reference = _case(session).reference
    with db.transaction() as session:
        case = cases.get(session, cases.organization(session), reference)
        with db.transaction() as elsewhere:  # another coordinator saves first
            theirs = cases.get(elsewhere, cases.organization(elsewhere), reference)
            theirs.owner_id = None
            theirs.next_action = "changed elsewhere"
        with pytest.raises(StaleDataError):
            documents.attach(session, case, "coo", io.BytesIO(pdf(1)), type="order", on=None, root=root)
        session.rollback()
    assert _files(root) == []


def test_open_file_refuses_another_cases_document_and_a_file_changed_on_disk(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "documents"
    with db.transaction() as session:
        case, other = _case(session), _case(session)
        doc = documents.attach(
            session, case, "coo", io.BytesIO(FILES["photo.png"][0]), type="other", on=None, root=root
        )
        assert documents.open_file(case, doc, root=root).read_bytes() == FILES["photo.png"][0]
        with pytest.raises(cases.CaseError, match="is not a document of this case"):
            documents.open_file(other, doc, root=root)
        escaped = CaseDocument(id=99, case_id=case.id, stored_as="../../etc/passwd")
        with pytest.raises(cases.CaseError, match="is not a document of this case"):
            documents.open_file(case, escaped, root=root)
        (root / doc.stored_as).write_bytes(b"edited")
        with pytest.raises(cases.CaseError, match="changed on disk: IT must restore it from backup"):
            documents.open_file(case, doc, root=root)


# -- the pages -------------------------------------------------------------------------------------
@pytest.fixture
def app(tmp_path: Path, shipped_url: str) -> Any:
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "test",
            "DATABASE_URL": shipped_url,
            "MAX_DOCUMENT_MB": 1,
        }
    )
    with app.extensions["priorauth.db"].transaction() as session:
        case = _case(session)
        app.config["TEST_CASE"] = case.reference
        user_org = case.organization_id
    add_user(app, "coo@example.org", "coordinator", totp=True)
    add_user(app, "man@example.org", "manager", totp=True)
    add_user(app, "ana@example.org", "analyst", totp=True)
    with app.extensions["priorauth.db"].transaction() as session:
        for user in session.scalars(select(User)):
            user.organization_id = user_org
    return app


def _client(app: Any, email: str) -> Any:
    client = app.test_client()
    assert sign_in(client, app, email).status_code == 302
    return client


def _post_file(client: Any, url: str, data: bytes, name: str, token: str, **fields: str) -> Any:
    form = {"csrf_token": token, "type": "order", "date": "2026-11-18", "title": "Signed order", **fields}
    return client.post(
        url,
        data={**form, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def _upload(client: Any, reference: str, data: bytes, name: str, **fields: str) -> Any:
    token = csrf_token(client.get(f"/cases/{reference}").get_data(as_text=True))
    return _post_file(client, f"/cases/{reference}/documents", data, name, token, **fields)


def _state(app: Any) -> tuple[Any, ...]:
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == app.config["TEST_CASE"]))
        return (
            *_counts(session),
            json.dumps(case.facts, sort_keys=True),
            tuple(_files(Path(app.config["INSTANCE_PATH"]) / "documents")),
        )


@pytest.mark.parametrize("name", list(FILES))
def test_a_coordinator_uploads_a_file_and_downloads_the_same_bytes(app: Any, name: str) -> None:
    data, media_type, pages = FILES[name]
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    page = _upload(coo, reference, data, name).get_data(as_text=True)
    assert "Document DOC-1 is attached and the case re-evaluated." in page
    with app.extensions["priorauth.db"].transaction() as session:
        doc = session.get(CaseDocument, 1)
        assert (doc.media_type, doc.pages, doc.sha256) == (
            media_type,
            pages,
            hashlib.sha256(data).hexdigest(),
        )
        assert Path(name).stem not in doc.stored_as
    stored = Path(app.config["INSTANCE_PATH"]) / "documents" / doc.stored_as
    assert stored.read_bytes() == data
    with coo.get(f"/cases/{reference}/documents/1") as response:
        assert response.status_code == 200 and response.get_data() == data
        assert response.mimetype == media_type
        extension = documents.ACCEPTED[media_type][1]
        assert response.headers["Content-Disposition"] == f"attachment; filename={reference}-DOC-1{extension}"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_an_uploaded_order_re_evaluates_the_case_and_the_page_shows_what_it_satisfies(app: Any) -> None:
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    page = _upload(coo, reference, FILES["scan.pdf"][0], "scan.pdf").get_data(as_text=True)
    assert f'{ORDER} <span class="muted">by DOC-1</span>' in page  # the decision panel
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert [d.why for d in case.decisions] == ["intake", "document order"]
        assert {"id": "order", "label": ORDER, "by": ["DOC-1"]} in case.decisions[-1].decision["satisfied"]
        with app.test_request_context():
            panel = render_template("cases/_documents.html", case=case, may_work=True)
    assert f'<span class="tag">{ORDER}</span>' in panel
    assert "Signed order" in panel and "2 pages" in panel and "dated 2026-11-18" in panel
    assert "PDF, TIFF, PNG or JPEG, up to 1 MB." in panel
    assert f'href="/cases/{reference}/documents/1"' in panel
    assert 'accept=".pdf,.tif,.tiff,.png,.jpg,.jpeg,application/pdf,image/tiff,image/png,image/jpeg"' in panel
    for field in re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', panel):
        assert f'<label class="label" for="{field}">' in panel, field


def test_a_text_file_named_like_a_pdf_is_refused_on_the_page_and_nothing_changes(app: Any) -> None:
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    before = _state(app)
    page = _upload(coo, reference, TEXT, "x.pdf").get_data(as_text=True)
    assert (
        "File: its name says PDF, but this looks like a text file, not a PDF, TIFF, PNG or JPEG file. "
        "Only PDF, TIFF, PNG or JPEG files are accepted: save or scan it as a PDF and upload that."
    ) in page
    assert _state(app) == before


@pytest.mark.parametrize("size", [documents.MiB + 1, documents.MiB + 512 * 1024], ids=["file", "request"])
def test_an_oversized_upload_is_refused_with_the_limit_and_nothing_is_left(app: Any, size: int) -> None:
    # just over the limit: the service refuses it; far over: the request itself is cut (413)
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    before = _state(app)
    response = _upload(coo, reference, b"%PDF-" + b"0" * (size - 5), "big.pdf")
    assert response.status_code == 200
    assert "File: the file is larger than the 1 MB limit for documents" in response.get_data(as_text=True)
    assert _state(app) == before


def test_a_file_above_the_apps_request_limit_is_taken_when_the_documents_limit_allows_it(app: Any) -> None:
    # the app takes 2 MiB in a request; the upload alone takes the documents limit
    app.config["MAX_DOCUMENT_MB"] = 3
    noise = random.Random(1).randbytes(1000 * 900 * 3)  # random pixels: PNG cannot shrink them
    out = io.BytesIO()
    Image.frombytes("RGB", (1000, 900), noise).save(out, format="PNG")
    data = out.getvalue()
    assert app.config["MAX_CONTENT_LENGTH"] < len(data) < 3 * documents.MiB
    coo = _client(app, "coo@example.org")
    page = _upload(coo, app.config["TEST_CASE"], data, "big.png").get_data(as_text=True)
    assert "Document DOC-1 is attached" in page


def test_a_limit_that_is_not_a_whole_number_of_megabytes_stops_the_app(
    tmp_path: Path, shipped_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIORAUTH_MAX_DOCUMENT_MB", "lots")
    with pytest.raises(ConfigError) as caught:
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "t", "DATABASE_URL": shipped_url})
    assert str(caught.value) == (
        "PRIORAUTH_MAX_DOCUMENT_MB is 'lots': set it to a whole number of megabytes, such as 20"
    )


def test_missing_fields_are_all_reported_at_once(app: Any) -> None:
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    token = csrf_token(coo.get(f"/cases/{reference}").get_data(as_text=True))
    page = coo.post(
        f"/cases/{reference}/documents",
        data={"csrf_token": token, "type": "selfie", "date": "18/11/2026"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "File: choose the file to upload" in page
    assert "Date: write the document&#39;s date as YYYY-MM-DD" in page
    assert "Type: choose one of the document types: order, clinical-note" in page


def test_a_coordinator_withdraws_a_document_and_its_file_stays(app: Any) -> None:
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    page = _upload(coo, reference, FILES["photo.jpg"][0], "photo.jpg").get_data(as_text=True)
    page = coo.post(
        f"/cases/{reference}/documents/1/withdraw",
        data={"csrf_token": csrf_token(page)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "DOC-1 is withdrawn (its file is kept) and the case re-evaluated." in page
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case.facts["documents"] == [] and case.decisions[-1].why == "document order withdrawn"
        assert documents.state(case.documents[0]) == "withdrawn"
        with app.test_request_context():
            panel = render_template("cases/_documents.html", case=case, may_work=True)
    assert '<span class="pill">withdrawn</span>' in panel and "/withdraw" not in panel
    assert len(_files(Path(app.config["INSTANCE_PATH"]) / "documents")) == 1
    with coo.get(f"/cases/{reference}/documents/1") as response:
        assert response.status_code == 200


def test_another_organizations_case_or_document_is_not_found(app: Any) -> None:
    reference = app.config["TEST_CASE"]
    with app.extensions["priorauth.db"].transaction() as session:
        other = Organization(slug="other", name="Other clinic")
        session.add(other)
        session.flush()
        theirs = cases.create(session, other, "x", copy.deepcopy(NO_DOCUMENTS))
        theirs_ref = theirs.reference
        documents.attach(
            session,
            theirs,
            "x",
            io.BytesIO(FILES["scan.pdf"][0]),
            type="order",
            on=None,
            root=Path(app.config["INSTANCE_PATH"]) / "documents",
        )
    coo = _client(app, "coo@example.org")
    token = csrf_token(coo.get(f"/cases/{reference}").get_data(as_text=True))
    assert coo.get(f"/cases/{theirs_ref}/documents/1").status_code == 404
    assert coo.get(f"/cases/{reference}/documents/1").status_code == 404  # their document, my case
    assert coo.post(f"/cases/{reference}/documents/1/withdraw", data={"csrf_token": token}).status_code == 404
    assert _post_file(coo, f"/cases/{theirs_ref}/documents", pdf(1), "a.pdf", token).status_code == 404
    with app.extensions["priorauth.db"].transaction() as session:
        assert session.scalar(select(func.count()).select_from(CaseDocument)) == 1


def test_managers_download_but_do_not_upload_and_analysts_do_neither(app: Any) -> None:
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    _upload(coo, reference, FILES["scan.pdf"][0], "scan.pdf")
    man = _client(app, "man@example.org")
    token = csrf_token(man.get(f"/cases/{reference}").get_data(as_text=True))
    with man.get(f"/cases/{reference}/documents/1") as response:
        assert response.status_code == 200
    assert _post_file(man, f"/cases/{reference}/documents", pdf(1), "a.pdf", token).status_code == 403
    assert man.post(f"/cases/{reference}/documents/1/withdraw", data={"csrf_token": token}).status_code == 403
    ana = _client(app, "ana@example.org")
    token = csrf_token(ana.get("/", follow_redirects=True).get_data(as_text=True))
    assert token
    assert ana.get(f"/cases/{reference}/documents/1").status_code == 403
    assert _post_file(ana, f"/cases/{reference}/documents", pdf(1), "a.pdf", token).status_code == 403
    with app.extensions["priorauth.db"].transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert len(case.documents) == 1
        with app.test_request_context():
            panel = render_template("cases/_documents.html", case=case, may_work=False)
    assert "Attach a document" not in panel and "/withdraw" not in panel and "Download" in panel


def test_an_upload_without_its_csrf_token_changes_nothing(app: Any) -> None:
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    before = _state(app)
    assert _post_file(coo, f"/cases/{reference}/documents", pdf(1), "a.pdf", "").status_code == 400
    assert _state(app) == before


def test_the_case_page_shows_the_documents_panel(app: Any) -> None:
    reference = app.config["TEST_CASE"]
    coo = _client(app, "coo@example.org")
    page = _upload(coo, reference, FILES["scan.pdf"][0], "scan.pdf").get_data(as_text=True)
    assert 'id="documents"' in page and f'<span class="tag">{ORDER}</span>' in page
    assert "Attach a document" in page


def test_a_decided_case_keeps_a_document_on_record_and_its_decision_stays(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "documents"
    ready = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
    with db.transaction() as session:
        case = cases.create(session, cases.organization(session), "coo", ready)
        cases.submit(session, case, "coo")
        cases.respond(session, case, "coo", "approved", auth_number="A-1", units=1)
        facts, decisions = json.dumps(case.facts, sort_keys=True), len(case.decisions)
        letter = documents.attach(
            session, case, "coo", io.BytesIO(pdf(1)), type="payer-letter", on=None, root=root
        )
        assert (documents.state(letter), len(case.decisions)) == ("current", decisions)
        assert json.dumps(case.facts, sort_keys=True) == facts
        with pytest.raises(cases.CaseError, match="its documents can no longer be replaced"):
            documents.attach(
                session, case, "coo", io.BytesIO(pdf(2)), type="order", on=None, replaces=letter.id, root=root
            )
