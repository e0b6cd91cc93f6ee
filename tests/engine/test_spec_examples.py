"""The examples of spec rulesets.md, verbatim: its ruleset, its case and its example decision.

tests/fixtures/spec/acme-commercial.yaml and case.json are copied unchanged from the spec.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine import Evaluator, Ruleset, load_ruleset_file, run_tests

BACKENDS = ("durable", "compiled")
SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "spec"
# the spec's case carries as_of; `today` is deliberately another day so that only as_of counts
TODAY = date(2027, 3, 1)

# the keys the spec's example decision shows, exactly as it shows them
EXAMPLE = {
    "case_id": "C-1001",
    "auth": "required",
    "channel": "portal",
    "portal": "acme-portal",
    "queue": "imaging",
    "urgency": "standard",
    "due": "2026-11-27",
    "forms": ["imaging-readiness"],
    "ready": False,
}
EXAMPLE_FIRED_FIRST = {
    "rule": "imaging-needs-auth",
    "priority": 0,
    "applied": True,
    "facts": {"service.codes": ["72148"]},
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    return load_ruleset_file(SPEC / "acme-commercial.yaml")


@pytest.fixture
def spec_case() -> dict[str, Any]:
    facts: dict[str, Any] = json.loads((SPEC / "case.json").read_text("utf-8"))
    return facts


def decide(ruleset: Ruleset, backend: str, facts: dict[str, Any]) -> dict[str, Any]:
    return Evaluator([ruleset], backend=backend).evaluate(facts, today=TODAY)


def test_the_spec_ruleset_loads_as_written(ruleset: Ruleset) -> None:
    assert (ruleset.id, ruleset.payer, ruleset.version) == ("acme-commercial", "acme", 4)
    assert (ruleset.effective_from, ruleset.effective_to) == (date(2026, 1, 1), date(2026, 12, 31))
    assert [r.id for r in ruleset.rules] == [
        "emergency-exempt",
        "imaging-needs-auth",
        "lumbar-conservative-therapy",
    ]
    assert re.fullmatch(r"[0-9a-f]{64}", ruleset.sha256)


def test_the_spec_decision_has_every_key_the_spec_lists(
    ruleset: Ruleset, backend: str, spec_case: dict[str, Any]
) -> None:
    decision = decide(ruleset, backend, spec_case)
    listed = {
        "case_id", "ruleset", "auth", "channel", "portal", "queue", "urgency", "due",
        "forms", "missing", "satisfied", "ready", "fired",
    }  # fmt: skip
    assert listed <= set(decision)
    assert list(decision)[: len(listed)] == [
        "case_id", "ruleset", "auth", "channel", "portal", "queue", "urgency", "due",
        "forms", "missing", "satisfied", "ready", "fired",
    ]  # fmt: skip


def test_the_spec_case_gets_the_spec_decision(
    ruleset: Ruleset, backend: str, spec_case: dict[str, Any]
) -> None:
    decision = decide(ruleset, backend, spec_case)
    assert {key: decision[key] for key in EXAMPLE} == EXAMPLE
    assert decision["ruleset"] == {"id": "acme-commercial", "version": 4, "sha256": ruleset.sha256}
    assert decision["fired"][0] == EXAMPLE_FIRED_FIRST


def test_the_spec_case_is_missing_the_order_and_the_six_weeks_of_therapy(
    ruleset: Ruleset, backend: str, spec_case: dict[str, Any]
) -> None:
    # the spec's case holds a clinical note (D1) and an imaging report (D2) but no order, so
    # `order` is missing too; the conservative-therapy entry carries the spec's rule attribution
    decision = decide(ruleset, backend, spec_case)
    assert decision["missing"] == [
        {"id": "order", "label": "Signed order", "rule": "imaging-needs-auth"},
        {
            "id": "conservative-therapy-6w",
            "label": "Six weeks of conservative therapy documented",
            "rule": "lumbar-conservative-therapy",
        },
    ]
    assert decision["satisfied"] == [
        {"id": "recent-note", "label": "Clinical note from the last 60 days", "by": ["D1"]},
    ]


def test_the_spec_case_fires_both_imaging_rules_in_document_order(
    ruleset: Ruleset, backend: str, spec_case: dict[str, Any]
) -> None:
    decision = decide(ruleset, backend, spec_case)
    assert decision["fired"] == [
        EXAMPLE_FIRED_FIRST,
        {
            "rule": "lumbar-conservative-therapy",
            "priority": 0,
            "applied": True,
            "facts": {
                "service.codes": ["72148"],
                "diagnoses": ["M54.50", "M51.16"],
                "clinical.conservative_therapy_weeks": 4,
            },
        },
    ]


def test_the_spec_case_with_a_signed_order_d3_matches_the_spec_example_exactly(
    ruleset: Ruleset, backend: str, spec_case: dict[str, Any]
) -> None:
    # the spec's example decision shows `order` satisfied by D3: add that document to the case
    facts = copy.deepcopy(spec_case)
    facts["documents"].append({"id": "D3", "type": "order", "date": "2026-11-15"})
    decision = decide(ruleset, backend, facts)
    assert {key: decision[key] for key in EXAMPLE} == EXAMPLE
    assert decision["missing"] == [
        {
            "id": "conservative-therapy-6w",
            "label": "Six weeks of conservative therapy documented",
            "rule": "lumbar-conservative-therapy",
        }
    ]
    assert decision["satisfied"][0] == {"id": "order", "label": "Signed order", "by": ["D3"]}
    assert decision["fired"][0] == EXAMPLE_FIRED_FIRST


def test_the_spec_case_is_ready_once_nothing_is_missing_and_no_form_is_unknown(
    ruleset: Ruleset, backend: str, spec_case: dict[str, Any]
) -> None:
    # six weeks of therapy and a signed order: nothing missing, but the form is not known here
    facts = copy.deepcopy(spec_case)
    facts["documents"].append({"id": "D3", "type": "order", "date": "2026-11-15"})
    facts["clinical"]["conservative_therapy_weeks"] = 6
    decision = decide(ruleset, backend, facts)
    assert decision["missing"] == []
    assert [f["rule"] for f in decision["fired"]] == ["imaging-needs-auth"]
    assert decision["ready"] is False  # imaging-readiness cannot be found, so it is incomplete


def test_a_red_flag_diagnosis_waives_the_conservative_therapy_rule(
    ruleset: Ruleset, backend: str, spec_case: dict[str, Any]
) -> None:
    facts = copy.deepcopy(spec_case)
    facts["diagnoses"] = ["M54.50", "M46.25"]  # M46.2* is a spine red flag
    decision = decide(ruleset, backend, facts)
    assert [f["rule"] for f in decision["fired"]] == ["imaging-needs-auth"]
    assert [m["id"] for m in decision["missing"]] == ["order"]


def test_the_spec_emergency_test_skips_auth(ruleset: Ruleset, backend: str) -> None:
    # the ruleset's embedded test, as of effective.from as the spec says
    facts = {
        "urgency": "emergency",
        "coverage": {"payer": "acme", "plan_type": "commercial"},
        "service": {"codes": ["72148"]},
    }
    decision = Evaluator([ruleset], backend=backend).evaluate(facts, today=date(2026, 1, 1))
    assert decision["auth"] == "not-required"
    assert decision["urgency"] == "emergency"
    assert decision["due"] is None
    assert decision["ready"] is True
    assert decision["forms"] == []
    assert decision["missing"] == []
    assert decision["queue"] == "general"
    assert [(f["rule"], f["priority"], f["applied"]) for f in decision["fired"]] == [
        ("emergency-exempt", 100, True),
        ("imaging-needs-auth", 0, False),
    ]


def test_the_spec_rulesets_embedded_tests_pass_on_both_backends(ruleset: Ruleset) -> None:
    assert run_tests(ruleset) == []


def test_both_backends_give_the_same_decision_for_the_spec_case(
    ruleset: Ruleset, spec_case: dict[str, Any]
) -> None:
    durable, compiled = (decide(ruleset, b, spec_case) for b in BACKENDS)
    assert durable == compiled
