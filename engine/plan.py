"""A Ruleset compiled once into an immutable evaluation plan, shared by both backends.

The plan turns every leaf test of every rule into an *atom*: a Python predicate over the case's
flat facts (value-set membership, date arithmetic, regexes, record quantifiers all live here).
Identical tests share one atom. A rule's `when` becomes a boolean expression over atoms
(`Atom`, `And`, `Or`, `Neg`) that a backend evaluates: the compiled backend with Python closures,
the durable backend as a durable-rules network over a flat fact of atom values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from types import CodeType
from typing import Any, Union

from engine import conditions, quantifiers
from engine.conditions import Leaf, Node, Quantifier
from engine.gates import Gate
from engine.operators import inline_test, record_value, test_leaf, test_quantifier, value_test
from engine.rulesets import Rule, Ruleset
from engine.valuesets import ValueSet
from engine.words import describe

Flat = Mapping[str, Any]
Predicate = Callable[[Flat, date], bool]
RecordPredicate = Callable[[Mapping[str, Any], date], bool]


@dataclass(frozen=True, slots=True)
class AtomRef:
    index: int


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Neg:
    child: Expr


Expr = Union[AtomRef, And, Or, Neg]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Atom:
    index: int
    key: str
    test: Predicate  # specialised for speed (compiled backend, scopes, items)
    reference: Predicate  # the plain semantics of operators.py (durable backend)
    leaf: Leaf | None  # None for record quantifiers
    native: tuple[str, str, Any] | None  # (path, op, arg): a comparison durable-rules can run itself


@dataclass(frozen=True, slots=True)
class ItemCheck:
    id: str
    label: str
    satisfied: Predicate | None  # None: nothing can satisfy it
    matching_records: Callable[[Flat, date], list[str]]
    condition: str  # the satisfying condition in words, for explanations


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything needed to evaluate one ruleset version, compiled once."""

    ruleset: Ruleset
    atoms: tuple[Atom, ...]
    rules: tuple[Rule, ...]  # in evaluation order: priority high to low, then document order
    conditions: tuple[Expr, ...]  # one per rule, same order
    gates: tuple[Gate | None, ...]  # one per rule, same order
    scope: Predicate | None
    items: Mapping[str, ItemCheck]


def compile_plan(ruleset: Ruleset) -> Plan:
    """Compile a validated Ruleset. Pure and deterministic; callers cache by sha256."""
    builder = _Builder(ruleset.types)
    ordered = tuple(sorted(ruleset.rules, key=lambda r: (-r.priority, r.index)))
    exprs = tuple(builder.expr(rule.when) for rule in ordered)
    gates = tuple(_gate(rule.when) for rule in ordered)
    scope = builder.predicate(ruleset.scope) if ruleset.scope is not None else None
    items = {
        iid: ItemCheck(
            iid,
            item.label,
            builder.predicate(item.satisfied_by) if item.satisfied_by is not None else None,
            _record_matcher(item.satisfied_by),
            describe(item.satisfied_by) if item.satisfied_by is not None else "",
        )
        for iid, item in ruleset.items.items()
    }
    return Plan(ruleset, tuple(builder.atoms), ordered, exprs, gates, scope, items)


class _Builder:
    def __init__(self, types: Mapping[str, str]) -> None:
        self.types = types
        self.atoms: list[Atom] = []
        self.by_key: dict[str, int] = {}

    def atom(self, node: Leaf | Quantifier) -> AtomRef:
        key = _key(node)
        if key not in self.by_key:
            index = len(self.atoms)
            if isinstance(node, Leaf):
                test, reference = leaf_predicate(node), leaf_predicate(node, reference=True)
            else:
                test, reference = quantifier_predicate(node), quantifier_predicate(node, reference=True)
            leaf = node if isinstance(node, Leaf) else None
            native = _native(leaf, self.types) if leaf is not None else None
            self.atoms.append(Atom(index, key, test, reference, leaf, native))
            self.by_key[key] = index
        return AtomRef(self.by_key[key])

    def expr(self, node: Node) -> Expr:
        if isinstance(node, Leaf | Quantifier):
            return self.atom(node)
        if isinstance(node, conditions.Not):
            return Neg(self.expr(node.child))
        if isinstance(node, conditions.All):
            return And(tuple(self.expr(c) for c in node.children))
        return Or(tuple(self.expr(c) for c in node.children))

    def predicate(self, node: Node) -> Predicate:
        return evaluator(self.expr(node), tuple(a.test for a in self.atoms))


