"""Faxed replies in the browser: the inbound queue, one fax, matching it and recording what it says.

    GET  /faxes/                     the inbound queue (unmatched first), and an upload form
    POST /faxes/                     take a faxed reply in (PDF or TIFF): read, matched or queued
    GET  /faxes/<id>                 one fax: its text, what it seems to say and why, its case
    GET  /faxes/<id>/file            the fax itself
    POST /faxes/<id>/match           a person says which case (by reference)
    POST /faxes/<id>/unmatch         "not this case"
    POST /faxes/<id>/record          the coordinator confirms the response (never automatic)
    POST /faxes/<id>/dismiss         not a reply to any case

Coordinators work faxes; managers look. A fax of another organization is "not found".
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy.orm.exc import StaleDataError

from admin import cases, documents, inbound
from admin.access import require_roles
from admin.casedocs import folder as documents_folder
from admin.casedocs import private_file
from admin.casepages import LABELS, WORKERS, actor, db_session, user_org
from admin.models_cases import Case
from admin.models_packets import InboundFax

bp = Blueprint("faxes", __name__, url_prefix="/faxes")
bp.before_request(require_roles("coordinator", "manager"))
SLACK = 64 * 1024


def folder() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "faxes"


@bp.url_value_preprocessor
def _room_for_the_file(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    if endpoint == "faxes.upload":
        request.max_content_length = inbound.MAX_BYTES + SLACK


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"faxes_of_case": lambda case: inbound.of_case(db_session(), case)}


def _fax_or_404(fax_id: int) -> InboundFax:
    session = db_session()
    try:
        return inbound.find(session, user_org(session), fax_id)
    except cases.CaseError:
        abort(404)


@bp.get("/")
def index() -> Any:
    session = db_session()
    org = user_org(session)
    state = request.args.get("state") or None
    if state not in (None, *inbound.STATES):
        abort(400)
    words = request.args.get("q", "").strip()[:200]
    rows = inbound.inbox(session, org, state, words)
    references = {
        c.id: c.reference
        for c in session.query(Case).filter(Case.id.in_({r.case_id for r in rows if r.case_id}))
    }
    counts = inbound.counts(session, org)
    return render_template(
        "faxes/index.html",
        rows=rows,
        state=state,
        words=words,
        counts=counts,
        references=references,
        limit=documents.human_size(inbound.MAX_BYTES),
    )


@bp.post("/")
@require_roles(*WORKERS)
def upload() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("File: choose the faxed reply to upload.", "error")
        return redirect(url_for("faxes.index"))
    session = db_session()
    try:
        fax = inbound.ingest(
            session,
            user_org(session),
            actor(),
            upload.stream,
            source="upload",
            filename_hint=upload.filename,
            root=folder(),
        )
        session.commit()
    except cases.CaseError as exc:
        session.rollback()
        for field, what in exc.problems:
            flash(f"{'File: ' if field == 'file' else ''}{what.rstrip('.')}.", "error")
        return redirect(url_for("faxes.index"))
    flash(_said(fax), "success" if fax.case_id else "info")
    return redirect(url_for("faxes.show", fax_id=fax.id))


def _said(fax: InboundFax) -> str:
    if fax.case_id is None:
        return f"Fax {fax.id} is read but matches no single case: say which case it answers."
    return f"Fax {fax.id} is read and matched by {fax.matched_by.replace('-', ' ') if fax.matched_by else 'a person'}."


@bp.get("/<int:fax_id>")
def show(fax_id: int) -> Any:
    fax = _fax_or_404(fax_id)
    case = db_session().get(Case, fax.case_id) if fax.case_id else None
    return render_template("faxes/fax.html", fax=fax, case=case, s=fax.suggestion or {}, today=date.today())


@bp.get("/<int:fax_id>/file")
def download(fax_id: int) -> Any:
    fax = _fax_or_404(fax_id)
    try:
        path = inbound.open_fax(fax, root=folder())
    except cases.CaseError as exc:
        flash(str(exc.problems[0][1]).capitalize() + ".", "error")
        return redirect(url_for("faxes.show", fax_id=fax_id))
    suffix = documents.ACCEPTED.get(fax.media_type, ("", ".bin"))[1]
    return private_file(path, fax.media_type, f"inbound-fax-{fax.id}{suffix}")


def _act(fax_id: int, action: Any, done: str) -> Any:
    session = db_session()
    fax = _fax_or_404(fax_id)
    try:
        result = action(session, fax)
        session.commit()
    except cases.CaseError as exc:
        session.rollback()
        for field, what in exc.problems:
            label = LABELS.get(field, field.replace("_", " ").capitalize())
            flash(what if not field or field in ("status", "fax") else f"{label}: {what}", "error")
        return redirect(url_for("faxes.show", fax_id=fax_id))
    except StaleDataError:
        session.rollback()
        flash("Someone changed this case at the same moment: nothing was saved. Try again.", "error")
        return redirect(url_for("faxes.show", fax_id=fax_id))
    flash(done.format(result=result), "success")
    return redirect(url_for("faxes.show", fax_id=fax_id))


@bp.post("/<int:fax_id>/match")
@require_roles(*WORKERS)
def match(fax_id: int) -> Any:
    reference = request.form.get("reference", "").strip().upper()

    def assign(session: Any, fax: InboundFax) -> Any:
        if not reference:
            raise cases.CaseError([("reference", "type the case's reference (PA-...)")])
        return inbound.assign(session, fax, cases.get(session, user_org(session), reference), actor())

    return _act(fax_id, assign, f"Fax {fax_id} is matched to {reference}.")


@bp.post("/<int:fax_id>/unmatch")
@require_roles(*WORKERS)
def unmatch(fax_id: int) -> Any:
    return _act(
        fax_id, lambda s, f: inbound.unassign(s, f, actor()), f"Fax {fax_id} is back in the inbound queue."
    )


@bp.post("/<int:fax_id>/dismiss")
@require_roles(*WORKERS)
def dismiss(fax_id: int) -> Any:
    return _act(fax_id, lambda s, f: inbound.dismiss(s, f, actor()), f"Fax {fax_id} is dismissed.")


@bp.post("/<int:fax_id>/record")
@require_roles(*WORKERS)
def record(fax_id: int) -> Any:
    form = request.form
    wrong: list[tuple[str, str]] = []

    def day(name: str) -> date | None:
        text = form.get(name, "").strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            wrong.append((name, "write the date as YYYY-MM-DD"))
            return None

    def units() -> int | None:
        text = form.get("units", "").strip()
        if not text:
            return None
        if not text.isdigit():
            wrong.append(("units", "write a whole number"))
            return None
        return int(text)

    def confirm(session: Any, fax: InboundFax) -> Any:
        details = {
            "auth_number": form.get("auth_number", "").strip() or None,
            "units": units(),
            "start": day("start"),
            "end": day("end"),
            "reason": form.get("reason", "").strip() or None,
            "code": form.get("code", "").strip() or None,
            "asked": form.get("asked", "").strip() or None,
            "due": day("due"),
        }
        if wrong:
            raise cases.CaseError(wrong)
        return inbound.record(
            session,
            fax,
            actor(),
            form.get("status", ""),
            root=folder(),
            documents_root=documents_folder(),
            **details,
        )

    return _act(
        fax_id, confirm, "The payer's response is recorded on {result.reference}, with the fax as its letter."
    )
