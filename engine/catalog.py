"""Loading rulesets and forms from files and folders, and running rulesets' embedded tests.

Everything is collected: one bad file does not hide the problems of the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from engine.backends import BACKENDS
from engine.errors import EngineError, FactsError, LoadError, Problem
from engine.evaluate import Evaluator
from engine.forms import Form, load_form_file
from engine.rulesets import Ruleset, load_ruleset_file

YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """The YAML files named, or found (sorted) in the folders named."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())
            if not found:
                problems.append(Problem(str(path), None, "the folder holds no .yaml files", "check the path"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), None, "no such file or folder", "check the path"))
    return files, problems


def load_forms(paths: Iterable[str | Path]) -> tuple[dict[str, Form], list[Problem]]:
    files, problems = yaml_files(paths)
    forms: dict[str, Form] = {}
    for file in files:
        try:
            form = load_form_file(file)
        except LoadError as exc:
            problems.extend(exc.problems)
            continue
        if form.id in forms:
            problems.append(
                Problem(
                    str(file),
                    1,
                    f"form '{form.id}' is also defined in {forms[form.id].file}",
                    "keep one file per form id",
                )
            )
            continue
        forms[form.id] = form
    return forms, problems


def form_types(forms: Mapping[str, Form]) -> dict[str, Mapping[str, str]]:
    return {fid: form.answer_types for fid, form in forms.items()}


def load_rulesets(
    paths: Iterable[str | Path], forms: Mapping[str, Form] | None = None
) -> tuple[list[Ruleset], list[Problem]]:
    """Load every ruleset file; `forms` (when given) checks `answers.*` paths and form names."""
    files, problems = yaml_files(paths)
    types = form_types(forms) if forms is not None else None
    out: list[Ruleset] = []
    seen: dict[tuple[str, int | None], str] = {}
    for file in files:
        try:
            ruleset = load_ruleset_file(file, types)
        except LoadError as exc:
            problems.extend(exc.problems)
            continue
        key = (ruleset.id, ruleset.version)
        if key in seen:
            problems.append(
                Problem(
                    str(file),
                    1,
                    f"ruleset '{ruleset.id}' version {ruleset.version} is also in {seen[key]}",
                    "give each version its own number",
                )
            )
            continue
        seen[key] = str(file)
        out.append(ruleset)
    return out, problems


def _expected(key: str, decision: Mapping[str, Any]) -> Any:
    if key == "missing":
        return [m["id"] for m in decision["missing"]]
    return decision.get(key)


def run_tests(
    ruleset: Ruleset, forms: Mapping[str, Form] | None = None, backends: Iterable[str] = BACKENDS
) -> list[Problem]:
    """Run a ruleset's embedded tests on every backend; a failure or a disagreement is a Problem."""
    problems: list[Problem] = []
    evaluators = [Evaluator([ruleset], forms, backend) for backend in backends]
    for test in ruleset.tests:
        facts = dict(test.facts)
        facts.setdefault("as_of", ruleset.effective_from.isoformat())
        decisions = []
        try:
            for evaluator in evaluators:
                decisions.append(evaluator.evaluate(facts, ruleset.effective_from))
        except FactsError as exc:
            problems.append(
                Problem(
                    ruleset.file,
                    test.line,
                    f"test '{test.name}' has facts of the wrong type ({exc})",
                    "fix the test's facts",
                )
            )
            continue
        except EngineError as exc:
            problems.append(
                Problem(
                    ruleset.file,
                    test.line,
                    f"test '{test.name}' could not run: {exc}",
                    "report this with the ruleset",
                )
            )
            continue
        first = decisions[0]
        for other, evaluator in zip(decisions[1:], evaluators[1:], strict=True):
            if other != first:
                problems.append(
                    Problem(
                        ruleset.file,
                        test.line,
                        f"test '{test.name}': the {evaluator.backend} backend disagrees with the {evaluators[0].backend} backend",
                        "this is an engine bug: report it with the ruleset",
                    )
                )
        for key, wanted in test.expect.items():
            got = _expected(key, first)
            if got != wanted:
                fired = (
                    ", ".join(f["rule"] + ("" if f["applied"] else " (cut by final)") for f in first["fired"])
                    or "none"
                )
                reason = f"; {first['reason']}" if first.get("reason") else ""
                problems.append(
                    Problem(
                        ruleset.file,
                        test.line,
                        f"test '{test.name}' failed: expected {key} {wanted!r}, got {got!r} (rules fired: {fired}{reason})",
                        "fix the rules or the test's expectation",
                    )
                )
    return problems


def check_rulesets(
    paths: Iterable[str | Path], forms: Mapping[str, Form] | None = None
) -> tuple[list[Ruleset], list[Problem]]:
    """Load, validate and run every embedded test: what `priorauth rulesets check` does."""
    rulesets, problems = load_rulesets(paths, forms)
    for ruleset in rulesets:
        problems.extend(run_tests(ruleset, forms))
    return rulesets, problems