def evaluator(expr: Expr, tests: tuple[Predicate, ...]) -> Predicate:
    """A closure evaluating `expr` directly (no memo): for scopes and items."""
    if isinstance(expr, AtomRef):
        return tests[expr.index]
    if isinstance(expr, Neg):
        inner = evaluator(expr.child, tests)
        return lambda flat, as_of: not inner(flat, as_of)
    return _combine(isinstance(expr, And), tuple(evaluator(c, tests) for c in expr.children))


def _key(node: Leaf | Quantifier) -> str:
    if isinstance(node, Leaf):
        arg = node.arg
        shown = (
            f"valueset:{arg.name}"
            if hasattr(arg, "codes")
            else f"re:{arg.pattern}"
            if hasattr(arg, "pattern")
            else repr(sorted(arg, key=repr))
            if isinstance(arg, frozenset)
            else repr(arg)
        )
        return f"{node.path} {node.op} {shown}"
    return f"{node.path} {node.kind} {node.count!r} {_node_key(node.where)}"


def _node_key(node: Node | None) -> str:
    if node is None:
        return "-"
    if isinstance(node, Leaf | Quantifier):
        return _key(node)
    if isinstance(node, conditions.Not):
        return f"not({_node_key(node.child)})"
    name = "all" if isinstance(node, conditions.All) else "any"
    return f"{name}(" + ",".join(_node_key(c) for c in node.children) + ")"


def leaf_predicate(leaf: Leaf, reference: bool = False) -> Predicate:
    """The atom for one leaf test over the flat facts (reference: the unspecialised semantics)."""
    path = leaf.path
    if reference:
        return lambda flat, as_of: test_leaf(leaf, flat.get(path), as_of)
    inline = inline_test(leaf, "flat.get(PATH)", "ARG")
    if inline is not None:  # one frame instead of two, for scopes and items
        return _inline_predicate(f"lambda flat, as_of: {inline}", path, leaf.arg)
    test = value_test(leaf)
    return lambda flat, as_of: test(flat.get(path), as_of)


@cache
def _code(source: str) -> CodeType:
    """Compiled once per shape of test: the source holds fixed names only (PATH, ARG)."""
    return compile(source, "<priorauth atom>", "eval")


def _inline_predicate(source: str, path: str, arg: Any) -> Predicate:
    predicate: Predicate = eval(_code(source), {"PATH": path, "ARG": arg})
    return predicate


def record_predicate(node: Node, reference: bool = False) -> RecordPredicate:
    """A closure testing one record (a document) against a condition on its fields."""
    if isinstance(node, Leaf):
        leaf, key = node, node.path
        if reference or "." in key:
            return lambda record, as_of: test_leaf(leaf, record_value(record, key), as_of)
        test = value_test(leaf)
        return lambda record, as_of: test(record.get(key), as_of)
    if isinstance(node, Quantifier):
        q = node
        inner = record_predicate(q.where, reference) if q.where is not None else None
        return lambda record, as_of: test_quantifier(q, record_value(record, q.path), inner, as_of)
    if isinstance(node, conditions.Not):
        child = record_predicate(node.child, reference)
        return lambda record, as_of: not child(record, as_of)
    return _combine(
        isinstance(node, conditions.All), tuple(record_predicate(c, reference) for c in node.children)
    )


