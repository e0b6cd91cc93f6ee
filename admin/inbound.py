"""Payers' faxed replies: taken in, read, matched to a case or queued for a person, and offered as
a suggested response that only a person applies.

    fax = ingest(session, org, "folder:/srv/fax-in", stream, source="folder")
    fax.case_id, fax.matched_by, fax.suggestion          # "reference" | "payer-reference" | "member-id" | "name-dob"
    assign(session, fax, case, actor)                    # a person says which case it is
    record(session, fax, actor, "approved", auth_number="AUT-55012", ...)   # the person confirms
    dismiss(session, fax, actor)                         # not a reply to any case (junk, a misdial)

A fax is stored like a document (checked by its bytes, `<instance>/faxes/<org>/<random>.<ext>`,
0600, its sha256 kept; the same file taken in twice is the same fax). Its text comes from the PDF's
text layer or from Debian's tesseract (connectors/fax/ocr.py) and is stored, so people can search it;
engine/faxreply.py reads references, member ids, names, birth dates, the authorization number and
the decision word out of it. Matching, first that finds exactly one case of the organization:

1. our case reference (PA-...) printed on the reply (we ask payers to quote it on the cover sheet);
2. the payer's own reference number, against what was recorded at submission or appeal;
3. the member id, among cases waiting for the payer (submitted, pended, appealed, peer to peer);
4. the patient's name and birth date, among those same cases.

Several candidates, or none: the fax waits in the inbound queue for a person, with the candidates.
Nothing the fax says is applied to a case until a coordinator records it (`record`), which is the
same `cases.respond` as the case page, with the fax attached to the case as the payer's letter.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import audit, cases, documents
from admin.config import instance_path
from admin.db import kept_with
from admin.models import utcnow
from admin.models_cases import Case, Organization
from admin.models_packets import InboundFax
from connectors.fax.ocr import OcrError, read_fax
from engine.faxreply import Reply, read_reply

AWAITING = ("submitted", "pended", "appealed", "p2p-scheduled")  # cases a payer still owes an answer
STATES = ("unmatched", "matched", "recorded", "dismissed")
MAX_BYTES = documents.DEFAULT_LIMIT_MB * documents.MiB
_WORDS = re.compile(r"[a-z]+")
_LIKE_REFERENCE = re.compile(r"(?<![A-Za-z0-9])P[A4] ?[-_.]? ?([A-Za-z0-9]{8})(?![A-Za-z0-9])")
#: characters OCR confuses, each group read as one (our references use none of 0, O, 1, I)
_BLUR = str.maketrans("0OQ1I5286", "DDDLLSZBG")


def default_root() -> Path:
    return instance_path() / "faxes"


def ingest(
    session: Session,
    org: Organization,
    actor: str,
    stream: documents.Readable,
    *,
    source: str,
    filename_hint: str | None = None,
    root: Path | None = None,
    limit: int = MAX_BYTES,
    read: Any = read_fax,
) -> InboundFax:
    """Store, read and match one faxed reply. Raises cases.CaseError for a file that is not a PDF,
    TIFF, PNG or JPEG, empty, too large or that does not open (the checks of documents.received;
    nothing is stored); a file that cannot be read as text is kept, unmatched, with why in its
    suggestion."""
    folder = (root or default_root()) / str(org.id)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder.parent, 0o700)
    with documents.received(folder, stream, limit, filename_hint) as (temp, media_type, digest, size, pages):
        known = session.scalar(
            select(InboundFax).where(InboundFax.organization_id == org.id, InboundFax.sha256 == digest)
        )
        if known is not None:
            return known  # the same file again (a folder scanned twice, an upload repeated)
        name = secrets.token_hex(16) + documents.ACCEPTED[media_type][1]
        os.replace(temp, folder / name)
    stored = folder / name
    with kept_with(session, stored):
        text, method, trouble = "", "", ""
        try:
            found = read(stored)
            text, method = found.text, found.method
        except OcrError as exc:
            trouble = str(exc)
        reply = read_reply(text)
        case, matched_by, candidates = match(session, org, reply, text)
        fax = InboundFax(
            organization_id=org.id,
            received_at=utcnow(),
            source=source[:16],
            media_type=media_type,
            pages=pages,
            size=size,
            sha256=digest,
            stored_as=f"{org.id}/{name}",
            text=text,
            method=method,
            case_id=case.id if case else None,
            matched_by=matched_by,
            candidates=candidates,
            suggestion=suggestion(reply, trouble),
            state="matched" if case else "unmatched",
        )
        session.add(fax)
        session.flush()
        audit.record(
            session,
            actor,
            "fax-in",
            "case" if case else "inbound-fax",
            case.reference if case else str(fax.id),
            None,
            {
                "inbound_fax": fax.id,
                "matched_by": matched_by,
                "pages": pages,
                "sha256": digest,
                "source": source,
            },
        )
    return fax


def suggestion(reply: Reply, trouble: str = "") -> dict[str, Any]:
    """What the fax seems to say, for a person to confirm (never applied as it is)."""
    return {
        "decision": reply.decision,
        "auth_number": reply.auth_number,
        "units": reply.approved_units,
        "from": reply.approved_from,
        "to": reply.approved_to,
        "reason": reply.denial_reason,
        "payer_references": list(reply.payer_references),
        "evidence": [list(e) for e in reply.evidence],
        "unreadable": trouble or None,
    }


def match(
    session: Session, org: Organization, reply: Reply, text: str = ""
) -> tuple[Case | None, str | None, list[str]]:
    """(the case, how it was matched, the candidates) for a reply; (None, None, candidates) when
    no step finds exactly one case."""
    candidates: list[str] = []
    if reply.references:
        found = list(
            session.scalars(
                select(Case).where(Case.organization_id == org.id, Case.reference.in_(reply.references))
            )
        )
        if len(found) == 1:
            return found[0], "reference", []
        candidates += [c.reference for c in found]
    # OCR reads a fax's S as 5, B as 8, D as 0...: a reference-shaped code that names no case is
    # compared with the references of the cases waiting for an answer, confusable characters alike
    codes = {_blur(m.group(1)) for m in _LIKE_REFERENCE.finditer(text)} if text and not candidates else set()
    if codes:
        found = [c for c in _awaiting(session, org, also_decided=True) if _blur(c.reference[3:]) in codes]
        if len(found) == 1:
            return found[0], "reference", []
        candidates += [c.reference for c in found]
    if reply.payer_references:
        refs = [r.upper() for r in reply.payer_references]
        found = [
            c
            for c in _awaiting(session, org, also_decided=True)
            if (c.submission_reference or "").upper() in refs or (c.appeal_reference or "").upper() in refs
        ]
        if len(found) == 1:
            return found[0], "payer-reference", []
        candidates += [c.reference for c in found]
    waiting = _awaiting(session, org) if (reply.member_ids or reply.names) else []
    if reply.member_ids:
        ids = {_plain(m) for m in reply.member_ids}
        found = [c for c in waiting if _plain(_fact(c, "coverage", "member_id")) in ids]
        if len(found) == 1:
            return found[0], "member-id", []
        candidates += [c.reference for c in found]
    if reply.names and reply.birth_dates:
        names = {_name_key(n) for n in reply.names}
        births = set(reply.birth_dates)
        found = [
            c
            for c in waiting
            if _fact(c, "patient", "birth_date") in births and _name_key(_fact(c, "patient", "name")) in names
        ]
        if len(found) == 1:
            return found[0], "name-dob", []
        candidates += [c.reference for c in found]
    return None, None, list(dict.fromkeys(candidates))[:20]


def assign(session: Session, fax: InboundFax, case: Case, actor: str) -> InboundFax:
    """A person says which case the fax answers."""
    if fax.state in ("recorded", "dismissed"):
        raise cases.CaseError([("fax", f"the fax is already {fax.state}")])
    if case.organization_id != fax.organization_id:
        raise cases.CaseNotFound(case.reference)
    fax.case_id, fax.matched_by, fax.state = case.id, "person", "matched"
    session.flush()
    audit.record(session, actor, "fax-in-match", "case", case.reference, None, {"inbound_fax": fax.id})
    return fax


def unassign(session: Session, fax: InboundFax, actor: str) -> InboundFax:
    """ "Not this case": back to the inbound queue for a person."""
    if fax.state != "matched":
        raise cases.CaseError([("fax", f"the fax is {fax.state}: only a matched fax can be unmatched")])
    case = session.get(Case, fax.case_id)
    fax.case_id, fax.matched_by, fax.state = None, None, "unmatched"
    session.flush()
    audit.record(
        session,
        actor,
        "fax-in-unmatch",
        "case",
        case.reference if case else str(fax.id),
        None,
        {"inbound_fax": fax.id},
    )
    return fax


def record(
    session: Session,
    fax: InboundFax,
    actor: str,
    status: str,
    *,
    root: Path | None = None,
    documents_root: Path | None = None,
    **details: Any,
) -> Case:
    """The coordinator confirms what the fax says: the payer's response is recorded on the case
    (cases.respond: the same checks as the case page) and the fax is attached as the payer's letter."""
    if fax.state != "matched" or fax.case_id is None:
        raise cases.CaseError([("fax", "match the fax to a case first")])
    case = session.get(Case, fax.case_id)
    if case is None:  # pragma: no cover - the foreign key guarantees it
        raise cases.CaseError([("fax", "the fax's case is gone")])
    cases.respond(session, case, actor, status, **details)
    with open_fax(fax, root=root).open("rb") as stream:
        letter = documents.attach(
            session,
            case,
            actor,
            stream,
            type="payer-letter",
            on=fax.received_at.date() if fax.received_at else date.today(),
            title=f"Faxed reply ({status})",
            root=documents_root,
        )
    fax.state, fax.document_id = "recorded", letter.id
    fax.handled_by, fax.handled_at = actor, utcnow()
    session.flush()
    audit.record(
        session, actor, "fax-in-record", "case", case.reference, None,
        {"inbound_fax": fax.id, "response": status, "document": documents.fact_id(letter)},
    )  # fmt: skip
    return case


