"""Packets and outbound faxes for a case: the service on SQLite and PostgreSQL, the CLI and the page.

A packet is a new version per build (nothing replaced), stored by sha256 with the decision it was
built from; a final one is refused while anything is missing. A fax sends the final packet once
per packet and number, through a real provider (the spool folder here; HylaFAX is tested with
stand-ins in tests/connectors/test_fax_providers.py).
"""

from __future__ import annotations

import copy
import io
import json
import os
import stat
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select
from weasyprint import HTML

from admin import cases, create_app, documents, faxes, packets
from admin.db import Database
from admin.models import AuditEvent
from admin.models_packets import CasePacket, FaxJob
from connectors.fax.base import FaxError
from engine.packets import PacketBlocked
from tests.accounts import add_user, csrf_token, sign_in
from tests.conftest import publish_shipped

ROOT = Path(__file__).resolve().parents[2]
PRIORAUTH = ROOT / ".venv" / "bin" / "priorauth"
# acme's lumbar MRI, ready but for its documents: the order and a recent note must be attached
READY = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
READY["documents"] = []
READY["patient"]["name"] = "Rivera, Sam"


def order_pdf() -> bytes:
    return HTML(string="<h1>SIGNED ORDER</h1><p>MRI lumbar spine</p>").write_pdf()


def note_tiff() -> bytes:
    page = Image.new("1", (1728, 2156), 1)
    out = io.BytesIO()
    page.save(out, "TIFF", compression="group4", dpi=(204, 196), save_all=True, append_images=[page.copy()])
    return out.getvalue()


@pytest.fixture
def db(empty_db: Database) -> Database:
    publish_shipped(empty_db)
    return empty_db


def _case(session: Any, with_documents: bool = True) -> Any:
    case = cases.create(session, cases.organization(session), "coo", copy.deepcopy(READY))
    if with_documents:
        documents.attach(
            session, case, "coo", io.BytesIO(order_pdf()), type="order", on=date.today(), title="Order"
        )
        documents.attach(
            session,
            case,
            "coo",
            io.BytesIO(note_tiff()),
            type="clinical-note",
            on=date.today(),
            title="Visit",
        )
    return case


def test_a_ready_case_gets_a_final_packet_stored_by_sha256_with_its_decision(db: Database) -> None:
    with db.transaction() as session:
        case = _case(session)
        assert case.decision["ready"] is True
        built = packets.build(session, case, "coo", "auto")
        row = built.row
        assert (row.version, row.kind, built.unchanged) == (1, "final", False)
        assert row.decision_id == case.decisions[-1].id
        assert (row.ruleset_id, row.template_id) == ("acme-commercial", built.packet.template)
        assert [a["id"] for a in row.contents["attachments"]] == [f"DOC-{d.id}" for d in case.documents]
        path = packets.open_packet(case, row)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "packet")).one()
    assert documents.sha256_of(path) == row.sha256 and path.stat().st_size == row.size
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(PdfReader(path).pages) == row.pages
    assert event.after["sha256"] == row.sha256 and event.after["kind"] == "final"
    assert "Rivera" not in json.dumps(event.after)


def test_building_again_with_nothing_changed_gives_the_same_version_and_a_change_makes_a_new_one(
    db: Database,
) -> None:
    with db.transaction() as session:
        case = _case(session)
        first = packets.build(session, case, "coo", "final").row
        again = packets.build(session, case, "coo", "final")
        assert again.unchanged and again.row.id == first.id
        documents.attach(
            session,
            case,
            "coo",
            io.BytesIO(order_pdf()),
            type="other",
            on=date.today(),
            title="Fax from the PT clinic",
        )
        second = packets.build(session, case, "coo", "final").row
        assert (second.version, first.version) == (2, 1)
        old = packets.open_packet(case, first)  # the old version is kept, unchanged
        assert documents.sha256_of(old) == first.sha256
        assert [p.version for p in packets.packets_of(session, case)] == [2, 1]


