"""New cases and their facts, in the browser.

    GET  /cases/new                  a case typed in (the worklist's columns), or files to import
    POST /cases/new                  one case from the fields: evaluated, then its page
    POST /cases/import               FHIR Bundles, worklist CSVs, case facts JSON: a report per file
    GET  /cases/<reference>/facts    the case's facts to correct: the same fields, or all as JSON
    POST /cases/<reference>/facts    new facts: the case is re-evaluated (its history says "facts")

The fields are read exactly as a worklist row (connectors/worklist.py), so the page, the CSV and
the command line agree on what a date, a code or an NPI is. A refused case changes nothing: the
page comes back with every problem beside its field and what was typed kept.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_security import current_user
from sqlalchemy import select

from admin import cases, intake
from admin.access import require_roles
from admin.casepages import WORKERS, actor, case_or_404, db_session, user_org
from admin.models import Payer
from connectors.worklist import COLUMNS, fields_of, read_fields
from engine import lifecycle

bp = Blueprint("caseintake", __name__, url_prefix="/cases")
bp.before_request(require_roles(*WORKERS))

MAX_FILES = 20
#: the fields of the page, in order: (worklist column, label, input kind, choices or hint)
FIELDS: tuple[tuple[str, str, str, Any], ...] = (
    ("payer", "Payer", "payer", None),
    ("plan_type", "Plan type", "text", "e.g. commercial, medicare-advantage, medicaid"),
    ("member_id", "Member id", "text", None),
    ("eligibility", "Eligibility", "select", ("", "active", "inactive", "unknown")),
    ("patient_id", "Patient id (MRN)", "text", None),
    ("patient_name", "Patient name (Family, Given)", "text", None),
    ("birth_date", "Birth date", "date", None),
    ("sex", "Sex", "select", ("", "F", "M", "O", "U")),
    ("state", "State", "text", "two letters, e.g. OH"),
    ("codes", "Service codes (CPT / HCPCS)", "text", "separate codes with commas"),
    ("units", "Units", "number", None),
    ("service_date", "Date of service", "date", None),
    ("place_of_service", "Place of service", "text", "two digits, e.g. 22"),
    ("diagnoses", "Diagnoses (ICD-10-CM)", "text", "with the dot, separated by commas: M54.50, M51.16"),
    ("ordering_npi", "Ordering provider NPI", "text", "10 digits"),
    ("urgency", "Urgency", "select", ("standard", "expedited", "emergency")),
)
REQUIRED = ("payer", "codes")


def _payers(session: Any) -> list[Payer]:
    return list(session.scalars(select(Payer).order_by(Payer.name)))


def _read(session: Any) -> tuple[dict[str, Any] | None, dict[str, str], dict[str, list[str]]]:
    typed = {name: request.form.get(name, "")[:500] for name, *_ in FIELDS}
    facts, problems = read_fields(typed, payer_ids={p.name: p.id for p in _payers(session)})
    by_field: dict[str, list[str]] = {}
    for column, message in problems:
        words = "required: fill it in" if message.startswith("required") else message
        by_field.setdefault(column, []).append(words)
    return facts, typed, by_field


def _page(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(
        template, fields=FIELDS, required=REQUIRED, payers=_payers(db_session()), **context
    ), status


@bp.get("/new")
def new() -> Any:
    return _page("cases/new.html", typed={"urgency": "standard", "eligibility": "active"}, by_field={})


@bp.post("/new")
def create() -> Any:
    session = db_session()
    facts, typed, by_field = _read(session)
    if facts is None:
        return _page("cases/new.html", 422, typed=typed, by_field=by_field)
    try:
        case = cases.create(session, user_org(session), actor(), facts, why="entered")
        session.commit()
    except cases.CaseError as exc:
        session.rollback()
        return _page("cases/new.html", 422, typed=typed, by_field={}, problems=exc.problems)
    flash(f"Case {case.reference} created: {case.next_action}.", "success")
    return redirect(url_for("cases.show", reference=case.reference))


@bp.post("/import")
def import_files() -> Any:
    session = db_session()
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    if not uploads:
        flash("Choose one or more files to import.", "error")
        return redirect(url_for(".new") + "#import-title")
    if len(uploads) > MAX_FILES:
        flash(f"Import at most {MAX_FILES} files at a time.", "error")
        return redirect(url_for(".new") + "#import-title")
    payer_ids = {p.name: p.id for p in _payers(session)}
    org = user_org(session)
    made: list[dict[str, Any]] = []
    errors: list[str] = []
    warnings: list[str] = []
    for upload in uploads:
        name = _safe_name(upload.filename or "upload")
        read = intake.read_file(name, upload.read(intake.MAX_BYTES + 1), payer_ids=payer_ids)
        errors += read.errors
        warnings += read.warnings
        for where, facts in read.cases:
            try:
                with session.begin_nested():  # one bad case does not undo the good ones
                    case = cases.create(session, org, actor(), facts, why="import")
                made.append(
                    {
                        "where": where,
                        "reference": case.reference,
                        "stage": case.stage,
                        "next": case.next_action,
                    }
                )
            except cases.CaseError as exc:
                errors += [f"{where}: {f + ': ' if f else ''}{m}" for f, m in exc.problems]
    session.commit()
    return _page(
        "cases/imported.html", 200 if not errors else 422, made=made, errors=errors, warnings=warnings
    )


def _safe_name(filename: str) -> str:
    """The uploaded file's base name, for messages only (it is never used as a path)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:120] or "upload"


