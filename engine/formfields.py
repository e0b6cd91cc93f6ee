"""A form's questions: each schema property with its kind, widget, help and bounds.

A readiness form is flat: each top-level property of the schema is one question, and it must be
one of the kinds below (nested objects are not questions a coordinator can answer in one box).

    kind       schema                                      widgets (first is the default)
    text       string                                      text, textarea (default when maxLength > 200)
    date       string, format: date                        date
    integer    integer                                     number
    number     number                                      number
    boolean    boolean                                     radio (Yes / No), checkbox
    choice     string with enum                            radio (<= 6 choices), select
    choices    array of strings with enum, uniqueItems      checkboxes
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WIDGETS = {
    "text": ("text", "textarea"),
    "date": ("date",),
    "integer": ("number",),
    "number": ("number",),
    "boolean": ("radio", "checkbox"),
    "choice": ("radio", "select"),
    "choices": ("checkboxes",),
}
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    kind: str
    title: str
    widget: str
    required: bool = False
    help: str = ""
    description: str = ""
    choices: tuple[Any, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    minimum: float | None = None  # inclusive bounds, as the page and FHIR can say them
    maximum: float | None = None
    above: float | None = None  # exclusiveMinimum: the answer must be more than this
    below: float | None = None  # exclusiveMaximum: the answer must be less than this
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None

    def label_of(self, choice: Any) -> str:
        """The words shown for one choice: `ui.labels`, else the code made readable."""
        if isinstance(choice, bool):
            return "Yes" if choice else "No"
        text = self.labels.get(str(choice))
        return text if text else str(choice).replace("-", " ").replace("_", " ").capitalize()


def resolve(root: Mapping[str, Any], node: Any, depth: int = 0) -> Any:
    """A schema node with a local `$ref` (`#/$defs/therapy`) followed, its siblings kept on top.

    Remote references are not followed here (nor anywhere: the validator's registry refuses them).
    """
    if not isinstance(node, Mapping):
        return node
    out = {k: (resolve(root, v, depth + 1) if k == "items" else v) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and depth < 16:
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, Mapping) else None
        if isinstance(target, Mapping):
            return {**resolve(root, target, depth + 1), **out}
    return out


def kind_of(spec: Mapping[str, Any]) -> str | None:
    """The question kind of a schema property; None when it is not one a form can ask."""
    kind = spec.get("type")
    if kind == "array":
        items = spec.get("items")
        choices = items.get("enum") if isinstance(items, Mapping) else None
        if isinstance(choices, list) and choices and all(isinstance(v, str) for v in choices):
            return "choices"  # a browser posts every tick as text: choices are text
        return None
    if isinstance(spec.get("enum"), list) and kind in ("string", None):
        return "choice" if all(isinstance(v, str) for v in spec["enum"]) else None
    if kind == "string":
        return "date" if spec.get("format") == "date" else "text"
    if kind in ("integer", "number", "boolean"):
        return str(kind)
    return None


def default_widget(kind: str, spec: Mapping[str, Any]) -> str:
    if kind == "text":
        return "textarea" if int(spec.get("maxLength") or 0) > 200 else "text"
    if kind == "choice":
        return "radio" if len(spec.get("enum") or ()) <= 6 else "select"
    return WIDGETS[kind][0]


def build(
    name: str,
    spec: Mapping[str, Any],
    kind: str,
    required: bool,
    widget: str | None,
    help_text: str,
    labels: Mapping[str, str],
) -> Question:
    items = spec.get("items") if kind == "choices" else None
    choices: tuple[Any, ...] = ()
    if kind == "choice":
        choices = tuple(spec["enum"])
    elif kind == "choices" and isinstance(items, Mapping):
        choices = tuple(items["enum"])
    elif kind == "boolean":
        choices = (True, False)
    return Question(
        name=name,
        kind=kind,
        title=str(spec.get("title") or name.replace("_", " ").capitalize()),
        widget=widget or default_widget(kind, spec),
        required=required,
        help=help_text,
        description=str(spec.get("description") or ""),
        choices=choices,
        labels=dict(labels),
        minimum=_inclusive(kind, spec.get("minimum"), spec.get("exclusiveMinimum"), +1),
        maximum=_inclusive(kind, spec.get("maximum"), spec.get("exclusiveMaximum"), -1),
        above=_number(spec.get("exclusiveMinimum")),
        below=_number(spec.get("exclusiveMaximum")),
        min_length=_whole(spec.get("minLength")),
        max_length=_whole(spec.get("maxLength")),
        min_items=_whole(spec.get("minItems")),
        max_items=_whole(spec.get("maxItems")),
    )


def _inclusive(kind: str, bound: Any, exclusive: Any, step: int) -> float | None:
    """The inclusive bound: `minimum`, else for whole numbers `exclusiveMinimum` + 1 (a number has
    no inclusive form of an exclusive bound)."""
    value = _number(bound)
    if value is not None:
        return value
    limit = _number(exclusive)
    if limit is not None and kind == "integer" and float(limit).is_integer():
        return int(limit) + step
    return None


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
