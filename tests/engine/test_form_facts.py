"""Form answers reach the rules as facts, the same way on both backends, hidden answers excluded."""

from __future__ import annotations

from datetime import date

import pytest

from engine import Evaluator, load_form, load_ruleset

FORM = """
form: probe
version: 1
schema:
  type: object
  required: [tried]
  properties:
    tried: {type: boolean}
    weeks: {type: integer, minimum: 0}
ui:
  show_if: {weeks: {tried: true}}
facts:
  weeks: clinical.weeks
"""
RULESET = """
ruleset: probe-payer
version: 1
payer: probe
effective: {from: 2026-01-01}
facts:
  clinical.weeks: integer
rules:
  - id: long-enough
    when: {clinical.weeks: {gte: 6}}
    then: {auth: not-required}
  - id: otherwise
    priority: -1
    when: {coverage.payer: probe}
    then: {auth: required, forms: [probe]}
"""
TODAY = date(2026, 11, 20)


@pytest.fixture(params=["durable", "compiled"])
def evaluator(request: pytest.FixtureRequest) -> Evaluator:
    form = load_form(FORM, "probe.yaml")
    ruleset = load_ruleset(RULESET, "probe-ruleset.yaml", {"probe": form.answer_types})
    return Evaluator([ruleset], {"probe": form}, backend=request.param)


def _case(answers: dict[str, object]) -> dict[str, object]:
    return {"coverage": {"payer": "probe"}, "answers": {"probe": answers}}


def test_a_mapped_answer_becomes_the_fact_the_rules_test(evaluator: Evaluator) -> None:
    decision = evaluator.evaluate(_case({"tried": True, "weeks": 8}), TODAY)
    assert decision["auth"] == "not-required"


def test_an_answer_to_a_hidden_question_never_reaches_the_rules(evaluator: Evaluator) -> None:
    decision = evaluator.evaluate(_case({"tried": False, "weeks": 8}), TODAY)
    assert decision["auth"] == "required"
    assert decision["ready"] is True  # the hidden answer is dropped before validation too


def test_the_case_own_fact_wins_over_the_answer(evaluator: Evaluator) -> None:
    facts = {**_case({"tried": True, "weeks": 8}), "clinical": {"weeks": 2}}
    assert evaluator.evaluate(facts, TODAY)["auth"] == "required"
