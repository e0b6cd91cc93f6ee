"""A form as a FHIR R4 `Questionnaire`, and its answers as a `QuestionnaireResponse`.

This is the shape Da Vinci DTR (Documentation Templates and Rules) hands to EHRs: one item per
question with its type, `required`, `repeats`, `answerOption` from the enum, bounds as the core
`minValue` / `maxValue` / `minLength` extensions and `maxLength`, widgets as SDC `itemControl`,
help as a `display` child item, and `enableWhen` from `show_if`. The output is plain JSON data;
the tests validate it with the `fhir.resources` R4B models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.facts import is_iso
from engine.formfields import Question
from engine.forms import Form
from engine.showif import Check

EXT = "http://hl7.org/fhir/StructureDefinition/"
ITEM_CONTROL = "http://hl7.org/fhir/questionnaire-item-control"
BASE = "urn:priorauth:questionnaire"
_TYPES = {
    "text": "string",
    "date": "date",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "choice": "choice",
    "choices": "choice",
}
_CONTROLS = {
    "radio": "radio-button",
    "select": "drop-down",
    "checkboxes": "check-box",
    "checkbox": "check-box",
}
_OPERATORS = {"eq": "=", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "exists": "exists"}


def canonical_url(form: Form, base: str = BASE) -> str:
    """The Questionnaire's canonical URL: `<base>/<id>` for an http(s) base, else `<urn>:<id>`."""
    joiner = "/" if base.startswith(("http://", "https://")) else ":"
    return f"{base.rstrip('/:')}{joiner}{form.id}"


def code_system(form: Form, question: Question) -> str:
    return f"urn:priorauth:form:{form.id}:{question.name}"


def to_questionnaire(form: Form, base: str = BASE, status: str = "active") -> dict[str, Any]:
    """The form as a FHIR R4 Questionnaire (JSON data)."""
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": form.id,
        "url": canonical_url(form, base),
        "name": _name(form.id),
        "title": form.title,
        "status": status,
        "subjectType": ["Patient"],
    }
    if form.version is not None:
        resource["version"] = str(form.version)
    if form.description:
        resource["description"] = form.description.strip()
    resource["item"] = [_item(form, q) for q in form.questions]
    return resource


def _name(form_id: str) -> str:
    """A computer-friendly name (R4 invariant qst-0: starts with a capital letter)."""
    name = "".join(part.capitalize() for part in form_id.split("-"))
    return name if name[:1].isalpha() else f"Form{name}"


def _item(form: Form, question: Question) -> dict[str, Any]:
    kind = question.kind
    item: dict[str, Any] = {"linkId": question.name, "text": question.title}
    item["type"] = "text" if question.widget == "textarea" else _TYPES[kind]
    extensions = []
    control = _CONTROLS.get(question.widget)
    if control and kind in ("choice", "choices", "boolean"):
        extensions.append(_control(control))
    value_key = "valueInteger" if kind == "integer" else "valueDecimal"
    if kind in ("integer", "number"):
        if question.minimum is not None:
            extensions.append({"url": EXT + "minValue", value_key: _number(kind, question.minimum)})
        if question.maximum is not None:
            extensions.append({"url": EXT + "maxValue", value_key: _number(kind, question.maximum)})
    if kind == "text" and question.min_length:
        extensions.append({"url": EXT + "minLength", "valueInteger": question.min_length})
    if extensions:
        item["extension"] = extensions
    rule = form.show_if.get(question.name)
    if rule is not None:
        conditions, behavior = _enable_when(form, rule.checks)
        item["enableWhen"] = conditions
        if len(conditions) > 1:
            item["enableBehavior"] = behavior
    # FHIR's `required` means "at least one answer"; a list of choices that may be empty ([] for
    # "none of these") cannot carry that in a response, so it is required there only with minItems
    if question.required and (kind != "choices" or (question.min_items or 0) >= 1):
        item["required"] = True
    if kind == "choices":
        item["repeats"] = True
    if kind == "text" and question.max_length:
        item["maxLength"] = question.max_length
    if kind in ("choice", "choices"):
        item["answerOption"] = [{"valueCoding": _coding(form, question, c)} for c in question.choices]
    children: list[dict[str, Any]] = []
    if question.description:
        children.append(
            {"linkId": f"{question.name}.description", "text": question.description, "type": "display"}
        )
    if question.help:
        children.append(
            {
                "linkId": f"{question.name}.help",
                "text": question.help,
                "type": "display",
                "extension": [_control("help")],
            }
        )
    if children:
        item["item"] = children
    return item


