"""How the outcomes of the rules that fired combine into one decision (spec rulesets.md,
"Outcomes and how they combine" and "The decision")."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from engine import Evaluator, LoadError, load_form, load_ruleset

BACKENDS = ("durable", "compiled")
TODAY = date(2026, 11, 20)

HEAD = """\
ruleset: outcomes
payer: acme
effective: {from: 2020-01-01}
facts:
  clinical.ahi: number
  clinical.order_on_file: boolean
"""

FORM = """\
form: readiness
title: Readiness
schema:
  type: object
  required: [weeks]
  properties:
    weeks: {type: integer, minimum: 0, title: Weeks of symptoms}
"""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def case(**facts: Any) -> dict[str, Any]:
    return {"case_id": "C-1", "as_of": "2026-11-20", "coverage": {"payer": "acme"}, **facts}


def decide(
    backend: str, body: str, facts: dict[str, Any] | None = None, with_form: bool = True
) -> dict[str, Any]:
    """Evaluate `facts` (default: a bare case) against HEAD + `body`."""
    ruleset = load_ruleset(HEAD + body, "outcomes.yaml")
    forms = {"readiness": load_form(FORM, "readiness.yaml")} if with_form else {}
    return Evaluator([ruleset], forms=forms, backend=backend).evaluate(
        case() if facts is None else facts, today=TODAY
    )


def fired(decision: dict[str, Any]) -> list[tuple[str, int, bool]]:
    return [(f["rule"], f["priority"], f["applied"]) for f in decision["fired"]]


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries]


# -- evaluation order and final ---------------------------------------------------------------------------
def test_rules_are_taken_by_priority_then_document_order(backend: str) -> None:
    body = """\
rules:
  - {id: plain-first, when: {}, then: {notes: [a]}}
  - {id: high-first, priority: 10, when: {}, then: {notes: [b]}}
  - {id: low, priority: -5, when: {}, then: {notes: [c]}}
  - {id: high-second, priority: 10, when: {}, then: {notes: [d]}}
  - {id: plain-second, when: {}, then: {notes: [e]}}
"""
    decision = decide(backend, body)
    assert fired(decision) == [
        ("high-first", 10, True),
        ("high-second", 10, True),
        ("plain-first", 0, True),
        ("plain-second", 0, True),
        ("low", -5, True),
    ]
    assert decision["notes"] == ["b", "d", "a", "e", "c"]


def test_a_rule_whose_condition_fails_is_not_reported(backend: str) -> None:
    body = """\
rules:
  - {id: fires, when: {}, then: {auth: required}}
  - {id: silent, when: {clinical.ahi: {gt: 100}}, then: {auth: review}}
"""
    assert fired(decide(backend, body, case(clinical={"ahi": 5}))) == [("fires", 0, True)]


def test_a_final_rule_cuts_every_later_rule_which_is_still_reported_as_not_applied(backend: str) -> None:
    body = """\
items:
  order: {label: Signed order, satisfied_by: {documents: {some: {type: order}}}}
defaults: {channel: portal, queue: general}
rules:
  - id: before
    priority: 20
    when: {}
    then: {forms: [readiness], notes: [kept]}
  - id: stop
    priority: 10
    when: {}
    then: {auth: not-required, final: true}
  - id: after
    when: {}
    then: {auth: required, channel: fax, queue: imaging, urgency: expedited, forms: [other],
           require: [order], missing: [{id: x, label: X}], notes: [dropped]}
"""
    decision = decide(backend, body)
    assert fired(decision) == [("before", 20, True), ("stop", 10, True), ("after", 0, False)]
    assert decision["auth"] == "not-required"
    assert decision["channel"] == "portal"
    assert decision["queue"] == "general"
    assert decision["urgency"] == "standard"
    assert decision["forms"] == ["readiness"]
    assert decision["notes"] == ["kept"]
    assert decision["missing"] == []
    assert decision["satisfied"] == []
    assert decision["due"] is None
    assert decision["ready"] is True


def test_final_breaks_ties_in_document_order(backend: str) -> None:
    body = """\
