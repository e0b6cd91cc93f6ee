"""What goes into a case's packet, and in which order: the contents, not the pages.

A packet is what the payer's reviewer reads: a fax cover sheet, the payer's request form filled
from the case, the readiness form answers, a checklist of the items the payer requires with the
documents that satisfy each, then the documents themselves. `plan_packet` works all of that out
from the decision the packet is built from; connectors/pdf lays it out on pages.

    packet = plan_packet(reference="PA-7KQ2M9XD", facts=..., decision=..., ruleset=ruleset,
                         documents=[DocumentInfo("DOC-3", "order", "Signed order", "2026-11-18", 2)],
                         answers={"imaging-readiness": {...}}, forms=forms, sender=..., payer_name=...,
                         today=date(2026, 11, 20), final=True)       # PacketBlocked when not ready

Which template and which documents come from the ruleset (`packet:` and a rule's `then.packet`,
docs/packets.md): the first applied rule that names a template wins, then the ruleset's
`packet.template`, then the standard request form. Documents follow `packet.documents` (types
in the payer's order); a document of another type goes in only when it satisfies a required
item, so nothing is sent that the payer did not ask for (the minimum necessary). Without that
list every current document goes in but the payer's own letters.

The cover sheet carries no clinical detail and no patient name: it travels past mail rooms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from engine.errors import EngineError
from engine.forms import Form
from engine.rulesets import PACKET_SECTIONS, Ruleset

STANDARD_TEMPLATE = "standard-request"
#: documents that are the payer's own words back to the practice: never sent to the payer again
NOT_SENT = frozenset({"payer-letter"})
CONFIDENTIAL = (
    "This facsimile contains protected health information that is privileged and confidential "
    "under HIPAA (45 CFR Parts 160 and 164). It is intended only for the payer's utilization "
    "review staff named above. If you received it in error, notify the sender at once by "
    "telephone and destroy every copy; any other use, disclosure or copying is prohibited."
)


class PacketBlocked(EngineError):
    """A final packet cannot be built yet; `reasons` lists every reason in words."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("a final packet cannot be built yet: " + "; ".join(self.reasons))


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A current document of the case, as the store knows it (never its bytes)."""

    id: str  # the id the facts use: DOC-12
    type: str
    label: str  # the type in words: "Signed order"
    date: str | None  # ISO
    pages: int
    title: str = ""


@dataclass(frozen=True, slots=True)
class Sender:
    """The practice sending the packet: who the payer answers."""

    name: str
    fax: str | None = None
    phone: str | None = None
    contact: str | None = None  # the coordinator's name, when the practice wants it on the cover


@dataclass(frozen=True, slots=True)
class Attachment:
    document: DocumentInfo
    satisfies: tuple[str, ...]  # the labels of the required items it satisfies

    @property
    def id(self) -> str:
        return self.document.id


@dataclass(frozen=True, slots=True)
class ChecklistRow:
    id: str
    label: str
    satisfied: bool
    by: tuple[str, ...]  # the ids of the attachments that satisfy it (in the packet)
    note: str  # for a missing item, why; for one satisfied without a document, what satisfied it


@dataclass(frozen=True, slots=True)
class Answer:
    question: str  # its title
    answer: str  # in words ("Yes", "Physical therapy, NSAIDs", "—" when not answered)
    name: str = ""  # the question's name in the form (`contrast`)


@dataclass(frozen=True, slots=True)
class FormAnswers:
    form: str
    title: str
    version: int | None
    complete: bool
    answers: tuple[Answer, ...]


@dataclass(frozen=True, slots=True)
class Cover:
    to: str  # the payer's name
    to_fax: str | None
    sender: Sender
    date: str  # ISO
    reference: str
    expedited: bool
    regarding: str = "Prior authorization request"
    notice: str = CONFIDENTIAL


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet's contents in reading order; `sections` says which parts appear."""

    reference: str
    kind: str  # draft | final
    template: str
    template_from: str  # why this template: "rule 'x'", "the ruleset's packet.template", ...
    sections: tuple[str, ...]
    cover: Cover
    case: Mapping[str, Any]  # the facts, for the request template (JSON values)
    decision: Mapping[str, Any]
    answers: tuple[FormAnswers, ...]
    checklist: tuple[ChecklistRow, ...]
    attachments: tuple[Attachment, ...]
    left_out: tuple[DocumentInfo, ...]  # current documents not sent, and why: see module docstring
    blocked: tuple[str, ...] = field(default=())  # why it could not be final (a draft says it too)

    @property
    def labels(self) -> dict[str, dict[str, str]]:
        """Each form's answers in words, by form id and question name (for request templates)."""
        return {form.form: {a.name: a.answer for a in form.answers} for form in self.answers}

    @property
    def pages_attached(self) -> int:
        return sum(a.document.pages for a in self.attachments)


