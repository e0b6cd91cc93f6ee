"""The coordinator's screens: the queue, aging, and the case page with its actions.

    GET  /cases/                    the queue: counts per stage, filters, soonest due first
    GET  /cases/aging               open cases by payer and age, pending, denied, expiring
    GET  /cases/<reference>         one case: decision and why, deadlines, responses, history
    POST /cases/<reference>/assign|submit|respond|cancel|renew

Coordinators work cases; managers see them. A person sees only their organization's cases: any
other reference is "not found", the same page as a reference that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_security import current_user
from sqlalchemy import select

from admin import cases, queue
from admin.access import require_roles
from admin.db import Database
from admin.models import AuditEvent, Payer
from admin.models_cases import Case, Organization
from engine import lifecycle

bp = Blueprint("cases", __name__, url_prefix="/cases")
bp.before_request(require_roles("coordinator", "manager"))
WORKERS = ("coordinator",)
LABELS = {  # what a refused field is called on the page
    "auth_number": "Auth number",
    "units": "Approved units",
    "start": "Approved from",
    "end": "Approved to",
    "to": "Approved to",
    "at": "Peer-to-peer time",
    "asked": "What the payer asked for",
    "due": "Pend answer due",
}


def db_session() -> Any:
    db: Database = current_app.extensions["priorauth.db"]
    return db.scoped()


def user_org(session: Any) -> Organization:
    if current_user.organization_id:
        org: Organization | None = session.get(Organization, current_user.organization_id)
        if org is not None:
            return org
    try:
        return cases.organization(session)
    except cases.CaseError:
        abort(403, "Your account belongs to no organization yet: ask an admin to set it.")


def actor() -> str:
    return f"web:{current_user.email}"


def case_or_404(session: Any, reference: str) -> Case:
    try:
        return cases.get(session, user_org(session), reference)
    except cases.CaseNotFound:
        abort(404)


@bp.get("/")
def index() -> Any:
    session = db_session()
    org = user_org(session)
    owner_arg = request.args.get("owner", "")
    owner = current_user.id if owner_arg == "me" else 0 if owner_arg == "none" else None
    filters = queue.Filters(
        stage=request.args.get("stage") or None,
        status=request.args.get("status") or None,
        payer=request.args.get("payer") or None,
        work_queue=request.args.get("queue") or None,
        owner=owner,
        expiring_days=request.args.get("expiring", type=int),
        page=max(request.args.get("page", 1, type=int), 1),
    )
    rows, total = queue.queue(session, org.id, filters)
    payers = sorted(
        {
            p
            for (p,) in session.execute(
                select(Case.payer_id).where(Case.organization_id == org.id).distinct()
            )
        }
    )
    names = {p.id: p.name for p in session.scalars(select(Payer))}
    work_queues = sorted(
        q
        for (q,) in session.execute(
            select(Case.work_queue)
            .where(Case.organization_id == org.id, Case.work_queue.is_not(None))
            .distinct()
        )
    )
    return render_template(
        "cases/queue.html",
        rows=rows,
        total=total,
        filters=filters,
        owner_arg=owner_arg,
        counts=queue.stage_counts(session, org.id),
        stages=queue.QUEUE_STAGES,
        statuses=lifecycle.STATUSES,
        payers=payers,
        payer_names=names,
        work_queues=work_queues,
        today=date.today(),
        page_size=queue.PAGE,
        page_url=lambda n: url_for(".index", **{**request.args.to_dict(), "page": n}),
        org=org,
    )


@bp.get("/aging")
def aging() -> Any:
    session = db_session()
    org = user_org(session)
    table = queue.aging(session, org.id)
    totals = {payer: sum(row[name] for name, _, _ in queue.AGE_BUCKETS) for payer, row in table.items()}
    return render_template(
        "cases/aging.html",
        table=table,
        buckets=queue.AGE_BUCKETS,
        totals=totals,
        biggest=max(totals.values(), default=0),
        org=org,
    )


@bp.get("/<reference>")
def show(reference: str) -> Any:
    session = db_session()
    case = case_or_404(session, reference)
    chain: list[Case] = []
    parent = case
    while parent.parent_id is not None and len(chain) < 20:
        parent = session.get(Case, parent.parent_id)
        chain.insert(0, parent)
    children = list(session.scalars(select(Case).where(Case.parent_id == case.id)))
    trail = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "case", AuditEvent.entity_id == case.reference)
            .order_by(AuditEvent.id)
        )
    )
    return render_template(
        "cases/case.html",
        case=case,
        deadlines=lifecycle.deadlines(cases.state_of(case)),
        allowed=lifecycle.TRANSITIONS.get(case.status, ()),
        chain=chain,
        children=children,
        trail=trail,
        may_work=any(r.name in WORKERS for r in current_user.roles),
        today=date.today(),
        open_statuses=lifecycle.OPEN,
        renewable=lifecycle.in_renewal(cases.state_of(case), date.today())
        or case.status in ("approved", "partially-approved"),
    )


def change(reference: str, action: Any, done: str) -> Any:
    session = db_session()
    case = case_or_404(session, reference)
    try:
        result = action(session, case)
        session.commit()
    except cases.CaseError as exc:
        session.rollback()
        for field, what in exc.problems:
            label = LABELS.get(field, field.replace("_", " ").capitalize())
            flash(f"{what}" if not field or field == "status" else f"{label}: {what}", "error")
        return redirect(url_for("cases.show", reference=reference))
    flash(done.format(result=result), "success")
    return redirect(url_for("cases.show", reference=getattr(result, "reference", reference)))


@bp.post("/<reference>/assign")
@require_roles(*WORKERS)
def assign(reference: str) -> Any:
    def take(session: Any, case: Case) -> Case:
        before = case.owner_id
        case.owner_id = current_user.id
        from admin import audit

        audit.record(
            session,
            actor(),
            "assign",
            "case",
            case.reference,
            {"owner_id": before},
            {"owner_id": case.owner_id},
        )
        return case

    return change(reference, take, "The case is yours.")


@bp.post("/<reference>/submit")
@require_roles(*WORKERS)
def submit(reference: str) -> Any:
    payer_reference = request.form.get("payer_reference", "").strip() or None
    return change(
        reference, lambda s, c: cases.submit(s, c, actor(), payer_reference), "Recorded as submitted."
    )


@bp.post("/<reference>/respond")
@require_roles(*WORKERS)
def respond(reference: str) -> Any:
    form = request.form

    def day(name: str) -> date | None:
        text = form.get(name, "").strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise cases.CaseError([(name, "write the date as YYYY-MM-DD")]) from None

    def record(session: Any, case: Case) -> Case:
        units_text = form.get("units", "").strip()
        if units_text and not units_text.isdigit():
            raise cases.CaseError([("units", "approved units are a whole number")])
        return cases.respond(
            session,
            case,
            actor(),
            form.get("status", ""),
            auth_number=form.get("auth_number", "").strip() or None,
            units=int(units_text) if units_text else None,
            start=day("start"),
            end=day("end"),
            reason=form.get("reason", "").strip() or None,
            code=form.get("code", "").strip() or None,
            asked=form.get("asked", "").strip() or None,
            due=day("due"),
        )

    return change(reference, record, "The payer's response is recorded.")


@bp.post("/<reference>/check")
@require_roles(*WORKERS)
def check(reference: str) -> Any:
    note = request.form.get("note", "")
    return change(
        reference,
        lambda s, c: cases.check_status(s, c, actor(), note),
        "Status check recorded; the next one is due in two days.",
    )


@bp.post("/<reference>/appeal")
@require_roles(*WORKERS)
def appeal(reference: str) -> Any:
    appeal_reference = request.form.get("appeal_reference", "").strip() or None
    return change(
        reference, lambda s, c: cases.appeal(s, c, actor(), appeal_reference), "The appeal is recorded."
    )


@bp.post("/<reference>/p2p")
@require_roles(*WORKERS)
def p2p(reference: str) -> Any:
    text = request.form.get("at", "").strip()

    def schedule(session: Any, case: Case) -> Case:
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise cases.CaseError(
                [("at", "give the date and time of the call, e.g. 2026-12-01 14:30 (UTC)")]
            ) from None
        return cases.schedule_p2p(session, case, actor(), at)

    return change(reference, schedule, "The peer-to-peer is scheduled.")


@bp.post("/<reference>/expire")
@require_roles(*WORKERS)
def expire(reference: str) -> Any:
    return change(reference, lambda s, c: cases.expire(s, c, actor()), "The approval is marked expired.")


@bp.post("/<reference>/cancel")
@require_roles(*WORKERS)
def cancel(reference: str) -> Any:
    reason = request.form.get("reason", "")
    return change(reference, lambda s, c: cases.cancel(s, c, actor(), reason), "The case is cancelled.")


@bp.post("/<reference>/renew")
@require_roles(*WORKERS)
def renew(reference: str) -> Any:
    return change(
        reference, lambda s, c: cases.renew(s, c, actor()), "Renewal {result.reference} created as a draft."
    )
