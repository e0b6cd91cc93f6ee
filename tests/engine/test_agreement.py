"""The durable and the compiled backends decide every case alike.

Hypothesis generates case facts (codes inside and outside the value sets, diagnoses, dates around
as_of, missing fields, documents, clinical numbers, free-form answers, now and then a value of the
wrong type) against tests/fixtures/agreement/rich.yaml, which uses every operator, and against the
shipped rulesets (values drawn from the literals their rules test, and their neighbours). Random
condition trees are checked against a truth table. Every embedded test of every shipped ruleset
(rulesets/*.yaml) runs on both backends, with and without the shipped forms.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import (
    EngineError,
    Evaluator,
    conditions,
    load_forms,
    load_ruleset,
    load_ruleset_file,
    load_rulesets,
    run_tests,
)
from engine.conditions import OPERATORS, QUANTIFIERS
from engine.plan import compile_plan
from engine.valuesets import ValueSet

ROOT = Path(__file__).resolve().parents[2]
RICH = ROOT / "tests" / "fixtures" / "agreement" / "rich.yaml"
SHIPPED = ROOT / "rulesets"
TODAY = date(2026, 6, 15)


@pytest.fixture(scope="module")
def rich():
    return load_ruleset_file(str(RICH))


@pytest.fixture(scope="module")
def backends(rich):
    return Evaluator([rich], backend="durable"), Evaluator([rich], backend="compiled")


def outcome(evaluator: Evaluator, facts: dict[str, Any]) -> Any:
    """The decision, or the error as (type, message): both backends must refuse alike too."""
    try:
        return evaluator.evaluate(facts, TODAY)
    except EngineError as exc:
        return (type(exc).__name__, str(exc))


def as_outcome(result: Any) -> Any:
    return (type(result).__name__, str(result)) if isinstance(result, EngineError) else result


# -- strategies ---------------------------------------------------------------------------------------------
CODES = [
    "72148", "72149", "72158", "72147", "72159", "72150", "70551", "70553", "70550", "70554",
    "73721", "G0235", "g0235", "E0470", "E0471", "E0469", "E0472", "E0601", "99213", "7214",
    "721480", "",
]  # fmt: skip
DIAGNOSES = [
    "C79.51", "C79.5", "C79.511", "G83.4", "M46.2", "M46.21", "M46", "M54.50", "M51.16", "C50.911",
    "D01.1", "D0", "D37", "c79.51", "Z00.00",
]  # fmt: skip
DOCUMENT_TYPES = ["order", "clinical-note", "sleep-study", "referral", "imaging-report", ""]


def iso_around(center: date, days: int = 500) -> st.SearchStrategy[str]:
    return st.integers(-days, days).map(lambda d: (center + timedelta(days=d)).isoformat())


EDGES = [0, 1, 29, 30, 31, 59, 60, 61, 364, 365, 366, 399, 400, 401]
near_today = st.one_of(
    iso_around(TODAY),
    st.sampled_from(EDGES)
    .flatmap(lambda d: st.sampled_from([TODAY - timedelta(days=d), TODAY + timedelta(days=d)]))
    .map(date.isoformat),
)

LARGEST = 2**53 - 1  # the largest number a fact may hold (what a double holds exactly)


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(-3, 12, allow_nan=False, allow_infinity=False),
    st.sampled_from(["A1", "B2", "x", "y", "z", "2026-01-01", "6", ""]),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "value"]), inner, max_size=2)
    ),
    max_leaves=5,
)

documents = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(["D1", "D2", "D3", "D4"]),
            "type": st.sampled_from(DOCUMENT_TYPES),
            "date": near_today,
            "pages": st.integers(0, 20),
            "title": st.just("a title"),
        },
    ),
    max_size=5,
)

numbers = st.one_of(
    st.integers(0, 40),
    st.floats(0, 40, allow_nan=False),
    st.sampled_from(
        [5, 14.5, 15, 4.999, 14.6, 5.0, 15.0, 0, -0.0, 1e-05, 5e-324, 1.5e-300, LARGEST, -LARGEST]
    ),
    st.floats(-LARGEST, LARGEST, allow_nan=False),
)
whole = st.one_of(
    st.integers(0, 10), st.sampled_from([0.0, 2.0, 6.0, LARGEST, -LARGEST]), st.integers(-LARGEST, LARGEST)
)

clinical = st.fixed_dictionaries(
    {},
    optional={
        "ahi": numbers,
        "weeks": whole,
        "red_flags": st.lists(st.sampled_from(["cauda-equina", "fever", "trauma"]), max_size=2),
        "scores": st.lists(
            st.one_of(st.integers(0, 5), st.floats(0, 5, allow_nan=False)),
            max_size=3,
        ),
        "failed": st.booleans(),
        "onset": near_today,
        "procedure": st.sampled_from(["fusion", "Fusion", "laminectomy", ""]),
        "undeclared": json_value,
    },
)

answers = st.fixed_dictionaries(
    {},
    optional={
        "imaging-readiness": st.fixed_dictionaries(
            {},
            optional={
                "symptom_weeks": st.one_of(st.integers(0, 10), json_value),
                "code": st.one_of(st.sampled_from(["A1", "B2", "C3"]), json_value),
                "tags": st.one_of(st.lists(st.sampled_from(["x", "y", "z"]), max_size=3), json_value),
                "flag": st.one_of(st.booleans(), json_value),
                "when": st.one_of(near_today, json_value),
                "name": st.one_of(st.sampled_from(["x", "y", "w"]), json_value),
            },
        ),
        "other-form": st.one_of(
            st.fixed_dictionaries({"value": st.sampled_from(["A1", "B1", "A", "AB1", "a1"])}), json_value
        ),
    },
)

# a value of the wrong type at a known path, now and then: both backends must refuse it alike
WRONG_TYPES = [
    ("clinical", "weeks", "four"),
    ("clinical", "ahi", [15]),
    ("clinical", "failed", "yes"),
    ("service", "units", "2"),
    ("service", "codes", "72148"),
    ("patient", "birth_date", "yesterday"),
    (None, "diagnoses", "M54.50"),
    (None, "urgency", "urgent"),
    (None, "documents", [{"id": "D9", "date": "2026-02-30"}]),
]


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    facts: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "case_id": st.sampled_from(["C-123", "C-1234", "C-12345", "C-12", "X-123", ""]),
                "as_of": iso_around(TODAY, 200),
                "urgency": st.sampled_from(["standard", "expedited", "emergency"]),
                "patient": st.fixed_dictionaries(
                    {},
                    optional={
                        "birth_date": iso_around(date(1990, 6, 15), 365 * 60),
                        "sex": st.sampled_from(["F", "M", "X"]),
                        "state": st.sampled_from(["OH", "OR", "CA", "o", ""]),
                    },
                ),
                "service": st.fixed_dictionaries(
                    {},
                    optional={
                        "codes": st.lists(st.sampled_from(CODES), max_size=4),
                        "date": st.one_of(
                            iso_around(date(2026, 7, 1), 200), st.sampled_from(["2026-06-30", "2026-07-01"])
                        ),
                        "units": st.one_of(
                            st.integers(0, 5),
                            st.floats(0, 5, allow_nan=False),
                            numbers,
                        ),
                        "place_of_service": st.sampled_from(["11", "21", "22", "2", ""]),
                    },
                ),
                "diagnoses": st.lists(st.sampled_from(DIAGNOSES), max_size=4),
                "documents": documents,
                "clinical": clinical,
                "answers": answers,
            },
        )
    )
    facts["coverage"] = draw(
        st.fixed_dictionaries(
            {
                "payer": st.sampled_from(["rich", "rich", "rich", "rich", "nobody"]),
                "plan_type": st.sampled_from(["commercial", "commercial", "employer-group", "medicaid"]),
            },
        )
    )
    wrong = draw(st.sampled_from([*([None] * 12), *WRONG_TYPES]))
    if wrong is not None:
        group, key, value = wrong
        target = facts if group is None else facts.setdefault(group, {})
        target[key] = value
    return facts


# -- agreement ------------------------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=cases())
def test_durable_and_compiled_decide_every_generated_case_alike(backends, facts):
    durable, compiled = backends
    assert outcome(durable, facts) == outcome(compiled, facts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(cases(), max_size=12))
def test_evaluate_many_equals_evaluate_case_by_case_on_both_backends(backends, batch):
    durable, compiled = backends
    one_by_one = [outcome(durable, facts) for facts in batch]
    assert [as_outcome(r) for r in durable.evaluate_many(batch, TODAY)] == one_by_one
    assert [as_outcome(r) for r in compiled.evaluate_many(batch, TODAY)] == one_by_one


def test_evaluate_many_agrees_across_batch_boundaries(backends):
    # 700 cases cross the 256-case batches of evaluate_many and of the durable runner
    pick = random.Random(20261120)
    batch: list[Any] = []
    for i in range(700):
        batch.append(
            {
                "case_id": f"C-{i:04d}",
                "as_of": (TODAY + timedelta(days=pick.randint(-30, 30))).isoformat(),
                "urgency": pick.choice(["standard", "expedited", "emergency"]),
                "coverage": {"payer": pick.choice(["rich", "rich", "nobody"]), "plan_type": "commercial"},
                "service": {"codes": pick.sample(CODES, 2), "date": "2026-08-01"},
                "diagnoses": pick.sample(DIAGNOSES, 2),
                "clinical": {"weeks": pick.randint(0, 8), "ahi": pick.choice([3, 9.5, 20])},
                "documents": [{"id": "D1", "type": pick.choice(DOCUMENT_TYPES), "date": "2026-06-01"}],
            }
        )
    batch[300] = {"coverage": {"payer": "rich"}, "service": {"codes": "72148"}}  # a FactsError mid-stream
    durable, compiled = backends
    expected = [outcome(durable, facts) for facts in batch]
    assert [as_outcome(r) for r in durable.evaluate_many(iter(batch), TODAY)] == expected
    assert [as_outcome(r) for r in compiled.evaluate_many(iter(batch), TODAY)] == expected
    assert sum(1 for r in expected if isinstance(r, dict) and r["fired"]) > 300


def test_the_rich_ruleset_uses_every_operator(rich):
    plan = compile_plan(rich)
    ops = {atom.leaf.op for atom in plan.atoms if atom.leaf is not None}
    assert set(OPERATORS) - ops == set()
    kinds = {atom.key.split(" ")[1] for atom in plan.atoms if atom.leaf is None}
    assert set(QUANTIFIERS) - kinds == set()


def test_the_rich_ruleset_passes_its_own_tests_on_both_backends(rich):
    assert run_tests(rich) == []


# -- the shipped rulesets -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.name)
def test_every_embedded_test_of_a_shipped_ruleset_passes_on_both_backends(path):
    rulesets, problems = load_rulesets([path])
    assert [str(p) for p in problems] == []
    assert len(rulesets) == 1
    assert rulesets[0].tests, f"{path.name} has no embedded tests"
    assert [str(p) for p in run_tests(rulesets[0], backends=("durable", "compiled"))] == []


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.name)
def test_every_embedded_test_of_a_shipped_ruleset_passes_with_the_shipped_forms_known(path):
    forms, form_problems = load_forms([ROOT / "forms"])
    assert [str(p) for p in form_problems] == []
    rulesets, problems = load_rulesets([path], forms)
    assert [str(p) for p in problems] == []
    assert [str(p) for p in run_tests(rulesets[0], forms, backends=("durable", "compiled"))] == []


# -- random condition trees against a truth table -------------------------------------------------------------
FLAGS = ["a", "b", "c", "d"]
flag_test = st.sampled_from(FLAGS).flatmap(
    lambda name: st.sampled_from(
        [{f"clinical.{name}": True}, {f"clinical.{name}": False}, {f"clinical.{name}": {"exists": True}}]
    )
)
condition_tree = st.recursive(
    flag_test,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"all": parts}),
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"any": parts}),
        inner.map(lambda part: {"not": part}),
    ),
    max_leaves=8,
)


def truth(node: dict[str, Any], env: dict[str, bool | None]) -> bool:
    """The spec's semantics, written out: a missing fact never matches a comparison."""
    if "all" in node:
        return all(truth(part, env) for part in node["all"])
    if "any" in node:
        return any(truth(part, env) for part in node["any"])
    if "not" in node:
        return not truth(node["not"], env)
    ((path, test),) = node.items()
    value = env[path.split(".")[1]]
    if isinstance(test, dict):
        return value is not None
    return value is not None and value == test