def plan_packet(
    *,
    reference: str,
    facts: Mapping[str, Any],
    decision: Mapping[str, Any],
    ruleset: Ruleset | None,
    documents: Sequence[DocumentInfo],
    answers: Mapping[str, Mapping[str, Any]],
    forms: Mapping[str, Form],
    sender: Sender,
    payer_name: str | None,
    today: date,
    final: bool,
) -> Packet:
    """The packet for a case from the decision it is built from. Raises PacketBlocked when
    `final` and something the payer requires is missing, a form is incomplete, or the rules do
    not say authorization is needed."""
    template, template_from = choose_template(ruleset, decision)
    spec = ruleset.packet if ruleset is not None else None
    checklist = _checklist(ruleset, decision)
    attachments, left_out = _attachments(documents, checklist, spec.documents if spec else None)
    in_packet = {a.id for a in attachments}
    blocked = why_not_final(decision, answers, forms)
    rows = []
    for row in checklist:
        enclosed = tuple(d for d in row.by if d in in_packet)
        if row.by and not enclosed:  # the facts name a document, but no file of it is on the case
            blocked.append(f"{row.label}: {', '.join(row.by)} has no file on the case: attach it")
            row = ChecklistRow(
                row.id, row.label, False, (), "named in the case's facts, but no file is attached"
            )
        rows.append(ChecklistRow(row.id, row.label, row.satisfied, enclosed, row.note))
    if final and blocked:
        raise PacketBlocked(blocked)
    coverage = _mapping(facts.get("coverage"))
    # the payer's name as the admin's payers list gives it, else as its ruleset's title begins
    # ("ACME Health, commercial and employer group"), else its id
    named = ruleset.title.split(",")[0].strip() if ruleset is not None and ruleset.title != ruleset.id else ""
    payer = payer_name or named or str(coverage.get("payer") or "the payer")
    return Packet(
        reference=reference,
        kind="final" if final else "draft",
        template=template,
        template_from=template_from,
        sections=spec.sections if spec else PACKET_SECTIONS,
        cover=Cover(
            to=payer,
            to_fax=_text(decision.get("fax")),
            sender=sender,
            date=today.isoformat(),
            reference=reference,
            expedited=decision.get("urgency") in ("expedited", "emergency"),
        ),
        case=facts,
        decision=decision,
        answers=_answers(decision, answers, forms),
        checklist=tuple(rows),
        attachments=attachments,
        left_out=left_out,
        blocked=tuple(blocked),
    )


def why_not_final(
    decision: Mapping[str, Any], answers: Mapping[str, Mapping[str, Any]], forms: Mapping[str, Form]
) -> list[str]:
    """Every reason a final packet cannot be sent yet, in words a coordinator acts on."""
    reasons: list[str] = []
    auth = decision.get("auth")
    if auth == "not-required":
        reasons.append("the rules say no authorization is needed: there is nothing to send")
    elif auth not in ("required", "review"):
        reasons.append("no ruleset decided this case: a person must decide whether to send it")
    for item in decision.get("missing") or []:
        reasons.append(f"missing: {item.get('label') or item.get('id')}")
    for form_id in decision.get("forms") or []:
        form = forms.get(form_id)
        given = answers.get(form_id)
        if form is None:
            reasons.append(f"the readiness form '{form_id}' is not published")
        elif given is None or not form.complete(given):
            reasons.append(f"the readiness form '{form.title}' is not complete")
    return reasons


