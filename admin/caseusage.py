"""The coordinator's utilization screens: the meter on the case page, recording, claims files.

    POST /cases/<reference>/usage               record units used on a day (on, units)
    POST /cases/<reference>/usage/recalculate   re-derive the used count and the stage
    GET  /cases/claims                          the claims-file page
    POST /cases/claims                          import a claims CSV: one result per line

The case page's panel (templates/cases/_usage.html) calls `usage_meter(case)`, which this
blueprint gives every template. Coordinators record; managers see the meter and the page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_security import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from admin import cases, usage
from admin.access import require_roles
from admin.casepages import WORKERS, actor, case_or_404, db_session, user_org
from admin.models_cases import Case

bp = Blueprint("caseusage", __name__, url_prefix="/cases")
bp.before_request(require_roles("coordinator", "manager"))
RACE = "Someone changed this case at the same moment, so nothing was recorded: try again."


@bp.app_context_processor
def _meter() -> dict[str, Any]:
    def usage_meter(case: Case) -> usage.Meter:
        return usage.meter(db_session(), case)

    return {"usage_meter": usage_meter}


def _apply(reference: str, action: Any) -> Any:
    """Run one change to a case and go back to its page, saying what happened (or why not)."""
    session = db_session()
    case = case_or_404(session, reference)
    try:
        message, warnings = action(session, case)
        session.commit()
    except cases.CaseError as exc:
        session.rollback()
        for field, what in exc.problems:
            label = {"on": "Date", "units": "Units"}.get(field, field.replace("_", " ").capitalize())
            flash(what if not field or field == "status" else f"{label}: {what}", "error")
        return redirect(url_for("cases.show", reference=reference))
    except (StaleDataError, IntegrityError):
        session.rollback()
        flash(RACE, "error")
        return redirect(url_for("cases.show", reference=reference))
    flash(message, "success")
    for warning in warnings:
        flash(warning, "error")
    return redirect(url_for("cases.show", reference=reference))


def _form_usage() -> tuple[date, int]:
    problems: list[tuple[str, str]] = []
    on_text, units_text = request.form.get("on", "").strip(), request.form.get("units", "").strip()
    on, units = usage.day(on_text), None
    if on is None:
        problems.append(("on", "write the date of the service as YYYY-MM-DD"))
    if units_text.isascii() and units_text.isdigit() and int(units_text) > 0:
        units = int(units_text)
    else:
        problems.append(("units", "write the units or visits used as a whole number above 0"))
    if problems or on is None or units is None:
        raise cases.CaseError(problems)
    return on, units


@bp.post("/<reference>/usage")
@require_roles(*WORKERS)
def record(reference: str) -> Any:
    def change(session: Any, case: Case) -> tuple[str, tuple[str, ...]]:
        on, units = _form_usage()
        done = usage.record(session, case, actor(), on, units, "hand")
        return (
            f"{units} unit{'s' if units != 1 else ''} on {on.isoformat()} recorded: "
            f"{case.used_units} used · stage {case.stage}.",
            done.warnings,
        )

    return _apply(reference, change)


@bp.post("/<reference>/usage/recalculate")
@require_roles(*WORKERS)
def recalculate(reference: str) -> Any:
    def change(session: Any, case: Case) -> tuple[str, tuple[str, ...]]:
        done = usage.recalculate(session, case, actor())
        if not done.changed:
            return f"Nothing to change: {done.after_units} used, stage {done.after_stage}.", ()
        return (
            f"Recalculated: {done.before_units} → {done.after_units} used, "
            f"stage {done.before_stage} → {done.after_stage}.",
            (),
        )

    return _apply(reference, change)


@bp.get("/claims")
def claims() -> Any:
    return render_template("cases/claims.html", results=None, filename=None, may_work=_may_work())


@bp.post("/claims")
@require_roles(*WORKERS)
def import_claims() -> Any:
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""
    filename = (upload.filename if upload is not None else "") or "the file"
    if not data:
        return render_template(
            "cases/claims.html",
            results=None,
            filename=None,
            may_work=True,
            error="Choose a claims CSV file to import (it was empty or missing).",
        ), 400
    session = db_session()
    try:
        results = usage.import_file(session, user_org(session), actor(), data)
        session.commit()
    except (StaleDataError, IntegrityError):
        session.rollback()
        error = (
            "A case in the file changed at the same moment, so nothing was recorded: upload the file "
            "again (lines already recorded are counted once)."
        )
        return render_template(
            "cases/claims.html", results=None, filename=filename, may_work=True, error=error
        ), 409
    return render_template(
        "cases/claims.html",
        results=results,
        filename=filename,
        may_work=True,
        counts={o: sum(r.outcome == o for r in results) for o in ("recorded", "already recorded")},
        failed=sum(r.failed for r in results),
    )


def _may_work() -> bool:
    return any(r.name in WORKERS for r in current_user.roles)
