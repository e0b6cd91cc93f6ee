"""Packets for a case: built from its latest decision, stored as a new version each time.

    built = build(session, case, actor, kind="final")     # PacketBlocked lists what is missing
    built.row.version, built.row.pages, built.row.sha256, built.unchanged
    path = open_packet(case, built.row)                  # the PDF, checked against its sha256

`kind` is "final", "draft" or "auto" (final when nothing blocks it, else a draft that says why).
Building again when nothing changed (same decision, documents, template and kind, the same day)
gives back the latest version instead of a copy; any change makes a new version and the old
ones stay. The PDF lives outside the database, like documents: `<instance>/packets/<org>/<random>.pdf`
(folders 0700, files 0600), its sha256 on the row and re-checked when it is read. The audit
event keeps the version, kind, pages, sha256 and what went in, never the content.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import audit, cases, documents, store
from admin.config import instance_path
from admin.db import kept_with
from admin.models import Payer, utcnow
from admin.models_cases import Case, CaseDocument, Organization
from admin.models_packets import CasePacket
from connectors.pdf.packet import PacketRenderError, render_packet
from engine import EngineError, LoadError
from engine.packets import DocumentInfo, Packet, PacketBlocked, Sender, plan_packet
from engine.rulesets import Ruleset

KINDS = ("final", "draft", "auto")


@dataclass(frozen=True, slots=True)
class Built:
    row: CasePacket
    unchanged: bool  # nothing had changed: this is the version built before
    packet: Packet | None  # the contents (None when unchanged)


def default_root() -> Path:
    return instance_path() / "packets"


def build(
    session: Session,
    case: Case,
    actor: str,
    kind: str = "auto",
    *,
    root: Path | None = None,
    documents_root: Path | None = None,
    today: date | None = None,
) -> Built:
    """Build the case's packet. Raises PacketBlocked (a final one cannot be built yet, every
    reason listed) or cases.CaseError (a template not published, a document's file missing or
    changed on disk, a template that fails) naming what to fix; nothing is stored then."""
    if kind not in KINDS:
        raise cases.CaseError([("kind", f"a packet is one of {', '.join(KINDS)}")])
    if not case.decision:
        raise cases.CaseError([("", "the case has no decision yet: evaluate it first")])
    today = today or date.today()
    packet = _plan(session, case, kind, today)
    files = _files(case, packet, documents_root)
    templates = store.published_templates(session)
    template = templates.get(packet.template)
    if template is None:
        raise cases.CaseError(
            [
                (
                    "template",
                    f"the packet template '{packet.template}' ({packet.template_from}) is not published: "
                    "publish it (priorauth templates push forms/packets --publish)",
                )
            ]
        )
    decision_id = case.decisions[-1].id if case.decisions else None
    contents: dict[str, Any] = {
        "attachments": [
            {"id": a.id, "sha256": files[a.id][1], "pages": a.document.pages} for a in packet.attachments
        ],
        "left_out": [d.id for d in packet.left_out],
        "blocked": list(packet.blocked),
        "template_from": packet.template_from,
        "date": today.isoformat(),
    }
    latest = _latest(session, case)
    if (
        latest is not None
        and latest.kind == packet.kind
        and latest.decision_id == decision_id
        and latest.template_sha256 == template.sha256
        and latest.contents.get("attachments") == contents["attachments"]
        and latest.contents.get("date") == contents["date"]
    ):
        return Built(latest, True, None)
    org = session.get(Organization, case.organization_id)
    payer = session.get(Payer, case.payer_id) if case.payer_id else None
    try:
        rendered = render_packet(
            packet,
            template,
            {doc_id: path for doc_id, (path, _) in files.items()},
            payer={"id": case.payer_id, "name": packet.cover.to, "fax": payer.fax_number if payer else None},
            practice={
                "name": org.name if org else "",
                "fax": org.fax_number if org else None,
                "phone": org.phone if org else None,
            },
        )
    except PacketRenderError as exc:
        raise cases.CaseError([("packet", str(exc))]) from None
    stored_as = _store(root or default_root(), case, rendered.pdf)
    with kept_with(session, (root or default_root()) / stored_as):
        row = CasePacket(
            case_id=case.id,
            version=(
                session.scalar(select(func.max(CasePacket.version)).where(CasePacket.case_id == case.id)) or 0
            )
            + 1,
            kind=packet.kind,
            decision_id=decision_id,
            ruleset_id=case.ruleset_id,
            ruleset_version=case.ruleset_version,
            template_id=template.id,
            template_version=template.version,
            template_sha256=template.sha256,
            pages=rendered.pages,
            size=len(rendered.pdf),
            sha256=rendered.sha256,
            stored_as=stored_as,
            contents=contents,
            built_by=actor,
            built_at=utcnow(),
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor,
            "packet",
            "case",
            case.reference,
            None,
            {
                "version": row.version,
                "kind": row.kind,
                "pages": row.pages,
                "sha256": row.sha256,
                "template": f"{template.id} v{template.version}",
                "decision_id": decision_id,
                "attachments": [a["id"] for a in contents["attachments"]],
            },
        )
    return Built(row, False, packet)


def plan(session: Session, case: Case, kind: str = "auto", today: date | None = None) -> Packet:
    """What the case's packet would hold now (the case page shows it before anyone builds)."""
    return _plan(session, case, kind, today or date.today())


