"""The JSON API for machines, under /api/: token auth with scopes, the store's own checks, 4xx with
the errors (never a 500). The contract is the OpenAPI document at /api/openapi.json (admin/openapi.py).

    Authorization: Bearer pa_<prefix>_<secret>

Every route but the OpenAPI document needs a token; each names the scope it needs. A token's
scopes are checked again against its user's roles on every call, so taking a role away from a
person takes it from their tokens too. The API takes no cookies, so CSRF does not apply to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from admin import store, tokens
from admin.db import Database
from admin.models import DocumentVersion
from admin.openapi import document
from engine import EngineError, FactsError, Problem

bp = Blueprint("api", __name__, url_prefix="/api")
KINDS = {"rulesets": "ruleset", "forms": "form", "templates": "template"}
MAX_FILES = 200


class ApiError(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "")
        self.status, self.errors = status, errors


def _error(status: int, message: str, **extra: Any) -> ApiError:
    return ApiError(status, [{"message": message, **extra}])


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [
        {"file": p.file or None, "line": p.line, "message": p.message, "fix": p.fix or None} for p in problems
    ]


def _db() -> Database:
    db: Database = current_app.extensions["priorauth.db"]
    return db


# -- auth ------------------------------------------------------------------------------------------
@bp.before_request
def _authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise _error(
            401, "this API needs a token: send `Authorization: Bearer <token>` (an IT person makes one)"
        )
    with _db().transaction() as session:
        found = tokens.authenticate(session, header[len("Bearer ") :].strip())
        if found is None:
            raise _error(401, "the token is unknown, revoked or expired: ask for a new one")
        row, user = found
        g.api_scopes = set(row.scopes) & tokens.allowed_scopes(user)
        g.api_actor = f"token:{row.prefix} ({user.email})"
        g.api_organization_id = user.organization_id


def scope(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The scope a route needs; 403 with the scope named when the token lacks it."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if name not in g.api_scopes:
                raise _error(403, f"this token lacks the scope `{name}` ({tokens.SCOPES[name]})")
            return view(*args, **kwargs)

        guarded.api_scope = name  # type: ignore[attr-defined]  # read by the role-matrix test
        return guarded

    return wrap


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> tuple[Response, int]:
    return jsonify({"errors": error.errors}), error.status


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[Response, int]:
    code = error.code or 500
    return jsonify({"errors": [{"message": error.description or error.name}]}), code


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[Response, int]:
    current_app.logger.error("api: unexpected %s", type(error).__name__)
    return jsonify(
        {"errors": [{"message": "the request failed on our side and nothing was changed; try again"}]}
    ), 500


def _json_body() -> Any:
    if request.mimetype != "application/json":
        raise _error(415, "send the body as JSON with `Content-Type: application/json`")
    text = request.get_data(as_text=True)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(
            400, f"the body is not valid JSON ({exc.msg})", line=exc.lineno, column=exc.colno
        ) from None
    except RecursionError:
        raise _error(400, "the JSON nests too deeply") from None


# -- documents -------------------------------------------------------------------------------------
def _version_json(row: DocumentVersion, text: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version_id": row.id,
        "id": row.document.slug,
        "version": row.version,
        "status": row.status,
        "sha256": row.sha256,
        "effective_from": row.effective_from.isoformat() if row.effective_from else None,
        "effective_to": row.effective_to.isoformat() if row.effective_to else None,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at.isoformat(),
        "published_at": row.published_at.isoformat() if row.published_at else None,
    }
    if text:
        out["text"] = row.text
    return out


def _kind(plural: str) -> str:
    kind = KINDS.get(plural)
    if kind is None:
        raise _error(404, f"there is no '{plural}' here: use rulesets or forms")
    return kind


def list_documents(plural: str) -> Any:
    kind = _kind(plural)
    _need(f"{plural}.read")
    with _db().transaction() as session:
        rows = store.versions(session, kind)
        return jsonify({plural: [_version_json(r) for r in rows]})


def get_document(plural: str, slug: str) -> Any:
    kind = _kind(plural)
    _need(f"{plural}.read")
    with _db().transaction() as session:
        rows = store.versions(session, kind, slug)
        if not rows:
            raise _error(404, f"there is no {kind} '{slug}'")
        return jsonify({"id": slug, "versions": [_version_json(r) for r in rows]})


def get_version(plural: str, slug: str, number: int) -> Any:
    kind = _kind(plural)
    _need(f"{plural}.read")
    with _db().transaction() as session:
        try:
            row = store.find(session, kind, slug, number)
        except store.NotFound as exc:
            raise _error(404, str(exc)) from None
        return jsonify(_version_json(row, text=True))


def push(plural: str) -> Any:
    kind = _kind(plural)
    body = _json_body()
    publish_now = body.get("publish", False) if isinstance(body, dict) else False
    _need(f"{plural}.write")
    if publish_now is not False:
        _need(f"{plural}.publish")
    files = body.get("files") if isinstance(body, dict) else None
    if (
        not isinstance(files, list)
        or not files
        or len(files) > MAX_FILES
        or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("text"), str)
            for f in files
        )
        or not isinstance(publish_now, bool)
    ):
        raise _error(
            400,
            f'send {{"files": [{{"name": "acme.yaml", "text": "..."}}], "publish": false}} with 1 to {MAX_FILES} files',
        )
    try:
        with _db().transaction() as session:
            results = store.push(
                session, g.api_actor, kind, [(f["name"], f["text"]) for f in files], publish_now
            )
    except store.StoreError as exc:
        raise ApiError(422, _problems(exc.problems)) from None
    return jsonify(
        {
            "results": [
                {
                    "file": r.file,
                    "id": r.slug,
                    "outcome": r.outcome,
                    "version": r.version,
                    "version_id": r.version_id,
                    "replaced": r.replaced,
                }
                for r in results
            ]
        }
    )


def move(plural: str, version_id: int, action: str) -> Any:
    kind = _kind(plural)
    _need(f"{plural}.write" if action == "submit" else f"{plural}.publish")
    try:
        with _db().transaction() as session:
            row = session.get(DocumentVersion, version_id)
            if row is None or row.document.kind != kind:
                raise store.NotFound([f"there is no {kind} version with id {version_id}"])
            if action == "publish":
                store.publish(session, g.api_actor, version_id)
            else:
                getattr(store, action)(session, g.api_actor, version_id)
            return jsonify(_version_json(row))
    except store.NotFound as exc:
        raise ApiError(404, _problems(exc.problems)) from None
    except store.IllegalTransition as exc:
        raise ApiError(409, _problems(exc.problems)) from None
    except store.StoreError as exc:
        raise ApiError(422, _problems(exc.problems)) from None


def _need(name: str) -> None:
    if name not in g.api_scopes:
        raise _error(403, f"this token lacks the scope `{name}` ({tokens.SCOPES[name]})")


# -- evaluation ------------------------------------------------------------------------------------
@bp.post("/evaluate")
@scope("cases.evaluate")
def evaluate() -> Any:
    facts = _json_body()
    if not isinstance(facts, dict):
        raise _error(400, "send one case's facts as a JSON object")
    with _db().transaction() as session:
        evaluator = store.evaluator(session, current_app.config["ENGINE"])
    try:
        return jsonify(evaluator.evaluate(facts, date.today()))
    except FactsError as exc:
        raise ApiError(422, [{"path": path, "message": what} for path, what in exc.errors]) from None
    except EngineError as exc:
        raise _error(422, str(exc)) from None


# -- cases -----------------------------------------------------------------------------------------
def _organization(session: Any) -> Any:
    from admin import cases
    from admin.models_cases import Organization

    org_id = g.get("api_organization_id")
    if org_id:
        org = session.get(Organization, org_id)
        if org is not None:
            return org
    try:
        return cases.organization(session)
    except cases.CaseError:
        raise _error(403, "the token's user belongs to no organization: ask an admin to set it") from None


@bp.post("/cases")
@scope("cases.write")
def create_case() -> Any:
    """Case facts, or a FHIR R4 Bundle mapped to facts; the new case with its decision."""
    from admin import cases

    body = _json_body()
    warnings: list[dict[str, Any]] = []
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        from connectors.fhir.intake import bundle_to_facts

        intake = bundle_to_facts(body)
        errors = [{"path": p.path, "message": p.message} for p in intake.problems if p.severity == "error"]
        if errors:
            raise ApiError(422, errors)
        warnings = [{"path": p.path, "message": p.message} for p in intake.problems if p.severity != "error"]
        body = intake.facts
    if not isinstance(body, dict):
        raise _error(400, "send one case's facts as a JSON object, or a FHIR R4 Bundle")
    try:
        with _db().transaction() as session:
            case = cases.create(session, _organization(session), g.api_actor, body, why="api")
            shown = cases.show(case)
    except cases.CaseError as exc:
        raise ApiError(422, [{"path": f or None, "message": m} for f, m in exc.problems]) from None
    return jsonify({**shown, "warnings": warnings}), 201


@bp.get("/cases/<reference>")
@scope("cases.read")
def get_case(reference: str) -> Any:
    from admin import cases

    with _db().transaction() as session:
        try:
            return jsonify(cases.show(cases.get(session, _organization(session), reference)))
        except cases.CaseNotFound:
            raise _error(404, f"there is no case {reference}") from None


USAGE_FIELDS = ("on", "units", "claim_id", "code")
USAGE_BODY = 'send {"on": "YYYY-MM-DD", "units": N} (and "claim_id", "code" for a claim line)'


def _usage_body(body: Any) -> tuple[date, int, str | None, str | None]:
    """The usage a body asks to record; 400 with every problem, each naming its field."""
    from admin import usage

    if not isinstance(body, dict):
        raise _error(400, USAGE_BODY)
    errors: list[dict[str, Any]] = []
    unknown = sorted(set(body) - set(USAGE_FIELDS))
    if unknown:
        errors.append({"message": f"unknown field(s) {', '.join(unknown)}: {USAGE_BODY}"})
    on = usage.day(body["on"]) if isinstance(body.get("on"), str) else None
    if on is None:
        errors.append({"path": "on", "message": "the date of the service, as a string YYYY-MM-DD"})
    units = body.get("units")
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        errors.append({"path": "units", "message": "the units or visits used, a whole number above 0"})
    for name in ("claim_id", "code"):
        if body.get(name) is not None and not isinstance(body[name], str):
            errors.append({"path": name, "message": f"{name} is a string (or leave it out)"})
    if errors or on is None:
        raise ApiError(400, errors)
    claim_id, code = body.get("claim_id"), body.get("code")
    return on, units if isinstance(units, int) else 0, claim_id or None, code or None


@bp.post("/cases/<reference>/usage")
@scope("cases.write")
def record_usage(reference: str) -> Any:
    """Units used on a day, counted against the case's approval; the meter after it."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm.exc import StaleDataError

    from admin import cases, usage

    on, units, claim_id, code = _usage_body(_json_body())
    try:
        with _db().transaction() as session:
            case = cases.get(session, _organization(session), reference)
            done = usage.record(session, case, g.api_actor, on, units, "api", claim_id, code)
            shown = usage.meter_json(usage.meter(session, case))
    except cases.CaseNotFound:
        raise _error(404, f"there is no case {reference}") from None
    except cases.CaseError as exc:
        raise ApiError(422, [{"path": f or None, "message": m} for f, m in exc.problems]) from None
    except (IntegrityError, StaleDataError):
        raise _error(
            409, "the case changed at the same moment and nothing was recorded: send it again"
        ) from None
    body = {
        "recorded": not done.duplicate,
        "already_recorded": done.duplicate,
        "warnings": [{"message": w} for w in done.warnings],
        "usage": shown,
    }
    return jsonify(body), 200 if done.duplicate else 201


