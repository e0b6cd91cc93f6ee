"""Record quantifiers (`documents: {some: {type: order, date: {within_days: 60}}}`) as one
generated function each: the loop over the records and the tests of their fields in one frame,
instead of a closure per test called for every record.

The source holds fixed names and literals written with `repr()`: the list's path, the field
names, and arguments that are text, whole numbers or true/false; any other argument comes from a
tuple in its namespace (`K`). The tests are `operators.inline_test`, exact because prepared
records hold fields of their declared types (facts.check_records). A `where` with a test that has
no inline form (regexes, dotted fields, nested lists) returns None: plan.py keeps its closures
for those.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from engine import conditions
from engine.conditions import Leaf, Node, Quantifier
from engine.operators import inline_test

Predicate = Callable[[Any, date], bool]

# what each quantifier answers on an empty or missing list, and on the first record that matches
_EMPTY = {"some": "False", "none": "True", "every": "False"}


class _Where:
    """The source of a `where` condition over one record `r`."""

    def __init__(self) -> None:
        self.fields: list[str] = []
        self.args: list[Any] = []
        self.cutoffs: list[int] = []  # days, for within_days / older_than_days: CUT[i](as_of)

    def expr(self, node: Node) -> str | None:
        if isinstance(node, conditions.Not):
            inner = self.expr(node.child)
            return None if inner is None else f"(not {inner})"
        if isinstance(node, conditions.All | conditions.AnyOf):
            parts = [self.expr(c) for c in node.children]
            if any(p is None for p in parts):
                return None
            if not parts:
                return "True" if isinstance(node, conditions.All) else "False"
            joiner = " and " if isinstance(node, conditions.All) else " or "
            return "(" + joiner.join(p for p in parts if p is not None) + ")"
        if not isinstance(node, Leaf) or "." in node.path:
            return None
        j = len(self.fields)
        self.fields.append(node.path)
        self.args.append(node.arg)
        value = f"r.get({node.path!r})"
        if node.op in ("within_days", "older_than_days") and node.kind == "date":
            # a checked ISO date against the cut-off's ISO text (remembered for the last as_of)
            c = len(self.cutoffs)
            self.cutoffs.append(node.arg)
            compare = ">=" if node.op == "within_days" else "<"
            # the cut-off asked for only when the record gets this far (most fail on their type)
            return f"((v := {value}) is not None and v {compare} CUT[{c}](as_of))"
        # text, whole numbers and true/false as literals (one constant load each), the rest by name
        literal = type(node.arg) in (str, int, bool)
        return inline_test(node, value, repr(node.arg) if literal else f"K[{j}]")


def generate(q: Quantifier) -> Predicate | None:
    """quantifier(flat, as_of) for some / none / every, or None when `where` has no inline form."""
    if q.kind not in _EMPTY or q.where is None:
        return None
    where = _Where()
    test = where.expr(q.where)
    if test is None:
        return None
    empty = _EMPTY[q.kind]
    lines = [
        "def quantifier(flat, as_of):",
        f"    records = flat.get({q.path!r})",
        "    if type(records) is not list or not records:",  # a typed list of records, or missing
        f"        return {empty}",
        "    for r in records:",
    ]
    if q.kind == "every":
        lines += [f"        if not {test}:", "            return False", "    return True"]
    else:
        hit = "True" if q.kind == "some" else "False"
        lines += [f"        if {test}:", f"            return {hit}", f"    return {empty}"]
    namespace: dict[str, Any] = {
        "K": tuple(where.args),
        "CUT": tuple(_cutoff(days) for days in where.cutoffs),
    }
    try:
        exec(compile("\n".join(lines), "<priorauth quantifier>", "exec"), namespace)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None  # nesting Python's compiler refuses: the closures do the same job
    quantifier: Predicate = namespace["quantifier"]
    return quantifier


def _cutoff(days: int) -> Callable[[date], str]:
    """cut(as_of): the ISO text of `as_of - days`, remembered for the last as_of."""
    memo: list[tuple[date | None, str]] = [(None, "")]

    def cut(as_of: date) -> str:
        seen, text = memo[0]
        if seen != as_of:
            text = (as_of - timedelta(days=days)).isoformat()
            memo[0] = (as_of, text)
        return text

    return cut