rules:
  - {id: first, when: {}, then: {queue: one}}
  - {id: stop, when: {}, then: {final: true}}
  - {id: third, when: {}, then: {auth: required, queue: three}}
"""
    decision = decide(backend, body)
    assert fired(decision) == [("first", 0, True), ("stop", 0, True), ("third", 0, False)]
    assert decision["auth"] == "unknown"
    assert decision["queue"] == "one"


def test_a_final_rule_that_does_not_fire_cuts_nothing(backend: str) -> None:
    body = """\
rules:
  - {id: stop, priority: 5, when: {urgency: emergency}, then: {auth: not-required, final: true}}
  - {id: later, when: {}, then: {auth: required}}
"""
    decision = decide(backend, body)
    assert fired(decision) == [("later", 0, True)]
    assert decision["auth"] == "required"


# -- auth -------------------------------------------------------------------------------------------------
def test_the_first_applied_rule_that_sets_auth_decides_it(backend: str) -> None:
    body = """\
rules:
  - {id: no-auth, priority: 9, when: {}, then: {queue: q}}
  - {id: reviewer, priority: 5, when: {}, then: {auth: review}}
  - {id: requirer, when: {}, then: {auth: required}}
  - {id: exempt, priority: -1, when: {}, then: {auth: not-required}}
"""
    assert decide(backend, body)["auth"] == "review"


def test_it_routes_to_a_person_when_no_rule_sets_auth(backend: str) -> None:
    body = """\
defaults: {channel: portal, queue: general}
rules:
  - {id: queue-only, when: {}, then: {queue: imaging}}
"""
    decision = decide(backend, body)
    assert decision["auth"] == "unknown"
    assert decision["due"] is None
    assert decision["ready"] is False
    assert decision["queue"] == "imaging"


def test_auth_is_unknown_when_no_rule_fires(backend: str) -> None:
    body = """\
rules:
  - {id: never, when: {urgency: emergency}, then: {auth: not-required}}
"""
    decision = decide(backend, body)
    assert decision["auth"] == "unknown"
    assert decision["fired"] == []
    assert decision["ruleset"]["id"] == "outcomes"
    assert decision["ready"] is False


# -- channel, portal, fax, queue, urgency --------------------------------------------------------------------
ROUTING = """\
defaults: {channel: portal, portal: acme-portal, fax: "+15550100", queue: general}
rules:
  - {id: r1, priority: 2, when: {}, then: {channel: fax}}
  - {id: r2, priority: 1, when: {}, then: {channel: phone, portal: other-portal, queue: imaging}}
  - {id: r3, when: {}, then: {channel: x12-278, portal: third-portal, queue: surgery, fax: "+15550199"}}
"""


def test_channel_portal_fax_and_queue_come_from_the_first_applied_rule_that_sets_each(backend: str) -> None:
    decision = decide(backend, ROUTING)
    assert (decision["channel"], decision["portal"], decision["queue"], decision["fax"]) == (
        "fax",
        "other-portal",
        "imaging",
        "+15550199",
    )


def test_channel_portal_fax_and_queue_fall_back_to_the_defaults(backend: str) -> None:
    body = """\
defaults: {channel: fhir-pas, portal: acme-portal, fax: "+15550100", queue: general}
rules:
  - {id: r1, when: {}, then: {auth: required}}
"""
    decision = decide(backend, body)
    assert (decision["channel"], decision["portal"], decision["queue"], decision["fax"]) == (
        "fhir-pas",
        "acme-portal",
        "general",
        "+15550100",
    )


def test_routing_is_null_without_a_rule_or_a_default(backend: str) -> None:
    decision = decide(backend, "rules:\n  - {id: r1, when: {}, then: {auth: required}}\n")
    assert (decision["channel"], decision["portal"], decision["queue"], decision["fax"]) == (
        None,
        None,
        None,
        None,
    )


def test_urgency_comes_from_the_first_applied_rule_that_sets_it(backend: str) -> None:
    body = """\
rules:
  - {id: r1, priority: 2, when: {}, then: {auth: required}}
  - {id: r2, priority: 1, when: {}, then: {urgency: expedited}}
  - {id: r3, when: {}, then: {urgency: emergency}}
