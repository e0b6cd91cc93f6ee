"""What the app works with until the store exists: the shipped forms, rulesets and example cases.

Loaded once in create_app from the folders the configuration names. A problem in any file stops
the app from starting, with every problem listed (the same `file:line: what: fix` as the CLI).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from engine import EngineError, Evaluator, Form, Problem, load_forms, load_rulesets

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
    def __init__(self, forms_dir: str, rulesets_dir: str, examples_dir: str, backend: str) -> None:
        forms, problems = load_forms([forms_dir])
        rulesets, more = load_rulesets([rulesets_dir], forms)
        problems += more
        examples, more = _examples(Path(examples_dir))
        problems += more
        if problems:
            raise LibraryError(problems)
        self.forms: dict[str, Form] = dict(sorted(forms.items(), key=lambda kv: kv[1].title))
        self.rulesets = rulesets
        self.examples = examples
        self.evaluator = Evaluator(rulesets, forms, backend=backend)
        # which forms each ruleset's rules name (for the index page)
        self.named_by: dict[str, list[str]] = {fid: [] for fid in forms}
        for ruleset in rulesets:
            for rule in ruleset.rules:
                for fid in rule.forms:
                    names = self.named_by.setdefault(fid, [])
                    if ruleset.id not in names:
                        names.append(ruleset.id)

    def decide(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The decision for these facts, or {"error": sentence} when the facts break the fact schema."""
        try:
            return dict(self.evaluator.evaluate(facts, date.today()))
        except EngineError as exc:
            return {"error": str(exc)}

    def examples_for(self, form_id: str) -> list[Example]:
        """Example cases whose decision names this form first, then the rest."""
        named = [e for e in self.examples.values() if form_id in (self.decide(e.facts).get("forms") or ())]
        return named + [e for e in self.examples.values() if e not in named]


def _examples(folder: Path) -> tuple[dict[str, Example], list[Problem]]:
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
