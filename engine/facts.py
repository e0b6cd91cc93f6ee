"""The fact schema, and case facts made ready for evaluation (flattened, typed, derived).

A case's facts are one JSON object. The engine knows each fact path's type from the base schema
(`schemas/facts.schema.json`), from a ruleset's `facts:` section (`clinical.*`), and from the
forms it knows (`answers.<form id>.<field>`). Paths nobody declared are ignored; a known path with
a value of the wrong type is an error that names the path (never the value: it may be PHI).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

from engine.errors import FactsError

#: The kinds of fact a ruleset can declare and a condition can test.
SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean", "date"})
LIST_TYPES = frozenset({"[string]", "[number]"})
DECLARABLE_TYPES = SCALAR_TYPES | LIST_TYPES
#: "object" is a container path, "[object]" a list of records (documents), "any" an unchecked path.
ALL_TYPES = DECLARABLE_TYPES | {"object", "[object]", "any"}

URGENCIES = ("standard", "expedited", "emergency")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@cache
def base_schema() -> dict[str, Any]:
    """The shipped JSON Schema of case facts."""
    text = resources.files("engine").joinpath("schemas/facts.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _schema_type(node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    kind = node.get("type")
    if kind == "array":
        item = node.get("items", {})
        inner = item.get("type")
        if inner == "object":
            return "[object]"
        return "[number]" if inner in ("number", "integer") else "[string]"
    if kind == "string" and node.get("format") == "date":
        return "date"
    return str(kind) if kind in ("string", "number", "integer", "boolean", "object") else "any"


def _walk(node: Mapping[str, Any], defs: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for name, child in node.get("properties", {}).items():
        if "$ref" in child:
            child = defs[child["$ref"].rsplit("/", 1)[-1]]
        path = f"{prefix}{name}"
        yield path, _schema_type(child, defs)
        if child.get("type") == "object":
            yield from _walk(child, defs, path + ".")


@cache
def base_types() -> dict[str, str]:
    """Every path of the base schema with its type (`service.codes` -> `[string]`)."""
    schema = base_schema()
    return dict(_walk(schema, schema.get("$defs", {}), ""))


@cache
def element_types() -> dict[str, dict[str, str]]:
    """For each list-of-records path (`documents`), the type of each field of a record."""
    schema = base_schema()
    defs = schema.get("$defs", {})
    out: dict[str, dict[str, str]] = {}
    for path, kind in base_types().items():
        if kind == "[object]":
            node: Mapping[str, Any] = schema
            for part in path.split("."):
                node = node["properties"][part]
            out[path] = dict(_walk(node["items"], defs, ""))
    return out


def parse_date(value: object) -> date | None:
    """A date from a YAML date or an ISO `YYYY-MM-DD` string; None when it is neither."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_EXPECTED = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "[string]": "a list of strings",
    "[number]": "a list of numbers",
    "[object]": "a list of objects",
    "object": "an object",
}


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def coerce(kind: str, value: Any) -> tuple[bool, Any]:
    """Check `value` against a fact type; return (ok, value made ready: dates parsed)."""
    if kind == "any":
        return True, value
    if kind == "string":
        return isinstance(value, str), value
    if kind == "number":
        return _is_number(value), value
    if kind == "integer":
        return (_is_number(value) and float(value).is_integer()), value
    if kind == "boolean":
        return isinstance(value, bool), value
    if kind == "date":
        parsed = parse_date(value)
        return parsed is not None, parsed
    if kind == "[string]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value), value
    if kind == "[number]":
        return isinstance(value, list) and all(_is_number(v) for v in value), value
    if kind == "object":
        return isinstance(value, dict), value
    if kind == "[object]":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value), value
    return False, value


def flatten(facts: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value for every leaf; lists are leaves; nulls are dropped (a null is missing)."""
    flat: dict[str, Any] = {}
    for key, value in facts.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat[path] = value
            flat.update(flatten(value, path + "."))
        elif value is not None:
            flat[path] = value
    return flat


def check_types(flat: dict[str, Any], types: Mapping[str, str]) -> list[tuple[str, str]]:
    """Type-check the known paths of `flat` in place (dates parsed); return (path, problem) pairs."""
    errors: list[tuple[str, str]] = []
    records = element_types()
    for path, kind in types.items():
        if path not in flat:
            continue
        ok, value = coerce(kind, flat[path])
        if not ok:
            errors.append((path, f"expected {_EXPECTED.get(kind, kind)}, got {_kind_of(flat[path])}"))
            del flat[path]
            continue
        if kind == "[object]" and path in records:
            value, record_errors = _check_records(path, value, records[path])
            errors.extend(record_errors)
        flat[path] = value
    return errors


def _check_records(
    path: str, items: list[dict[str, Any]], fields: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    out: list[dict[str, Any]] = []
    errors: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        record = {k: v for k, v in item.items() if v is not None}
        for name, kind in fields.items():
            if name in record:
                ok, value = coerce(kind, record[name])
                if ok:
                    record[name] = value
                else:
                    errors.append(
                        (
                            f"{path}[{index}].{name}",
                            f"expected {_EXPECTED.get(kind, kind)}, got {_kind_of(record[name])}",
                        )
                    )
                    del record[name]
        out.append(record)
    return out, errors


def age_at(birth: date, on: date) -> int:
    """Whole years from `birth` to `on`."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def prepare(facts: Mapping[str, Any], today: date) -> dict[str, Any]:
    """Flatten and type-check the base paths; fill `as_of` and derive `patient.age`.

    Raises FactsError naming every path of the wrong type.
    """
    if not isinstance(facts, Mapping):
        raise FactsError([("(case)", "the case facts must be a JSON object")])
    flat = flatten(facts)
    errors = check_types(flat, base_types())
    if "urgency" in flat and flat["urgency"] not in URGENCIES:
        errors.append(("urgency", "must be one of " + ", ".join(URGENCIES)))
        del flat["urgency"]
    if errors:
        raise FactsError(errors)
    flat.setdefault("as_of", today)
    birth = flat.get("patient.birth_date")
    if birth is not None:
        flat["patient.age"] = age_at(birth, flat["as_of"])
    return flat