"""
    assert decide(backend, body, case(urgency="standard"))["urgency"] == "expedited"


def test_a_rule_urgency_overrides_the_case_urgency(backend: str) -> None:
    body = "rules:\n  - {id: r1, when: {}, then: {auth: required, urgency: standard}}\n"
    decision = decide(backend, body, case(urgency="emergency"))
    assert decision["urgency"] == "standard"
    assert decision["due"] == "2026-11-27"


@pytest.mark.parametrize(
    ("case_urgency", "expected"), [("emergency", "emergency"), ("expedited", "expedited"), (None, "standard")]
)
def test_urgency_comes_from_the_case_when_no_rule_sets_it(
    backend: str, case_urgency: str | None, expected: str
) -> None:
    facts = case(urgency=case_urgency) if case_urgency else case()
    decision = decide(backend, "rules:\n  - {id: r1, when: {}, then: {auth: required}}\n", facts)
    assert decision["urgency"] == expected


# -- unions ---------------------------------------------------------------------------------------------------
UNIONS = """\
items:
  x: {label: Item X}
  y: {label: Item Y}
  z: {label: Item Z}
rules:
  - id: r1
    priority: 1
    when: {}
    then: {forms: [b, a], notes: [second, first], require: [y, x], missing: [{id: m1, label: M1}]}
  - id: r2
    when: {}
    then: {forms: [a, c, b], notes: [first, third], require: [x, z], missing: [{id: m1, label: M1}, {id: m2, label: M2}]}
"""


def test_forms_and_notes_are_unions_in_first_appearance_order(backend: str) -> None:
    decision = decide(backend, UNIONS)
    assert decision["forms"] == ["b", "a", "c"]
    assert decision["notes"] == ["second", "first", "third"]


def test_missing_is_one_list_in_evaluation_order_without_repeats(backend: str) -> None:
    decision = decide(backend, UNIONS)
    assert decision["missing"] == [
        {"id": "y", "label": "Item Y", "rule": "r1"},
        {"id": "x", "label": "Item X", "rule": "r1"},
        {"id": "m1", "label": "M1", "rule": "r1"},
        {"id": "z", "label": "Item Z", "rule": "r2"},
        {"id": "m2", "label": "M2", "rule": "r2"},
    ]


def test_within_a_rule_unsatisfied_require_items_come_before_its_missing_entries(backend: str) -> None:
    # `missing:` is written before `require:`; the decision still lists the require items first
    body = """\
items:
  order: {label: Signed order, satisfied_by: {documents: {some: {type: order}}}}
  note: {label: Clinical note, satisfied_by: {documents: {some: {type: clinical-note}}}}
rules:
  - id: r1
    when: {}
    then:
      missing: [{id: therapy, label: Therapy}, order]
      require: [note, order]
"""
    decision = decide(backend, body, case(documents=[{"id": "D1", "type": "order"}]))
    assert decision["missing"] == [
        {"id": "note", "label": "Clinical note", "rule": "r1"},
        {"id": "therapy", "label": "Therapy", "rule": "r1"},
        {"id": "order", "label": "Signed order", "rule": "r1"},
    ]


def test_a_missing_entry_naming_an_item_is_missing_outright_with_the_item_label(backend: str) -> None:
    body = """\
items:
  order: {label: Signed order, satisfied_by: {documents: {some: {type: order}}}}
rules:
  - {id: r1, when: {}, then: {auth: required, missing: [order]}}
"""
    decision = decide(backend, body, case(documents=[{"id": "D1", "type": "order"}]))
    assert decision["missing"] == [{"id": "order", "label": "Signed order", "rule": "r1"}]
    assert decision["ready"] is False


def test_missing_rule_is_the_first_applied_rule_that_asked_for_it(backend: str) -> None:
    body = """\
items:
  order: {label: Signed order, satisfied_by: {documents: {some: {type: order}}}}