@bp.route("/<reference>/facts", methods=["GET", "POST"])
def facts(reference: str) -> Any:
    session = db_session()
    case = case_or_404(session, reference)
    if case.status not in lifecycle.OPEN:
        flash(f"The case is {case.status}: its facts can no longer change (renew it instead).", "error")
        return redirect(url_for("cases.show", reference=reference))
    as_json = json.dumps(case.facts, indent=2, ensure_ascii=False)
    if request.method == "GET":
        return _page(
            "cases/facts.html", case=case, typed=fields_of(case.facts or {}), by_field={}, as_json=as_json
        )
    if request.form.get("action") == "json":
        text = request.form.get("facts", "")
        try:
            given = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = (
                "facts",
                f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); fix it and save again",
            )
            return _page(
                "cases/facts.html",
                422,
                case=case,
                typed=fields_of(case.facts or {}),
                by_field={},
                as_json=text,
                problems=[problem],
            )
        new_facts = given
    else:
        read, typed, by_field = _read(session)
        if read is None:
            return _page("cases/facts.html", 422, case=case, typed=typed, by_field=by_field, as_json=as_json)
        new_facts = _merged(case.facts or {}, read)
        text = as_json
    if not isinstance(new_facts, dict):
        return _page(
            "cases/facts.html",
            422,
            case=case,
            typed=fields_of(case.facts or {}),
            by_field={},
            as_json=text,
            problems=[("facts", "a case's facts are one JSON object: {...}")],
        )
    try:
        cases.update_facts(session, case, actor(), new_facts)
        session.commit()
    except cases.CaseError as exc:
        session.rollback()
        return _page(
            "cases/facts.html",
            422,
            case=case_or_404(session, reference),
            typed=fields_of(new_facts),
            by_field={},
            as_json=text,
            problems=exc.problems,
        )
    flash("Facts saved; the case was re-evaluated.", "success")
    return redirect(url_for("cases.show", reference=reference))


def _merged(old: dict[str, Any], typed: dict[str, Any]) -> dict[str, Any]:
    """The page's fields replace what they show; a field left empty removes its fact; the facts the
    page does not show (clinical findings, documents, answers) are kept as they were."""
    out: dict[str, Any] = json.loads(json.dumps(old))
    for name, *_ in FIELDS:
        path = COLUMNS[name][0]
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return _deep(out, typed)


def _deep(base: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    for key, value in more.items():
        inner = base.get(key)
        base[key] = _deep(inner, value) if isinstance(value, dict) and isinstance(inner, dict) else value
    return base


@bp.app_context_processor
def _may_enter() -> dict[str, Any]:
    def may_enter() -> bool:
        return bool(current_user.is_authenticated and any(r.name in WORKERS for r in current_user.roles))

    return {"may_enter_cases": may_enter}
