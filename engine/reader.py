"""The fact reader: one Python function, generated from the fact schema, that type-checks and
flattens a case's known paths.

Reading facts runs for every fact of every case, so the walk over the schema is unrolled into
straight-line code: one `dict.get` and one type test per known path, the common kinds checked
inline, anything unusual handed to `facts.coerce`. The source is built from the shipped schema
(`schemas/facts.schema.json`) and, for an evaluator, from the `clinical.*` types its rulesets
declare; every name in it is written with `repr`, never from a case.

An evaluator's reader also reads the `clinical.*` facts its rulesets agree on the types of, and
says whether every clinical fact of the case already had its declared type: then the evaluator
has nothing left to type-check (evaluate.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from engine import facts as _facts

#: read(facts, flat, errors) -> typed: fills `flat` and `errors`; `typed` is True when every fact
#: under clinical (and answers) had a declared type of the reader, as it is.
Reader = Callable[[Mapping[str, Any], dict[str, Any], list[tuple[str, str]]], bool]

# What `facts.coerce` accepts and returns unchanged, by type (an expression over `v`). A type not
# here takes the general path (`slow`, `check_types`), with the same result.
_FAST = {
    "string": "type(v) is str",
    "date": "type(v) is str and (v in DATES or iso(v))",
    "[string]": "type(v) is list and all_text(v)",
    # the bounds as constants of the value's own type: `-MAX` would build a new int every time,
    # and a float compared with a large int takes CPython's slow exact path (same answers: MAX
    # is a whole number a double holds exactly)
    "integer": "type(v) is int and MIN <= v <= MAX",
    "number": "(type(v) is int and MIN <= v <= MAX) or (type(v) is float and FMIN <= v <= FMAX)",
    "boolean": "type(v) is bool",
}
_FITS = {**_FAST, "any": "True"}


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


def _leaf(pad: str, source: str, key: str, path: str, kind: str, lines: list[str], store: bool) -> None:
    fast = _FAST.get(kind)
    if kind == "[object]" and path in _facts.element_types():
        # records whose fields all fit (the usual case) are kept as they are, unchecked twice
        fast = f"type(v) is list and records_{_name(path)}(v)"
    lines.append(f"{pad}v = {source}.get({key!r})")
    slow = f"slow({path!r}, {kind!r}, v, flat, errors)"
    if fast is None:
        lines += [f"{pad}if v is not None:", f"{pad}    {slow}"]
        return
    # Every fast test opens with a type test, false on None: a value that passes it needs no
    # test for None first (most known paths are there), and only one that fails it does.
    if kind == "[string]":  # the loop inline: lists of codes are the commonest facts
        lines += [
            f"{pad}if type(v) is list:",
            f"{pad}    for x in v:",
            f"{pad}        if type(x) is not str:",
            f"{pad}            {slow}",
            f"{pad}            break",
        ]
        if store:
            lines += [f"{pad}    else:", f"{pad}        flat[{path!r}] = v"]
        lines += [f"{pad}elif v is not None:", f"{pad}    {slow}"]
    elif store:
        lines += [
            f"{pad}if {fast}:",
            f"{pad}    flat[{path!r}] = v",
            f"{pad}elif v is not None:",
            f"{pad}    {slow}",
        ]
    else:  # checked all the same (a wrong type is an error), but nobody reads it: not stored
        lines += [f"{pad}if not ({fast}) and v is not None:", f"{pad}    {slow}"]


def _emit(
    tree: Mapping[str, Any],
    source: str,
    depth: int,
    lines: list[str],
    free: Mapping[str, str],
    keep: frozenset[str] | None,
) -> None:
    pad = "    " * depth
    for key, (path, kind, children) in tree.items():
        if kind != "object":
            _leaf(pad, source, key, path, kind, lines, keep is None or path in keep)
            continue
        var = f"o{depth}"
        lines += [f"{pad}{var} = {source}.get({key!r})", f"{pad}if {var} is not None:"]
        lines.append(f"{pad}    if isinstance({var}, dict):")
        if keep is None or path in keep:
            lines.append(f"{pad}        flat[{path!r}] = {var}")
        if children is not None:
            _emit(children, var, depth + 2, lines, free, keep)
        elif path in free:  # clinical: the declared names read and typed here, if they are all
            lines += [
                f"{pad}        if not {free[path]}({var}, flat):",
                f"{pad}            flatten({var}, {path + '.'!r}, flat)",
                f"{pad}            typed = False",
            ]
        else:  # answers.*, or clinical.* without declared types: typed later, if at all
            lines += [f"{pad}        flatten({var}, {path + '.'!r}, flat)", f"{pad}        typed = False"]
        lines += [f"{pad}    else:", f"{pad}        not_object({path!r}, {var}, errors)"]


def _name(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in path)


def _emit_records(path: str, fields: Mapping[str, str], lines: list[str]) -> None:
    """records_<path>(items): whether every item is a record whose known fields already fit.

    False sends the list to `facts.check_records`, which also drops null fields and explains.
    """
    lines += [
        f"def records_{_name(path)}(items):",
        "    for r in items:",
        "        if type(r) is not dict:",
        "            return False",
        "        n = 0",  # the known fields that hold a value
    ]
    for field, kind in fields.items():
        fast = _FAST.get(kind)
        if fast is None:
            lines += [f"        if {field!r} in r:", "            return False"]
            continue
        lines += [
            f"        v = r.get({field!r})",
            "        if v is not None:",
            f"            if not ({fast}):",
            "                return False",
            "            n += 1",
        ]
    # any other field is a null (refused) or an unknown one (kept as it is): only then look
    lines += [
        "        if n != len(r) and None in r.values():",
        "            return False",
        "    return True",
        "",
    ]


def _emit_free(
    name: str, prefix: str, types: Mapping[str, str], lines: list[str], keep: frozenset[str] | None
) -> None:
    """name(o, flat): the facts of object `o` into `flat`, if each is a declared one that fits.

    False as soon as one is not (an undeclared name, a value of another type, a nested object):
    the caller then flattens `o` the general way (every value, those stored here too) and leaves
    the typing to the evaluator.
    """
    names = sorted(path[len(prefix) :] for path in types)
    lines += [f"def {name}(o, flat):", "    n = 0"]  # the declared names that hold a value
    for field in names:
        path = prefix + field
        lines += [
            f"    v = o.get({field!r})",
            "    if v is not None:",
            f"        if not ({_FITS.get(types[path], 'False')}):",
            "            return False",
        ]
        if keep is None or path in keep:
            lines.append(f"        flat[{path!r}] = v")
        lines.append("        n += 1")
    # other names are nulls or undeclared ones: only then look for an undeclared one
    lines += [f"    return n == len(o) or o.keys() <= NAMES_{name}", ""]


def _namespace() -> dict[str, Any]:
    return {
        "iso": _facts.remember_date,
        "DATES": _facts.DATES,
        "all_text": _all_text,
        "MAX": _facts.MAX_NUMBER,
        "MIN": -_facts.MAX_NUMBER,
        "FMAX": float(_facts.MAX_NUMBER),
        "FMIN": -float(_facts.MAX_NUMBER),
        "slow": _slow,
        "not_object": _not_object,
        "flatten": _facts.flatten,
    }


def reader(declared: Iterable[tuple[str, str]] = (), keep: Iterable[str] | None = None) -> Reader:
    """The reader for the fact schema and `declared` (clinical.* path, type) pairs.

    With `keep`, a known path outside it is type-checked as always (a wrong type is still an
    error naming it) but not written into the flat facts: an evaluator passes the paths its
    rulesets, forms and itself read, and spares a store (and a bigger dict) per unread fact.
    """
    return _reader(frozenset(declared), None if keep is None else frozenset(keep))


@lru_cache(maxsize=64)  # one per set of rulesets an evaluator is made for: bounded
def _reader(declared: frozenset[tuple[str, str]], keep: frozenset[str] | None) -> Reader:
    lines: list[str] = []
    for path, fields in _facts.element_types().items():
        _emit_records(path, fields, lines)
    clinical = {path: kind for path, kind in declared if path.startswith("clinical.") and "." not in path[9:]}
    free: dict[str, str] = {}
    namespace = _namespace()
    if clinical:
        free["clinical"] = "free_clinical"
        _emit_free("free_clinical", "clinical.", clinical, lines, keep)
        namespace["NAMES_free_clinical"] = frozenset(path[9:] for path in clinical)
    lines += ["def read(o0, flat, errors):", "    typed = True"]
    _emit(_facts.schema_tree(), "o0", 1, lines, free, keep)
    lines.append("    return typed")
    exec(compile("\n".join(lines), "<priorauth fact reader>", "exec"), namespace)
    read: Reader = namespace["read"]
    return read


Fits = Callable[[Mapping[str, Any]], bool]


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
    namespace = _namespace()
    exec(compile("\n".join(lines), "<priorauth type check>", "exec"), namespace)
    check: Fits = namespace["fits"]
    return check