rules:
  - {id: written-first, when: {}, then: {require: [order]}}
  - {id: higher-priority, priority: 3, when: {}, then: {require: [order]}}
  - {id: cut-short, priority: -1, when: {}, then: {final: true}}
  - {id: never-applied, priority: -2, when: {}, then: {missing: [{id: extra, label: Extra}]}}
"""
    decision = decide(backend, body)
    assert decision["missing"] == [{"id": "order", "label": "Signed order", "rule": "higher-priority"}]


def test_an_item_without_satisfied_by_is_always_missing(backend: str) -> None:
    body = """\
items:
  attestation: {label: Provider attestation}
rules:
  - {id: r1, when: {}, then: {auth: required, require: [attestation]}}
"""
    decision = decide(backend, body)
    assert decision["missing"] == [{"id": "attestation", "label": "Provider attestation", "rule": "r1"}]
    assert decision["satisfied"] == []


# -- satisfied --------------------------------------------------------------------------------------------
SATISFIED = """\
items:
  order: {label: Signed order, satisfied_by: {documents: {some: {type: order}}}}
  recent-note: {label: Recent note, satisfied_by: {documents: {some: {type: clinical-note, date: {within_days: 60}}}}}
  sleep-study: {label: Sleep study, satisfied_by: {clinical.ahi: {exists: true}}}
rules:
  - {id: r1, when: {}, then: {auth: required, require: [order, recent-note, sleep-study]}}
"""


def test_satisfied_lists_the_matching_document_ids(backend: str) -> None:
    facts = case(
        clinical={"ahi": 18},
        documents=[
            {"id": "D1", "type": "order", "date": "2026-01-01"},
            {"id": "D2", "type": "clinical-note", "date": "2026-11-01"},
            {"id": "D3", "type": "order", "date": "2026-11-02"},
            {"id": "D4", "type": "clinical-note", "date": "2026-01-01"},
            {"id": "D5", "type": "clinical-note", "date": "2026-09-21"},
        ],
    )
    decision = decide(backend, SATISFIED, facts)
    assert decision["satisfied"] == [
        {"id": "order", "label": "Signed order", "by": ["D1", "D3"]},
        {"id": "recent-note", "label": "Recent note", "by": ["D2", "D5"]},
        {"id": "sleep-study", "label": "Sleep study", "by": []},
    ]
    assert decision["missing"] == []
    assert decision["ready"] is True


def test_an_unsatisfied_require_item_is_missing_and_not_satisfied(backend: str) -> None:
    facts = case(documents=[{"id": "D1", "type": "clinical-note", "date": "2026-01-01"}])
    decision = decide(backend, SATISFIED, facts)
    assert ids(decision["missing"]) == ["order", "recent-note", "sleep-study"]
    assert decision["satisfied"] == []


# -- due ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("urgency", "as_of", "due"),
    [
        ("standard", "2026-11-20", "2026-11-27"),
        ("expedited", "2026-11-20", "2026-11-23"),
        ("emergency", "2026-11-20", "2026-11-23"),
        ("standard", "2026-12-28", "2027-01-04"),
        ("expedited", "2028-02-27", "2028-03-01"),
    ],
)
def test_due_is_7_days_for_standard_and_3_for_expedited_or_emergency(
    backend: str, urgency: str, as_of: str, due: str
) -> None:
    facts = case(urgency=urgency, as_of=as_of)
    decision = decide(backend, "rules:\n  - {id: r1, when: {}, then: {auth: required}}\n", facts)
    assert decision["due"] == due


def test_due_follows_the_urgency_a_rule_sets(backend: str) -> None:
    body = "rules:\n  - {id: r1, when: {}, then: {auth: required, urgency: expedited}}\n"
    assert decide(backend, body, case(urgency="standard"))["due"] == "2026-11-23"


@pytest.mark.parametrize(
    ("turnaround", "urgency", "due"),
    [
        ("{standard: 14d, expedited: 72h}", "standard", "2026-12-04"),
        ("{standard: 14d, expedited: 72h}", "expedited", "2026-11-23"),
        ("{standard: 14d, expedited: 72h}", "emergency", "2026-11-23"),
        ("{expedited: 73h}", "expedited", "2026-11-24"),  # hours round up to whole days
        ("{expedited: 24h}", "expedited", "2026-11-21"),
        ("{expedited: 1h}", "emergency", "2026-11-21"),
        ("{standard: 10d}", "standard", "2026-11-30"),
        ("{standard: 10d}", "expedited", "2026-11-23"),  # one key keeps the default for the other
        ("{expedited: 2d}", "standard", "2026-11-27"),
        ("{expedited: 2d}", "expedited", "2026-11-22"),
    ],
)
def test_due_follows_the_rulesets_turnaround(backend: str, turnaround: str, urgency: str, due: str) -> None:
    body = f"defaults: {{turnaround: {turnaround}}}\nrules:\n  - {{id: r1, when: {{}}, then: {{auth: required}}}}\n"
    assert decide(backend, body, case(urgency=urgency))["due"] == due


@pytest.mark.parametrize(
    ("auth", "due"), [("required", "2026-11-27"), ("review", "2026-11-27"), ("not-required", None)]
)
def test_due_is_null_unless_auth_is_required_or_review(backend: str, auth: str, due: str | None) -> None:
    body = f"rules:\n  - {{id: r1, when: {{}}, then: {{auth: {auth}}}}}\n"
    assert decide(backend, body)["due"] == due


def test_due_is_null_when_auth_is_unknown(backend: str) -> None:
    assert decide(backend, "rules:\n  - {id: r1, when: {}, then: {queue: q}}\n")["due"] is None


def test_due_counts_from_today_when_the_case_has_no_as_of(backend: str) -> None:
    facts = case()
    del facts["as_of"]
    assert (
        decide(backend, "rules:\n  - {id: r1, when: {}, then: {auth: required}}\n", facts)["due"]
        == "2026-11-27"
    )


# -- ready ---------------------------------------------------------------------------------------------------
def test_ready_is_true_when_auth_is_not_required_whatever_is_missing(backend: str) -> None:
    body = """\
