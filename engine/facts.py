"""The fact schema, and case facts made ready for evaluation (flattened, typed, derived).

A case's facts are one JSON object. The engine knows each fact path's type from the base schema
(`schemas/facts.schema.json`), from a ruleset's `facts:` section (`clinical.*`), and from the
forms it knows (`answers.<form id>.<field>`). Paths nobody declared are ignored; a known path with
a value of the wrong type is an error that names the path (never the value: it may be PHI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from engine.errors import FactsError

if TYPE_CHECKING:
    from engine.reader import Reader

#: The kinds of fact a ruleset can declare and a condition can test.
SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean", "date"})
LIST_TYPES = frozenset({"[string]", "[number]"})
DECLARABLE_TYPES = SCALAR_TYPES | LIST_TYPES

URGENCIES = ("standard", "expedited", "emergency")
#: The key of the prepared facts that holds `as_of` as a date (fact paths never hold a NUL).
AS_OF = "\x00as_of"
#: Numbers are bounded to what a double holds exactly (as JSON readers and durable-rules read them);
#: NaN and infinities fail the bound too.
MAX_NUMBER = 2**53 - 1


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


def iso_date(value: object) -> str | None:
    """The canonical `YYYY-MM-DD` text of a real date (a YAML date or ISO text); None otherwise.

    Facts keep dates as this text: it orders like the dates themselves and needs no conversion
    to go back out as JSON.
    """
    if type(value) is str:
        return value if parse_date(value) is not None else None
    parsed = parse_date(value)
    return parsed.isoformat() if parsed is not None else None


# Every valid "MM-DD" of a leap year: with the year's digits checked, a table lookup tells a real
# date from a wrong one without parsing (is_iso runs on every date of every case).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MM_DD = frozenset(f"{m:02d}-{d:02d}" for m, days in enumerate(_MONTH_DAYS, 1) for d in range(1, days + 1))


def is_iso(text: str) -> bool:
    """Whether `text` is a real date written YYYY-MM-DD (what `date.fromisoformat` accepts)."""
    if len(text) != 10 or text[4] != "-":
        return False
    year, day = text[:4], text[5:]
    if day not in _MM_DD or not year.isdigit() or not year.isascii() or year == "0000":
        return False
    if day == "02-29":
        y = int(year)
        return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    return True


#: Texts is_iso has accepted, for the reader to recognise them with one lookup: the dates of a
#: stream repeat (service dates, document dates, birth dates). Bounded: emptied when full.
DATES: set[str] = set()
DATES_LIMIT = 100_000


def remember_date(text: str) -> bool:
    """is_iso(text), remembered in DATES when it holds."""
    if not is_iso(text):
        return False
    if len(DATES) >= DATES_LIMIT:
        DATES.clear()
    DATES.add(text)
    return True


def parse_date(value: object) -> date | None:
    """A date from a YAML date or an ISO `YYYY-MM-DD` string; None when it is neither."""
    if type(value) is str:
        if len(value) == 10 and value[4] == "-" and value[7] == "-" and value[:4].isdigit():
            try:
                return date.fromisoformat(value)
            except ValueError:
                return None
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
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


def problem(kind: str, value: object) -> str:
    """Why `value` is not a `kind`, in words that name no value."""
    if kind in ("number", "integer", "[number]") and _out_of_range(value):
        return f"a number out of range (keep numbers within ±{MAX_NUMBER:,})"
    return f"expected {_EXPECTED.get(kind, kind)}, got {kind_of(value)}"


def _out_of_range(value: object) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_is_number(v) and not -MAX_NUMBER <= v <= MAX_NUMBER for v in values)  # type: ignore[operator]


def kind_of(value: object) -> str:
    """What a value is, in words that name no value (\"a string\", \"a list\")."""
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
    cls = type(value)
    if kind == "string":
        return cls is str, value
    if kind == "date":
        text = iso_date(value)
        return text is not None, text
    if kind == "[string]":
        return cls is list and all(type(v) is str for v in value), value
    if kind == "number":
        return (cls is int or cls is float) and -MAX_NUMBER <= value <= MAX_NUMBER, value
    if kind == "integer":
        return (
            cls is int or (cls is float and value.is_integer())
        ) and -MAX_NUMBER <= value <= MAX_NUMBER, value
    if kind == "boolean":
        return cls is bool, value
    if kind == "[object]":
        return cls is list and all(type(v) is dict for v in value), value
    if kind == "[number]":
        return cls is list and all(
            (type(v) is int or type(v) is float) and -MAX_NUMBER <= v <= MAX_NUMBER for v in value
        ), value
    if kind == "object":
        return cls is dict, value
    return kind == "any", value


def flatten(facts: Mapping[str, Any], prefix: str = "", flat: dict[str, Any] | None = None) -> dict[str, Any]:
    """Dotted path -> value for every leaf (objects too); lists are leaves; nulls are dropped."""
    flat = {} if flat is None else flat
    for key, value in facts.items():
        if value is None:
            continue
        path = f"{prefix}{key}"
        flat[path] = value
        if type(value) is dict:
            flatten(value, path + ".", flat)
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
            errors.append((path, problem(kind, flat[path])))
            del flat[path]
            continue
        if kind == "[object]" and path in records:
            value, record_errors = check_records(path, value, records[path])
            errors.extend(record_errors)
        flat[path] = value
    return errors


def check_records(
    path: str, items: list[dict[str, Any]], fields: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    out: list[dict[str, Any]] = []
    errors: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        record = item if None not in item.values() else {k: v for k, v in item.items() if v is not None}
        for name, kind in fields.items():
            if name in record:
                value = record[name]
                if type(value) is str and (kind == "string" or (kind == "date" and is_iso(value))):
                    continue  # already what it must be (checked ISO dates stay text)
                ok, ready = coerce(kind, value)
                if ok and ready is value:
                    continue
                if record is item:
                    record = dict(item)  # never change the caller's facts
                if ok:
                    record[name] = ready
                else:
                    errors.append((f"{path}[{index}].{name}", problem(kind, value)))
                    del record[name]
        out.append(record)
    return out, errors


# A node of the compiled schema: (path, type, children). Children None on an object means its
# sub-paths are free (clinical.*, answers.*): flattened here, typed later by a ruleset or form.
_Node = tuple[str, str, "dict[str, _Node] | None"]


@cache
def schema_tree() -> dict[str, _Node]:
    """The base schema as nested (path, type, children) nodes."""
    root: dict[str, _Node] = {}
    for path, kind in base_types().items():
        parts = path.split(".")
        level = root
        for part in parts[:-1]:
            parent = level[part]
            if parent[2] is None:
                level[part] = parent = (parent[0], parent[1], {})
            level = parent[2]  # type: ignore[assignment]
        level[parts[-1]] = (path, kind, None)
    return root


def prepare(facts: Mapping[str, Any], today: date) -> dict[str, Any]:
    """Flatten and type-check the base paths; fill `as_of` and derive `patient.age`.

    Raises FactsError naming every path of the wrong type (never the value).
    """
    from engine.reader import reader  # generated from this module's schema: imported late

    return prepare_with(reader(), facts, today)[0]


def prepare_with(read: Reader, facts: Mapping[str, Any], today: date) -> tuple[dict[str, Any], bool]:
    """`prepare` with a given reader (reader.py); also whether the reader typed every fact."""
    if type(facts) is not dict and not isinstance(facts, Mapping):
        raise FactsError([("(case)", "the case facts must be a JSON object")])
    flat: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    typed = read(facts, flat, errors)
    urgency = flat.get("urgency")
    if urgency is not None and urgency not in URGENCIES:
        errors.append(("urgency", "must be one of " + ", ".join(URGENCIES)))
        del flat["urgency"]
    if errors:
        raise FactsError(errors)
    text = flat.get("as_of")
    if text is None:
        text = flat["as_of"] = today.isoformat()
    seen, as_of, year, day, ages = _LAST_AS_OF[0]
    if seen != text:
        as_of = date.fromisoformat(text)
        year, day, ages = as_of.year, text[5:], {}
        _LAST_AS_OF[0] = (text, as_of, year, day, ages)
    flat[AS_OF] = as_of
    birth = flat.get("patient.birth_date")
    if birth is not None:
        age = ages.get(birth)
        if age is None:
            # whole years, from the checked ISO texts: "MM-DD" orders like the days of a year
            age = year - int(birth[:4]) - (day < birth[5:])
            if len(ages) >= AGES_LIMIT:
                ages.clear()
            ages[birth] = age
        flat["patient.age"] = age
    return flat, typed


# The last `as_of` read: its text, date, year, "MM-DD" and the ages worked out as of it, by birth
# date (a batch is nearly always evaluated as of one day, and birth dates repeat: two slices and
# an int() spared each time). One tuple, replaced whole, so that threads never see a text with
# another's date.
_LAST_AS_OF: list[tuple[str, Any, int, str, dict[str, int]]] = [("", None, 0, "", {})]
AGES_LIMIT = 50_000
