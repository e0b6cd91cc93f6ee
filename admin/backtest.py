"""Backtest: evaluate a draft beside what is published, on the same cases, and show what changes.

    result = backtest(published, forms, draft, cases)    # cases: (name, facts) pairs
    result.changed, result.by_field, result.differences, to_csv(result)

The draft stands in for every version of its ruleset id; everything else stays as published.
Compared per case: auth, ready, channel, queue, forms and the ids of the missing items.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from engine import EngineError, Evaluator, Form, Ruleset

FIELDS = ("auth", "ready", "channel", "queue", "forms", "missing")


@dataclass(frozen=True, slots=True)
class Difference:
    case: str
    field: str
    before: str
    after: str


@dataclass
class Result:
    cases: int = 0
    changed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (case, message)
    by_field: Counter[str] = field(default_factory=Counter)
    differences: list[Difference] = field(default_factory=list)


def _view(decision: Mapping[str, Any], name: str) -> str:
    value = decision.get(name)
    if name == "missing":
        return ", ".join(m["id"] for m in value or ())
    if name == "forms":
        return ", ".join(value or ())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def backtest(
    published: list[Ruleset],
    forms: Mapping[str, Form],
    draft: Ruleset,
    cases: Iterable[tuple[str, Mapping[str, Any]]],
    backend: str = "compiled",
    progress: Callable[[int], None] | None = None,
    limit: int = 1000,
) -> Result:
    """`limit` bounds the differences kept (the counts cover every case)."""
    before = Evaluator(published, forms, backend=backend)
    after = Evaluator([r for r in published if r.id != draft.id] + [draft], forms, backend=backend)
    result = Result()
    today = date.today()
    for name, facts in cases:
        result.cases += 1
        try:
            old, new = before.evaluate(facts, today), after.evaluate(facts, today)
        except EngineError as exc:
            result.errors.append((name, str(exc)))
            continue
        changed = False
        for column in FIELDS:
            a, b = _view(old, column), _view(new, column)
            if a != b:
                changed = True
                result.by_field[column] += 1
                if len(result.differences) < limit:
                    result.differences.append(Difference(name, column, a, b))
        result.changed += changed
        if progress is not None:
            progress(result.cases)
    return result


MAX_STORED = 10_000


def stored_cases(session: Any, last: int) -> list[tuple[str, Mapping[str, Any]]]:
    """The facts of the last `last` stored cases (newest first), named by their reference."""
    from sqlalchemy import select

    from admin.models_cases import Case

    rows = session.execute(select(Case.reference, Case.facts).order_by(Case.id.desc()).limit(last))
    return [(str(reference), facts or {}) for reference, facts in rows]


def of_version(
    session: Any, row: Any, cases: Iterable[tuple[str, Mapping[str, Any]]], backend: str = "compiled"
) -> Result:
    """Backtest the stored ruleset version `row` against what is published. Raises LoadError."""
    from admin import store
    from engine import load_ruleset
    from engine.catalog import form_types

    forms = store.published_forms(session)
    draft = load_ruleset(row.text, f"{row.document.slug} #{row.id}", form_types(forms))
    return backtest(store.published_rulesets(session, forms), forms, draft, cases, backend=backend)


def to_csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["case", "field", "published", "draft"])
    for d in result.differences:
        writer.writerow([d.case, d.field, d.before, d.after])
    for name, message in result.errors:
        writer.writerow([name, "error", message, ""])
    return out.getvalue()