def _control(code: str) -> dict[str, Any]:
    return {
        "url": EXT + "questionnaire-itemControl",
        "valueCodeableConcept": {"coding": [{"system": ITEM_CONTROL, "code": code}]},
    }


def _number(kind: str, value: float) -> float | int:
    return int(value) if kind == "integer" else value


def _coding(form: Form, question: Question, code: Any) -> dict[str, Any]:
    return {"system": code_system(form, question), "code": str(code), "display": question.label_of(code)}


def _enable_when(form: Form, checks: tuple[Check, ...]) -> tuple[list[dict[str, Any]], str]:
    """enableWhen entries and the behavior that joins them (a multi-value `in` means any of)."""
    fields = form.fields
    out: list[dict[str, Any]] = []
    behavior = "all"
    for check in checks:
        question = fields[check.field]
        if check.op == "exists":
            out.append({"question": check.field, "operator": "exists", "answerBoolean": bool(check.value)})
            continue
        if check.op in ("in", "any_in"):
            operator, values, behavior = "=", list(check.value), ("any" if len(check.value) > 1 else behavior)
        elif check.op in ("not_in", "none_in"):
            operator, values = "!=", list(check.value)
        elif check.op == "contains":
            operator, values = "=", [check.value]
        elif check.op == "not_contains":
            operator, values = "!=", [check.value]
        else:
            operator, values = _OPERATORS[check.op], [check.value]
        for value in values:
            out.append({"question": check.field, "operator": operator, **_answer(form, question, value)})
    return out, behavior


def _answer(form: Form, question: Question, value: Any) -> dict[str, Any]:
    kind = question.kind
    if kind in ("choice", "choices"):
        return {"answerCoding": {"system": code_system(form, question), "code": str(value)}}
    return {_value_key(kind, "answer"): _number(kind, value) if kind in ("integer", "number") else value}


def _value_key(kind: str, prefix: str) -> str:
    suffix = {
        "integer": "Integer",
        "number": "Decimal",
        "boolean": "Boolean",
        "date": "Date",
        "text": "String",
    }[kind]
    return prefix + suffix


def to_response(
    form: Form, answers: Mapping[str, Any], base: str = BASE, subject: str | None = None
) -> dict[str, Any]:
    """Answers as a FHIR R4 QuestionnaireResponse: `completed` when they validate, else `in-progress`.

    Answers to hidden questions (show_if) are left out, as a FHIR form filler would disable them.
    `subject` is an optional reference such as "Patient/123".
    """
    cleaned = form.clean(answers) if isinstance(answers, Mapping) else {}
    questionnaire = canonical_url(form, base) + (f"|{form.version}" if form.version is not None else "")
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire,
        "status": "completed" if form.complete(cleaned) else "in-progress",
    }
    if subject:
        resource["subject"] = {"reference": subject}
    items = []
    for question in form.questions:
        if question.name not in cleaned:
            continue
        value = cleaned[question.name]
        values = value if isinstance(value, list) else [value]
        answer = [_response_value(form, question, v) for v in values if _typed(question, v)]
        if answer:
            items.append({"linkId": question.name, "text": question.title, "answer": answer})
    if items:
        resource["item"] = items
    return resource


def _typed(question: Question, value: Any) -> bool:
    """Does `value` have its question's type? (An in-progress response may hold anything.)"""
    kind = question.kind
    if kind in ("choice", "choices"):
        return value in question.choices
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if kind == "number":
            return math.isfinite(value)
        return float(value).is_integer() and -(2**31) <= value < 2**31  # FHIR integer: 32 bits
    if kind == "date":
        return isinstance(value, str) and is_iso(value)
    return isinstance(value, str) and value != ""


def _response_value(form: Form, question: Question, value: Any) -> dict[str, Any]:
    if question.kind in ("choice", "choices"):
        return {"valueCoding": _coding(form, question, value)}
    kind = question.kind
    return {_value_key(kind, "value"): _number(kind, value) if kind in ("integer", "number") else value}
