"""What goes into a packet: the template the ruleset names, the documents in the payer's order
(and nothing the payer did not ask for), the checklist, and what blocks a final packet."""

from __future__ import annotations

from datetime import date

import pytest

from engine import Evaluator, load_form, load_ruleset
from engine.packets import (
    STANDARD_TEMPLATE,
    DocumentInfo,
    PacketBlocked,
    Sender,
    choose_template,
    plan_packet,
)

RULESET = """\
ruleset: acme-test
payer: acme
version: 3
effective: {from: 2026-01-01}
items:
  order: {label: Signed order, satisfied_by: {documents: {some: {type: order}}}}
  recent-note: {label: Recent clinical note, satisfied_by: {documents: {some: {type: clinical-note, date: {within_days: 60}}}}}
  therapy: {label: Six weeks of therapy, satisfied_by: {clinical.therapy_weeks: {gte: 6}}}
facts:
  clinical.therapy_weeks: integer
defaults: {fax: "+15550100"}
packet:
  template: acme-imaging-request
  documents: [order, clinical-note, imaging-report]
rules:
  - id: drug-needs-auth
    priority: 10
    when: {service.codes: {any_in: ["J1745"]}}
    then: {auth: required, packet: acme-drug-request, require: [order]}
  - id: imaging-needs-auth
    when: {service.codes: {any_in: ["72148"]}}
    then: {auth: required, require: [order, recent-note, therapy], forms: [imaging-readiness]}
"""
FORM = """\
form: imaging-readiness
version: 2
title: Imaging readiness
schema:
  type: object
  required: [symptom_weeks]
  properties:
    symptom_weeks: {type: integer, title: Weeks of symptoms}
    red_flags: {type: boolean, title: Red flags present}
"""
SENDER = Sender("Lakeside Orthopedics", "+16145550199", "+16145550100")
TODAY = date(2026, 11, 20)


def _facts(**changes: object) -> dict[str, object]:
    facts: dict[str, object] = {
        "case_id": "PA-TEST0001",
        "as_of": "2026-11-20",
        "coverage": {"payer": "acme", "member_id": "A1"},
        "service": {"codes": ["72148"]},
        "documents": [
            {"id": "DOC-1", "type": "order", "date": "2026-11-18"},
            {"id": "DOC-2", "type": "clinical-note", "date": "2026-11-01"},
            {"id": "DOC-3", "type": "payer-letter", "date": "2026-10-01"},
            {"id": "DOC-4", "type": "photographs", "date": "2026-11-02"},
            {"id": "DOC-5", "type": "clinical-note", "date": "2026-11-15"},
        ],
        "clinical": {"therapy_weeks": 7},
        "answers": {"imaging-readiness": {"symptom_weeks": 9, "red_flags": False}},
    }
    facts.update(changes)
    return facts


DOCS = [
    DocumentInfo("DOC-1", "order", "Order", "2026-11-18", 1, "Signed order"),
    DocumentInfo("DOC-2", "clinical-note", "Clinical note", "2026-11-01", 3, "Visit 1"),
    DocumentInfo("DOC-3", "payer-letter", "Payer letter", "2026-10-01", 1, "Old letter"),
    DocumentInfo("DOC-4", "photographs", "Photographs", "2026-11-02", 2, "Photos"),
    DocumentInfo("DOC-5", "clinical-note", "Clinical note", "2026-11-15", 2, "Visit 2"),
]


@pytest.fixture(scope="module")
def setup():
    form = load_form(FORM)
    ruleset = load_ruleset(RULESET, "acme-test.yaml", {form.id: form.answer_types})
    return ruleset, {form.id: form}, Evaluator([ruleset], {form.id: form}, backend="compiled")


def _plan(setup, facts=None, final=False, documents=DOCS, ruleset=True):
    rules, forms, evaluator = setup
    facts = facts or _facts()
    decision = evaluator.evaluate(facts, TODAY)
    return plan_packet(
        reference="PA-TEST0001",
        facts=facts,
        decision=decision,
        ruleset=rules if ruleset else None,
        documents=documents,
        answers=facts.get("answers") or {},
        forms=forms,
        sender=SENDER,
        payer_name="ACME Health",
        today=TODAY,
        final=final,
    )


def test_a_ready_case_makes_a_final_packet_with_the_rulesets_template(setup):
    packet = _plan(setup, final=True)
    assert packet.kind == "final"
    assert packet.blocked == ()
    assert packet.template == "acme-imaging-request"
    assert packet.template_from == "the packet template of acme-test v3"
    assert packet.sections == ("cover", "request", "answers", "checklist", "documents")


def test_the_first_applied_rule_that_names_a_template_wins(setup):
    packet = _plan(setup, facts=_facts(service={"codes": ["J1745", "72148"]}))
    assert packet.template == "acme-drug-request"
    assert packet.template_from == "rule 'drug-needs-auth' of acme-test v3 names it"