def choose_template(ruleset: Ruleset | None, decision: Mapping[str, Any]) -> tuple[str, str]:
    """The request template for this decision, and why it is that one."""
    if ruleset is not None:
        rules = {rule.id: rule for rule in ruleset.rules}
        for fired in decision.get("fired") or []:
            rule = rules.get(fired.get("rule"))
            if rule is not None and fired.get("applied") and rule.packet:
                return rule.packet, f"rule '{rule.id}' of {ruleset.id} v{ruleset.version} names it"
        if ruleset.packet.template:
            return ruleset.packet.template, f"the packet template of {ruleset.id} v{ruleset.version}"
        return STANDARD_TEMPLATE, f"{ruleset.id} names no packet template: the standard request form"
    return STANDARD_TEMPLATE, "no ruleset decided the case: the standard request form"


def _checklist(ruleset: Ruleset | None, decision: Mapping[str, Any]) -> tuple[ChecklistRow, ...]:
    """The items the rules required, in the ruleset's order of `items`, then inline ones."""
    why = _mapping(decision.get("why_missing"))
    rows: dict[str, ChecklistRow] = {}
    for item in decision.get("satisfied") or []:
        by = tuple(str(d) for d in item.get("by") or [])
        note = "" if by else "satisfied by the case's facts or form answers"
        rows[item["id"]] = ChecklistRow(item["id"], str(item.get("label") or item["id"]), True, by, note)
    for item in decision.get("missing") or []:
        note = str(why.get(item["id"]) or "nothing in the case satisfies it yet")
        rows[item["id"]] = ChecklistRow(item["id"], str(item.get("label") or item["id"]), False, (), note)
    order = {iid: n for n, iid in enumerate(ruleset.items)} if ruleset is not None else {}
    return tuple(sorted(rows.values(), key=lambda row: order.get(row.id, len(order))))


def _attachments(
    documents: Sequence[DocumentInfo], checklist: Sequence[ChecklistRow], types: tuple[str, ...] | None
) -> tuple[tuple[Attachment, ...], tuple[DocumentInfo, ...]]:
    satisfies: dict[str, list[str]] = {}
    for row in checklist:
        for doc_id in row.by:
            satisfies.setdefault(doc_id, []).append(row.label)
    first_need = {d: n for n, row in enumerate(checklist) for d in reversed(row.by)}
    sent: list[DocumentInfo] = []
    left: list[DocumentInfo] = []
    for doc in documents:
        wanted = doc.id in satisfies or (doc.type in types if types is not None else doc.type not in NOT_SENT)
        (sent if wanted else left).append(doc)
    if types is not None:
        position = {t: n for n, t in enumerate(types)}

        def key(doc: DocumentInfo) -> tuple[int, int, str]:
            return (position.get(doc.type, len(position)), first_need.get(doc.id, 0), _newest_first(doc))
    else:

        def key(doc: DocumentInfo) -> tuple[int, int, str]:
            return (0 if doc.id in first_need else 1, first_need.get(doc.id, 0), _newest_first(doc))

    ordered = sorted(sent, key=key)  # stable: documents alike keep the order the case lists them
    return tuple(Attachment(d, tuple(satisfies.get(d.id, ()))) for d in ordered), tuple(left)


def _newest_first(doc: DocumentInfo) -> str:
    """A sort key putting later dates first (ISO dates; undated last)."""
    if not doc.date:
        return "~"
    return "".join(chr(ord("9") - ord(c) + ord("0")) if c.isdigit() else c for c in doc.date)


def _answers(
    decision: Mapping[str, Any], answers: Mapping[str, Mapping[str, Any]], forms: Mapping[str, Form]
) -> tuple[FormAnswers, ...]:
    out: list[FormAnswers] = []
    for form_id in decision.get("forms") or []:
        form = forms.get(form_id)
        if form is None:
            continue
        given = _mapping(answers.get(form_id))
        shown = form.visible(given)
        rows = tuple(
            Answer(q.title, _words(q, given.get(q.name)), q.name) for q in form.questions if q.name in shown
        )
        out.append(FormAnswers(form.id, form.title, form.version, form.complete(given), rows))
    return tuple(out)


def _words(question: Any, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(question.label_of(v) for v in value)
    if question.kind in ("choice", "boolean"):
        return str(question.label_of(value))
    return str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
