"""What the readiness pages work with: the published forms and rulesets, and the example cases.

The app builds a Library from the store's published versions (admin.app.library(), rebuilt when
something is published); `from_files` builds one straight from folders (tests, tools). Example
cases come from files (PRIORAUTH_EXAMPLES_DIR); a bad one stops the app with `file:line`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from engine import EngineError, Evaluator, Form, Problem, Ruleset, load_forms, load_rulesets

MAX_EXAMPLE_BYTES = 1024 * 1024


class LibraryError(Exception):
    """The shipped files cannot be loaded; `problems` lists each with file:line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class Example:
    name: str  # the file's stem: the only name a URL may use
    facts: Mapping[str, Any]

    @property
    def summary(self) -> str:
        """Payer, plan and service codes: enough to tell the examples apart (no patient names)."""
        coverage = self.facts.get("coverage") or {}
        service = self.facts.get("service") or {}
        codes = ", ".join(str(c) for c in service.get("codes") or [])
        plan = coverage.get("plan_type") or ""
        return " · ".join(p for p in (str(coverage.get("payer") or "no payer"), str(plan), codes) if p)


class Library:
    """A snapshot of what is published (forms, rulesets) plus the example cases, for the pages."""

    def __init__(
        self, forms: Mapping[str, Form], rulesets: list[Ruleset], examples: dict[str, Example], backend: str
    ) -> None:
        self.forms: dict[str, Form] = dict(sorted(forms.items(), key=lambda kv: kv[1].title))
        self.rulesets = rulesets
        self.examples = examples
        self.evaluator = Evaluator(rulesets, forms, backend=backend)
        self._forms_named: dict[str, tuple[str, ...]] | None = None
        # which rulesets name each form (for the index page)
        self.named_by: dict[str, list[str]] = {fid: [] for fid in forms}
        for ruleset in rulesets:
            for rule in ruleset.rules:
                for fid in rule.forms:
                    names = self.named_by.setdefault(fid, [])
                    if ruleset.id not in names:
                        names.append(ruleset.id)

    @classmethod
    def from_files(cls, forms_dir: str, rulesets_dir: str, examples_dir: str, backend: str) -> Library:
        forms, problems = load_forms([forms_dir])
        rulesets, more = load_rulesets([rulesets_dir], forms)
        examples, even_more = load_examples(Path(examples_dir))
        if problems + more + even_more:
            raise LibraryError(problems + more + even_more)
        return cls(forms, rulesets, examples, backend)

    def decide(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The decision for these facts, or {"error": sentence} when the facts break the fact schema."""
        try:
            return dict(self.evaluator.evaluate(facts, date.today()))
        except EngineError as exc:
            return {"error": str(exc)}

    def examples_for(self, form_id: str) -> list[Example]:
        """Example cases whose decision names this form first, then the rest."""
        if self._forms_named is None:  # one evaluation per example, on first use
            self._forms_named = {
                name: tuple(self.decide(e.facts).get("forms") or ()) for name, e in self.examples.items()
            }
        named = [e for e in self.examples.values() if form_id in self._forms_named[e.name]]
        return named + [e for e in self.examples.values() if e not in named]


def load_examples(folder: Path) -> tuple[dict[str, Example], list[Problem]]:
    examples: dict[str, Example] = {}
    problems: list[Problem] = []
    if not folder.is_dir():
        return examples, [
            Problem(str(folder), None, "no such folder of example cases", "set PRIORAUTH_EXAMPLES_DIR")
        ]
    for path in sorted(folder.glob("*.json")):
        try:
            if path.stat().st_size > MAX_EXAMPLE_BYTES:
                raise ValueError("the file is over 1 MiB")
            facts = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(Problem(str(path), None, f"cannot read the example case ({exc})", "fix the JSON"))
            continue
        if not isinstance(facts, dict):
            problems.append(Problem(str(path), 1, "an example case must be a JSON object", "fix the JSON"))
            continue
        examples[path.stem] = Example(path.stem, facts)
    return examples, problems
