"""A case's packet and faxes on the case page (admin/packets.py and admin/faxes.py do the work).

    POST /cases/<reference>/packets                    build (kind: final | draft)
    GET  /cases/<reference>/packets/<version>          the PDF, as a download
    POST /cases/<reference>/fax                        fax the final packet (provider, optional number)
    POST /cases/<reference>/fax/refresh                ask the providers how the faxes are doing
    POST /cases/<reference>/fax/<job id>/cancel        withdraw a fax not yet sent
    GET  /cases/<reference>/packets                    the case page, at its packet panel

Coordinators build and send; managers may look and download. Another organization's case or
packet is "not found". A refusal is a message on the case page and changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for

from admin import cases, faxes, packets
from admin.access import require_roles
from admin.casedocs import folder as documents_folder
from admin.casedocs import private_file
from admin.casepages import WORKERS, actor, case_or_404, change, db_session
from engine.packets import PacketBlocked

bp = Blueprint("casepackets", __name__, url_prefix="/cases")
bp.before_request(require_roles("coordinator", "manager"))


def packets_folder() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "packets"


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    def panel(case: Any) -> dict[str, Any]:
        session = db_session()
        trouble = None
        try:
            preview = packets.plan(session, case)
        except cases.CaseError as exc:
            preview, trouble = None, "; ".join(what for _, what in exc.problems)
        return {
            "preview": preview,
            "trouble": trouble,
            "versions": packets.packets_of(session, case),
            "jobs": faxes.jobs_of(session, case),
            "providers": faxes.provider_names(),
            "number": faxes.number_for(session, case),
        }

    return {"packet_panel": panel}


@bp.get("/<reference>/packets")
def show(reference: str) -> Any:
    return redirect(url_for("cases.show", reference=reference, _anchor="packet"))


def _blocked(reference: str, exc: PacketBlocked) -> Any:
    db_session().rollback()
    flash("A final packet cannot be built yet: " + "; ".join(exc.reasons) + ".", "error")
    return redirect(url_for("casepackets.show", reference=reference))


@bp.post("/<reference>/packets")
@require_roles(*WORKERS)
def build(reference: str) -> Any:
    kind = request.form.get("kind", "final")
    if kind not in ("final", "draft"):
        abort(400)

    def make(session: Any, case: Any) -> Any:
        return packets.build(
            session, case, actor(), kind, root=packets_folder(), documents_root=documents_folder()
        ).row

    try:
        response = change(
            reference,
            make,
            "Packet v{result.version} ({result.kind}, {result.pages} pages) is ready to download.",
        )
    except PacketBlocked as exc:
        return _blocked(reference, exc)
    return _to_panel(response, reference)


@bp.get("/<reference>/packets/<int:version>")
def download(reference: str, version: int) -> Any:
    case = case_or_404(db_session(), reference)
    try:
        row = packets.find(db_session(), case, version)
        path = packets.open_packet(case, row, root=packets_folder())
    except cases.CaseError as exc:
        if "has no packet" in exc.problems[0][1]:
            abort(404)
        current_app.logger.error("packet v%s of case %s: %s", version, case.reference, exc)
        flash(str(exc.problems[0][1]).capitalize() + ".", "error")
        return redirect(url_for("casepackets.show", reference=reference))
    return private_file(path, "application/pdf", packets.download_name(case, row))


@bp.post("/<reference>/fax")
@require_roles(*WORKERS)
def send(reference: str) -> Any:
    provider = request.form.get("provider", "")
    number = request.form.get("to", "").strip() or None
    retry = request.form.get("retry") == "1"

    def fax(session: Any, case: Any) -> Any:
        return faxes.send(
            session,
            case,
            actor(),
            provider,
            to_number=number,
            retry=retry,
            packet_root=packets_folder(),
            documents_root=documents_folder(),
        )

    try:
        response = change(reference, fax, "Fax job {result.id} to {result.to_number}: {result.state}.")
    except PacketBlocked as exc:
        return _blocked(reference, exc)
    return _to_panel(response, reference)


@bp.post("/<reference>/fax/refresh")
@require_roles(*WORKERS)
def refresh(reference: str) -> Any:
    response = change(
        reference,
        lambda session, case: faxes.poll(session, case=case),
        "Fax states checked: {result[changed]} changed, {result[unanswered]} could not be reached.",
    )
    return _to_panel(response, reference)


@bp.post("/<reference>/fax/<int:job_id>/cancel")
@require_roles(*WORKERS)
def cancel(reference: str, job_id: int) -> Any:
    response = change(
        reference,
        lambda session, case: faxes.cancel(session, case, actor(), job_id),
        "Fax job {result.id} is {result.state}.",
    )
    return _to_panel(response, reference)


def _to_panel(response: Any, reference: str) -> Any:
    """Back to the case page at the packet panel (change() sends people to the page's top)."""
    if getattr(response, "status_code", None) in (301, 302, 303):
        return redirect(url_for("cases.show", reference=reference, _anchor="packet"))
    return response
