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


@cache
def reader() -> Reader:
    """The reader for the shipped fact schema: read(facts, flat, errors) fills `flat`, `errors`."""
    lines = ["def read(o0, flat, errors):"]
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
