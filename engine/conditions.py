"""The condition language: YAML -> a predicate tree, type-checked against the fact schema.

    {path: value}                       equality
    {path: {op: arg, op2: arg2}}        an AND of operator tests
    {all: [...]} {any: [...]} {not: {...}}
    {documents: {some: {...}, none: {...}, every: {...}, count: {gte: 2}}}

Parsing collects every problem (file:line, what, how to fix) instead of stopping at the first.
What each operator means is in operators.py.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Union

from engine.errors import Problem
from engine.facts import LIST_TYPES, MAX_NUMBER, SCALAR_TYPES, URGENCIES, iso_date
from engine.valuesets import ValueSet
from engine.yamlsafe import line_of

OPERATORS = [
    "eq",
    "ne",
    "lt",
    "lte",
    "gt",
    "gte",
    "in",
    "not_in",
    "any_in",
    "all_in",
    "none_in",
    "exists",
    "matches",
    "prefix",
    "between",
    "within_days",
    "older_than_days",
]
QUANTIFIERS = ("some", "none", "every", "count")
MAX_REGEX = 200

_ORDERED = frozenset({"number", "integer", "date"})
_APPLIES: dict[str, frozenset[str]] = {
    "eq": SCALAR_TYPES,
    "ne": SCALAR_TYPES,
    "lt": _ORDERED,
    "lte": _ORDERED,
    "gt": _ORDERED,
    "gte": _ORDERED,
    "between": _ORDERED,
    "in": SCALAR_TYPES - {"boolean"},
    "not_in": SCALAR_TYPES - {"boolean"},
    "any_in": LIST_TYPES,
    "all_in": LIST_TYPES,
    "none_in": LIST_TYPES,
    "matches": frozenset({"string"}),
    "prefix": frozenset({"string"}),
    "within_days": frozenset({"date"}),
    "older_than_days": frozenset({"date"}),
}
_HINT = {
    "any_in": "use in / not_in on a single value",
    "all_in": "use in / not_in on a single value",
    "none_in": "use not_in on a single value",
    "in": "use any_in / all_in / none_in on a list",
    "not_in": "use none_in on a list",
    "eq": "on a list use any_in / all_in; on documents use some",
    "ne": "on a list use none_in; on documents use none",
}


@dataclass(frozen=True, slots=True)
class Leaf:
    """One operator test on one fact path. `arg` is checked and normalised (dates parsed)."""

    path: str
    op: str
    arg: Any
    line: int | None
    kind: str = "any"  # the fact's type: dates arrive as checked ISO text on typed paths


@dataclass(frozen=True, slots=True)
class Quantifier:
    """some / none / every / count over a list of records; `where` tests one record."""

    path: str
    kind: str
    where: Node | None
    count: tuple[tuple[str, Any], ...]
    line: int | None


@dataclass(frozen=True, slots=True)
class All:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Union[Leaf, Quantifier, All, AnyOf, Not]  # noqa: UP007  (a runtime alias used in annotations)


def did_you_mean(word: str, choices: Sequence[str] | Mapping[str, Any]) -> str:
    """ "did you mean 'x'?" when a close match exists, else ''.

    Dotted paths that share their first part are compared on the rest, so that every
    `clinical.*` path does not look alike merely by starting with `clinical.`.
    """
    word = str(word)
    head, dot, rest = word.partition(".")
    options = list(choices)
    if dot:
        siblings = {c.partition(".")[2]: c for c in options if c.partition(".")[0] == head and "." in c}
        close = difflib.get_close_matches(rest, list(siblings), n=1, cutoff=0.6)
        if close:
            return f"did you mean '{siblings[close[0]]}'?"
        options = [c for c in options if c.partition(".")[0] != head]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


class Parser:
    """Parse conditions of one document, recording problems in `self.problems`.

    `types` maps a fact path to its type; `records` maps a list-of-records path to its fields.
    """

    def __init__(
        self,
        file: str,
        types: Mapping[str, str],
        records: Mapping[str, Mapping[str, str]],
        valuesets: Mapping[str, ValueSet],
        problems: list[Problem],
        enums: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.file, self.types, self.records = file, types, records
        self.valuesets, self.problems = valuesets, problems
        self.enums: Mapping[str, Sequence[str]] = enums if enums is not None else {"urgency": URGENCIES}

    def error(self, line: int | None, message: str, fix: str = "") -> None:
        self.problems.append(Problem(self.file, line, message, fix))

    # -- structure -----------------------------------------------------------------------------
    def parse(self, raw: Any, line: int | None, scope: Mapping[str, str] | None = None) -> Node:
        """Parse a condition mapping. `scope` is a record's field types inside some/none/every."""
        types = self.types if scope is None else scope
        if not isinstance(raw, Mapping):
            self.error(line, "a condition must be a mapping of fact path to test", "write `path: value`")
            return All(())
        parts: list[Node] = []
        for key, value in raw.items():
            at = line_of(raw, key) or line
            if key in ("all", "any"):
                if not isinstance(value, list) or not value:
                    self.error(
                        at,
                        f"`{key}:` takes a non-empty list of conditions",
                        f"write `{key}: [ {{...}}, {{...}} ]`",
                    )
                    continue
                children = tuple(
                    self.parse(item, line_of(value, i) or at, scope) for i, item in enumerate(value)
                )
                parts.append(All(children) if key == "all" else AnyOf(children))
            elif key == "not":
                parts.append(Not(self.parse(value, at, scope)))
            else:
                parts.extend(self._path_test(str(key), value, at, types, scope is not None))
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def _path_test(
        self, path: str, test: Any, line: int | None, types: Mapping[str, str], in_record: bool
    ) -> list[Node]:
        kind = types.get(path)
        if kind is None:
            kind = self._unknown_path(path, line, types, in_record)
            if kind is None:
                return []
        if kind in ("object",):
            self.error(
                line,
                f"'{path}' is a group of facts, not a fact",
                f"test one of its fields, like '{path}.<field>'",
            )
            return []
        if kind == "[object]":
            return self._quantifier(path, test, line)
        if isinstance(test, Mapping) and test and all(isinstance(k, str) for k in test):
            return [
                leaf
                for op, arg in test.items()
                if (leaf := self._leaf(path, kind, op, arg, line_of(test, op) or line))
            ]
        if isinstance(test, Mapping):
            self.error(line, f"'{path}' has an empty test", "write a value or an operator such as {eq: ...}")
            return []
        if kind in LIST_TYPES:
            self.error(
                line,
                f"'{path}' is a list and cannot equal a single value",
                "use {any_in: [...]} (any of), {all_in: [...]} or {none_in: [...]}",
            )
            return []
        leaf = self._leaf(path, kind, "eq", test, line)
        return [leaf] if leaf else []

    def _unknown_path(
        self, path: str, line: int | None, types: Mapping[str, str], in_record: bool
    ) -> str | None:
        if path.startswith("answers.") and path.count(".") >= 2:
            form = path.split(".")[1]
            if not any(p.startswith(f"answers.{form}.") for p in types):
                return "any"  # the form is not known here: the path cannot be checked, only tested
        hint = did_you_mean(path, [p for p, k in types.items() if k != "object"])
        if path.startswith("clinical.") and not in_record:
            fix = f"declare it under `facts:` with its type (e.g. `{path}: number`)"
            fix = f"{hint} Or {fix}" if hint else fix
        else:
            fix = hint or (
                "known fields: " + ", ".join(sorted(types)) if in_record else "check the fact schema"
            )
        self.error(line, f"unknown fact path '{path}'", fix)
        return None

    def _quantifier(self, path: str, test: Any, line: int | None) -> list[Node]:
        if not isinstance(test, Mapping) or not test:
            self.error(line, f"'{path}' is a list of records", "test it with some / none / every / count")
            return []
        fields = self.records.get(path, {})
        where: Node | None = None
        kinds: list[str] = []
        count: tuple[tuple[str, Any], ...] = ()
        nodes: list[Node] = []
        for key, value in test.items():
            at = line_of(test, key) or line
            if key in ("some", "none", "every"):
                where = self.parse(value, at, fields)
                kinds.append(key)
            elif key == "count":
                count = self._count(path, value, at)
            elif key == "exists":
                leaf = self._leaf(path, "[object]", "exists", value, at)
                if leaf:
                    nodes.append(leaf)
            else:
                hint = did_you_mean(str(key), [*QUANTIFIERS, "exists"])
                self.error(
                    at,
                    f"unknown test '{key}' on the list '{path}'",
                    hint or "use some, none, every, count or exists",
                )
        if count:
            # count counts the records that match `some`, when both are given
            nodes.append(Quantifier(path, "count", where if "some" in kinds else None, count, line))
            kinds = [k for k in kinds if k != "some"]
        nodes.extend(Quantifier(path, k, where, (), line) for k in kinds)
        if len([k for k in test if k in ("some", "none", "every")]) > 1:
            self.error(
                line,
                f"'{path}' mixes some / none / every in one test",
                "write them as separate conditions under all:",
            )
        return nodes

    def _count(self, path: str, raw: Any, line: int | None) -> tuple[tuple[str, Any], ...]:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return (("eq", raw),)
        if not isinstance(raw, Mapping) or not raw:
            self.error(line, f"count on '{path}' takes a number or comparisons", "write count: {gte: 2}")
            return ()
        out = []
        for op, arg in raw.items():
            leaf = self._leaf(f"{path}.count", "integer", str(op), arg, line_of(raw, op) or line)
            if leaf:
                out.append((leaf.op, leaf.arg))
        return tuple(out)

    # -- one operator ----------------------------------------------------------------------------
    def _leaf(self, path: str, kind: str, op: Any, arg: Any, line: int | None) -> Leaf | None:
        if op not in OPERATORS:
            hint = did_you_mean(str(op), OPERATORS)
            self.error(
                line, f"unknown operator '{op}' on '{path}'", hint or "operators are " + " ".join(OPERATORS)
            )
            return None
        if op == "exists":
            if not isinstance(arg, bool):
                self.error(line, f"exists on '{path}' takes true or false", "write exists: true")
                return None
            return Leaf(path, op, arg, line, kind)
        if kind != "any" and op in _APPLIES and kind not in _APPLIES[op]:
            hint = _HINT.get(op, "")
            self.error(
                line,
                f"operator '{op}' cannot test '{path}', which is {_a(kind)}",
                hint or "pick an operator for " + kind,
            )
            return None
        checked = self._arg(path, kind, op, arg, line)
        return None if checked is _BAD else Leaf(path, op, checked, line, kind)

    def _arg(self, path: str, kind: str, op: str, arg: Any, line: int | None) -> Any:
        if op in ("matches", "prefix"):
            if not isinstance(arg, str):
                self.error(line, f"{op} on '{path}' takes a string", "quote the pattern")
                return _BAD
            if op == "matches":
                if len(arg) > MAX_REGEX:
                    self.error(
                        line,
                        f"the pattern on '{path}' is {len(arg)} characters, over {MAX_REGEX}",
                        "shorten it",
                    )
                    return _BAD
                try:
                    return re.compile(arg)
                except re.error as exc:
                    self.error(
                        line,
                        f"the pattern on '{path}' is not a valid regular expression ({exc})",
                        "fix the pattern",
                    )
                    return _BAD
            return arg
        if op in ("within_days", "older_than_days"):
            if not isinstance(arg, int) or isinstance(arg, bool) or arg < 0:
                self.error(line, f"{op} on '{path}' takes a whole number of days", f"write {op}: 60")
                return _BAD
            return arg
        if op == "between":
            if not isinstance(arg, list) or len(arg) != 2:
                self.error(line, f"between on '{path}' takes [low, high]", "write between: [5, 15]")
                return _BAD
            low, high = (self._value(path, kind, v, line) for v in arg)
            if low is _BAD or high is _BAD:
                return _BAD
            if kind != "any" and low > high:
                self.error(line, f"between on '{path}' has its low bound above its high bound", "swap them")
                return _BAD
            return (low, high)
        if op in ("in", "not_in", "any_in", "all_in", "none_in"):
            element = kind.strip("[]") if kind in LIST_TYPES else kind
            if isinstance(arg, str):
                if arg not in self.valuesets:
                    hint = did_you_mean(arg, self.valuesets)
                    self.error(
                        line,
                        f"unknown value set '{arg}'",
                        hint or "define it under `valuesets:` or write a list",
                    )
                    return _BAD
                if element not in ("string", "any"):
                    self.error(
                        line,
                        f"value set '{arg}' holds codes but '{path}' is not text",
                        "write a list of values",
                    )
                    return _BAD
                return self.valuesets[arg]
            if not isinstance(arg, list) or not arg:
                self.error(
                    line,
                    f"{op} on '{path}' takes a non-empty list or a value set name",
                    f"write {op}: [a, b]",
                )
                return _BAD
            values = [self._value(path, element, v, line) for v in arg]
            return _BAD if any(v is _BAD for v in values) else frozenset(values)
        return self._value(path, kind, arg, line)

    def _value(self, path: str, kind: str, value: Any, line: int | None) -> Any:
        if kind == "any":
            if isinstance(value, list | dict) or value is None:
                self.error(
                    line,
                    f"the value tested on '{path}' must be a single plain value",
                    "write a string, number or date",
                )
                return _BAD
            return value
        if kind == "date":
            text = iso_date(value)
            if text is None:
                self.error(line, f"'{path}' is a date and the value is not", "write a date as YYYY-MM-DD")
                return _BAD
            return text
        if kind in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.error(
                    line, f"'{path}' is a number and the value is not", "write a number without quotes"
                )
                return _BAD
            if not -MAX_NUMBER <= value <= MAX_NUMBER:
                self.error(
                    line, f"the number tested on '{path}' is out of range", f"keep it within ±{MAX_NUMBER:,}"
                )
                return _BAD
            return value
        if (
            kind == "string"
            and path in self.enums
            and isinstance(value, str)
            and value not in self.enums[path]
        ):
            allowed = self.enums[path]
            hint = did_you_mean(value, allowed)
            self.error(line, f"'{path}' is never '{value}'", hint or "it is one of " + ", ".join(allowed))
            return _BAD
        if kind == "boolean":
            if not isinstance(value, bool):
                self.error(line, f"'{path}' is true/false and the value is not", "write true or false")
                return _BAD
            return value
        if not isinstance(value, str):
            self.error(
                line,
                f"'{path}' is text and the value is {_shown(value)}",
                _quote_hint(value),
            )
            return _BAD
        return value


_BAD: Any = object()

# YAML turns some unquoted text into other things (yes -> true, 011 -> 9, 2026-01-01 -> a date);
# we cannot show what was typed, so say what to do
_QUOTE_HINT = {
    bool: 'quote it: YAML reads yes/no/on/off/true/false unquoted as true/false (write "yes")',
    int: "quote it exactly as written: YAML reads unquoted digits as a number (011 even becomes 9)",
    float: "quote it exactly as written: YAML reads unquoted digits as a number",
    date: "quote it: YAML reads an unquoted YYYY-MM-DD as a date",
    list: "to test one of several values, write {in: [a, b]}",
}


def _quote_hint(value: Any) -> str:
    for kind, hint in _QUOTE_HINT.items():  # bool before int: True is an int too
        if isinstance(value, kind):
            return hint
    return "write a single quoted value"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "empty"
    return type(value).__name__


def _a(kind: str) -> str:
    return {
        "[string]": "a list of strings",
        "[number]": "a list of numbers",
        "[object]": "a list of records",
        "integer": "an integer",
    }.get(kind, f"a {kind}")
