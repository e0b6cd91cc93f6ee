"""Faxing a case's packet to the payer, and following the fax to delivered or failed.

    job = send(session, case, actor, "spool")            # the final packet, to the decision's fax
    poll(session)                                         # every fax not done: ask its provider
    cancel(session, case, actor, job_id)

A fax is always the case's final packet as it stands (built now if it is not built yet: a case
that is not ready is refused with what is missing), made TIFF Class F, sent to the fax number
the rules gave (`decision.fax`), else the payer's. Its idempotency key is the case, the packet
version and the number: asking again to send the same packet to the same number returns the job
already made, and the provider itself refuses a key twice, so a retry after a crash never sends a
second copy. Sending again after a failure is a deliberate new attempt (`retry=True`, a new key).

Every state a job passes through is kept in its `history`, and each change is an audit event on
the case. When a fax is delivered, a case still waiting to go out (draft or ready) is recorded as
submitted, with the fax job as its reference.

Providers are configured from the environment: PRIORAUTH_FAX_SPOOL (the spool folder, default
`<instance>/fax-spool`), PRIORAUTH_HYLAFAX_HOST, PRIORAUTH_SENDFAX / _FAXSTAT / _FAXRM (the
HylaFAX client commands) and PRIORAUTH_FAX_SENDER.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import audit, cases, packets
from admin.config import instance_path
from admin.db import kept_with
from admin.models import Payer, utcnow
from admin.models_cases import Case
from admin.models_packets import CasePacket, FaxJob
from connectors.fax import providers
from connectors.fax.base import FINAL, FaxError, FaxProvider, check_number
from connectors.fax.base import FaxJob as Job
from connectors.fax.tiff import to_fax_tiff

WAITING = ("draft", "ready")  # statuses a delivered fax moves to submitted


def provider(name: str, environ: Mapping[str, str] | None = None) -> FaxProvider:
    """The provider called `name`, set up from PRIORAUTH_* variables. Raises FaxError."""
    env = os.environ if environ is None else environ
    if name == "spool":
        return providers.get(
            "spool", spool_dir=Path(env.get("PRIORAUTH_FAX_SPOOL") or instance_path(env) / "fax-spool")
        )
    if name == "hylafax":
        settings: dict[str, Any] = {}
        for key, variable in (
            ("host", "PRIORAUTH_HYLAFAX_HOST"),
            ("sendfax", "PRIORAUTH_SENDFAX"),
            ("faxstat", "PRIORAUTH_FAXSTAT"),
            ("faxrm", "PRIORAUTH_FAXRM"),
            ("sender", "PRIORAUTH_FAX_SENDER"),
        ):
            if env.get(variable):
                settings[key] = env[variable]
        return providers.get("hylafax", **settings)
    return providers.get(name)


def provider_names(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The providers, the configured one (PRIORAUTH_FAX_PROVIDER, else the spool) first."""
    env = os.environ if environ is None else environ
    first = env.get("PRIORAUTH_FAX_PROVIDER") or "spool"
    names = providers.names()
    return (first, *[n for n in names if n != first]) if first in names else names


def send(
    session: Session,
    case: Case,
    actor: str,
    provider_name: str,
    *,
    to_number: str | None = None,
    retry: bool = False,
    make: Any = provider,
    packet_root: Path | None = None,
    documents_root: Path | None = None,
) -> FaxJob:
    """Fax the case's final packet. Raises PacketBlocked (not ready) or cases.CaseError (no fax
    number, a provider that cannot be reached, a fax server that refused it)."""
    built = packets.build(session, case, actor, "final", root=packet_root, documents_root=documents_root)
    number = _number(session, case, to_number)
    key = f"{case.reference}.packet-{built.row.version}.{number.lstrip('+')}"
    earlier = list(
        session.scalars(select(FaxJob).where(FaxJob.idempotency_key.startswith(key)).order_by(FaxJob.id))
    )
    if earlier and not retry:
        return earlier[-1]  # the same packet to the same number: never sent twice
    if earlier and earlier[-1].state not in ("failed", "cancelled"):
        raise cases.CaseError(
            [
                (
                    "fax",
                    f"this packet is already {earlier[-1].state} to that number: a retry is for a failed fax",
                )
            ]
        )
    if earlier:
        key = f"{key}.try-{len(earlier) + 1}"
    try:
        service = make(provider_name)
        tiff = _tiff(session, case, built.row, packet_root)
        job = service.send(tiff, number, key)
    except FaxError as exc:
        if not exc.permanent:
            raise cases.CaseError(
                [("fax", f"the {provider_name} fax service did not take the fax ({exc}): try again")]
            ) from None
        job = Job(provider_name, "", key, number, "failed", str(exc)[:300])
    now = utcnow()
    row = FaxJob(
        case_id=case.id,
        packet_id=built.row.id,
        provider=provider_name,
        idempotency_key=key,
        provider_job_id=job.job_id or None,
        to_number=number,
        state=job.state,
        reason=job.reason[:300],
        pages_sent=job.pages_sent,
        pages_total=job.pages_total or built.row.pages,
        attempts=job.attempts,
        history=[_moment(job.state, job.reason, now)],
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "fax",
        "case",
        case.reference,
        None,
        {
            "fax_job": row.id,
            "provider": provider_name,
            "packet": built.row.version,
            "to": number,
            "state": row.state,
        },
    )
    if row.state == "delivered":
        _delivered(session, case, row)
    return row


