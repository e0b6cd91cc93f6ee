"""The compiled backend: rule conditions as Python closures over memoised atoms, indexed by gate.

Most rules open with a membership test (`service.codes: {any_in: lumbar_mri}`). Such a test is a
*gate*: the rule cannot fire unless the case holds a value in that set. The gate index
(`engine/gates.py`) maps a case's codes to the rules they can reach, so a case only evaluates
those, plus the ungated ones; each atom is computed at most once per case (the memo).
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


class CompiledRunner:
    """Evaluates one plan with indexed Python predicates."""

    def __init__(self, plan: Plan) -> None:
        self._checks = tuple(_compile(e, plan.atoms) for e in plan.conditions)
        self._size = len(plan.atoms)
        self._index = GateIndex(plan.gates)

    def fired(self, flat: Flat, as_of: date) -> list[int]:
        memo: Memo = [None] * self._size
        checks = self._checks
        return [p for p in self._index.candidates(flat) if checks[p](flat, as_of, memo)]

    def fired_many(self, cases: Sequence[tuple[Flat, date]]) -> list[list[int]]:
        return [self.fired(flat, as_of) for flat, as_of in cases]
