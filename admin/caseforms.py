"""Readiness forms filled from a case page, prefilled from the case's facts.

    GET  /cases/<reference>/forms/<form id>    the form: the case's saved answers, else its facts
    POST /cases/<reference>/forms/<form id>    save what was typed; the case is re-evaluated

The form is the published version (admin.app.library()). Saving keeps every answer that reads as
its question's type, even when the form is not complete yet: the case's decision then says the
form is incomplete and the case stays in packet-prep. Text that does not read (letters in a number)
is shown again with its error and is not saved. Only coordinators fill forms; managers may look.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_security import current_user

from admin import cases
from admin.access import require_roles
from admin.casepages import WORKERS, actor, case_or_404, db_session
from admin.library import Library
from admin.models_cases import Case
from admin.readiness import typed_from_request
from engine.answers import as_typed, prefill, read_typed
from engine.forms import Form

bp = Blueprint("caseforms", __name__, url_prefix="/cases")
bp.before_request(require_roles("coordinator", "manager"))


def _library() -> Library:
    from admin.app import library

    return library()


def _form(form_id: str) -> Form:
    form = _library().forms.get(form_id)
    if form is None:
        abort(404)
    return form


@bp.route("/<reference>/forms/<form_id>", methods=["GET", "POST"])
def fill(reference: str, form_id: str) -> Any:
    session = db_session()
    case = case_or_404(session, reference)
    form = _form(form_id)
    may_work = any(r.name in WORKERS for r in current_user.roles)
    saved = cases.latest_answers(session, case).get(form.id)
    errors: list[tuple[str, str]] = []
    prefilled: set[str] = set()
    status = 200
    if request.method == "POST":
        if not may_work:
            abort(403)
        typed = typed_from_request(form)
        answers, typing = read_typed(form, typed)
        visible = form.visible(answers)
        typing = [(name, message) for name, message in typing if name in visible]
        unreadable = {name for name, _ in typing}
        errors = typing + [(f, m) for f, m in form.errors(answers) if f.split(".")[0] not in unreadable]
        try:
            complete = cases.save_answers(session, case, actor(), form, answers)
            session.commit()
        except cases.CaseError as exc:
            session.rollback()
            for _field, what in exc.problems:
                flash(what, "error")
            return redirect(url_for("cases.show", reference=case.reference))
        if complete and not errors:
            flash(f"{form.title}: complete. The case was re-evaluated.", "success")
            return redirect(url_for("cases.show", reference=case.reference) + "#forms-title")
        status = 422
    else:
        if saved is not None:
            answers = dict(saved.answers)
        else:
            given = (case.facts.get("answers") or {}).get(form.id)
            given = dict(given) if isinstance(given, dict) else {}
            found = prefill(form, case.facts or {})
            prefilled = set(found) - set(given)
            answers = {**found, **given}
        typed = as_typed(form, answers)
    visible = form.visible(answers)
    by_field: dict[str, list[str]] = {}
    for field, message in errors:
        by_field.setdefault(field.split(".")[0], []).append(message)
    shown = [q for q in form.questions if q.name in visible or q.name in by_field]
    answered = sum(1 for q in shown if answers.get(q.name) not in (None, []))
    return render_template(
        "cases/form.html",
        case=case,
        form=form,
        typed=typed,
        errors=errors,
        by_field=by_field,
        visible=visible,
        prefilled=prefilled,
        saved=saved,
        stale=saved is not None and saved.form_sha256 != form.sha256,
        answered=answered,
        total=len(shown),
        may_work=may_work,
    ), status


def form_status(case: Case) -> list[dict[str, Any]]:
    """The forms the latest decision names, each with whether it is complete (for the case page)."""
    library = _library()
    answers = (case.facts or {}).get("answers") or {}
    out = []
    for form_id in (case.decision or {}).get("forms") or []:
        form = library.forms.get(form_id)
        given = answers.get(form_id) if isinstance(answers, dict) else None
        out.append(
            {
                "id": form_id,
                "title": form.title if form else form_id,
                "known": form is not None,
                "started": isinstance(given, dict) and bool(given),
                "complete": bool(form and isinstance(given, dict) and form.complete(given)),
            }
        )
    return out


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"case_forms": form_status}