def dismiss(session: Session, fax: InboundFax, actor: str) -> InboundFax:
    if fax.state in ("recorded", "dismissed"):
        raise cases.CaseError([("fax", f"the fax is already {fax.state}")])
    fax.state, fax.handled_by, fax.handled_at = "dismissed", actor, utcnow()
    session.flush()
    audit.record(session, actor, "fax-in-dismiss", "inbound-fax", str(fax.id), None, {"inbound_fax": fax.id})
    return fax


def find(session: Session, org: Organization, fax_id: int) -> InboundFax:
    fax = session.get(InboundFax, fax_id)
    if fax is None or fax.organization_id != org.id:
        raise cases.CaseError([("fax", f"there is no inbound fax {fax_id}")])
    return fax


def inbox(
    session: Session, org: Organization, state: str | None = None, words: str = "", limit: int = 200
) -> list[InboundFax]:
    """The organization's faxes, newest first; `words`: only those whose text holds every word."""
    query = select(InboundFax).where(InboundFax.organization_id == org.id)
    if state:
        query = query.where(InboundFax.state == state)
    for word in words.split()[:8]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(InboundFax.text.ilike(f"%{escaped}%", escape="\\"))
    return list(session.scalars(query.order_by(InboundFax.id.desc()).limit(limit)))


