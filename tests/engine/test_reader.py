"""The generated fact reader checks every path of the fact schema, one wrong value at a time."""

from datetime import date
from typing import Any

import pytest

from engine.errors import FactsError
from engine.facts import base_types, prepare

TODAY = date(2026, 11, 20)
GOOD: dict[str, Any] = {
    "string": "x",
    "number": 2.5,
    "integer": 3,
    "boolean": True,
    "date": "2026-01-31",
    "[string]": ["a", "b"],
    "[number]": [1, 2.5],
    "[object]": [{"id": "D1", "type": "order", "date": "2026-01-02"}],
}
BAD: dict[str, Any] = {
    "string": 5,
    "number": "5",
    "integer": 2.5,
    "boolean": "yes",
    "date": "2026-02-30",
    "[string]": ["a", 1],
    "[number]": [1, "2"],
    "[object]": ["not a record"],
}
LEAVES = sorted((path, kind) for path, kind in base_types().items() if kind in GOOD and path != "patient.age")


def nest(path: str, value: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    level = facts
    *parents, last = path.split(".")
    for part in parents:
        level = level.setdefault(part, {})
    level[last] = value
    return facts


@pytest.mark.parametrize(("path", "kind"), LEAVES)
def test_every_known_path_takes_a_value_of_its_type(path: str, kind: str) -> None:
    value = "standard" if path == "urgency" else GOOD[kind]
    flat = prepare(nest(path, value), TODAY)
    assert flat[path] == value


@pytest.mark.parametrize(("path", "kind"), LEAVES)
def test_every_known_path_refuses_a_value_of_another_type_naming_only_the_path(path: str, kind: str) -> None:
    with pytest.raises(FactsError) as caught:
        prepare(nest(path, BAD[kind]), TODAY)
    (where, what), *_ = caught.value.errors
    assert where == path or where.startswith(f"{path}[")
    assert "SECRET" not in what


@pytest.mark.parametrize("parent", ["patient", "coverage", "service", "providers", "providers.ordering"])
def test_a_group_that_is_not_an_object_is_refused(parent: str) -> None:
    with pytest.raises(FactsError) as caught:
        prepare(nest(parent, "SECRET-VALUE"), TODAY)
    assert caught.value.errors == ((parent, "expected an object, got a string"),)


def test_unknown_paths_and_nulls_are_ignored_and_the_input_is_never_changed() -> None:
    facts = {
        "surprise": {"deep": [1, 2]},
        "patient": {"id": None, "nickname": "x"},
        "documents": [{"id": "D1", "type": "order", "date": None}],
    }
    before = repr(facts)
    flat = prepare(facts, TODAY)
    assert "surprise" not in flat and "patient.id" not in flat and "patient.nickname" not in flat
    assert flat["documents"] == [{"id": "D1", "type": "order"}]
    assert repr(facts) == before


def test_clinical_and_answers_are_flattened_for_rulesets_and_forms_to_type() -> None:
    flat = prepare(
        {"clinical": {"ahi": 18, "scores": {"ess": 12}}, "answers": {"f": {"x": "2026-01-01"}}}, TODAY
    )
    assert flat["clinical.ahi"] == 18 and flat["clinical.scores.ess"] == 12
    assert flat["answers.f.x"] == "2026-01-01"
