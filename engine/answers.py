"""Answers to a form: prefilled from a case's facts, and read back from what a person typed.

Both directions are pure: the web page hands in the submitted text and gets typed answers back
(plus the entries that could not be read as their type, named by question); the case page hands
in a case's facts and gets the answers it can prefill.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from engine.facts import is_iso
from engine.formfields import Question
from engine.forms import SELECTOR, Form

Typed = dict[str, str | list[str]]  # question -> what was typed (a list for checkboxes)
_INTEGER = re.compile(r"[+-]?\d{1,16}")
_NUMBER = re.compile(r"[+-]?(\d{1,20}(\.\d{0,20})?|\.\d{1,20})([eE][+-]?\d{1,3})?")


def prefill(form: Form, facts: Mapping[str, Any]) -> dict[str, Any]:
    """Answers taken from the case's facts for each `prefill:` question, when they fit the question.

    A selector (`documents[type=imaging-report].date`) takes the value from the latest matching
    record (by its `date`). A value that does not fit the question (wrong type, not one of its
    choices, out of bounds) is left out rather than shown as a wrong answer.
    """
    out: dict[str, Any] = {}
    fields = form.fields
    for name, source in form.prefill.items():
        value = _lookup(facts, source)
        question = fields.get(name)
        if value is None or question is None:
            continue
        fitted = _fit(question, value)
        if fitted is not None:
            out[name] = fitted
    return out


def _lookup(facts: Mapping[str, Any], source: str) -> Any:
    selector = SELECTOR.fullmatch(source)
    path = selector.group(1) if selector else source
    node: Any = facts
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if selector is None:
        return node.isoformat() if isinstance(node, date) else node
    if not isinstance(node, list):
        return None
    key, wanted, attr = selector.group(2), selector.group(3), selector.group(4)
    matches = [r for r in node if isinstance(r, Mapping) and str(r.get(key)) == wanted and attr in r]
    if not matches:
        return None
    latest = max(matches, key=lambda r: str(r.get("date") or ""))
    value = latest[attr]
    return value.isoformat() if isinstance(value, date) else value


def _fit(question: Question, value: Any) -> Any:
    kind = question.kind
    if kind == "choices":
        if not isinstance(value, list):
            return None
        kept = [v for v in value if v in question.choices]
        return kept or None
    if isinstance(value, bool) != (kind == "boolean"):
        return None
    if kind in ("integer", "number"):
        if not isinstance(value, (int, float)) or (kind == "integer" and value != int(value)):
            return None
        value = int(value) if kind == "integer" else value
        low, high, above, below = question.minimum, question.maximum, question.above, question.below
        fits = (low is None or value >= low) and (high is None or value <= high)
        fits = fits and (above is None or value > above) and (below is None or value < below)
        return value if fits else None
    if kind == "choice":
        return value if value in question.choices else None
    if kind == "date":
        return value if isinstance(value, str) and is_iso(value) else None
    if kind == "text":
        return value if isinstance(value, str) else None
    return value


def read_typed(
    form: Form, typed: Mapping[str, str | Sequence[str]]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Typed text -> (answers, problems): each answer as its question's type, blanks left out.

    A list of choices posted with nothing ticked is the answer [] ("none of these"); a question
    absent from `typed` stays unanswered. A problem names a question whose text is not of its type ("Weeks of symptoms must be a whole
    number"); that question is left out of the answers, and the text stays with the caller to
    show again.
    """
    answers: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for question in form.questions:
        raw = typed.get(question.name)
        if raw is None:
            continue
        if question.kind == "choices":
            values = [raw] if isinstance(raw, str) else list(raw)
            # a group posted with nothing ticked is an answer: "none of these" ([])
            answers[question.name] = [v for v in values if isinstance(v, str) and v != ""]
            continue
        text = raw if isinstance(raw, str) else (raw[-1] if raw else "")
        text = text.strip()
        if text == "":
            continue
        value, problem = _read(question, text)
        if problem:
            problems.append((question.name, problem))
        else:
            answers[question.name] = value
    return answers, problems


def _read(question: Question, text: str) -> tuple[Any, str]:
    kind, title = question.kind, question.title
    if kind == "integer":
        if _INTEGER.fullmatch(text):
            return int(text), ""
        return None, f"{title} must be a whole number, like 12"
    if kind == "number":
        if _NUMBER.fullmatch(text):
            number = float(text)
            if math.isfinite(number):
                return (int(number) if number.is_integer() and "." not in text else number), ""
        return None, f"{title} must be a number, like 72.5"
    if kind == "boolean":
        if text.lower() in ("true", "false", "yes", "no"):
            return text.lower() in ("true", "yes"), ""
        return None, f"{title} must be yes or no"
    return text, ""


def as_typed(form: Form, answers: Mapping[str, Any]) -> Typed:
    """Answers -> the text a page shows for them (the inverse of read_typed)."""
    out: Typed = {}
    for question in form.questions:
        if question.name not in answers:
            continue
        value = answers[question.name]
        if isinstance(value, list):
            out[question.name] = [str(v) for v in value]
        elif isinstance(value, bool):
            out[question.name] = "true" if value else "false"
        else:
            out[question.name] = str(value)
    return out
