"""A case's documents on the case page: upload, download, withdraw (admin/documents.py does the work).

    POST /cases/<reference>/documents                    upload (multipart: file, type, date, title)
    GET  /cases/<reference>/documents/<doc id>           download, as an attachment
    POST /cases/<reference>/documents/<doc id>/withdraw  out of the case's facts; the file stays
    GET  /cases/<reference>/documents                    the case page, at its documents panel

Coordinators upload and withdraw; managers may look and download. Another organization's case or
document is "not found". A refusal comes back as a message on the case page and changes nothing.

The app takes at most MAX_CONTENT_LENGTH (2 MiB) in a request; the upload alone takes the document
limit (MAX_DOCUMENT_MB, from PRIORAUTH_MAX_DOCUMENT_MB, default 20) plus room for the other fields.
It is raised in a URL value preprocessor because those run before any `before_request`, and
CSRFProtect's reads the form.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, send_file, url_for
from flask.blueprints import BlueprintSetupState
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import RequestEntityTooLarge

from admin import cases, documents
from admin.access import require_roles
from admin.casepages import WORKERS, actor, case_or_404, change, db_session
from admin.config import ConfigError
from admin.models_cases import Case, CaseDocument
from engine import lifecycle

bp = Blueprint("casedocs", __name__, url_prefix="/cases")
bp.before_request(require_roles("coordinator", "manager"))
SLACK = 64 * 1024  # the other fields and the multipart framing around the file
ACCEPT = ".pdf,.tif,.tiff,.png,.jpg,.jpeg,application/pdf,image/tiff,image/png,image/jpeg"


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    """MAX_DOCUMENT_MB from PRIORAUTH_MAX_DOCUMENT_MB unless the app's configuration has it."""
    config = state.app.config
    if "MAX_DOCUMENT_MB" not in config:
        config["MAX_DOCUMENT_MB"] = os.environ.get("PRIORAUTH_MAX_DOCUMENT_MB") or documents.DEFAULT_LIMIT_MB
    value = config["MAX_DOCUMENT_MB"]
    try:
        megabytes = int(value)
    except (TypeError, ValueError):
        megabytes = 0
    if megabytes < 1 or str(megabytes) != str(value).strip():
        raise ConfigError(
            f"PRIORAUTH_MAX_DOCUMENT_MB is '{value}': set it to a whole number of megabytes, such as 20"
        )
    config["MAX_DOCUMENT_MB"] = megabytes


def limit() -> int:
    return int(current_app.config["MAX_DOCUMENT_MB"]) * documents.MiB


def folder() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "documents"


@bp.url_value_preprocessor
def _room_for_the_file(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    if endpoint == "casedocs.upload":
        request.max_content_length = limit() + SLACK


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> Any:
    flash(
        f"File: the file is larger than the {documents.human_size(limit())} limit for documents: "
        "scan it at a lower resolution, or split it, and upload again.",
        "error",
    )
    reference = (request.view_args or {}).get("reference", "")
    return redirect(url_for("casedocs.show", reference=reference))


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "document_types": documents.TYPES,
        "document_satisfies": documents.satisfies,
        "document_state": documents.state,
        "document_open": lambda case: case.status in lifecycle.OPEN or case.status in documents.ON_RECORD,
        "document_replaceable": lambda case: case.status in lifecycle.OPEN,
        "document_size": documents.human_size,
        "document_limit": lambda: documents.human_size(limit()),
        "document_accept": ACCEPT,
        "document_accepted_text": documents.ACCEPTED_TEXT,
    }


@bp.get("/<reference>/documents")
def show(reference: str) -> Any:
    """Where casepages.change sends people back to: the case page, at its documents."""
    return redirect(url_for("cases.show", reference=reference, _anchor="documents"))


def _document_or_404(case: Case, doc_id: int) -> CaseDocument:
    for document in case.documents:
        if document.id == doc_id:
            return document
    abort(404)  # another case's document is not found either, whoever's it is


def _day(text: str) -> tuple[date | None, list[tuple[str, str]]]:
    text = text.strip()
    if not text:
        return None, []
    try:
        return date.fromisoformat(text), []
    except ValueError:
        return None, [("date", "write the document's date as YYYY-MM-DD")]


@bp.post("/<reference>/documents")
@require_roles(*WORKERS)
def upload(reference: str) -> Any:
    form = request.form
    upload = request.files.get("file")
    type_, title = form.get("type", ""), form.get("title", "")
    replaces = form.get("replaces", "").strip()
    made: list[CaseDocument] = []

    def attach(session: Any, case: Case) -> CaseDocument:
        on, wrong = _day(form.get("date", ""))
        if upload is None or not upload.filename:
            wrong.insert(0, ("file", "choose the file to upload"))
        if replaces and not replaces.isdigit():
            wrong.append(("replaces", "choose the document this one replaces from the list"))
        wrong += documents.problems(case, type_, title, int(replaces) if replaces.isdigit() else None)
        if wrong or upload is None:
            raise cases.CaseError(wrong)
        document = documents.attach(
            session,
            case,
            actor(),
            upload.stream,
            type=type_,
            on=on,
            title=title,
            filename_hint=upload.filename,
            replaces=int(replaces) if replaces else None,
            root=folder(),
            limit=limit(),
        )
        made.append(document)
        return document

    try:
        return change(reference, attach, "Document DOC-{result.id} is attached and the case re-evaluated.")
    except Exception as exc:
        db_session().rollback()
        for document in made:  # the commit failed: the file must not outlive its row
            (folder() / document.stored_as).unlink(missing_ok=True)
        if isinstance(exc, StaleDataError):
            flash(
                "Someone changed this case at the same moment: nothing was saved. Upload it again.", "error"
            )
            return redirect(url_for("casedocs.show", reference=reference))
        raise


@bp.get("/<reference>/documents/<int:doc_id>")
def download(reference: str, doc_id: int) -> Any:
    case = case_or_404(db_session(), reference)
    document = _document_or_404(case, doc_id)
    try:
        path = documents.open_file(case, document, root=folder())
    except cases.CaseError as exc:
        current_app.logger.error("document %s of case %s: %s", doc_id, case.reference, exc)
        flash(str(exc.problems[0][1]).capitalize() + ".", "error")
        return redirect(url_for("casedocs.show", reference=reference))
    return private_file(path, document.media_type, documents.download_name(case, document))


def private_file(path: Path, media_type: str, name: str) -> Any:
    """A patient's file as a download: never cached anywhere, never sniffed as another type."""
    response = send_file(
        path,
        mimetype=media_type,
        as_attachment=True,
        download_name=name,
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/<reference>/documents/<int:doc_id>/withdraw")
@require_roles(*WORKERS)
def withdraw(reference: str, doc_id: int) -> Any:
    _document_or_404(case_or_404(db_session(), reference), doc_id)
    return change(
        reference,
        lambda s, c: documents.withdraw(s, c, actor(), doc_id),
        "DOC-{result.id} is withdrawn (its file is kept) and the case re-evaluated.",
    )
