"""Readiness forms: load a form document, check it, validate answers, map them to facts.

A form is a JSON Schema (draft 2020-12) for the answers plus hints (`ui`), where its questions are
prefilled from (`prefill`) and where its answers land in the case facts (`facts`); the contract is
spec/forms.md. Remote `$ref` is never fetched (the registry refuses every retrieval), `format` is
checked, and a `pattern` that could backtrack catastrophically is refused at load.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.exceptions import NoSuchResource

from engine import regexsafe, showif
from engine.conditions import did_you_mean
from engine.errors import LoadError, Problem
from engine.facts import base_types, element_types
from engine.formfields import NAME, WIDGETS, Question, build, kind_of, resolve
from engine.rulesets import SLUG, canonical_text, plain
from engine.yamlsafe import line_of, load_yaml, read_document

FORM_KEYS = ("form", "version", "title", "description", "schema", "ui", "prefill", "facts")
UI_KEYS = ("order", "widgets", "help", "show_if", "labels")
# documents[type=imaging-report].date: the `date` of the latest document whose `type` is ...
SELECTOR = re.compile(r"([a-z_][a-z0-9_.]*)\[([a-z_]+)=([^\]]+)\]\.([a-z_]+)")
# the fact type each kind of question may write (facts: targets in the fact schema)
_FACT_TYPES = {
    "text": ("string",),
    "choice": ("string",),
    "date": ("date", "string"),
    "integer": ("integer", "number"),
    "number": ("number",),
    "boolean": ("boolean",),
    "choices": ("[string]",),
}


def _refuse(uri: str) -> Any:
    # Remote (or any unknown) $ref is never fetched: a form is self-contained.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


NO_RETRIEVAL: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    # JSON Schema patterns are ECMA-262: `$` is the end of the text, not "before a final newline"
    if validator.is_type(instance, "string") and not re.search(regexsafe.ecma(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


FormValidator: Any = validators.extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Form:
    id: str
    version: int | None
    title: str
    description: str
    schema: Mapping[str, Any]
    questions: tuple[Question, ...]  # in `ui.order`, then schema order
    show_if: Mapping[str, showif.ShowIf]
    prefill: Mapping[str, str]  # question -> fact path (or document selector) it is prefilled from
    facts: Mapping[str, str]  # question -> fact path its answer writes
    sha256: str
    file: str
    validator: Any

    @property
    def fields(self) -> dict[str, Question]:
        return {q.name: q for q in self.questions}

    @property
    def answer_types(self) -> dict[str, str]:
        """The fact type of `answers.<form id>.<question>` for each question (rulesets use it)."""
        types = {"choices": "[string]", "choice": "string", "text": "string"}
        return {q.name: types.get(q.kind, q.kind) for q in self.questions}

    def visible(self, answers: Mapping[str, Any]) -> set[str]:
        """The questions shown for these answers: show_if holds, and so it does for what it tests."""
        shown: dict[str, bool] = {}

        def is_shown(name: str) -> bool:
            if name not in shown:
                rule = self.show_if.get(name)
                shown[name] = rule is None or (
                    all(is_shown(c.field) for c in rule.checks) and rule.holds(answers)
                )
            return shown[name]

        return {q.name for q in self.questions if is_shown(q.name)}

    def clean(self, answers: Any) -> Any:
        """The answers without those to hidden questions (the server is the judge of show_if)."""
        if not isinstance(answers, Mapping) or not self.show_if:
            return answers
        shown = self.visible(answers)
        return {k: v for k, v in answers.items() if k in shown or k not in self.show_if}

    def errors(self, answers: Any) -> list[tuple[str, str]]:
        """(question, message in plain words) for every problem in `answers`; empty when valid."""
        if not isinstance(answers, Mapping):
            return [("", "the answers must be a JSON object of question: answer")]
        out: list[tuple[str, str]] = []
        answers = self.clean(answers)
        for error in sorted(
            self.validator.iter_errors(answers), key=lambda e: [str(p) for p in e.absolute_path]
        ):
            for item in _explain(self, error):
                if item not in out:
                    out.append(item)
        order = {q.name: n for n, q in enumerate(self.questions)}
        return sorted(out, key=lambda item: order.get(item[0].split(".")[0], len(order)))

    def complete(self, answers: Any) -> bool:
        return isinstance(answers, Mapping) and self.validator.is_valid(self.clean(answers))

    def to_facts(self, answers: Any) -> dict[str, Any]:
        """fact path -> answer, for each answered question that `facts:` maps (hidden ones dropped)."""
        answers = self.clean(answers)
        if not isinstance(answers, Mapping):
            return {}
        return {path: answers[name] for name, path in self.facts.items() if name in answers}


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
    if not isinstance(fid, str) or not SLUG.fullmatch(fid) or len(fid) > 64:
        error(
            line_of(doc, "form") or 1,
            "`form:` must be a lowercase slug id of at most 64 characters",
            "write form: imaging-readiness",
        )
        fid = ""
    version = doc.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        error(line_of(doc, "version"), "version must be a whole number of 1 or more", "write version: 2")
        version = None
    for key in ("title", "description"):
        if doc.get(key) is not None and not isinstance(doc.get(key), str):
            error(line_of(doc, key), f"`{key}:` must be text", f"write {key}: in words")
    schema = doc.get("schema")
    if not isinstance(schema, Mapping):
        error(
            line_of(doc, "schema") or 1,
            "a form needs a `schema:` (JSON Schema for the answers)",
            "see docs/forms.md",
        )
        schema = {}
    else:
        _check_schema(schema, error)
    raw_props = schema.get("properties", {})
    props: Mapping[str, Any] = raw_props if isinstance(raw_props, Mapping) else {}
    kinds: dict[str, str] = {}
    specs = {name: resolve(plain(schema), plain(spec)) for name, spec in props.items()}
    for name, spec in specs.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            error(
                line_of(props, name),
                f"question name '{name}' is not a lowercase name",
                "use letters, digits and _ (like symptom_weeks)",
            )
        elif not isinstance(spec, Mapping) or (kind := kind_of(spec)) is None:
            error(
                line_of(props, name),
                f"question '{name}' is not a kind a form can ask",
                "use type string (with enum or format: date), integer, number, boolean, "
                "or an array of an enum",
            )
        else:
            kinds[name] = kind
    ui = _section(doc, "ui", error)
    prefill = _section(doc, "prefill", error)
    facts = _section(doc, "facts", error)
    names = list(props)
    for key in ui:
        if key not in UI_KEYS:
            error(line_of(ui, key), f"unknown ui key '{key}'", did_you_mean(str(key), UI_KEYS) or "")
    sub = {key: _section(ui, key, error) for key in ("widgets", "help", "show_if", "labels")}
    order = ui.get("order") or []
    if not isinstance(order, list):
        error(line_of(ui, "order"), "ui.order must be a list of questions", "write order: [a, b, c]")
        order = []
    refs: list[tuple[str, Any, Any]] = [("ui.order", order, i) for i in range(len(order))]
    refs += [(f"ui.{k}", v, name) for k, v in sub.items() for name in v]
    refs += [("prefill", prefill, k) for k in prefill] + [("facts", facts, k) for k in facts]
    for section, container, key in refs:
        name = container[key] if isinstance(container, list) else key
        if name not in props:
            error(
                line_of(container, key),
                f"{section} names question '{name}', which the schema lacks",
                did_you_mean(str(name), names) or "add it to schema.properties",
            )
    seen: set[Any] = set()
    for i, name in enumerate(order):
        if name in seen:
            error(line_of(order, i), f"ui.order lists '{name}' twice", "list each question once")
        seen.add(name)
    choices = _choices(specs, kinds)
    _check_widgets(sub["widgets"], kinds, error)
    _check_texts(sub["help"], "ui.help", error)
    _check_labels(sub["labels"], kinds, choices, error)
    rules: dict[str, showif.ShowIf] = {}
    for target, raw in sub["show_if"].items():
        if target not in kinds:
            continue
        rule, found = showif.parse(str(target), plain(raw), kinds, choices)
        for message in found:
            error(line_of(sub["show_if"], target), message, "see show_if in docs/forms.md")
        if rule is not None:
            rules[str(target)] = rule
    for name in _cycle(rules):
        error(
            line_of(sub["show_if"], name),
            f"show_if of '{name}' depends on itself through other questions",
            "make the questions depend in one direction",
        )
    _check_paths(prefill, "prefill", kinds, error)
    _check_paths(facts, "facts", kinds, error)
    writers: dict[str, str] = {}
    for name, path in facts.items():
        if isinstance(path, str) and path in writers:
            error(
                line_of(facts, name),
                f"facts of '{name}' and of '{writers[path]}' both write '{path}'",
                "map each fact from one question",
            )
        writers.setdefault(str(path), str(name))
    if problems:
        raise LoadError(sorted(problems, key=lambda p: p.line or 0))
    plain_schema = plain(schema)
    validator = FormValidator(
        plain_schema, registry=NO_RETRIEVAL, format_checker=FormValidator.FORMAT_CHECKER
    )
    required = set(plain_schema.get("required") or ())
    ordered = [str(n) for n in order] + [n for n in kinds if n not in order]
    questions = tuple(
        build(
            name,
            specs[name],
            kinds[name],
            name in required,
            sub["widgets"].get(name),
            str(sub["help"].get(name) or ""),
            {str(k): str(v) for k, v in (sub["labels"].get(name) or {}).items()},
        )
        for name in ordered
    )
    title = doc.get("title") if isinstance(doc.get("title"), str) else fid
    return Form(
        id=fid,
        version=version,
        title=str(title),
        description=str(doc.get("description") or ""),
        schema=plain_schema,
        questions=questions,
        show_if=rules,
        prefill={str(k): str(v) for k, v in prefill.items()},
        facts={str(k): str(v) for k, v in facts.items()},
        sha256=hashlib.sha256(canonical_text(doc).encode("utf-8")).hexdigest(),
        file=file,
        validator=validator,
    )


Report = Any  # the `error(line, message, fix)` callback of load_form


def _section(doc: Mapping[str, Any], key: str, error: Report) -> Mapping[str, Any]:
    raw = doc.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        error(line_of(doc, key), f"`{key}:` must be a mapping", "see docs/forms.md")
        return {}
    return raw


def _check_schema(schema: Mapping[str, Any], error: Report) -> None:
    """Every meta-schema error, every outside or broken `$ref`, every unsafe pattern: all at once."""
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    for found in sorted(meta.iter_errors(plain(schema)), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(found.absolute_path)
        where = "/".join(str(p) for p in path) or "(top)"
        detail = best_match(found.context) if found.context else found
        message = (
            f"'{found.instance}' is not a JSON Schema type (use string, integer, number, boolean, array or object)"
            if path and path[-1] == "type" and isinstance(found.instance, str)
            else detail.message
        )
        error(
            _line_at(schema, path),
            f"the schema is not valid JSON Schema 2020-12 at {where}: {message}",
            "fix the schema (see docs/forms.md)",
        )
    for container, key, ref in _refs(schema):
        if not isinstance(ref, str) or not ref.startswith("#"):
            error(
                line_of(container, key),
                f"the schema refers to {ref!r}, outside this form; nothing outside a form is ever fetched",
                "copy the definition under $defs and refer to it as #/$defs/<name>",
            )
        elif not _pointer_exists(plain(schema), ref):
            error(
                line_of(container, key),
                f"the schema refers to {ref!r}, which it does not have",
                "add it under $defs, or fix the reference",
            )
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), Mapping):
        error(
            line_of(schema),
            "the schema must be `type: object` with `properties:` (one per question)",
            "see docs/forms.md",
        )
    for container, key, pattern in _patterns(schema):
        why = regexsafe.problem(pattern) if isinstance(pattern, str) else "a pattern must be text"
        if why:
            fix = "fix the regular expression" if "not a valid" in why else "write a simpler pattern"
            error(line_of(container, key), f"pattern {pattern!r} is refused: {why}", fix)


def _line_at(schema: Mapping[str, Any], path: list[Any]) -> int | None:
    node: Any = schema
    for part in path[:-1]:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
    return line_of(node, path[-1] if path else None) or line_of(schema)


def _refs(node: Any) -> list[tuple[Any, Any, Any]]:
    """(container, key, reference) for every `$ref` and `$dynamicRef` in a schema."""
    out: list[tuple[Any, Any, Any]] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef"):
                out.append((node, key, value))
            else:
                out += _refs(value)
    elif isinstance(node, list):
        for value in node:
            out += _refs(value)
    return out


def _pointer_exists(schema: Any, ref: str) -> bool:
    if ref == "#":
        return True
    if not ref.startswith("#/"):
        return False  # an anchor (#name): not supported in forms
    node = schema
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _patterns(node: Any) -> list[tuple[Any, Any, Any]]:
    """(container, key, regex) for every `pattern` and `patternProperties` key in a schema."""
    out: list[tuple[Any, Any, Any]] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "pattern":
                out.append((node, key, value))
            elif key == "patternProperties" and isinstance(value, Mapping):
                out += [(value, k, k) for k in value]
            out += _patterns(value)
    elif isinstance(node, list):
        for value in node:
            out += _patterns(value)
    return out


def _choices(props: Mapping[str, Any], kinds: Mapping[str, str]) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for name, kind in kinds.items():
        spec = props[name]
        if kind == "choice":
            out[name] = tuple(spec["enum"])
        elif kind == "choices":
            out[name] = tuple(spec["items"]["enum"])
    return out


def _check_widgets(widgets: Mapping[str, Any], kinds: Mapping[str, str], error: Report) -> None:
    for name, widget in widgets.items():
        allowed = WIDGETS.get(kinds.get(name, ""))
        if allowed and widget not in allowed:
            error(
                line_of(widgets, name),
                f"widget '{widget}' does not fit question '{name}' ({kinds[name]})",
                f"use {' or '.join(allowed)}",
            )


def _check_texts(texts: Mapping[str, Any], section: str, error: Report) -> None:
    for name, text in texts.items():
        if not isinstance(text, str):
            error(line_of(texts, name), f"{section} of '{name}' must be text", "write it in words")


def _check_labels(
    labels: Mapping[str, Any],
    kinds: Mapping[str, str],
    choices: Mapping[str, tuple[Any, ...]],
    error: Report,
) -> None:
    for name, mapping in labels.items():
        if name not in kinds:
            continue
        if not isinstance(mapping, Mapping) or name not in choices:
            error(
                line_of(labels, name),
                f"ui.labels of '{name}' must map its choices to words",
                "only questions with choices take labels",
            )
            continue
        for value, text in mapping.items():
            if value not in choices[name]:
                error(
                    line_of(mapping, value),
                    f"ui.labels of '{name}' names '{value}', which is not one of its choices",
                    did_you_mean(str(value), [str(c) for c in choices[name]]) or "",
                )
            elif not isinstance(text, str):
                error(line_of(mapping, value), f"the label of '{value}' must be text", "write it in words")


def _cycle(rules: Mapping[str, showif.ShowIf]) -> list[str]:
    """The questions whose show_if depends, through others, on themselves."""
    bad: list[str] = []
    for start in rules:
        stack, seen = [c.field for c in rules[start].checks], set()
        while stack:
            name = stack.pop()
            if name == start:
                bad.append(start)
                break
            if name not in seen and name in rules:
                seen.add(name)
                stack += [c.field for c in rules[name].checks]
    return bad


def _check_paths(mapping: Mapping[str, Any], section: str, kinds: Mapping[str, str], error: Report) -> None:
    known = base_types()
    for name, path in mapping.items():
        line = line_of(mapping, name)
        if not isinstance(path, str):
            error(line, f"{section} of '{name}' must be a fact path", "like clinical.symptom_weeks")
            continue
        if section == "prefill" and (m := SELECTOR.fullmatch(path)):
            records = element_types().get(m.group(1))
            if records is None:
                error(
                    line,
                    f"prefill of '{name}' selects from '{m.group(1)}', which is not a list of records",
                    did_you_mean(m.group(1), list(element_types())) or "use documents[type=...].date",
                )
            else:
                for part in (m.group(2), m.group(4)):
                    if part not in records:
                        error(
                            line,
                            f"prefill of '{name}': the records of '{m.group(1)}' have no '{part}'",
                            did_you_mean(part, list(records)) or "fields: " + ", ".join(records),
                        )
            continue
        if path.startswith("clinical.") and len(path) > len("clinical."):
            continue
        if path not in known:
            error(
                line,
                f"{section} of '{name}' names unknown fact path '{path}'",
                did_you_mean(path, list(known)) or "use a clinical.* path or one of the fact schema",
            )
            continue
        fits = _FACT_TYPES.get(kinds.get(name, ""), ())
        if section == "facts" and name in kinds and known[path] not in fits:
            error(
                line,
                f"facts of '{name}' writes {_a(kinds[name])} answer to '{path}', which holds {known[path]}",
                "map it to a clinical.* path or to a fact of the same type",
            )


def _explain(form: Form, error: Any) -> list[tuple[str, str]]:
    """One jsonschema error -> (question, sentence) items; the raw jsonschema message is never shown."""
    path = [str(p) for p in error.absolute_path]
    field = path[0] if path else ""
    title = _title(form, field) if field else form.title
    value = error.validator_value
    if error.validator in ("required", "dependentRequired"):
        present = error.instance if isinstance(error.instance, Mapping) else {}
        wanted = value if error.validator == "required" else [n for v in value.values() for n in v]
        return [(".".join([*path, n]), f"{_title(form, n)} is required") for n in wanted if n not in present]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        extra = [k for k in error.instance if k not in form.fields]
        return [(k, f"'{k}' is not a question of this form; remove it") for k in extra]
    words = {
        "minimum": f"{title} must be {_num(value)} or more",
        "maximum": f"{title} must be {_num(value)} or less",
        "exclusiveMinimum": f"{title} must be more than {_num(value)}",
        "exclusiveMaximum": f"{title} must be less than {_num(value)}",
        "multipleOf": f"{title} must be a multiple of {_num(value)}",
        "type": f"{title} must be {_kind_words(value)}",
        "enum": f"{title} must be one of the listed choices",
        "format": f"{title} must be a valid {value}" + (" (YYYY-MM-DD)" if value == "date" else ""),
        "minLength": f"{title} must have at least {value} characters",
        "maxLength": f"{title} must have at most {value} characters",
        "minItems": f"{title} needs at least {_choices_words(value)}",
        "maxItems": f"{title} allows at most {_choices_words(value)}",
        "uniqueItems": f"{title} lists the same choice twice",
        "pattern": f"{title} is not in the expected format",
        "const": f"{title} has an answer that is not allowed here",
        "contains": f"{title} is missing a choice it needs",
    }
    return [(field, words.get(error.validator, f"{title} is not valid"))]


def _choices_words(count: Any) -> str:
    return f"{count} choice" if count == 1 else f"{count} choices"


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _kind_words(kind: Any) -> str:
    if isinstance(kind, list):
        return " or ".join(_kind_words(k) for k in kind)
    return {
        "integer": "a whole number",
        "number": "a number",
        "string": "text",
        "boolean": "yes or no",
        "array": "a list",
        "object": "a group of answers",
        "null": "empty",
    }.get(str(kind), str(kind))


def _title(form: Form, field: str) -> str:
    question = form.fields.get(field)
    return question.title if question else field.replace("_", " ").capitalize()
