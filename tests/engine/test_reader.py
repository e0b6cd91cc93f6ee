"""The generated fact reader checks every path of the fact schema, one wrong value at a time."""

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import FactsError
from engine.facts import base_types, is_iso, prepare, prepare_with
from engine.reader import reader

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


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.dates().map(date.isoformat),
        st.text(alphabet="0123456789-/ ٣２", min_size=8, max_size=11),
        st.builds(
            "{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)
        ),
    )
)
def test_a_date_is_checked_exactly_as_python_reads_one(text: str) -> None:
    try:
        python_reads_it = date.fromisoformat(text).isoformat() == text
    except ValueError:
        python_reads_it = False
    assert is_iso(text) is python_reads_it


DECLARED = {"clinical.ahi": "number", "clinical.flags": "[string]", "clinical.seen": "date"}


@pytest.mark.parametrize(
    ("clinical", "typed"),
    [
        ({"ahi": 18.5, "flags": ["a"], "seen": "2026-01-02"}, True),
        ({"ahi": 18}, True),
        ({"ahi": "18"}, False),  # another type: left to the evaluator, which explains it
        ({"ahi": 18, "other": 1}, False),  # a name nobody declared: flattened the general way
        ({"ahi": {"nested": 1}}, False),
    ],
)
def test_an_evaluator_reader_types_declared_clinical_facts_and_falls_back_on_anything_else(
    clinical: dict[str, Any], typed: bool
) -> None:
    facts = {"coverage": {"payer": "p"}, "clinical": clinical}
    flat, read_typed = prepare_with(reader(DECLARED.items()), facts, TODAY)
    assert read_typed is typed
    assert flat == prepare(facts, TODAY)  # the same facts either way


@pytest.mark.parametrize(("path", "kind"), LEAVES)
def test_a_reader_that_keeps_no_path_still_refuses_every_wrong_type(path: str, kind: str) -> None:
    keep_none = reader((), keep=())
    with pytest.raises(FactsError) as caught:
        prepare_with(keep_none, nest(path, BAD[kind]), TODAY)
    (where, _), *_ = caught.value.errors
    assert where == path or where.startswith(f"{path}[")
    flat, _ = prepare_with(keep_none, nest(path, "standard" if path == "urgency" else GOOD[kind]), TODAY)
    assert path not in flat or path == "as_of"  # kept only when told (as_of: filled in with today)
