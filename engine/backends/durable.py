"""The durable backend: each ruleset version becomes one durable-rules ruleset.

durable-rules 2.0.28 evaluates the rule network; the plan precomputes everything it does badly
(value-set membership, dates, regexes, record quantifiers, missing-fact semantics) into a flat
fact of boolean atoms `a<i>`, so a rule is an AND/OR of `a<i> == true|false`.

Its traps, and what this module does about each (DEVELOPERS.md; tests/engine/test_durable_traps.py):
- not thread-safe: every call into it holds one process-wide lock;
- Host/get_host start timer threads that dispatch actions in the background: we never create a
  Host; we drive `durable.engine.Ruleset` directly and run its actions synchronously;
- a fact no rule matches raises MessageNotHandledException: a catch-all rule handles every fact;
- asserting a fact equal to a live one raises MessageObservedException: each fact carries a fresh
  serial number `k` and is retracted after its batch;
- `delete_state` on a session that never matched can segfault, and live sessions are capped at
  1,024: we use one session per ruleset, retract our facts, and never delete state;
- a fact over 255 fields fails: atoms are split into groups of at most 240, one fact per group,
  and a rule only tests the atoms of its group (`g` tells the groups apart);
- no `$in`, unknown `$` operators silently accepted: we emit only `$and`, `$or`, `$ex` and equality;
- `-m.x` alone as a rule hangs: negation is pushed down to atoms, never a `$nex`;
- an OR fires its action once per matching branch: hits are collected into a set;
- exceptions raised in actions are swallowed into the session state: our action only appends to a
  list, and any error that does surface becomes a BackendError naming the ruleset;
- a ruleset name cannot be registered twice: each runner gets a unique name.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from durable import engine as durable_engine

from engine.errors import BackendError
from engine.plan import And, AtomRef, Expr, Flat, Neg, Plan

LOCK = threading.RLock()
MAX_ATOMS_PER_FACT = 240
BATCH = 256
_names = itertools.count(1)
_serial = itertools.count(1)
_SESSION = "pa"

Json = Any
_ALWAYS: Json = {"$ex": {"k": 1}}


def _nnf(expr: Expr, negate: bool = False) -> Json | bool:
    """durable JSON for `expr` with negation pushed to the atoms; True/False when constant."""
    if isinstance(expr, AtomRef):
        return {f"a{expr.index}": not negate}
    if isinstance(expr, Neg):
        return _nnf(expr.child, not negate)
    conjunctive = isinstance(expr, And) != negate  # De Morgan
    parts = [_nnf(c, negate) for c in expr.children]
    if conjunctive:
        if any(p is False for p in parts):
            return False
        parts = [p for p in parts if p is not True]
        if not parts:
            return True
        return parts[0] if len(parts) == 1 else {"$and": parts}
    if any(p is True for p in parts):
        return True
    parts = [p for p in parts if p is not False]
    if not parts:
        return False
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _atoms_of(expr: Expr) -> set[int]:
    if isinstance(expr, AtomRef):
        return {expr.index}
    if isinstance(expr, Neg):
        return _atoms_of(expr.child)
    return set().union(*(_atoms_of(c) for c in expr.children)) if expr.children else set()


def _groups(plan: Plan) -> list[tuple[list[int], list[int]]]:
    """Split rules into groups whose atoms fit in one fact: [(rule positions, atom indexes)]."""
    groups: list[tuple[list[int], set[int]]] = []
    for position, expr in enumerate(plan.conditions):
        atoms = _atoms_of(expr)
        if len(atoms) > MAX_ATOMS_PER_FACT:
            rule = plan.rules[position]
            raise BackendError(
                f"rule '{rule.id}' of ruleset {plan.ruleset.id} tests {len(atoms)} conditions, more than the "
                f"durable backend's {MAX_ATOMS_PER_FACT}: split the rule"
            )
        for rules, members in groups:
            if len(members | atoms) <= MAX_ATOMS_PER_FACT:
                rules.append(position)
                members |= atoms
                break
        else:
            groups.append(([position], set(atoms)))
    return [(rules, sorted(members)) for rules, members in groups] or [([], [])]


class DurableRunner:
    """Evaluates one plan on durable-rules."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._tests = tuple(a.reference for a in plan.atoms)  # the reference semantics
        self._groups = _groups(plan)
        self._hits: list[tuple[int, int]] = []
        label = f"{plan.ruleset.id} v{plan.ruleset.version or '?'}"
        self._label = label
        definition: dict[str, Json] = {"done": {"all": [{"m": _ALWAYS}], "run": _noop}}
        for group, (positions, _atoms) in enumerate(self._groups):
            for position in positions:
                cond = _nnf(plan.conditions[position])
                if cond is False:
                    continue  # can never fire
                test: Json = {"g": group} if cond is True else {"$and": [{"g": group}, cond]}
                definition[f"r{position}"] = {"all": [{"m": test}], "run": self._action(position)}
        name = f"priorauth_{plan.ruleset.id}_{plan.ruleset.sha256[:12]}_{next(_names)}"
        try:
            with LOCK:
                self._ruleset = durable_engine.Ruleset(name, None, definition)
        except Exception as exc:
            raise BackendError(f"durable-rules refused ruleset {label}: {type(exc).__name__}") from None
        # durable keeps each ruleset in C memory until told otherwise: free it with the runner
        weakref.finalize(self, _delete, self._ruleset._handle)

    def _action(self, position: int) -> Callable[[Any], None]:
        hits = self._hits

        def action(c: Any) -> None:
            hits.append((c.m["k"], position))

        return action

    def fired(self, flat: Flat, as_of: date) -> list[int]:
        return self.fired_many([(flat, as_of)])[0]

    def fired_many(self, cases: Sequence[tuple[Flat, date]]) -> list[list[int]]:
        out: list[list[int]] = []
        for start in range(0, len(cases), BATCH):
            out.extend(self._batch(cases[start : start + BATCH]))
        return out

    def _batch(self, cases: Sequence[tuple[Flat, date]]) -> list[list[int]]:
        tests = self._tests
        facts: list[dict[str, Any]] = []
        serials = []
        for flat, as_of in cases:
            values: dict[int, bool] = {}
            serial = next(_serial)
            serials.append(serial)
            for group, (_positions, atoms) in enumerate(self._groups):
                fact: dict[str, Any] = {"sid": _SESSION, "k": serial, "g": group}
                for index in atoms:
                    value = values.get(index)
                    if value is None:
                        value = values[index] = bool(tests[index](flat, as_of))
                    fact[f"a{index}"] = value
                facts.append(fact)
        with LOCK:
            self._hits.clear()
            try:
                self._run(self._ruleset.assert_facts, facts)
                found = list(self._hits)
                self._run(self._ruleset.retract_facts, facts)
            except BackendError:
                raise
            except Exception as exc:
                raise BackendError(
                    f"durable-rules failed evaluating ruleset {self._label}: {type(exc).__name__}"
                ) from None
            finally:
                self._hits.clear()
        by_serial: dict[int, set[int]] = {s: set() for s in serials}
        for serial, position in found:
            by_serial[serial].add(position)
        return [sorted(by_serial[s]) for s in serials]

    def _run(self, call: Callable[[Any], Any], facts: list[dict[str, Any]]) -> None:
        errors: list[Any] = []

        def complete(error: Any, _state: Any) -> None:
            if error:
                errors.append(error)

        state = call(facts)
        self._ruleset.do_actions(state, complete)
        if errors:
            raise BackendError(
                f"durable-rules failed evaluating ruleset {self._label}: {type(errors[0]).__name__}"
            )


def _delete(handle: Any) -> None:
    with LOCK:
        durable_engine.durable_rules_engine.delete_ruleset(handle)


def _noop(_c: Any) -> None:
    return None