def counts(session: Session, org: Organization) -> dict[str, int]:
    """How many faxes of the organization are in each state."""
    rows = session.execute(
        select(InboundFax.state, func.count())
        .where(InboundFax.organization_id == org.id)
        .group_by(InboundFax.state)
    )
    found = {state: int(n) for state, n in rows}
    return {state: found.get(state, 0) for state in STATES}


def of_case(session: Session, case: Case) -> list[InboundFax]:
    return list(
        session.scalars(
            select(InboundFax).where(InboundFax.case_id == case.id).order_by(InboundFax.id.desc())
        )
    )


def open_fax(fax: InboundFax, *, root: Path | None = None) -> Path:
    """The stored file, checked to be in its organization's folder and unchanged."""
    base = (root or default_root()).resolve() / str(fax.organization_id)
    path = (base.parent / fax.stored_as).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise cases.CaseError([("fax", f"the file of inbound fax {fax.id} is missing: IT must restore it")])
    if documents.sha256_of(path) != fax.sha256:
        raise cases.CaseError(
            [("fax", f"the file of inbound fax {fax.id} changed on disk: IT must restore it")]
        )
    return path


# -- helpers ---------------------------------------------------------------------------------------
def _awaiting(session: Session, org: Organization, also_decided: bool = False) -> list[Case]:
    statuses: Iterable[str] = AWAITING + (
        ("approved", "partially-approved", "denied") if also_decided else ()
    )
    return list(
        session.scalars(select(Case).where(Case.organization_id == org.id, Case.status.in_(tuple(statuses))))
    )


def _fact(case: Case, section: str, key: str) -> str:
    value = (case.facts or {}).get(section)
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, str) else ""


def _plain(member_id: str) -> str:
    return re.sub(r"[\s-]", "", member_id).upper()


def _blur(code: str) -> str:
    return code.upper().translate(_BLUR)


def _name_key(name: str) -> str:
    """A name as a set of words, whatever the order or commas: "DOE, JANE" == "Jane Doe"."""
    return " ".join(sorted(_WORDS.findall(name.lower())))