def poll(session: Session, make: Any = provider, case: Case | None = None) -> dict[str, int]:
    """Ask each provider about every fax not yet done; returns how many changed and failed to answer."""
    query = select(FaxJob).where(FaxJob.state.not_in(FINAL), FaxJob.provider_job_id.is_not(None))
    if case is not None:
        query = query.where(FaxJob.case_id == case.id)
    counts = {"changed": 0, "unanswered": 0}
    services: dict[str, FaxProvider] = {}
    for row in session.scalars(query.order_by(FaxJob.id)).all():
        try:
            service = services.get(row.provider) or services.setdefault(row.provider, make(row.provider))
            job = service.status(_job(row))
        except FaxError:
            counts["unanswered"] += 1
            continue
        if _update(session, row, job, "system:fax"):
            counts["changed"] += 1
    return counts


def cancel(session: Session, case: Case, actor: str, job_id: int, make: Any = provider) -> FaxJob:
    row = session.get(FaxJob, job_id)
    if row is None or row.case_id != case.id:
        raise cases.CaseError([("fax", f"{case.reference} has no fax job {job_id}")])
    if row.state in FINAL:
        raise cases.CaseError([("fax", f"the fax is already {row.state}")])
    try:
        job = make(row.provider).cancel(_job(row))
    except FaxError as exc:
        raise cases.CaseError([("fax", f"the fax could not be cancelled: {exc}")]) from None
    _update(session, row, job, actor)
    return row


def jobs_of(session: Session, case: Case) -> list[FaxJob]:
    return list(session.scalars(select(FaxJob).where(FaxJob.case_id == case.id).order_by(FaxJob.id.desc())))


def _update(session: Session, row: FaxJob, job: Job, actor: str) -> bool:
    if (job.state, job.reason, job.pages_sent, job.attempts) == (
        row.state,
        row.reason,
        row.pages_sent,
        row.attempts,
    ):
        return False
    before = row.state
    now = utcnow()
    row.state, row.reason = job.state, job.reason[:300]
    row.pages_sent, row.attempts = job.pages_sent, job.attempts
    if job.pages_total:
        row.pages_total = job.pages_total
    if before != job.state:
        row.history = [*row.history, _moment(job.state, job.reason, now)]
    row.updated_at = now
    session.flush()
    case = session.get(Case, row.case_id)
    if case is None:  # pragma: no cover - the foreign key guarantees it
        return True
    if before != job.state:
        audit.record(
            session,
            actor,
            "fax-state",
            "case",
            case.reference,
            {"fax_job": row.id, "state": before},
            {"fax_job": row.id, "state": row.state, "reason": row.reason},
        )
    if job.state == "delivered" and before != "delivered":
        _delivered(session, case, row)
    return True


def _delivered(session: Session, case: Case, row: FaxJob) -> None:
    """The payer has the request: a case waiting to go out is now submitted. A case that changed
    since the fax left and is no longer ready stays as it is (a person looks at it: the fax's
    state is on the case page); the other faxes being followed go on."""
    if case.status in WAITING:
        try:
            with session.begin_nested():
                cases.submit(session, case, "system:fax", reference=f"fax job {row.id} ({row.provider})")
        except cases.CaseError:
            pass


def _job(row: FaxJob) -> Job:
    return Job(
        row.provider,
        row.provider_job_id or "",
        row.idempotency_key,
        row.to_number,
        row.state,
        row.reason,
        row.pages_sent,
        row.pages_total,
        row.attempts,
    )


def _moment(state: str, reason: str, at: datetime) -> dict[str, str]:
    return {"state": state, "reason": reason[:300], "at": at.isoformat()}


def number_for(session: Session, case: Case) -> str | None:
    """Where the case's fax goes: the number the rules gave, else the payer's."""
    payer = session.get(Payer, case.payer_id) if case.payer_id else None
    number = (case.decision or {}).get("fax") or (payer.fax_number if payer else None)
    return str(number) if number else None


def _number(session: Session, case: Case, given: str | None) -> str:
    number = given or number_for(session, case)
    if not number:
        raise cases.CaseError(
            [
                (
                    "fax",
                    f"no fax number for {case.payer_id or 'the payer'}: the rules give none and the payer has none",
                )
            ]
        )
    try:
        return check_number(str(number))
    except FaxError as exc:
        raise cases.CaseError([("fax", str(exc))]) from None


def _tiff(session: Session, case: Case, row: CasePacket, root: Path | None) -> Path:
    """The packet as a fax TIFF beside its PDF (made once per packet version; gone with the
    packet's row if that does not land)."""
    pdf = packets.open_packet(case, row, root=root)
    tiff = pdf.with_suffix(".tif")
    if not tiff.is_file():
        with kept_with(session, tiff):
            to_fax_tiff(pdf, tiff)
    return tiff