rules:
  - {id: r1, when: {}, then: {auth: not-required, forms: [readiness], missing: [{id: m, label: M}]}}
"""
    decision = decide(backend, body)
    assert decision["ready"] is True


@pytest.mark.parametrize("auth", ["required", "review"])
def test_ready_when_nothing_is_missing_and_every_form_is_complete(backend: str, auth: str) -> None:
    body = f"rules:\n  - {{id: r1, when: {{}}, then: {{auth: {auth}, forms: [readiness]}}}}\n"
    complete = case(answers={"readiness": {"weeks": 8}})
    assert decide(backend, body, complete)["ready"] is True


@pytest.mark.parametrize(
    "answers",
    [None, {}, {"readiness": {}}, {"readiness": {"weeks": -1}}, {"readiness": {"weeks": "eight"}}],
    ids=["no-answers", "no-form-answers", "required-field-missing", "below-minimum", "wrong-type"],
)
def test_not_ready_while_a_named_form_is_incomplete(backend: str, answers: dict[str, Any] | None) -> None:
    body = "rules:\n  - {id: r1, when: {}, then: {auth: required, forms: [readiness]}}\n"
    facts = case(answers=answers) if answers is not None else case()
    assert decide(backend, body, facts)["ready"] is False


def test_not_ready_while_something_is_missing(backend: str) -> None:
    body = "rules:\n  - {id: r1, when: {}, then: {auth: required, missing: [{id: m, label: M}]}}\n"
    assert decide(backend, body)["ready"] is False


def test_a_form_that_cannot_be_found_is_incomplete(backend: str) -> None:
    body = "rules:\n  - {id: r1, when: {}, then: {auth: required, forms: [readiness]}}\n"
    facts = case(answers={"readiness": {"weeks": 8}})
    assert decide(backend, body, facts, with_form=False)["ready"] is False


def test_ready_is_true_for_required_auth_with_no_forms_and_nothing_missing(backend: str) -> None:
    assert decide(backend, "rules:\n  - {id: r1, when: {}, then: {auth: required}}\n")["ready"] is True


def test_ready_is_false_when_auth_is_unknown(backend: str) -> None:
    assert decide(backend, "rules:\n  - {id: r1, when: {}, then: {queue: q}}\n")["ready"] is False


# -- fired[].facts ---------------------------------------------------------------------------------------------
def test_fired_lists_the_paths_each_rule_tested_with_their_values(backend: str) -> None:
    body = """\
