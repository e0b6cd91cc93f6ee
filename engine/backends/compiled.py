"""The compiled backend: a plan's rules as one generated Python function.

The rules become one function, generated when the plan is prepared: each rule an `if` over
Python's own `and` / `or` / `not`. The source holds only numbers, fixed names and fact paths
(declared ones, written with `repr()`): each test's argument and predicate are names in its
namespace (`K<i>`, `T<i>`), never ruleset text.

- Code sets on list paths (`service.codes: {any_in: lumbar_mri}`, `diagnoses: {none_in: ...}`)
  are merged per path into one `CodeIndex` (engine/gates.py), which gives each set a bit. A case's
  codes are looked up once each (cached per code), and every membership test on that path
  becomes a bit test on their mask.
- Most rules open with such a test (their *gate*). Rules are grouped by it, so a case whose codes
  hold no set of a group skips the whole group; the positions are sorted at the end.
- Plain comparisons on typed paths (numbers, text, true/false) are written inline. Prepared facts
  hold values of their path's type only (facts.prepare and the evaluator's type check), which is
  what makes the inline forms equal to `operators.test_leaf` (tests/engine/test_generated_matcher.py).
- Every other test is an atom: its predicate called at most once per case, its value kept in a
  local variable.

A plan whose source Python cannot compile (absurdly deep nesting) runs on the closures below
instead, with the same results, indexed by gate (`gates.GateIndex`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine.gates import CodeIndex, GateIndex
from engine.operators import codes_only, inline_test, value_test
from engine.plan import And, Atom, AtomRef, Expr, Flat, Neg, Plan
from engine.valuesets import ValueSet

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


Matcher = Callable[[Flat, date], list[int]]

#: Up to this many prefixes in a code index, a code is first tested against all of them with one
#: `str.startswith`; with more, that scan would cost more than the lookups it spares.
PREFIX_SCAN = 32


@dataclass(frozen=True, slots=True)
class _Bit:
    """A membership atom on a list path: set `bit` of mask `m<path>`."""

    path: int
    bit: int
    hold: bool  # any_in (True) or none_in (False)


def _bits(atoms: Sequence[Atom]) -> tuple[dict[int, _Bit], list[str], list[CodeIndex]]:
    """The membership atoms on typed list paths, as bits of one mask per path."""
    sets: dict[str, list[tuple[int, ValueSet | frozenset[str]]]] = {}
    bits: dict[int, _Bit] = {}
    for atom in atoms:
        leaf = atom.leaf
        if leaf is None or leaf.kind != "[string]" or leaf.op not in ("any_in", "none_in"):
            continue
        if not codes_only(leaf.arg):
            continue
        if leaf.path not in sets:
            sets[leaf.path] = []
        entries = sets[leaf.path]
        bits[atom.index] = _Bit(list(sets).index(leaf.path), len(entries), leaf.op == "any_in")
        entries.append((len(entries), leaf.arg))
    return bits, list(sets), [CodeIndex(entries) for entries in sets.values()]


class _Source:
    """The text of one plan's matcher."""

    def __init__(self, plan: Plan) -> None:
        self.atoms = plan.atoms
        self.bits, self.paths, self.indexes = _bits(plan.atoms)
        self.memo: set[int] = set()  # atoms kept in a local a<i>
        self.hoisted = self._hoisted(plan.conditions)  # path -> its local f<n>

    def _hoisted(self, conditions: Sequence[Expr]) -> dict[str, str]:
        """The paths read once, into a local, at the top: those every case reads (the first test
        of an ungated rule) that the function reads more than once."""
        reads: dict[str, int] = {}
        first: set[str] = set()

        def walk(expr: Expr) -> None:
            if isinstance(expr, AtomRef):
                leaf = self.atoms[expr.index].leaf
                if leaf is not None and expr.index not in self.bits:
                    reads[leaf.path] = reads.get(leaf.path, 0) + 1
            elif isinstance(expr, Neg):
                walk(expr.child)
            else:
                for child in expr.children:
                    walk(child)

        for expr in conditions:
            walk(expr)
            head = expr.children[0] if isinstance(expr, And) and expr.children else expr
            if self.gate(expr) is None and isinstance(head, AtomRef) and head.index not in self.bits:
                leaf = self.atoms[head.index].leaf
                if leaf is not None:
                    first.add(leaf.path)
        return {path: f"f{n}" for n, path in enumerate(sorted(p for p in first if reads[p] > 1))}

    def read(self, path: str) -> str:
        """Source reading fact `path` (a declared path, written with repr)."""
        return self.hoisted.get(path) or f"get({path!r})"

    def atom(self, i: int, known: int | None = None) -> str:
        if i == known:
            return "True"  # the gate of the group this rule is in
        bit = self.bits.get(i)
        if bit is not None:
            test = f"m{bit.path} & {1 << bit.bit}"
            return f"({test})" if bit.hold else f"(not {test})"
        leaf = self.atoms[i].leaf
        # the path as a literal (a declared fact path, written with repr), the argument by name
        fast = inline_test(leaf, self.read(leaf.path), f"K{i}") if leaf is not None else None
        if fast is not None:
            return fast
        self.memo.add(i)
        call = f"T{i}({self.read(leaf.path)}, as_of)" if leaf is not None else f"T{i}(flat, as_of)"
        return f"(a{i} if a{i} is not None else (a{i} := {call}))"

    def expr(self, expr: Expr, known: int | None = None) -> str:
        if isinstance(expr, AtomRef):
            return self.atom(expr.index, known)
        if isinstance(expr, Neg):
            return f"(not {self.expr(expr.child)})"
        if not expr.children:
            return "True" if isinstance(expr, And) else "False"
        if isinstance(expr, And):
            # the gate of the rule's group is known to hold: a conjunct that needs no test
            parts = [self.expr(c) for c in expr.children if not (isinstance(c, AtomRef) and c.index == known)]
            return "(" + " and ".join(parts) + ")" if parts else "True"
        return "(" + " or ".join(self.expr(c) for c in expr.children) + ")"

    def gate(self, expr: Expr) -> int | None:
        """A top-level conjunct of the rule that is an any_in bit: the rule cannot fire without it."""
        conjuncts = expr.children if isinstance(expr, And) else (expr,)
        for c in conjuncts:
            if isinstance(c, AtomRef) and c.index in self.bits and self.bits[c.index].hold:
                return c.index
        return None

    def function(self, conditions: Sequence[Expr]) -> str:
        groups: dict[int, dict[int, list[str]]] = {}  # path -> bit -> lines
        plain: list[str] = []
        for position, expr in enumerate(conditions):
            gate = self.gate(expr)
            lines = [f"if {self.expr(expr, gate)}:", f"    out.append({position})"]
            if gate is None:
                plain += lines
            else:
                where = self.bits[gate]
                groups.setdefault(where.path, {}).setdefault(where.bit, []).extend(lines)
        head = ["def fired(flat, as_of):", "    get = flat.get"]
        for n, index in enumerate(self.indexes):
            # the path's codes (a list: the path is typed), looked up in its CodeIndex
            look = [f"E{n}(c, 0)"]
            if index.ranges:
                look.append(f"R{n}(c)")
            head += [
                f"    m{n} = 0",
                f"    for c in get({self.paths[n]!r}) or ():",
                f"        m{n} |= {' | '.join(look)}",
            ]
            prefixes = " | ".join(f"X{n}(c[:{size}], 0)" for size in index.lengths)
            if len(index.prefixes) > PREFIX_SCAN:
                head[-1] += f" | {prefixes}"
            elif prefixes:
                # Most codes start with none of a few prefixes: one startswith over them all is
                # quicker than a slice (a new string) and a lookup per prefix length.
                head += [f"        if c.startswith(P{n}):", f"            m{n} |= {prefixes}"]
        head += [f"    a{i} = None" for i in sorted(self.memo)]
        head += [f"    {name} = get({path!r})" for path, name in self.hoisted.items()]
        body = ["    out = []"]
        for n, by_bit in sorted(groups.items()):
            body.append(f"    if m{n}:")
            for bit, lines in sorted(by_bit.items()):
                body.append(f"        if m{n} & {1 << bit}:")
                body += ["            " + line for line in lines]
        body += ["    " + line for line in plain]
        body += ["    if len(out) > 1:", "        out.sort()", "    return out"]
        return "\n".join(head + body)


