"""The durable backend: each ruleset version becomes one durable-rules ruleset.

durable-rules 2.0.28 evaluates the rule network and the plain comparisons it does well: `=`, `≠`,
`<`, `≤`, `>`, `≥` on whole-number facts and `=`, `≠` on text and true/false facts, which reach it as fields `v<j>` of a
flat fact (left out when the fact is missing, which is exactly "a missing fact never matches").
Everything it does badly (value-set membership, dates, regexes, record quantifiers, negation)
is precomputed by the plan into boolean atoms `a<i>`; a negated comparison is such an atom too.

Its traps, and what this module does about each (DEVELOPERS.md; tests/engine/test_durable_traps.py):
- not thread-safe: every call into it holds one process-wide lock;
- Host/get_host start timer threads that dispatch actions in the background: we never create a
  Host; we create a `durable.engine.Ruleset` and drive its C engine directly, synchronously;
- a fact no rule matches makes the Python layer raise MessageNotHandledException, even in a
  batch where other facts matched: the C engine reports it as code 1, which we accept;
- the Python layer builds a Closure, re-encodes the session state and decodes the whole fact for
  every match (most of its time): we read (rule, case) from the match message and go on;
- asserting a fact equal to a live one raises MessageObservedException: each fact carries a fresh
  serial number `k` and is retracted after its batch;
- `delete_state` on a session that never matched can segfault, and live sessions are capped at
  1,024: we use one session per ruleset, retract our facts, and never delete state;
- a fact over 255 fields fails: rules are packed into groups of at most 240 fields, one fact per
  group, and a rule only tests the fields of its group (`g` tells the groups apart);
- a fact that passes 64 or more tests of the network fails with error 303 (ERR_MAX_STACK_SIZE):
  groups are also packed so that at most 48 tests (counted generously, an OR expanded) can pass
  per fact, and a single rule wider than that reaches durable-rules as one precomputed flag;
- no `$in`, unknown `$` operators silently accepted: we emit only `$and`, `$or`, `$ex` and equality;
- `assert_facts([])` followed by running its actions crashes the process (SIGSEGV): a batch in
  which no case reaches a rule never calls it;
- `-m.x` alone as a rule hangs: negation is pushed down to atoms, never a `$nex`;
- its JSON reader crashes the process (SIGSEGV) on a number like `1e-05` (Python's way of writing
  small floats) and may round long decimals differently: only whole numbers reach it;
- an OR fires once per matching branch: matches are collected into a set per case;
- exceptions raised in actions are swallowed into the session state: no action of ours runs in
  it, and any error the engine raises becomes a BackendError naming the ruleset;
- a ruleset name cannot be registered twice: each runner gets a unique name.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from durable import engine as durable_engine

from engine.errors import BackendError
from engine.gates import GateIndex
from engine.plan import And, Atom, AtomRef, Expr, Flat, Neg, Plan, evaluator

LOCK = threading.RLock()
MAX_FIELDS_PER_FACT = 240  # durable fails on facts over 255 fields; sid, k and g take three
MAX_TESTS_PER_FACT = 48  # durable fails when 64 tests pass for one fact (ERR_MAX_STACK_SIZE)
BATCH = 256
_names = itertools.count(1)
_serial = itertools.count(1)
_SESSION = "pa"
_NATIVE = {"eq": None, "ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}

Json = Any
_C: Any = durable_engine.durable_rules_engine  # the C engine


@dataclass
class _Fields:
    """What one rule reads from the flat fact: atom flags and native comparison paths."""

    flags: set[int]
    paths: set[str]

    def size(self) -> int:
        return len(self.flags) + len(self.paths)


def _fields(expr: Expr, atoms: Sequence[Atom], negate: bool = False, out: _Fields | None = None) -> _Fields:
    out = out if out is not None else _Fields(set(), set())
    if isinstance(expr, AtomRef):
        native = atoms[expr.index].native
        if native is not None and not negate:
            out.paths.add(native[0])
        else:
            out.flags.add(expr.index)
    elif isinstance(expr, Neg):
        _fields(expr.child, atoms, not negate, out)
    else:
        for child in expr.children:
            _fields(child, atoms, negate, out)
    return out


def _cost(expr: Expr, negate: bool = False) -> tuple[int, int]:
    """(DNF terms, test nodes) of `expr` as durable-rules expands it: an upper bound on passing tests."""
    if isinstance(expr, AtomRef):
        return 1, 1
    if isinstance(expr, Neg):
        return _cost(expr.child, not negate)
    parts = [_cost(c, negate) for c in expr.children]
    if not parts:
        return 1, 0
    if isinstance(expr, And) != negate:
        terms = 1
        for t, _ in parts:
            terms *= t
        return terms, sum(n * (terms // t) for t, n in parts)
    return sum(t for t, _ in parts), sum(n for _, n in parts)


def rule_cost(expr: Expr) -> int:
    terms, nodes = _cost(expr)
    return terms + nodes  # each DNF term also tests `g`


class _Network:
    """Translates plan expressions into durable JSON, naming native paths `v<j>`."""

    def __init__(self, atoms: Sequence[Atom]) -> None:
        self.atoms = atoms
        self.fields: dict[str, str] = {}

    def field(self, path: str) -> str:
        return self.fields.setdefault(path, f"v{len(self.fields)}")

    def test(self, expr: Expr, negate: bool = False) -> Json | bool:
        """durable JSON for `expr`, negation pushed down to the atoms; True/False when constant."""
        if isinstance(expr, AtomRef):
            native = self.atoms[expr.index].native
            if native is not None and not negate:
                path, op, arg = native
                operator = _NATIVE[op]
                field = {self.field(path): arg}
                return field if operator is None else {operator: field}
            return {f"a{expr.index}": not negate}
        if isinstance(expr, Neg):
            return self.test(expr.child, not negate)
        conjunctive = isinstance(expr, And) != negate  # De Morgan
        # AND: a False part decides it, True parts drop out; OR the other way round
        absorbing, key = (False, "$and") if conjunctive else (True, "$or")
        parts = [self.test(c, negate) for c in expr.children]
        if any(p is absorbing for p in parts):
            return absorbing
        parts = [p for p in parts if p is not (not absorbing)]
        if not parts:
            return not absorbing
        return parts[0] if len(parts) == 1 else {key: parts}


def _groups(plan: Plan, wide: frozenset[int]) -> list[tuple[list[int], _Fields, int]]:
    """Pack rules into groups that fit one fact: [(rule positions, fields, cost)].

    A rule in `wide` is one precomputed flag (`r<position>`): one field, cost 2.
    """
    groups: list[tuple[list[int], _Fields, int]] = []
    for position, expr in enumerate(plan.conditions):
        if position in wide:
            need, cost = _Fields(set(), set()), 2
        else:
            need, cost = _fields(expr, plan.atoms), rule_cost(expr)
        for index, (rules, held, spent) in enumerate(groups):
            flags = len(held.flags | need.flags) + sum(p in wide for p in rules) + (position in wide)
            fits = flags + len(held.paths | need.paths)
            if fits <= MAX_FIELDS_PER_FACT and spent + cost <= MAX_TESTS_PER_FACT:
                rules.append(position)
                held.flags |= need.flags
                held.paths |= need.paths
                groups[index] = (rules, held, spent + cost)
                break
        else:
            groups.append(([position], need, cost))
    return groups or [([], _Fields(set(), set()), 0)]


class DurableRunner:
    """Evaluates one plan on durable-rules."""

    def __init__(self, plan: Plan) -> None:
        self._tests = tuple(a.reference for a in plan.atoms)  # the reference semantics
        # a rule too wide for durable's stack, or for one fact, is one flag computed here
        self._wide = {
            position: evaluator(expr, self._tests)
            for position, expr in enumerate(plan.conditions)
            if rule_cost(expr) > MAX_TESTS_PER_FACT - 2
            or _fields(expr, plan.atoms).size() > MAX_FIELDS_PER_FACT
        }
        groups = _groups(plan, frozenset(self._wide))
        network = _Network(plan.atoms)
        self._label = f"{plan.ruleset.id} v{plan.ruleset.version or '?'}"
        definition: dict[str, Json] = {}
        for group, (positions, _held, _spent) in enumerate(groups):
            for position in positions:
                cond = (
                    {f"r{position}": True}
                    if position in self._wide
                    else network.test(plan.conditions[position])
                )
                if cond is False:
                    continue  # can never fire
                test: Json = {"g": group} if cond is True else {"$and": [{"g": group}, cond]}
                # actions are not run through durable's Python layer (see _assert_facts)
                definition[f"r{position}"] = {"all": [{"m": test}], "run": _unused}
        # per group: the (field, path) pairs to copy; per rule: its group and the atoms it reads
        self._paths = tuple(
            tuple((network.field(path), path) for path in sorted(held.paths)) for _p, held, _c in groups
        )
        self._group_of = {p: g for g, (positions, _h, _c) in enumerate(groups) for p in positions}
        self._flags_of = tuple(
            () if p in self._wide else tuple(sorted(_fields(expr, plan.atoms).flags))
            for p, expr in enumerate(plan.conditions)
        )
        # Only the rules a case can reach (their gate passes: gates.py) are worth a fact: a rule
        # whose gate fails cannot fire, so its atoms are not computed and its group may stay out.
        self._index = GateIndex(plan.gates)
        name = f"priorauth_{plan.ruleset.id}_{plan.ruleset.sha256[:12]}_{next(_names)}"
        try:
            with LOCK:
                self._ruleset = durable_engine.Ruleset(name, None, definition)
        except Exception as exc:
            raise BackendError(f"durable-rules refused ruleset {self._label}: {type(exc).__name__}") from None
        # durable keeps each ruleset in C memory until told otherwise: free it with the runner
        self._handle = self._ruleset._handle
        weakref.finalize(self, _delete, self._handle)

    def fired(self, flat: Flat, as_of: date) -> list[int]:
        return self.fired_many([(flat, as_of)])[0]

    def fired_many(self, cases: Sequence[tuple[Flat, date]]) -> list[list[int]]:
        out: list[list[int]] = []
        for start in range(0, len(cases), BATCH):
            out.extend(self._batch(cases[start : start + BATCH]))
        return out

    def _facts(self, serial: int, flat: Flat, as_of: date) -> list[dict[str, Any]]:
        tests = self._tests
        facts: dict[int, dict[str, Any]] = {}
        for position in self._index.candidates(flat):
            group = self._group_of[position]
            fact = facts.get(group)
            if fact is None:
                fact = facts[group] = {"sid": _SESSION, "k": serial, "g": group}
                for field, path in self._paths[group]:
                    value = flat.get(path)
                    if value is not None:  # a missing fact is a missing field: no comparison matches
                        # native paths hold whole numbers, text or true/false; 5.0 goes as 5
                        fact[field] = int(value) if type(value) is float else value
            if position in self._wide:
                fact[f"r{position}"] = bool(self._wide[position](flat, as_of))
            for index in self._flags_of[position]:
                name = f"a{index}"
                if name not in fact:
                    fact[name] = bool(tests[index](flat, as_of))
        return list(facts.values())

    def _batch(self, cases: Sequence[tuple[Flat, date]]) -> list[list[int]]:
        facts: list[dict[str, Any]] = []
        serials = []
        for flat, as_of in cases:
            serial = next(_serial)
            serials.append(serial)
            facts.extend(self._facts(serial, flat, as_of))
        if not facts:
            # no case reaches any rule; and durable-rules crashes (SIGSEGV) running the actions
            # of an empty assert_facts, so it is never called with none
            return [[] for _ in cases]
        text = json.dumps(facts, ensure_ascii=False)
        with LOCK:
            try:
                try:
                    found = self._assert_facts(text)
                except Exception:
                    with contextlib.suppress(Exception):  # leave no fact behind in the session
                        self._retract_facts(text)
                    raise
                self._retract_facts(text)
            except BackendError:
                raise
            except Exception as exc:
                raise BackendError(
                    f"durable-rules failed evaluating ruleset {self._label}: {type(exc).__name__}"
                ) from None
        by_serial: dict[int, set[int]] = {s: set() for s in serials}
        for serial, position in found:
            by_serial[serial].add(position)
        return [sorted(by_serial[s]) for s in serials]

    # -- the C engine, driven directly -------------------------------------------------------------
    # durable's Python layer (Ruleset.assert_facts + do_actions) raises MessageNotHandledException
    # for a batch in which any fact matched nothing, and builds a Closure, re-encodes the session
    # state and decodes the whole fact for every action. We only need (rule, case) per match.

    def _assert_facts(self, text: str) -> list[tuple[int, int]]:
        """Assert a batch and run its matches: [(case serial, rule position)]."""
        code, state = _C.assert_facts(self._handle, text)
        if code not in (0, 1):  # 0: all handled; 1: some fact matched no rule (fine here)
            raise BackendError(f"durable-rules refused facts for ruleset {self._label} (code {code})")
        hits: list[tuple[int, int]] = []
        started = _C.start_action_for_state(self._handle, state)
        message = started[1] if started else None
        while message:
            hits.append(_match(message))
            message = _C.complete_and_start_action(self._handle, state)
        return hits

    def _retract_facts(self, text: str) -> None:
        code, state = _C.retract_facts(self._handle, text)
        if code not in (0, 1):
            raise BackendError(
                f"durable-rules refused to retract facts for ruleset {self._label} (code {code})"
            )
        started = _C.start_action_for_state(self._handle, state)  # none expected: drain anyway
        while started:
            started = _C.complete_and_start_action(self._handle, state)


_MATCH = re.compile(r'\{"r(\d+)":\{"m":\{"sid": "' + _SESSION + r'", "k": (\d+),')


def _match(message: str) -> tuple[int, int]:
    """(case serial, rule position) from an action message like {"r12":{"m":{"sid": "pa", "k": 7, ...}}}."""
    found = _MATCH.match(message)
    if found:  # the fact comes back as we wrote it: sid and k first
        return int(found.group(2)), int(found.group(1))
    decoded = json.loads(message)
    name, body = next(iter(decoded.items()))
    return int(body["m"]["k"]), int(name[1:])


def _unused(_c: Any) -> None:  # pragma: no cover  (never called: see _assert_facts)
    return None


def _delete(handle: Any) -> None:
    with LOCK:
        _C.delete_ruleset(handle)
