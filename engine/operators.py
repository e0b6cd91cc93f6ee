"""What each operator means: the semantics both evaluation backends share.

`test_leaf` is the reference (the durable backend's atoms run it); `value_test` returns closures
specialised for speed that must equal it (the compiled backend runs them; a property test holds
them together). A missing fact (None) never matches a comparison; `exists: false`, `none` and
`none_in` hold on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

from engine.conditions import Leaf, Quantifier
from engine.facts import parse_date
from engine.valuesets import ValueSet


def _same(value: Any, arg: Any) -> bool:
    # True == 1 in Python; in a ruleset a boolean only ever equals a boolean
    if isinstance(value, bool) or isinstance(arg, bool):
        return type(value) is type(arg) and value == arg
    return bool(value == arg)


def _compare(op: str, value: Any, arg: Any) -> bool:
    try:
        if op == "eq":
            return _same(value, arg)
        if op == "ne":
            return not _same(value, arg)
        if op == "lt":
            return bool(value < arg)
        if op == "lte":
            return bool(value <= arg)
        if op == "gt":
            return bool(value > arg)
        if op == "gte":
            return bool(value >= arg)
        if op == "between":
            return bool(arg[0] <= value <= arg[1])
    except TypeError:
        return False  # an untyped (answers.*) fact of another kind never matches
    raise ValueError(op)  # pragma: no cover


def _member(value: Any, arg: ValueSet | frozenset[Any]) -> bool:
    try:
        return value in arg
    except TypeError:
        return False


def test_leaf(leaf: Leaf, value: Any, as_of: date) -> bool:
    """Whether `value` (None when the fact is missing) passes `leaf`."""
    op, arg = leaf.op, leaf.arg
    if op == "exists":
        return (value is not None) is arg
    if type(value) is str and leaf.kind == "any" and _wants_date(op, arg):
        # an untyped answers.* fact (its form unknown here) tested against a date: read it as one
        value = parse_date(value) or value
    if op == "none_in":
        return value is None or (isinstance(value, list) and not any(_member(v, arg) for v in value))
    if value is None:
        return False
    if op in ("eq", "ne", "lt", "lte", "gt", "gte", "between"):
        if isinstance(value, list | dict):
            return False
        return _compare(op, value, arg)
    if op == "in":
        return not isinstance(value, list | dict) and _member(value, arg)
    if op == "not_in":
        return not isinstance(value, list | dict) and not _member(value, arg)
    if op == "any_in":
        return isinstance(value, list) and any(_member(v, arg) for v in value)
    if op == "all_in":
        return isinstance(value, list) and bool(value) and all(_member(v, arg) for v in value)
    if op == "matches":
        return isinstance(value, str) and arg.fullmatch(value) is not None
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op in ("within_days", "older_than_days"):
        day = value if isinstance(value, date) else parse_date(value)
        if day is None:
            return False
        edge = as_of - timedelta(days=arg)
        return day >= edge if op == "within_days" else day < edge
    raise ValueError(op)  # pragma: no cover


ValueTest = Callable[[Any, date], bool]


def value_test(leaf: Leaf) -> ValueTest:
    """A closure equal to `test_leaf(leaf, value, as_of)`, specialised for speed on hot operators.

    The durable backend evaluates atoms with `test_leaf` itself (the reference semantics) and the
    compiled backend with these; the agreement tests hold the two together.
    """
    op, arg = leaf.op, leaf.arg
    if op == "exists":
        return lambda value, as_of: (value is not None) is arg
    if op == "eq" and type(arg) is str:
        return lambda value, as_of: value == arg
    if op in ("in", "not_in") and (isinstance(arg, ValueSet) or all(type(v) is str for v in arg)):
        wanted = op == "in"

        def member(value: Any, as_of: date) -> bool:
            if type(value) is str:
                return (value in arg) is wanted
            return test_leaf(leaf, value, as_of)

        return member
    if op in ("any_in", "none_in"):
        hit = op == "any_in"

        def some_in(value: Any, as_of: date) -> bool:
            if type(value) is list:
                try:
                    for v in value:
                        if v in arg:
                            return hit
                    return not hit
                except TypeError:  # an untyped answers.* list holding records
                    pass
            return test_leaf(leaf, value, as_of)

        return some_in
    if op in ("lt", "lte", "gt", "gte") and (type(arg) in (int, float) or leaf.kind == "date"):
        compare = {"lt": _lt, "lte": _le, "gt": _gt, "gte": _ge}[op]
        numeric = type(arg) is not str

        def ordered(value: Any, as_of: date) -> bool:
            cls = type(value)
            if (cls is int or cls is float) if numeric else cls is str:
                return compare(value, arg)  # dates of a typed path are checked ISO text
            return test_leaf(leaf, value, as_of)

        return ordered
    if op in ("within_days", "older_than_days") and leaf.kind == "date":
        within = op == "within_days"
        memo: list[Any] = [None, ""]

        def recent(value: Any, as_of: date) -> bool:
            if type(value) is not str:
                return test_leaf(leaf, value, as_of)
            if memo[0] != as_of:
                memo[0], memo[1] = as_of, (as_of - timedelta(days=arg)).isoformat()
            return bool(value >= memo[1]) if within else bool(value < memo[1])

        return recent
    return lambda value, as_of: test_leaf(leaf, value, as_of)


def codes_only(arg: Any) -> bool:
    """Whether a membership argument holds codes only (then membership is exact for any value)."""
    return isinstance(arg, ValueSet) or (isinstance(arg, frozenset) and all(type(v) is str for v in arg))


def _number(arg: Any) -> bool:
    return type(arg) is int or type(arg) is float


_ORDER = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def inline_test(leaf: Leaf, value: str, arg: str) -> str | None:
    """Python source equal to `test_leaf(leaf, VALUE, as_of)` when VALUE has the leaf's type.

    `value` and `arg` are source text for the value tested and for the leaf's argument (never
    the argument itself: values reach generated code as data). The expression may use the
    local `v`. Prepared facts hold values of their path's type only (facts.prepare, the
    evaluator's type check), which is what makes these forms exact. None when the test has no
    inline form.
    """
    op, kind, given = leaf.op, leaf.kind, leaf.arg
    some = f"(v := {value}) is not None"
    if op == "exists":  # the one test that holds on a missing fact
        return f"({value} is not None)" if given else f"({value} is None)"
    if kind == "string" and type(given) is str and op in ("eq", "ne"):
        return f"({value} == {arg})" if op == "eq" else f"({some} and v != {arg})"
    if kind == "string" and op in ("in", "not_in") and codes_only(given):
        return f"({value} in {arg})" if op == "in" else f"({some} and v not in {arg})"
    if kind == "boolean" and type(given) is bool and op in ("eq", "ne"):
        return f"({value} is {arg})" if op == "eq" else f"({some} and v is not {arg})"
    if kind in ("number", "integer"):  # never a bool: the fact schema's numbers exclude them
        if op in _ORDER and _number(given):
            return f"({some} and v {_ORDER[op]} {arg})"
        if op in ("eq", "ne") and _number(given):
            return f"({some} and v {'==' if op == 'eq' else '!='} {arg})"
        if op == "between" and _number(given[0]) and _number(given[1]):
            return f"({some} and {arg}[0] <= v <= {arg}[1])"
    if kind == "date" and op in _ORDER and type(given) is str:  # checked ISO text on both sides
        return f"({some} and v {_ORDER[op]} {arg})"
    return None


def _wants_date(op: str, arg: Any) -> bool:
    if op in ("within_days", "older_than_days"):
        return True
    if isinstance(arg, tuple | frozenset):
        return any(isinstance(v, date) for v in arg)
    return isinstance(arg, date)


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


def record_value(record: Mapping[str, Any], path: str) -> Any:
    """A field of a record, dotted paths allowed; None when missing."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


RecordTest = Callable[[Mapping[str, Any], date], bool]


def test_quantifier(q: Quantifier, records: Any, where: RecordTest | None, as_of: date) -> bool:
    """some / none / every / count over `records` (None when the list is missing)."""
    items = records if isinstance(records, list) else []
    if q.kind == "count":
        n = sum(1 for r in items if where is None or where(r, as_of))
        return all(_compare(op, n, arg) for op, arg in q.count)
    if where is None:
        return False
    if q.kind == "some":
        return any(where(r, as_of) for r in items)
    if q.kind == "none":
        return not any(where(r, as_of) for r in items)
    return bool(items) and all(where(r, as_of) for r in items)