def test_without_a_ruleset_the_standard_request_form_is_used(setup):
    assert choose_template(None, {}) == (
        STANDARD_TEMPLATE,
        "no ruleset decided the case: the standard request form",
    )


def test_documents_follow_the_payers_type_order_newest_first_and_nothing_else_is_sent(setup):
    packet = _plan(setup)
    assert [a.id for a in packet.attachments] == ["DOC-1", "DOC-5", "DOC-2"]
    assert [d.id for d in packet.left_out] == ["DOC-3", "DOC-4"]  # a payer letter, and photos not asked for
    assert packet.pages_attached == 1 + 2 + 3


def test_without_a_document_list_every_document_goes_in_but_the_payers_letters(setup):
    _, forms, evaluator = setup
    plain = load_ruleset(
        RULESET.replace("  documents: [order, clinical-note, imaging-report]\n", ""),
        "x.yaml",
        {"imaging-readiness": forms["imaging-readiness"].answer_types},
    )
    facts = _facts()
    packet = plan_packet(
        reference="PA-TEST0001",
        facts=facts,
        decision=evaluator.evaluate(facts, TODAY),
        ruleset=plain,
        documents=DOCS,
        answers=facts["answers"],
        forms=forms,
        sender=SENDER,
        payer_name=None,
        today=TODAY,
        final=False,
    )
    # the ones that satisfy an item first (in checklist order, newest first), then the rest
    assert [a.id for a in packet.attachments] == ["DOC-1", "DOC-5", "DOC-2", "DOC-4"]
    assert [d.id for d in packet.left_out] == ["DOC-3"]
    assert packet.cover.to == "acme"


def test_the_checklist_names_the_documents_that_satisfy_each_item_in_the_rulesets_item_order(setup):
    packet = _plan(setup)
    rows = [(r.id, r.satisfied, r.by, r.note) for r in packet.checklist]
    assert rows == [
        ("order", True, ("DOC-1",), ""),
        ("recent-note", True, ("DOC-2", "DOC-5"), ""),
        ("therapy", True, (), "satisfied by the case's facts or form answers"),
    ]
    by_id = {a.id: a.satisfies for a in packet.attachments}
    assert by_id == {
        "DOC-1": ("Signed order",),
        "DOC-5": ("Recent clinical note",),
        "DOC-2": ("Recent clinical note",),
    }


def test_missing_items_and_an_incomplete_form_block_a_final_packet_and_every_reason_is_given(setup):
    facts = _facts(clinical={"therapy_weeks": 2}, answers={"imaging-readiness": {"red_flags": True}})
    with pytest.raises(PacketBlocked) as refused:
        _plan(setup, facts=facts, final=True)
    assert refused.value.reasons == (
        "missing: Six weeks of therapy",
        "the readiness form 'Imaging readiness' is not complete",
    )
    draft = _plan(setup, facts=facts, final=False)
    assert draft.kind == "draft"
    assert draft.blocked == refused.value.reasons
    assert [(r.id, r.satisfied) for r in draft.checklist][-1] == ("therapy", False)


def test_a_document_named_in_the_facts_without_a_file_blocks_a_final_packet(setup):
    only_note = [d for d in DOCS if d.id != "DOC-1"]
    with pytest.raises(PacketBlocked) as refused:
        _plan(setup, final=True, documents=only_note)
    assert refused.value.reasons == ("Signed order: DOC-1 has no file on the case: attach it",)


def test_no_authorization_needed_means_no_final_packet(setup):
    facts = _facts(service={"codes": ["99213"]})
    with pytest.raises(PacketBlocked) as refused:
        _plan(setup, facts=facts, final=True)
    assert refused.value.reasons == ("no ruleset decided this case: a person must decide whether to send it",)


def test_the_cover_carries_no_clinical_detail_and_flags_expedited_review(setup):
    packet = _plan(setup, facts=_facts(urgency="expedited"))
    cover = packet.cover
    assert (cover.to, cover.to_fax, cover.reference, cover.expedited) == (
        "ACME Health",
        "+15550100",
        "PA-TEST0001",
        True,
    )
    assert cover.sender == SENDER
    words = " ".join(str(v) for v in (cover.to, cover.to_fax, cover.regarding, cover.notice, cover.date))
    for clinical in ("72148", "M54", "therapy", "A1"):
        assert clinical not in words


def test_answers_are_shown_in_words_for_the_visible_questions(setup):
    packet = _plan(setup)
    (form,) = packet.answers
    assert (form.form, form.title, form.version, form.complete) == (
        "imaging-readiness",
        "Imaging readiness",
        2,
        True,
    )
    assert [(a.question, a.answer) for a in form.answers] == [
        ("Weeks of symptoms", "9"),
        ("Red flags present", "No"),
    ]
    # the same words for request templates, by form id and question name
    assert packet.labels == {"imaging-readiness": {"symptom_weeks": "9", "red_flags": "No"}}