_trees = iter(range(1, 1_000_000))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whens=st.lists(condition_tree, min_size=1, max_size=4))
def test_both_backends_fire_exactly_the_rules_a_truth_table_says(whens):
    rules = "".join(
        f"  - id: r{i}\n    when: {json.dumps(when)}\n    then: {{notes: [r{i}]}}\n"
        for i, when in enumerate(whens)
    )
    declared = ", ".join(f"clinical.{name}: boolean" for name in FLAGS)
    text = f"ruleset: tree-{next(_trees)}\npayer: p\neffective: {{from: 2026-01-01}}\nfacts: {{{declared}}}\nrules:\n{rules}"
    ruleset = load_ruleset(text, "tree.yaml")
    durable, compiled = Evaluator([ruleset], backend="durable"), Evaluator([ruleset], backend="compiled")
    batch, wanted = [], []
    for values in itertools.product([True, False, None], repeat=len(FLAGS)):
        env = dict(zip(FLAGS, values, strict=True))
        batch.append({"as_of": "2026-03-01", "coverage": {"payer": "p"}, "clinical": env})
        wanted.append([f"r{i}" for i, when in enumerate(whens) if truth(when, env)])
    for evaluator in (durable, compiled):
        decisions = list(evaluator.evaluate_many(batch, TODAY))
        assert [[f["rule"] for f in d["fired"]] for d in decisions] == wanted
    assert [f["rule"] for f in durable.evaluate(batch[0], TODAY)["fired"]] == wanted[0]