def generate(plan: Plan) -> Matcher:
    """One function deciding which rules fire: fired(flat, as_of) -> positions, ascending."""
    source = _Source(plan)
    text = source.function(plan.conditions)
    # each atom's argument and test under its own name (K<i>, T<i>): one global load, no subscript
    namespace: dict[str, Any] = {}
    for a in plan.atoms:
        namespace[f"K{a.index}"] = a.leaf.arg if a.leaf is not None else None
        namespace[f"T{a.index}"] = value_test(a.leaf) if a.leaf is not None else a.test
    for n, index in enumerate(source.indexes):
        namespace.update({f"E{n}": index.exact.get, f"X{n}": index.prefixes.get, f"R{n}": index.in_ranges})
        namespace[f"P{n}"] = tuple(index.prefixes)
    code = compile(text, f"<priorauth rules of {plan.ruleset.id}>", "exec")
    exec(code, namespace)
    matcher: Matcher = namespace["fired"]
    return matcher


class CompiledRunner:
    """Evaluates one plan with a generated function (or, failing that, indexed closures)."""

    def __init__(self, plan: Plan) -> None:
        try:
            self._matcher: Matcher | None = generate(plan)
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            self._matcher = None  # nesting Python's compiler refuses: the closures do the same job
        # the closures are only needed when the generated function is not there
        self._index = GateIndex(plan.gates) if self._matcher is None else None
        self._checks = () if self._matcher else tuple(_compile(e, plan.atoms) for e in plan.conditions)
        self._size = len(plan.atoms)

    @property
    def matcher(self) -> Matcher:
        """The fastest way to `fired`: the generated function itself, when there is one."""
        return self._matcher if self._matcher is not None else self.fired

    def fired(self, flat: Flat, as_of: date) -> list[int]:
        if self._matcher is not None:
            return self._matcher(flat, as_of)
        assert self._index is not None
        memo: Memo = [None] * self._size
        checks = self._checks
        return [p for p in self._index.candidates(flat) if checks[p](flat, as_of, memo)]

    def fired_many(self, cases: Sequence[tuple[Flat, date]]) -> list[list[int]]:
        return [self.fired(flat, as_of) for flat, as_of in cases]