def test_missing_items_block_a_final_packet_and_nothing_is_stored(db: Database) -> None:
    with db.transaction() as session:
        case = _case(session, with_documents=False)
        with pytest.raises(PacketBlocked) as refused:
            packets.build(session, case, "coo", "final")
        assert refused.value.reasons == (
            "missing: Signed order from the ordering clinician",
            "missing: Clinical note from the last 60 days",
        )
        assert session.scalar(select(func.count()).select_from(CasePacket)) == 0
        draft = packets.build(session, case, "coo", "auto").row
        assert draft.kind == "draft" and draft.contents["blocked"] == list(refused.value.reasons)


def test_a_document_changed_on_disk_stops_the_packet_and_says_so(db: Database) -> None:
    with db.transaction() as session:
        case = _case(session)
        stored = documents.default_root() / case.documents[0].stored_as
        stored.write_bytes(order_pdf() + b"%tampered")
        with pytest.raises(cases.CaseError) as refused:
            packets.build(session, case, "coo", "final")
    assert refused.value.problems == [
        (
            "document",
            f"the file of DOC-{case.documents[0].id} changed on disk: IT must restore it from backup",
        )
    ]


# -- faxing ----------------------------------------------------------------------------------------
def _spool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    spool = tmp_path / "spool"
    monkeypatch.setenv("PRIORAUTH_FAX_SPOOL", str(spool))
    return spool


def _server_moves(spool: Path, key: str, to: str, result: dict[str, Any] | None = None) -> None:
    """What a fax server watching the spool does: outgoing -> sending -> done/failed."""
    (spool / to).mkdir(exist_ok=True)
    for path in list((spool / "outgoing").glob(f"{key}.*")) + list((spool / "sending").glob(f"{key}.*")):
        os.replace(path, spool / to / path.name)
    if result is not None:
        (spool / to / f"{key}.result.json").write_text(json.dumps(result))


def test_a_fax_goes_out_once_through_the_spool_and_its_states_are_kept_on_the_case(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = _spool(monkeypatch, tmp_path)
    with db.transaction() as session:
        case = _case(session)
        job = faxes.send(session, case, "coo", "spool")
        key = job.idempotency_key
        assert (job.state, job.to_number, job.provider) == ("queued", "+15555550100", "spool")
        assert key == f"{case.reference}.packet-1.15555550100"
        tiff = spool / "outgoing" / f"{key}.tif"
        with Image.open(tiff) as image:
            assert (image.width, image.n_frames) == (1728, job.pages_total)
        again = faxes.send(session, case, "coo", "spool")
        assert again.id == job.id  # the same packet to the same number: never twice
        assert sorted(p.name for p in (spool / "outgoing").iterdir()) == [f"{key}.json", f"{key}.tif"]
        reference = case.reference
    _server_moves(spool, key, "sending")
    with db.transaction() as session:
        assert faxes.poll(session) == {"changed": 1, "unanswered": 0}
    _server_moves(spool, key, "done", {"state": "delivered", "reason": "", "pages_sent": 9, "attempts": 1})
    with db.transaction() as session:
        faxes.poll(session)
        row = session.scalars(select(FaxJob)).one()
        case = cases.get(session, cases.organization(session), reference)
        assert [h["state"] for h in row.history] == ["queued", "sending", "delivered"]
        assert (row.state, row.pages_sent) == ("delivered", 9)
        # the payer has it: the case is submitted, with the fax as its reference
        assert case.status == "submitted" and case.submission_reference == f"fax job {row.id} (spool)"
        actions = [
            e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == reference))
        ]
    assert actions.count("fax") == 1 and actions.count("fax-state") == 2 and "submit" in actions


