"""Readiness forms: load a form document, check its schema, validate answers.

A form is a JSON Schema (draft 2020-12) for the answers plus hints. Remote `$ref` is never
fetched (the registry refuses every retrieval) and `format` is checked. The rules engine uses a
form to type `answers.<form id>.<field>` paths and to tell whether a form is complete.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.exceptions import NoSuchResource

from engine.conditions import did_you_mean
from engine.errors import LoadError, Problem
from engine.facts import base_types
from engine.rulesets import SLUG, canonical_text, plain
from engine.yamlsafe import line_of, load_yaml, read_document

FORM_KEYS = ("form", "version", "title", "description", "schema", "ui", "prefill", "facts")
_SELECTOR = re.compile(r"([a-z_]+)\[([a-z_]+)=([^\]]+)\]\.([a-z_]+)")


def _refuse(uri: str) -> Any:
    # Remote (or any unknown) $ref is never fetched: a form is self-contained.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


NO_RETRIEVAL: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class Form:
    id: str
    version: int | None
    title: str
    schema: Mapping[str, Any]
    fields: Mapping[str, Mapping[str, Any]]
    answer_types: Mapping[str, str]
    facts: Mapping[str, str]  # answer field -> fact path it writes
    sha256: str
    file: str
    validator: Any

    def errors(self, answers: Any) -> list[tuple[str, str]]:
        """(field, message in plain words) for every problem in `answers`; empty when valid."""
        out: list[tuple[str, str]] = []
        for error in sorted(
            self.validator.iter_errors(answers), key=lambda e: [str(p) for p in e.absolute_path]
        ):
            if error.validator == "required":
                # one error per `required` keyword: name every field it finds missing, once each
                present = error.instance if isinstance(error.instance, Mapping) else {}
                for name in error.validator_value:
                    if name not in present:
                        field = ".".join([*(str(p) for p in error.absolute_path), name])
                        item = (field, f"{_title(self, name)} is required")
                        if item not in out:
                            out.append(item)
                continue
            out.append(_explain(self, error))
        return out

    def complete(self, answers: Any) -> bool:
        return isinstance(answers, Mapping) and self.validator.is_valid(answers)


def _field_type(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type")
    if kind == "array":
        inner = spec.get("items", {})
        if isinstance(inner, Mapping) and (inner.get("type") in ("number", "integer")):
            return "[number]"
        return "[string]"
    if kind == "string":
        return "date" if spec.get("format") == "date" else "string"
    if kind in ("number", "integer", "boolean"):
        return str(kind)
    if "enum" in spec and all(isinstance(v, str) for v in spec["enum"]):
        return "string"
    return "any"


def load_form_file(path: str | Path) -> Form:
    return load_form(read_document(path), str(path))


def load_form(text: str | bytes, file: str = "<form>") -> Form:
    """Load and check a form document. Raises LoadError listing every problem."""
    doc = load_yaml(text, file)
    problems: list[Problem] = []

    def error(line: int | None, message: str, fix: str = "") -> None:
        problems.append(Problem(file, line, message, fix))

    if not isinstance(doc, Mapping):
        raise LoadError([Problem(file, 1, "a form must be a YAML mapping", "start with `form: <id>`")])
    for key in doc:
        if key not in FORM_KEYS:
            error(
                line_of(doc, key),
                f"unknown key '{key}'",
                did_you_mean(str(key), FORM_KEYS) or "allowed: " + ", ".join(FORM_KEYS),
            )
    fid = doc.get("form")
    if not isinstance(fid, str) or not SLUG.fullmatch(fid):
        error(
            line_of(doc, "form") or 1, "`form:` must be a lowercase slug id", "write form: imaging-readiness"
        )
        fid = ""
    version = doc.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        error(line_of(doc, "version"), "version must be a whole number of 1 or more", "write version: 2")
        version = None
    schema = doc.get("schema")
    fields: Mapping[str, Any] = {}
    if not isinstance(schema, Mapping):
        error(
            line_of(doc, "schema") or 1,
            "a form needs a `schema:` (JSON Schema for the answers)",
            "see docs/forms.md",
        )
        schema = {}
    else:
        try:
            Draft202012Validator.check_schema(plain(schema))
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
            error(
                line_of(doc, "schema"),
                f"the schema is not valid JSON Schema 2020-12 at {where}: {exc.message}",
                "fix the schema",
            )
        props = schema.get("properties", {})
        fields = props if isinstance(props, Mapping) else {}
    names = list(fields)
    for section in ("ui", "prefill", "facts"):
        raw = doc.get(section) or {}
        if not isinstance(raw, Mapping):
            error(line_of(doc, section), f"`{section}:` must be a mapping", "see docs/forms.md")
            continue
        refs: list[tuple[Any, Any]] = []
        if section == "ui":
            for key, value in raw.items():
                if key == "order" and isinstance(value, list):
                    refs += [(value, i) for i in range(len(value))]
                elif isinstance(value, Mapping):
                    refs += [(value, k) for k in value]
        else:
            refs = [(raw, k) for k in raw]
        for container, key in refs:
            name = container[key] if isinstance(container, list) else key
            if name not in fields:
                error(
                    line_of(container, key),
                    f"{section} names field '{name}', which the schema lacks",
                    did_you_mean(str(name), names) or "add it to schema.properties",
                )
        if section in ("prefill", "facts"):
            for key, path in raw.items():
                target = path
                if section == "prefill" and isinstance(path, str) and (m := _SELECTOR.fullmatch(path)):
                    target = m.group(1)
                if not isinstance(target, str) or not (
                    target.startswith("clinical.") or target in base_types()
                ):
                    error(
                        line_of(raw, key),
                        f"{section} of '{key}' names unknown fact path '{path}'",
                        did_you_mean(str(target), list(base_types()))
                        or "use a clinical.* path or one of the fact schema",
                    )
    if problems:
        raise LoadError(sorted(problems, key=lambda p: p.line or 0))
    plain_schema = plain(schema)
    validator = Draft202012Validator(
        plain_schema, registry=NO_RETRIEVAL, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    text_c = canonical_text(doc)
    title = doc.get("title") if isinstance(doc.get("title"), str) else fid
    return Form(
        id=fid,
        version=version,
        title=str(title),
        schema=plain_schema,
        fields={k: v for k, v in fields.items() if isinstance(v, Mapping)},
        answer_types={k: _field_type(v) for k, v in fields.items() if isinstance(v, Mapping)},
        facts={str(k): str(v) for k, v in (doc.get("facts") or {}).items()},
        sha256=hashlib.sha256(text_c.encode("utf-8")).hexdigest(),
        file=file,
        validator=validator,
    )


def _explain(form: Form, error: Any) -> tuple[str, str]:
    path = [str(p) for p in error.absolute_path]
    field = path[0] if path else ""
    title = _title(form, field) if field else form.title
    value = error.validator_value
    words = {
        "minimum": f"{title} must be {value} or more",
        "maximum": f"{title} must be {value} or less",
        "exclusiveMinimum": f"{title} must be more than {value}",
        "exclusiveMaximum": f"{title} must be less than {value}",
        "type": f"{title} must be {_kind_words(value)}",
        "enum": f"{title} must be one of the listed choices",
        "format": f"{title} must be a valid {value}" + (" (YYYY-MM-DD)" if value == "date" else ""),
        "minLength": f"{title} must have at least {value} characters",
        "maxLength": f"{title} must have at most {value} characters",
        "minItems": f"choose at least {value} for {title}",
        "maxItems": f"choose at most {value} for {title}",
        "uniqueItems": f"{title} lists the same choice twice",
        "pattern": f"{title} is not in the expected format",
        "const": f"{title} has a value that is not allowed",
    }
    return field, words.get(error.validator, f"{title} is not valid")


def _kind_words(kind: Any) -> str:
    return {
        "integer": "a whole number",
        "number": "a number",
        "string": "text",
        "boolean": "yes or no",
        "array": "a list",
        "object": "a group of answers",
    }.get(str(kind), str(kind))


def _title(form: Form, field: str) -> str:
    spec = form.fields.get(field, {})
    title = spec.get("title") if isinstance(spec, Mapping) else None
    return str(title) if title else field.replace("_", " ").capitalize()
