"""The compiled backend's specialised operator closures equal the reference semantics.

`conditions.value_test(leaf)` is what the compiled backend runs; `conditions.test_leaf` is what
the durable backend's atoms run. They must agree on every value, typed or not.
"""

import re
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import quantifiers
from engine.conditions import All, AnyOf, Leaf, Not, Quantifier
from engine.operators import inline_test, value_test
from engine.operators import test_leaf as reference
from engine.operators import test_quantifier as quantify
from engine.plan import record_predicate
from engine.valuesets import build

AS_OF = date(2026, 11, 20)
CODES = build("codes", ["72148-72158", "E0601", "M46.2*"])
ISO = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)).map(date.isoformat)
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-50, 50),
    st.floats(-50, 50, allow_nan=False),
    st.sampled_from(["72150", "E0601", "M46.21", "x", "", "2026-10-01"]),
    ISO,
    st.lists(st.sampled_from(["72150", "E0601", "zz", "M46.2"]), max_size=4),
    st.lists(st.integers(0, 5), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
)
LEAVES = [
    Leaf("p", "eq", "x", 1, "string"),
    Leaf("p", "eq", "x", 1, "any"),
    Leaf("p", "in", CODES, 1, "string"),
    Leaf("p", "not_in", CODES, 1, "string"),
    Leaf("p", "in", frozenset({"x", "72150"}), 1, "any"),
    Leaf("p", "any_in", CODES, 1, "[string]"),
    Leaf("p", "none_in", CODES, 1, "[string]"),
    Leaf("p", "any_in", frozenset({1, 2}), 1, "[number]"),
    Leaf("p", "none_in", frozenset({"zz"}), 1, "any"),
    *(Leaf("p", op, 10, 1, "number") for op in ("lt", "lte", "gt", "gte")),
    *(Leaf("p", op, 2.5, 1, "any") for op in ("lt", "gte")),
    *(Leaf("p", op, "2026-10-01", 1, "date") for op in ("lt", "lte", "gt", "gte")),
    Leaf("p", "lt", date(2026, 10, 1), 1, "any"),
    *(Leaf("p", op, 30, 1, "date") for op in ("within_days", "older_than_days")),
    Leaf("p", "within_days", 30, 1, "any"),
    Leaf("p", "exists", True, 1, "any"),
    Leaf("p", "exists", False, 1, "any"),
    Leaf("p", "matches", re.compile(r"7\d+"), 1, "string"),
    Leaf("p", "prefix", "E06", 1, "string"),
    Leaf("p", "between", (0, 10), 1, "number"),
]


@settings(max_examples=200, deadline=None)
@given(
    value=ANY_VALUE, as_of=st.just(AS_OF) | st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 1, 1))
)
def test_every_specialised_operator_equals_the_reference(value: Any, as_of: date) -> None:
    for leaf in LEAVES:
        if leaf.kind == "date" and value is not None and not _is_date_text(value):
            continue  # a typed date path only ever holds checked ISO text (see engine/reader.py)
        assert value_test(leaf)(value, as_of) == reference(leaf, value, as_of), (leaf.op, leaf.kind, value)


def _is_date_text(value: Any) -> bool:
    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def test_within_days_includes_its_boundary_on_both_paths() -> None:
    leaf = Leaf("p", "within_days", 30, 1, "date")
    edge = (AS_OF - timedelta(days=30)).isoformat()
    before = (AS_OF - timedelta(days=31)).isoformat()
    assert value_test(leaf)(edge, AS_OF) is reference(leaf, edge, AS_OF) is True
    assert value_test(leaf)(before, AS_OF) is reference(leaf, before, AS_OF) is False


# -- the inline forms of the generated code (operators.inline_test, quantifiers.py) -------------
TYPED_VALUES = {
    "string": st.one_of(st.none(), st.sampled_from(["x", "72150", "E0601", "", "y"])),
    "number": st.one_of(st.none(), st.integers(-50, 50), st.floats(-50, 50, allow_nan=False)),
    "integer": st.one_of(st.none(), st.integers(-50, 50)),
    "boolean": st.one_of(st.none(), st.booleans()),
    "date": st.one_of(st.none(), ISO),
}
TYPED_LEAVES = [
    *(Leaf("p", op, "x", 1, "string") for op in ("eq", "ne")),
    *(Leaf("p", op, arg, 1, "string") for op in ("in", "not_in") for arg in (CODES, frozenset({"x", "y"}))),
    *(Leaf("p", op, arg, 1, "boolean") for op in ("eq", "ne") for arg in (True, False)),
    *(
        Leaf("p", op, arg, 1, kind)
        for op in ("lt", "lte", "gt", "gte", "eq", "ne")
        for arg in (10, 2.5)
        for kind in ("number", "integer")
    ),
    Leaf("p", "between", (0, 10), 1, "number"),
    Leaf("p", "between", (-2.5, 14.9), 1, "integer"),
    *(Leaf("p", op, "2026-10-01", 1, "date") for op in ("lt", "lte", "gt", "gte")),
    *(Leaf("p", "exists", arg, 1, kind) for arg in (True, False) for kind in ("string", "number")),
]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_inline_form_equals_the_reference_on_values_of_its_type(data: st.DataObject) -> None:
    for leaf in TYPED_LEAVES:
        source = inline_test(leaf, "value", "ARG")
        assert source is not None, (leaf.op, leaf.kind)
        inline = eval(f"lambda value, ARG: {source}")
        value = data.draw(TYPED_VALUES[leaf.kind])
        assert bool(inline(value, leaf.arg)) == reference(leaf, value, AS_OF), (leaf.op, leaf.kind, value)


def test_tests_without_an_inline_form_say_so() -> None:
    assert inline_test(Leaf("p", "matches", re.compile("x"), 1, "string"), "v", "A") is None
    assert inline_test(Leaf("p", "eq", "x", 1, "any"), "v", "A") is None  # untyped: any value may come


RECORDS = st.lists(
    st.fixed_dictionaries(
        {"id": st.sampled_from(["D1", "D2"])},
        optional={
            "type": st.sampled_from(["order", "clinical-note"]),
            "date": ISO,
            "pages": st.integers(0, 9),
        },
    ),
    max_size=4,
)
WHERE = [
    Leaf("type", "eq", "order", 1, "string"),
    All((Leaf("type", "eq", "clinical-note", 1, "string"), Leaf("date", "within_days", 60, 1, "date"))),
    AnyOf((Leaf("date", "older_than_days", 90, 1, "date"), Not(Leaf("pages", "gte", 3, 1, "integer")))),
]


@settings(max_examples=150, deadline=None)
@given(records=st.none() | RECORDS, as_of=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
def test_generated_quantifiers_equal_the_reference(records: Any, as_of: date) -> None:
    for where in WHERE:
        for kind in ("some", "none", "every"):
            q = Quantifier("documents", kind, where, (), 1)
            generated = quantifiers.generate(q)
            assert generated is not None
            expected = quantify(q, records, record_predicate(where, reference=True), as_of)
            assert generated({"documents": records}, as_of) is expected, (kind, where, records)
