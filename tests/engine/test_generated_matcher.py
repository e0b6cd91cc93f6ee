"""The compiled backend's generated matcher: same answers as the closures, nothing from the ruleset in its source."""

from datetime import date

import pytest

from engine import Evaluator, load_ruleset
from engine.backends import compiled

TODAY = date(2026, 11, 20)
RULESET = """
ruleset: t
payer: p
effective: {from: 2026-01-01}
facts: {clinical.note: string, clinical.n: integer}
rules:
  - id: sneaky
    when: {clinical.note: "\\"); raise SystemExit(1) #"}
    then: {auth: required}
  - id: nested
    when: {any: [{all: [{clinical.n: {gt: 1}}, {not: {clinical.n: {gt: 5}}}]}, {clinical.n: 10}]}
    then: {queue: nested}
"""
CASES = [
    {"coverage": {"payer": "p"}, "clinical": {"note": '"); raise SystemExit(1) #', "n": 3}},
    {"coverage": {"payer": "p"}, "clinical": {"note": "plain", "n": 10}},
    {"coverage": {"payer": "p"}, "clinical": {"n": 7}},
    {"coverage": {"payer": "p"}},
]


def fired(evaluator: Evaluator) -> list[list[str]]:
    return [[f["rule"] for f in evaluator.evaluate(case, TODAY)["fired"]] for case in CASES]


def test_values_reach_the_generated_matcher_as_data_never_as_source():
    ruleset = load_ruleset(RULESET, "t.yaml")
    assert fired(Evaluator([ruleset], backend="compiled")) == [["sneaky", "nested"], ["nested"], [], []]


def test_the_closures_decide_alike_when_python_cannot_compile_a_plan(monkeypatch):
    def refuse(_plan):
        raise SyntaxError("too many nested parentheses")

    ruleset = load_ruleset(RULESET.replace("ruleset: t", "ruleset: t2"), "t2.yaml")
    expected = fired(Evaluator([ruleset], backend="durable"))
    monkeypatch.setattr(compiled, "generate", refuse)
    runner = compiled.CompiledRunner(Evaluator([ruleset], backend="compiled")._by_payer["p"][0].plan)
    assert runner._matcher is None
    evaluator = Evaluator([ruleset], backend="compiled")
    evaluator._runners = {ruleset.sha256 + ruleset.file: runner}
    assert fired(evaluator) == expected


@pytest.mark.parametrize("depth", [10, 25])
def test_deeply_nested_conditions_compile_and_agree_with_durable(depth):
    condition = "{clinical.n: {gt: 0}}"
    for level in range(depth):
        condition = (
            f"{{{'all' if level % 2 else 'any'}: [{condition}, {{clinical.n: {{lt: -{level + 1}}}}}]}}"
        )
    text = f"ruleset: deep{depth}\npayer: p\neffective: {{from: 2026-01-01}}\nfacts: {{clinical.n: integer}}\nrules:\n  - {{id: r, when: {condition}, then: {{auth: review}}}}\n"
    ruleset = load_ruleset(text, "deep.yaml")
    assert fired(Evaluator([ruleset], backend="compiled")) == fired(Evaluator([ruleset], backend="durable"))