# -- generated cases against the shipped rulesets ---------------------------------------------------------------
def _leaves(node: Any, inside: str = ""):
    """Every leaf test of a condition tree, as (path, leaf); record fields as `documents.<field>`."""
    if isinstance(node, conditions.Leaf):
        yield (f"{inside}.{node.path}" if inside else node.path), node
    elif isinstance(node, conditions.Quantifier):
        yield from _leaves(node.where, node.path)
    elif isinstance(node, conditions.Not):
        yield from _leaves(node.child, inside)
    elif isinstance(node, conditions.All | conditions.AnyOf):
        for child in node.children:
            yield from _leaves(child, inside)


def _near(value: Any) -> list[Any]:
    """A literal a rule tests and its neighbours: the values where a rule flips."""
    if isinstance(value, ValueSet):
        out: list[Any] = sorted(value.codes)[:6]
        for (prefix, length), spans in value.ranges.items():
            for low, high in spans[:3]:
                for number in (low - 1, low, high, high + 1):
                    digits = str(number).zfill(length - len(prefix))
                    out.append(prefix + digits)
        out += [p + "0" for p in value.prefixes[:4]] + [p[:-1] for p in value.prefixes[:2] if len(p) > 1]
        return out
    if isinstance(value, frozenset | tuple | list):
        return [v for item in value for v in _near(item)]
    if isinstance(value, bool) or value is None:
        return [True, False]
    if isinstance(value, int | float):
        return [value - 1, value, value + 1, value + 0.5]
    if isinstance(value, date):
        return [(value + timedelta(days=d)).isoformat() for d in (-1, 0, 1)]
    if isinstance(value, str):
        return [value, value.upper(), value + "x"]
    return []


