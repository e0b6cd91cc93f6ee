"""`show_if`: when a form question is shown, as a test on the answers to other questions.

    ui:
      show_if:
        therapy_weeks: {conservative_therapy: {not_contains: none}}
        rental_months: {acquisition: {in: [rental, capped-rental]}}
        surgery_date:  {post_surgical: true}            # a bare value means eq

A test maps other questions to checks; every entry must hold (AND), and so must every operator
in one check. The operators are a subset of the rulesets' (same names, same meaning on a missing
answer: a comparison, `not_in` included, never holds on it; `exists: false`, `not_contains` and
`none_in` do). The browser runs the same tests from the JSON this module hands it; the server is
the judge: an answer to a hidden question is dropped before validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.conditions import did_you_mean

SCALAR_OPS = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "exists")
LIST_OPS = ("contains", "not_contains", "any_in", "none_in", "exists")
ORDERED = ("lt", "lte", "gt", "gte")
SET_OPS = ("in", "not_in", "any_in", "none_in")


@dataclass(frozen=True, slots=True)
class Check:
    field: str  # the question whose answer is tested
    op: str
    value: Any  # a scalar, or a tuple for the set operators


@dataclass(frozen=True, slots=True)
class ShowIf:
    checks: tuple[Check, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        return all(holds(c, answers.get(c.field)) for c in self.checks)

    def as_json(self) -> list[dict[str, Any]]:
        """The checks as JSON, for the browser's copy of this logic (admin/static/forms.js)."""
        return [
            {"field": c.field, "op": c.op, "value": list(c.value) if isinstance(c.value, tuple) else c.value}
            for c in self.checks
        ]


def holds(check: Check, answer: Any) -> bool:
    op, value = check.op, check.value
    missing = answer is None or answer == "" or answer == []
    if op == "exists":
        return (not missing) == bool(value)
    if op in LIST_OPS:
        given = answer if isinstance(answer, list) else []
        if op == "contains":
            return value in given
        if op == "not_contains":
            return value not in given
        if op == "any_in":
            return any(v in given for v in value)
        return not any(v in given for v in value)  # none_in
    if missing or isinstance(answer, list):
        return False  # a comparison never holds on a missing answer (as in rulesets), not_in included
    if op == "eq":
        return bool(answer == value)
    if op == "ne":
        return bool(answer != value)
    if op == "in":
        return answer in value
    if op == "not_in":
        return answer not in value
    try:
        if op == "lt":
            return bool(answer < value)
        if op == "lte":
            return bool(answer <= value)
        if op == "gt":
            return bool(answer > value)
        if op == "gte":
            return bool(answer >= value)
    except TypeError:
        return False
    return False


def parse(
    target: str, raw: Any, kinds: Mapping[str, str], choices: Mapping[str, tuple[Any, ...]]
) -> tuple[ShowIf | None, list[str]]:
    """A `show_if` entry for question `target` -> (ShowIf, []) or (None, [problems in words]).

    `kinds` maps each question to its kind (see engine.formfields); `choices` to its enum values.
    """
    problems: list[str] = []
    if not isinstance(raw, Mapping) or not raw:
        return None, [
            f"show_if of '{target}' must map other questions to checks, like {{prior_imaging: true}}"
        ]
    checks: list[Check] = []
    for field, test in raw.items():
        if field == target:
            problems.append(f"show_if of '{target}' tests '{target}' itself; a question cannot hide itself")
            continue
        if field not in kinds:
            hint = did_you_mean(str(field), list(kinds))
            problems.append(
                f"show_if of '{target}' tests '{field}', which the schema lacks"
                + (f" ({hint})" if hint else "")
            )
            continue
        ops = test if isinstance(test, Mapping) else {"eq": test}
        if not ops:
            problems.append(f"show_if of '{target}' has an empty check on '{field}'")
        for op, value in ops.items():
            found = _check(target, str(field), str(op), value, kinds[field], choices.get(field, ()))
            if isinstance(found, str):
                problems.append(found)
            else:
                checks.append(found)
    if not problems:
        alternatives = [c for c in checks if c.op in ("in", "any_in") and len(c.value) > 1]
        if alternatives and len(checks) > 1:
            problems.append(
                f"show_if of '{target}': `in` / `any_in` with several values must be its only check "
                "(FHIR enableWhen cannot mix 'any' and 'all')"
            )
    return (ShowIf(tuple(checks)) if not problems else None), problems


def _check(target: str, field: str, op: str, value: Any, kind: str, choices: tuple[Any, ...]) -> Check | str:
    where = f"show_if of '{target}' on '{field}'"
    is_list = kind == "choices"
    allowed = LIST_OPS if is_list else SCALAR_OPS
    if op not in allowed:
        return f"{where}: '{op}' does not apply to {'a list of choices' if is_list else 'one answer'}; use one of {', '.join(allowed)}"
    if op == "exists":
        return Check(field, op, value) if isinstance(value, bool) else f"{where}: exists takes true or false"
    if op in ORDERED and kind not in ("integer", "number", "date"):
        return f"{where}: '{op}' compares numbers and dates; '{field}' is not one"
    values = value if op in SET_OPS else [value]
    if op in SET_OPS and (not isinstance(value, list) or not value):
        return f"{where}: '{op}' takes a list of values, like [a, b]"
    for item in values:
        if isinstance(item, (Mapping, list)):
            return f"{where}: '{op}' takes plain values"
        if choices and item not in choices:
            return f"{where}: '{item}' is not one of its choices ({', '.join(map(str, choices))})"
        if kind == "boolean" and not isinstance(item, bool):
            return f"{where}: '{field}' is yes/no; test it with true or false"
        if kind in ("integer", "number") and (isinstance(item, bool) or not isinstance(item, (int, float))):
            return f"{where}: '{field}' is a number; compare it with a number"
        if kind == "date" and not isinstance(item, str):
            return f"{where}: '{field}' is a date; compare it with a date in quotes, like '2026-01-31'"
    return Check(field, op, tuple(value) if op in SET_OPS else value)
