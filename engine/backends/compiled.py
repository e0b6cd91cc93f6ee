"""The compiled backend: a plan's rules as one generated Python function, indexed by gate.

Most rules open with a membership test (`service.codes: {any_in: lumbar_mri}`). Such a test is a
*gate*: the rule cannot fire unless the case holds a value in that set. The gate index
(`engine/gates.py`) maps a case's codes to the rules they can reach, so a case only evaluates
those, plus the ungated ones.

The rules themselves become one function, generated when the plan is prepared: each rule an
`if` over Python's own `and` / `or` / `not`, each atom a local variable computed at most once per
case. The source holds only numbers and fixed names: the tests and fact paths come from tuples
in its namespace, never from ruleset text. A plan whose source Python cannot compile (absurdly
deep nesting) runs on the closures below instead, with the same results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from engine.gates import GateIndex
from engine.operators import value_test
from engine.plan import And, Atom, AtomRef, Expr, Flat, Neg, Plan

Memo = list[Any]
Check = Callable[[Flat, date, Memo], bool]


def _compile(expr: Expr, atoms: Sequence[Atom]) -> Check:
    if isinstance(expr, AtomRef):
        index, leaf = expr.index, atoms[expr.index].leaf
        if leaf is not None:  # one call less per atom: the value test straight on the fact
            path, value_of = leaf.path, value_test(leaf)

            def leaf_atom(flat: Flat, as_of: date, memo: Memo) -> bool:
                value = memo[index]
                if value is None:
                    value = memo[index] = value_of(flat.get(path), as_of)
                return bool(value)

            return leaf_atom
        test = atoms[expr.index].test

        def atom(flat: Flat, as_of: date, memo: Memo) -> bool:
            value = memo[index]
            if value is None:
                value = memo[index] = test(flat, as_of)
            return bool(value)

        return atom
    if isinstance(expr, Neg):
        inner = _compile(expr.child, atoms)
        return lambda flat, as_of, memo: not inner(flat, as_of, memo)
    parts = tuple(_compile(c, atoms) for c in expr.children)
    if len(parts) == 1:
        return parts[0]
    if isinstance(expr, And):

        def conj(flat: Flat, as_of: date, memo: Memo) -> bool:
            for part in parts:
                if not part(flat, as_of, memo):
                    return False
            return True

        return conj

    def disj(flat: Flat, as_of: date, memo: Memo) -> bool:
        for part in parts:
            if part(flat, as_of, memo):
                return True
        return False

    return disj


Matcher = Callable[[Flat, date, set[int]], list[int]]


def _source(expr: Expr, atoms: Sequence[Atom], used: set[int]) -> str:
    if isinstance(expr, AtomRef):
        i = expr.index
        used.add(i)
        call = f"T[{i}](get(P[{i}]), as_of)" if atoms[i].leaf is not None else f"T[{i}](flat, as_of)"
        return f"(a{i} if a{i} is not None else (a{i} := {call}))"
    if isinstance(expr, Neg):
        return f"(not {_source(expr.child, atoms, used)})"
    if not expr.children:
        return "True" if isinstance(expr, And) else "False"
    joiner = " and " if isinstance(expr, And) else " or "
    return "(" + joiner.join(_source(c, atoms, used) for c in expr.children) + ")"


def generate(plan: Plan) -> Matcher:
    """One function deciding which reachable rules fire: fired(flat, as_of, reachable) -> positions."""
    used: set[int] = set()
    body = []
    for position, expr in enumerate(plan.conditions):
        body += [
            f"    if {position} in reachable and {_source(expr, plan.atoms, used)}:",
            f"        out.append({position})",
        ]
    lines = ["def fired(flat, as_of, reachable):", "    get = flat.get", "    out = []"]
    lines += [f"    a{i} = None" for i in sorted(used)]
    lines += [*body, "    return out"]
    namespace: dict[str, Any] = {
        "T": tuple(value_test(a.leaf) if a.leaf is not None else a.test for a in plan.atoms),
        "P": tuple(a.leaf.path if a.leaf is not None else "" for a in plan.atoms),
    }
    code = compile("\n".join(lines), f"<priorauth rules of {plan.ruleset.id}>", "exec")
    exec(code, namespace)
    matcher: Matcher = namespace["fired"]
    return matcher


class CompiledRunner:
    """Evaluates one plan with indexed Python predicates."""

    def __init__(self, plan: Plan) -> None:
        self._index = GateIndex(plan.gates)
        try:
            self._matcher: Matcher | None = generate(plan)
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            self._matcher = None  # nesting Python's compiler refuses: the closures do the same job
        # the closures are only needed when the generated function is not there
        self._checks = () if self._matcher else tuple(_compile(e, plan.atoms) for e in plan.conditions)
        self._size = len(plan.atoms)

    def fired(self, flat: Flat, as_of: date) -> list[int]:
        if self._matcher is not None:
            return self._matcher(flat, as_of, self._index.reachable(flat))
        memo: Memo = [None] * self._size
        checks = self._checks
        return [p for p in self._index.candidates(flat) if checks[p](flat, as_of, memo)]

    def fired_many(self, cases: Sequence[tuple[Flat, date]]) -> list[list[int]]:
        return [self.fired(flat, as_of) for flat, as_of in cases]