@dataclass(frozen=True)
class _World:
    """The shipped rulesets, and for each fact path the literals their rules test (and neighbours)."""

    rulesets: list[Any]
    literals: dict[str, list[Any]]
    types: dict[str, str]
    payers: list[str]
    scope_paths: list[str]
    in_scope: dict[str, dict[str, list[Any]]]  # payer -> scope path -> the exact values it accepts
    scalar_paths: list[str]


@functools.cache
def shipped_world() -> _World:
    rulesets, problems = load_rulesets(sorted(SHIPPED.glob("*.yaml")))
    assert not problems, [str(p) for p in problems]
    literals: dict[str, list[Any]] = {}
    types: dict[str, str] = {}
    in_scope: dict[str, dict[str, list[Any]]] = {}
    for ruleset in rulesets:
        types.update(ruleset.types)
        nodes = [r.when for r in ruleset.rules] + [i.satisfied_by for i in ruleset.items.values()]
        for node in [*nodes, ruleset.scope]:
            for path, leaf in _leaves(node):
                if leaf.op not in ("within_days", "older_than_days"):
                    literals.setdefault(path, []).extend(_near(leaf.arg))
        for path, leaf in _leaves(ruleset.scope):
            exact = sorted(leaf.arg, key=repr) if isinstance(leaf.arg, frozenset) else [leaf.arg]
            in_scope.setdefault(ruleset.payer, {}).setdefault(path, []).extend(exact)
    return _World(
        rulesets=rulesets,
        literals={path: list({repr(v): v for v in values}.values()) for path, values in literals.items()},
        types=types,
        payers=[*sorted({r.payer for r in rulesets}), "nobody"],
        scope_paths=sorted({path for r in rulesets for path, _ in _leaves(r.scope)}),
        in_scope=in_scope,
        scalar_paths=sorted(
            p
            for p, kind in types.items()
            if kind not in ("object", "[object]", "any") and p not in ("as_of", "patient.age", "urgency")
        ),
    )