def _plan(session: Session, case: Case, kind: str, today: date) -> Packet:
    forms = store.published_forms(session)
    ruleset = _ruleset(session, case, forms)
    current = [d for d in case.documents if d.superseded_by is None]
    infos = [_info(d) for d in current]
    facts = dict(case.facts or {})
    answers = facts.get("answers") if isinstance(facts.get("answers"), dict) else {}
    payer = session.get(Payer, case.payer_id) if case.payer_id else None
    org = session.get(Organization, case.organization_id)
    arguments: dict[str, Any] = {
        "reference": case.reference,
        "facts": facts,
        "decision": dict(case.decision or {}),
        "ruleset": ruleset,
        "documents": infos,
        "answers": answers,
        "forms": forms,
        "sender": Sender(
            org.name if org else "", org.fax_number if org else None, org.phone if org else None
        ),
        "payer_name": payer.name if payer else None,
        "today": today,
    }
    if kind == "auto":
        try:
            packet = plan_packet(**arguments, final=True)
        except PacketBlocked:
            packet = plan_packet(**arguments, final=False)
    else:
        packet = plan_packet(**arguments, final=kind == "final")
    return packet


def _files(case: Case, packet: Packet, root: Path | None) -> dict[str, tuple[Path, str]]:
    """Each attachment's file, checked against its sha256: (path, sha256) by document id."""
    by_id = {documents.fact_id(d): d for d in case.documents if d.superseded_by is None}
    return {
        a.id: (documents.open_file(case, by_id[a.id], root=root), by_id[a.id].sha256)
        for a in packet.attachments
    }


def _info(document: CaseDocument) -> DocumentInfo:
    return DocumentInfo(
        id=documents.fact_id(document),
        type=document.type,
        label=documents.TYPES.get(document.type, document.type),
        date=document.date.isoformat() if document.date else None,
        pages=document.pages or 1,
        title=document.title or documents.TYPES.get(document.type, document.type),
    )


def _ruleset(session: Session, case: Case, forms: Any) -> Ruleset | None:
    """The ruleset version that made the case's decision (its packet section, its items)."""
    if not case.ruleset_id or case.ruleset_version is None:
        return None
    try:
        return store.ruleset_version(session, case.ruleset_id, case.ruleset_version, forms)
    except (store.StoreError, LoadError, EngineError):
        return None  # retired and gone: the standard request form, the decision's own labels


def _latest(session: Session, case: Case) -> CasePacket | None:
    return session.scalars(
        select(CasePacket).where(CasePacket.case_id == case.id).order_by(CasePacket.version.desc()).limit(1)
    ).first()


def packets_of(session: Session, case: Case) -> list[CasePacket]:
    """Every packet of the case, newest first."""
    return list(
        session.scalars(
            select(CasePacket).where(CasePacket.case_id == case.id).order_by(CasePacket.version.desc())
        )
    )


def find(session: Session, case: Case, version: int | None = None) -> CasePacket:
    """A packet of the case by version, or the latest; CaseError when there is none."""
    query = select(CasePacket).where(CasePacket.case_id == case.id)
    if version is not None:
        query = query.where(CasePacket.version == version)
    row = session.scalars(query.order_by(CasePacket.version.desc()).limit(1)).first()
    if row is None:
        which = f"no packet version {version}" if version is not None else "no packet yet"
        raise cases.CaseError([("packet", f"{case.reference} has {which}")])
    return row


def open_packet(case: Case, row: CasePacket, *, root: Path | None = None) -> Path:
    """The packet's PDF, checked to be this case's and unchanged since it was built."""
    base = (root or default_root()).resolve() / str(case.organization_id)
    path = (base.parent / row.stored_as).resolve()
    if row.case_id != case.id or not path.is_relative_to(base) or not path.is_file():
        raise cases.CaseError(
            [("packet", f"the file of packet v{row.version} is missing: IT must restore it")]
        )
    if documents.sha256_of(path) != row.sha256:
        raise cases.CaseError(
            [("packet", f"the file of packet v{row.version} changed on disk: IT must restore it from backup")]
        )
    return path


def download_name(case: Case, row: CasePacket) -> str:
    return f"{case.reference}-packet-v{row.version}{'-DRAFT' if row.kind == 'draft' else ''}.pdf"


def _store(root: Path, case: Case, pdf: bytes) -> str:
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / str(case.organization_id)
    folder.mkdir(mode=0o700, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".packet-", suffix=".part", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pdf)
            out.flush()
            os.fsync(out.fileno())
        name = secrets.token_hex(16) + ".pdf"
        os.replace(temp, folder / name)
    finally:
        Path(temp).unlink(missing_ok=True)
    return f"{case.organization_id}/{name}"