@bp.get("/cases/<reference>/usage")
@scope("cases.read")
def get_usage(reference: str) -> Any:
    """The utilization meter of one case."""
    from admin import cases, usage

    with _db().transaction() as session:
        try:
            case = cases.get(session, _organization(session), reference)
        except cases.CaseNotFound:
            raise _error(404, f"there is no case {reference}") from None
        return jsonify(usage.meter_json(usage.meter(session, case)))


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())


def init_app(app: Any, csrf: Any) -> None:
    """Register the API. The app's sign-in guard lets /api/ through to this blueprint's own token
    check (`_authenticate`), which guards every route but the OpenAPI document."""
    app.register_blueprint(bp)  # admin/access.py gives the "api" blueprint the TOKEN rule
    csrf.exempt(bp)  # token auth, no cookies: nothing for a cross-site form to ride on


for _plural in KINDS:
    bp.add_url_rule(f"/{_plural}", f"list_{_plural}", (lambda p: lambda: list_documents(p))(_plural))
    bp.add_url_rule(
        f"/{_plural}/<slug>", f"get_{_plural}", (lambda p: lambda slug: get_document(p, slug))(_plural)
    )
    bp.add_url_rule(
        f"/{_plural}/<slug>/versions/<int:number>",
        f"get_{_plural}_version",
        (lambda p: lambda slug, number: get_version(p, slug, number))(_plural),
    )
    bp.add_url_rule(
        f"/{_plural}/push", f"push_{_plural}", (lambda p: lambda: push(p))(_plural), methods=["POST"]
    )
    for _action in ("submit", "publish", "retire"):
        bp.add_url_rule(
            f"/{_plural}/versions/<int:version_id>/{_action}",
            f"{_action}_{_plural}",
            (lambda p, a: lambda version_id: move(p, version_id, a))(_plural, _action),
            methods=["POST"],
        )