def _fits(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and len(value) == 10
    return False


def _value_of(world: _World, path: str) -> st.SearchStrategy[Any]:
    kind, known = world.types[path], world.literals.get(path, [])
    if kind == "[string]":
        return st.lists(st.sampled_from([v for v in known if isinstance(v, str)] or ["x"]), max_size=3)
    if kind == "[number]":
        return st.lists(st.integers(0, 50), max_size=3)
    fallback = {
        "string": st.sampled_from(["", "x", "other"]),
        "number": st.integers(0, 100) | st.floats(0, 100, allow_nan=False),
        "integer": st.integers(0, 100),
        "boolean": st.booleans(),
        "date": near_today,
    }[kind]
    same = [v for v in known if _fits(kind, v)]
    return st.sampled_from(same) | fallback if same else fallback


def _put(facts: dict[str, Any], path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for part in parents:
        facts = facts.setdefault(part, {})
    facts[name] = value


def _strings(values: list[Any]) -> list[str]:
    return [v for v in values if isinstance(v, str)]


@st.composite
def shipped_cases(draw: st.DrawFn) -> dict[str, Any]:
    world = shipped_world()
    facts: dict[str, Any] = {"as_of": draw(iso_around(TODAY, 120))}
    for path in draw(st.lists(st.sampled_from(world.scalar_paths), max_size=12, unique=True)):
        if path not in world.scope_paths:
            _put(facts, path, draw(_value_of(world, path)))
    facts["urgency"] = draw(st.sampled_from(["standard", "expedited", "emergency"]))
    codes = _strings(world.literals.get("service.codes", []))
    _put(facts, "service.codes", draw(st.lists(st.sampled_from(codes), min_size=1, max_size=3)))
    facts["diagnoses"] = draw(
        st.lists(st.sampled_from(_strings(world.literals.get("diagnoses", []))), max_size=3)
    )
    doc_types = _strings(world.literals.get("documents.type", [])) or ["order"]
    facts["documents"] = draw(
        st.lists(
            st.fixed_dictionaries(
                {"id": st.sampled_from(["D1", "D2", "D3"]), "type": st.sampled_from(doc_types)},
                optional={"date": near_today},
            ),
            max_size=4,
        )
    )
    payer = draw(st.sampled_from(world.payers))
    _put(facts, "coverage.payer", payer)
    for path in world.scope_paths:
        near = st.sampled_from(world.literals[path])
        exact = world.in_scope.get(payer, {}).get(path)
        _put(facts, path, draw(st.sampled_from(exact) | near if exact else near))
    return facts


@pytest.fixture(scope="module")
def shipped():
    rulesets = shipped_world().rulesets
    return Evaluator(rulesets, backend="durable"), Evaluator(rulesets, backend="compiled")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=shipped_cases())
def test_durable_and_compiled_decide_generated_cases_alike_on_the_shipped_rulesets(shipped, facts):
    durable, compiled = shipped
    assert outcome(durable, facts) == outcome(compiled, facts)
