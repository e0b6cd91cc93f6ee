"""The compiled backend's specialised operator closures equal the reference semantics.

`conditions.value_test(leaf)` is what the compiled backend runs; `conditions.test_leaf` is what
the durable backend's atoms run. They must agree on every value, typed or not.
"""

import re
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.conditions import Leaf
from engine.operators import test_leaf as reference
from engine.operators import value_test
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