def test_a_failed_fax_is_sent_again_only_when_asked_and_with_a_new_key(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = _spool(monkeypatch, tmp_path)
    with db.transaction() as session:
        case = _case(session)
        first = faxes.send(session, case, "coo", "spool")
        key = first.idempotency_key
    _server_moves(spool, key, "failed", {"state": "failed", "reason": "busy", "pages_sent": 0, "attempts": 3})
    with db.transaction() as session:
        faxes.poll(session)
        case = session.get(type(case), case.id)
        assert faxes.send(session, case, "coo", "spool").state == "failed"  # the same job, not a resend
        retry = faxes.send(session, case, "coo", "spool", retry=True)
        assert retry.idempotency_key == f"{key}.try-2" and retry.state == "queued"
        with pytest.raises(cases.CaseError, match="already queued"):
            faxes.send(session, case, "coo", "spool", retry=True)


def test_a_case_that_is_not_ready_is_not_faxed_and_a_fax_server_that_does_not_answer_leaves_nothing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _spool(monkeypatch, tmp_path)
    with db.transaction() as session, pytest.raises(PacketBlocked):
        faxes.send(session, _case(session, with_documents=False), "coo", "spool")

    class Down:
        def send(self, *args: Any) -> Any:
            raise FaxError("the fax server did not answer")

    # the packet version built for it (PDF and fax TIFF) goes with the rolled-back request
    root = tmp_path / "packets"
    refused = pytest.raises(cases.CaseError, match=r"did not take the fax .*: try again")
    with refused, db.transaction() as session:
        case = _case(session)
        faxes.send(session, case, "coo", "hylafax", make=lambda name: Down(), packet_root=root)
    assert sorted(p.suffix for p in root.rglob("*") if p.is_file()) == []
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(FaxJob)) == 0
        assert session.scalar(select(func.count()).select_from(CasePacket)) == 0
    # and a request that lands keeps both
    with db.transaction() as session:
        case = _case(session)
        faxes.send(session, case, "coo", "spool", packet_root=root)
    assert sorted(p.suffix for p in root.rglob("*") if p.is_file()) == [".pdf", ".tif"]


# -- the command line ------------------------------------------------------------------------------
def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PRIORAUTH), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        cwd=ROOT,
    )


def test_packets_build_and_fax_send_from_the_command_line(shipped_url: str, tmp_path: Path) -> None:
    env = {"PRIORAUTH_DATABASE_URL": shipped_url, "PRIORAUTH_INSTANCE_PATH": str(tmp_path / "instance")}
    os.environ.update(env)
    try:
        db = Database(shipped_url)
        with db.transaction() as session:
            reference = _case(session, with_documents=False).reference
        db.dispose()
    finally:
        for name in env:
            os.environ.pop(name)
    out = tmp_path / "packet.pdf"
    draft = _cli(env, "packets", "build", reference, "--out", str(out), "--tiff", str(tmp_path / "p.tif"))
    assert draft.returncode == 0, draft.stderr
    assert "a DRAFT, not final, because:" in draft.stderr
    assert "  - missing: Signed order from the ordering clinician" in draft.stderr
    assert draft.stdout.startswith(f"{reference}: packet v1 (draft), ")
    with Image.open(tmp_path / "p.tif") as tiff:
        assert len(PdfReader(out).pages) == tiff.n_frames
    final = _cli(env, "packets", "build", reference, "--out", str(out), "--final")
    assert final.returncode == 1 and "Traceback" not in final.stderr
    assert final.stderr.startswith(f"priorauth: {reference}: a final packet cannot be built yet: missing: ")
    listed = _cli(env, "packets", "list", reference)
    assert listed.stdout.startswith("v1  draft")
    fax = _cli(env, "fax", "send", reference, "--provider", "spool")
    assert fax.returncode == 1 and "a final packet cannot be built yet" in fax.stderr
    unknown = _cli(env, "packets", "build", "PA-NOSUCH00", "--out", str(out))
    assert (unknown.returncode, unknown.stderr) == (1, "priorauth: there is no case PA-NOSUCH00\n")


# -- the case page ---------------------------------------------------------------------------------
@pytest.fixture
def app(tmp_path: Path, shipped_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PRIORAUTH_FAX_SPOOL", str(tmp_path / "spool"))
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "t", "DATABASE_URL": shipped_url})
    add_user(app, "coo@example.org", "coordinator", totp=True)
    add_user(app, "boss@example.org", "manager", totp=True)
    return app


def _made(app: Any, with_documents: bool = True) -> str:
    db = app.extensions["priorauth.db"]
    root = Path(app.config["INSTANCE_PATH"]) / "documents"
    with db.transaction() as session:
        case = cases.create(session, cases.organization(session), "coo", copy.deepcopy(READY))
        if with_documents:
            for data, kind in ((order_pdf(), "order"), (note_tiff(), "clinical-note")):
                documents.attach(
                    session, case, "coo", io.BytesIO(data), type=kind, on=date.today(), root=root
                )
        return str(case.reference)