valuesets:
  imaging: ["72148-72158"]
rules:
  - id: r1
    when:
      all:
        - service.codes: {any_in: imaging}
        - patient.age: {gte: 18}
        - not: {clinical.ahi: {lt: 5}}
        - any: [{as_of: {gte: 2026-01-01}}, {urgency: emergency}]
        - documents: {some: {type: order}}
    then: {auth: required}
"""
    facts = case(
        patient={"birth_date": "1968-03-02"},
        service={"codes": ["72148", "99213"]},
        clinical={"ahi": 18},
        documents=[{"id": "D1", "type": "order", "date": "2026-11-01"}],
    )
    decision = decide(backend, body, facts)
    assert decision["fired"] == [
        {
            "rule": "r1",
            "priority": 0,
            "applied": True,
            "facts": {
                "service.codes": ["72148", "99213"],
                "patient.age": 58,
                "clinical.ahi": 18,
                "as_of": "2026-11-20",
                "urgency": None,
                "documents": [{"id": "D1", "type": "order", "date": "2026-11-01"}],
            },
        }
    ]


def test_fired_reports_a_missing_path_as_null(backend: str) -> None:
    body = "rules:\n  - {id: r1, when: {clinical.ahi: {exists: false}}, then: {auth: review}}\n"
    assert decide(backend, body)["fired"][0]["facts"] == {"clinical.ahi": None}


def test_a_rule_that_always_fires_tests_no_paths(backend: str) -> None:
    assert decide(backend, "rules:\n  - {id: r1, when: {}, then: {auth: review}}\n")["fired"] == [
        {"rule": "r1", "priority": 0, "applied": True, "facts": {}}
    ]


def test_a_missing_entry_overrides_an_earlier_satisfied_require(backend: str) -> None:
    body = """\
items:
  order: {label: Signed order, satisfied_by: {documents: {some: {type: order}}}}
rules:
  - {id: r1, priority: 1, when: {}, then: {auth: required, require: [order]}}
  - {id: r2, when: {}, then: {missing: [order]}}
"""
    decision = decide(backend, body, case(documents=[{"id": "D1", "type": "order"}]))
    assert decision["missing"] == [{"id": "order", "label": "Signed order", "rule": "r2"}]
    assert decision["satisfied"] == []
    assert decision["ready"] is False


@pytest.mark.parametrize("then", ["{require: [nope]}", "{missing: [nope]}"])
def test_an_unknown_item_id_is_a_load_error(then: str) -> None:
    body = f"items:\n  order: {{label: Signed order}}\nrules:\n  - {{id: r1, when: {{}}, then: {then}}}\n"
    with pytest.raises(LoadError) as caught:
        load_ruleset(HEAD + body, "outcomes.yaml")
    assert "unknown item 'nope'" in str(caught.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_rule_that_fires_is_reported_even_when_70_fire(backend: str) -> None:
    rules = "\n".join(
        f"  - {{id: under-{i}, when: {{clinical.ahi: {{lt: {i + 10}}}}}, then: {{notes: [n{i}]}}}}"
        for i in range(70)
    )
    decision = decide(backend, f"rules:\n{rules}\n", case(clinical={"ahi": 5}))
    assert [f["rule"] for f in decision["fired"]] == [f"under-{i}" for i in range(70)]
    assert decision["notes"] == [f"n{i}" for i in range(70)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_63_rules_with_distinct_conditions_can_fire_together(backend: str) -> None:
    rules = "\n".join(
        f"  - {{id: under-{i}, when: {{clinical.ahi: {{lt: {i + 10}}}}}, then: {{notes: [n{i}]}}}}"
        for i in range(63)
    )
    decision = decide(backend, f"rules:\n{rules}\n", case(clinical={"ahi": 5}))
    assert len(decision["fired"]) == 63
