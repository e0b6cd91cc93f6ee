"""The fact reader: one Python function, generated once from the fact schema, that type-checks
and flattens a case's known paths.

Reading facts runs for every fact of every case, so the walk over the schema is unrolled into
straight-line code: one `dict.get` and one type test per known path, the common kinds checked
inline, anything unusual handed to `facts.coerce`. The source is built only from the shipped
schema (`schemas/facts.schema.json`), never from a ruleset, form or case, and every name in it
is written with `repr`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from engine import facts as _facts

Reader = Callable[[Mapping[str, Any], dict[str, Any], list[tuple[str, str]]], None]

_FAST = {
    "string": "type(v) is str",
    "date": "type(v) is str and is_iso(v)",
    "[string]": "type(v) is list and all_text(v)",
    "integer": "type(v) is int and -MAX <= v <= MAX",
    "number": "type(v) is int and -MAX <= v <= MAX",
    "boolean": "type(v) is bool",
}


def _all_text(values: list[Any]) -> bool:
    for value in values:  # noqa: SIM110  (a loop beats all() over a generator here)
        if type(value) is not str:
            return False
    return True


def _slow(path: str, kind: str, value: Any, flat: dict[str, Any], errors: list[tuple[str, str]]) -> None:
    ok, ready = _facts.coerce(kind, value)
    if not ok:
        errors.append((path, _facts.problem(kind, value)))
        return
    records = _facts.element_types().get(path) if kind == "[object]" else None
    if records is not None:
        ready, record_errors = _facts.check_records(path, ready, records)
        errors.extend(record_errors)
    flat[path] = ready


def _not_object(path: str, value: Any, errors: list[tuple[str, str]]) -> None:
    errors.append((path, f"expected an object, got {_facts.kind_of(value)}"))


def _emit(tree: Mapping[str, Any], source: str, depth: int, lines: list[str]) -> None:
    pad = "    " * depth
    for key, (path, kind, children) in tree.items():
        var = f"o{depth}"
        if kind == "object":
            lines += [
                f"{pad}{var} = {source}.get({key!r})",
                f"{pad}if {var} is not None:",
                f"{pad}    if isinstance({var}, dict):",
                f"{pad}        flat[{path!r}] = {var}",
            ]
            if children is None:  # clinical.*, answers.*: typed later, by a ruleset or a form
                lines.append(f"{pad}        flatten({var}, {path + '.'!r}, flat)")
            else:
                _emit(children, var, depth + 2, lines)
            lines += [f"{pad}    else:", f"{pad}        not_object({path!r}, {var}, errors)"]
            continue
        fast = _FAST.get(kind)
        if kind == "[object]" and path in _facts.element_types():
            # records whose fields all fit (the usual case) are kept as they are, unchecked twice
            fast = f"type(v) is list and records_{_name(path)}(v)"
        lines += [f"{pad}v = {source}.get({key!r})", f"{pad}if v is not None:"]
        if fast is None:
            lines.append(f"{pad}    slow({path!r}, {kind!r}, v, flat, errors)")
        else:
            lines += [
                f"{pad}    if {fast}:",
                f"{pad}        flat[{path!r}] = v",
                f"{pad}    else:",
                f"{pad}        slow({path!r}, {kind!r}, v, flat, errors)",
            ]


def _name(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in path)


def _emit_records(path: str, fields: Mapping[str, str], lines: list[str]) -> None:
    """records_<path>(items): whether every item is a record whose known fields already fit.

    False sends the list to `facts.check_records`, which also drops null fields and explains.
    """
    lines += [
        f"def records_{_name(path)}(items):",
        "    for r in items:",
        "        if type(r) is not dict or None in r.values():",
        "            return False",
    ]
    for field, kind in fields.items():
        fast = _FAST.get(kind)
        if fast is None:
            lines += [f"        if {field!r} in r:", "            return False"]
            continue
        lines += [
            f"        v = r.get({field!r})",
            f"        if v is not None and not ({fast}):",
            "            return False",
        ]
    lines += ["    return True", ""]


@cache
def reader() -> Reader:
    """The reader for the shipped fact schema: read(facts, flat, errors) fills `flat`, `errors`."""
    lines: list[str] = []
    for path, fields in _facts.element_types().items():
        _emit_records(path, fields, lines)
    lines.append("def read(o0, flat, errors):")
    _emit(_facts.schema_tree(), "o0", 1, lines)
    namespace: dict[str, Any] = {
        "is_iso": _facts.is_iso,
        "all_text": _all_text,
        "MAX": _facts.MAX_NUMBER,
        "slow": _slow,
        "not_object": _not_object,
        "flatten": _facts.flatten,
    }
    exec(compile("\n".join(lines), "<priorauth fact reader>", "exec"), namespace)
    read: Reader = namespace["read"]
    return read


Fits = Callable[[Mapping[str, Any]], bool]

# What `facts.coerce` accepts and returns unchanged, by type; a type not here never fits (the
# general check then runs, with the same result).
_FITS = {
    **_FAST,
    "number": "(type(v) is int or type(v) is float) and -MAX <= v <= MAX",
    "any": "True",
}


def fits(types: Mapping[str, str]) -> Fits:
    """fits(flat): True when every path of `types` in `flat` already has its type, as is.

    Then type-checking `flat` against `types` would change and report nothing, so the caller can
    skip it. The function is generated with the paths as constants written with `repr`.
    """
    lines = ["def fits(flat):", "    get = flat.get"]
    for path, kind in sorted(types.items()):
        lines += [
            f"    v = get({path!r})",
            f"    if v is not None and not ({_FITS.get(kind, 'False')}):",
            "        return False",
        ]
    lines.append("    return True")
    namespace: dict[str, Any] = {"is_iso": _facts.is_iso, "all_text": _all_text, "MAX": _facts.MAX_NUMBER}
    exec(compile("\n".join(lines), "<priorauth type check>", "exec"), namespace)
    check: Fits = namespace["fits"]
    return check