def _combine(
    conjunction: bool, parts: tuple[Callable[[Any, date], bool], ...]
) -> Callable[[Any, date], bool]:
    if len(parts) == 1:
        return parts[0]
    if conjunction:

        def every(subject: Any, as_of: date) -> bool:
            for part in parts:  # noqa: SIM110  (a loop is faster than all() over a generator)
                if not part(subject, as_of):
                    return False
            return True

        return every

    def some(subject: Any, as_of: date) -> bool:
        for part in parts:  # noqa: SIM110
            if part(subject, as_of):
                return True
        return False

    return some


def quantifier_predicate(q: Quantifier, reference: bool = False) -> Predicate:
    if not reference:
        generated = quantifiers.generate(q)
        if generated is not None:
            return generated
    where = record_predicate(q.where, reference) if q.where is not None else None
    path = q.path
    if q.kind == "some" and where is not None and not reference:
        test = where

        def some(flat: Flat, as_of: date) -> bool:  # the common case, without the general loop
            records = flat.get(path)
            if type(records) is list:
                for record in records:
                    if test(record, as_of):
                        return True
            return False

        return some
    return lambda flat, as_of: test_quantifier(q, flat.get(path), where, as_of)


def _record_matcher(node: Node | None) -> Callable[[Flat, date], list[str]]:
    """Ids of the records that match what an item's condition asks of them (for `satisfied.by`)."""
    found: list[Quantifier] = []

    def walk(n: Node | None, negated: bool) -> None:
        if isinstance(n, Quantifier) and not negated and n.kind != "none" and n.where is not None:
            found.append(n)
        elif isinstance(n, conditions.Not):
            walk(n.child, not negated)
        elif isinstance(n, conditions.All | conditions.AnyOf):
            for child in n.children:
                walk(child, negated)

    walk(node, False)
    tests = [(q.path, record_predicate(q.where)) for q in found if q.where is not None]

    def matching(flat: Flat, as_of: date) -> list[str]:
        ids: list[str] = []
        for path, test in tests:
            for record in flat.get(path) or ():
                rid = record.get("id")
                if isinstance(rid, str) and rid not in ids and test(record, as_of):
                    ids.append(rid)
        return ids

    return matching


def _gate(node: Node) -> Gate | None:
    """The first top-level conjunct of `node` that is a membership test on codes (see gates.py)."""
    conjuncts = node.children if isinstance(node, conditions.All) else (node,)
    for c in conjuncts:
        if isinstance(c, Leaf) and c.op in ("any_in", "in", "eq"):
            arg = c.arg
            if c.op == "eq":
                if type(arg) is str:
                    return Gate(c.path, frozenset((arg,)))
                continue
            if isinstance(arg, ValueSet) or all(type(v) is str for v in arg):
                # sets of codes hold only strings, so membership is exact for any value
                return Gate(c.path, arg)
    return None


_COMPARISONS = frozenset({"eq", "ne", "lt", "lte", "gt", "gte"})


def _native(leaf: Leaf, types: Mapping[str, str]) -> tuple[str, str, Any] | None:
    """(path, op, arg) when durable-rules can compare this fact itself, exactly as we would.

    Whole numbers (bounded to what a double holds exactly), and = / ≠ on text and true/false.
    Not fractions: durable-rules' JSON reader crashes the process on `1e-05` (an exponent with no
    decimal point, which is how Python writes small floats) and may round long decimals its own
    way. Dates, lists, untyped answers.* paths and everything else stay atoms.
    """
    kind, arg, op = types.get(leaf.path), leaf.arg, leaf.op
    if op not in _COMPARISONS:
        return None
    if kind == "integer" and type(arg) is int:
        return (leaf.path, op, arg)
    if kind == "string" and type(arg) is str and op in ("eq", "ne"):
        return (leaf.path, op, arg)
    if kind == "boolean" and type(arg) is bool and op in ("eq", "ne"):
        return (leaf.path, op, arg)
    return None