def test_a_coordinator_builds_downloads_and_faxes_the_packet_from_the_case_page(app: Any) -> None:
    reference = _made(app)
    client = app.test_client()
    assert sign_in(client, app, "coo@example.org").status_code == 302
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Packet for the payer" in page and "Build final packet" in page
    token = csrf_token(page)
    built = client.post(f"/cases/{reference}/packets", data={"kind": "final", "csrf_token": token})
    assert built.status_code == 302 and built.headers["Location"].endswith(f"/cases/{reference}#packet")
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Packet v1 (final, " in page and f"/cases/{reference}/packets/1" in page
    with client.get(f"/cases/{reference}/packets/1") as pdf:
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
        assert pdf.headers["Cache-Control"] == "no-store"
        assert f"{reference}-packet-v1.pdf" in pdf.headers["Content-Disposition"]
    assert client.get(f"/cases/{reference}/packets/7").status_code == 404
    sent = client.post(f"/cases/{reference}/fax", data={"provider": "spool", "to": "", "csrf_token": token})
    assert sent.status_code == 302
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "to +15555550100: queued." in page and 'class="pill fax-queued"' in page


def test_a_manager_may_download_but_not_build_or_fax(app: Any) -> None:
    reference = _made(app)
    client = app.test_client()
    assert sign_in(client, app, "boss@example.org").status_code == 302
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Packet for the payer" in page and "Build final packet" not in page
    token = csrf_token(page)
    assert (
        client.post(f"/cases/{reference}/packets", data={"kind": "final", "csrf_token": token}).status_code
        == 403
    )
    assert (
        client.post(f"/cases/{reference}/fax", data={"provider": "spool", "csrf_token": token}).status_code
        == 403
    )


def test_a_blocked_final_packet_is_a_message_on_the_page_not_an_error(app: Any) -> None:
    reference = _made(app, with_documents=False)
    client = app.test_client()
    assert sign_in(client, app, "coo@example.org").status_code == 302
    token = csrf_token(client.get(f"/cases/{reference}").get_data(as_text=True))
    response = client.post(f"/cases/{reference}/packets", data={"kind": "final", "csrf_token": token})
    assert response.status_code == 302
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "A final packet cannot be built yet: missing: Signed order from the ordering clinician" in page
    no_csrf = client.post(f"/cases/{reference}/packets", data={"kind": "draft"})
    assert no_csrf.status_code == 400


def test_a_fax_delivered_after_the_case_stopped_being_ready_leaves_the_case_to_a_person(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = _spool(monkeypatch, tmp_path)
    with db.transaction() as session:
        case = _case(session)
        key = faxes.send(session, case, "coo", "spool").idempotency_key
        documents.withdraw(session, case, "coo", case.documents[0].id)  # the order is taken back
        assert case.decision["ready"] is False
        reference = case.reference
    _server_moves(spool, key, "done", {"state": "delivered", "reason": "", "pages_sent": 9, "attempts": 1})
    with db.transaction() as session:
        assert faxes.poll(session) == {"changed": 1, "unanswered": 0}
        case = cases.get(session, cases.organization(session), reference)
        assert case.status == "draft" and session.scalars(select(FaxJob)).one().state == "delivered"


def test_the_server_follows_faxes_in_the_background(
    app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from admin import sweeper

    spool = tmp_path / "spool"
    reference = _made(app)
    with app.extensions["priorauth.db"].transaction() as session:
        case = cases.get(session, cases.organization(session), reference)
        documents_root = Path(app.config["INSTANCE_PATH"]) / "documents"
        key = faxes.send(session, case, "coo", "spool", documents_root=documents_root).idempotency_key
    _server_moves(spool, key, "done", {"state": "delivered", "reason": "", "pages_sent": 9, "attempts": 1})
    follower = sweeper.start_fax_status(app, seconds=60)  # a first round at once
    assert follower.done_once.wait(60)
    follower.stop(wait=60)
    with app.extensions["priorauth.db"].transaction() as session:
        assert session.scalars(select(FaxJob)).one().state == "delivered"
        assert cases.get(session, cases.organization(session), reference).status == "submitted"
