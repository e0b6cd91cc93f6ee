"""A packet template tried before it is saved: a draft packet for an example case, as a PDF.

    outcome = render(session, text, facts)    # PDF bytes, or a list of problems in words

The example is evaluated with what is published; its documents have no files, so the packet has
the cover, the request form, the answers and the checklist (a draft: nothing is sent from here).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from admin import store
from admin.models import Payer
from connectors.pdf.packet import PacketRenderError, render_packet
from connectors.pdf.templates import load_template
from engine import EngineError, LoadError
from engine.packets import Sender, plan_packet

SAMPLE_PRACTICE = {"name": "Sample Practice", "fax": "+15555550199", "phone": "+15555550100"}


def render(session: Session, text: str, facts: dict[str, Any]) -> bytes | list[str]:
    try:
        template = load_template(store.normalize(text), "<editor>")
    except LoadError as exc:
        return [f"line {p.line}: {p.message}" if p.line else p.message for p in exc.problems]
    today = date.today()
    try:
        decision = store.evaluator(session, "compiled").evaluate(facts, today)
    except EngineError as exc:
        return [f"The example case cannot be evaluated: {exc}"]
    ruleset_id = (decision.get("ruleset") or {}).get("id")
    forms = store.published_forms(session)
    ruleset = None
    if ruleset_id:
        ruleset = store.ruleset_version(session, ruleset_id, decision["ruleset"]["version"], forms)
    payer_id = str((facts.get("coverage") or {}).get("payer") or "")
    payer = session.get(Payer, payer_id) if payer_id else None
    packet = plan_packet(
        reference="PA-PREVIEW0",
        facts={**facts, "patient": {"name": "Sample, Pat", **(facts.get("patient") or {})}},
        decision=decision,
        ruleset=ruleset,
        documents=[],
        answers=facts.get("answers") or {},
        forms=forms,
        sender=Sender(SAMPLE_PRACTICE["name"], SAMPLE_PRACTICE["fax"], SAMPLE_PRACTICE["phone"]),
        payer_name=payer.name if payer else None,
        today=today,
        final=False,
    )
    try:
        rendered = render_packet(
            packet,
            template,
            {},
            payer={"id": payer_id, "name": packet.cover.to, "fax": payer.fax_number if payer else None},
            practice=SAMPLE_PRACTICE,
        )
    except PacketRenderError as exc:
        return [str(exc)]
    return rendered.pdf
