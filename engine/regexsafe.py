"""Refuse regular expressions that can backtrack catastrophically, before anyone runs them.

A form's `pattern` runs on text a person typed (and, in the API, text a machine sent). Python's
`re` backtracks, so `(a+)+$` on thirty `a`s and a `!` takes minutes. The shapes that blow up
exponentially are few: an unbounded repeat whose body can itself repeat without bound (nested
quantifiers), or whose body is an alternation whose branches can start with the same character.
This module parses the pattern with the standard library's own parser and rejects those shapes.
It is conservative (a few harmless patterns are refused; their fix is always simple) and cheap.
"""

from __future__ import annotations

import re
import re._parser as sre  # the stdlib's own regex parser (3.11+)
from collections.abc import Callable
from typing import Any

MAX_PATTERN = 500
# An outer repeat of more than this many rounds, around an inner part of variable width, can split
# one text into exponentially many ways: (a{1,5})*, (a|aa){1,50}, (\d{1,100}){1,100}.
_MANY = 10
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)} - {None}


def ecma(pattern: str) -> str:
    """The pattern with `$` meaning what JSON Schema (ECMA-262) means: the very end of the text.

    In Python, `$` also matches before a final newline, so `^[A-Z][0-9]{4}$` would accept
    "K0823\\n". Each unescaped `$` outside a character class becomes `\\Z`.
    """
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append("\\Z")
            continue
        out.append(char)
    return "".join(out)


def problem(pattern: str) -> str | None:
    """Why `pattern` is unsafe or invalid, in words; None when it is fine."""
    if len(pattern) > MAX_PATTERN:
        return f"the pattern is {len(pattern)} characters long; keep it under {MAX_PATTERN}"
    try:
        tree = sre.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"the pattern is not a valid regular expression ({getattr(exc, 'msg', exc)})"
    return _walk(list(tree))


def _walk(items: list[Any]) -> str | None:
    for op, arg in items:
        if op in _REPEATS:
            _low, high, body = arg
            body = list(body)
            many = _unbounded(high)
            if high > 1:
                inner = _variable_parts(body)
                # a variable part inside a repeat can split one text many ways: exponentially many
                # when the outer repeat runs unbounded, n^k for k rounds of an unbounded inner part
                # (k = 2 is quadratic, which a bounded answer survives; k >= 3 is not)
                risky = inner if many else [part for part, wide in inner if wide and high >= 3]
                if risky and not _separated(body, [part for part, _ in inner]):
                    return "it nests one repeat inside another (like `(a+)+`), which can take forever on some text"
            if many and _ambiguous_branch(body):
                return (
                    "it repeats a choice whose options can start alike (like `(ab|\\w\\w)*`), "
                    "which can take forever on some text"
                )
            found = _walk(body)
        elif op == sre.SUBPATTERN:
            found = _walk(list(arg[-1]))
        elif op == sre.BRANCH:
            found = next((f for b in arg[1] if (f := _walk(list(b)))), None)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            found = _walk(list(arg[1]))
        elif op == sre.GROUPREF:
            found = "it refers back to a group (\\1), which can take forever on some text"
        else:
            found = None
        if found:
            return found
    return None


def _unbounded(high: int) -> bool:
    return bool(high == sre.MAXREPEAT or high > _MANY)


def _variable_parts(items: list[Any]) -> list[tuple[list[Any], bool]]:
    """(items, unbounded?) for every part of variable width inside `items`, at any depth: repeats
    (`+`, `*`, `?`, `{1,5}`) and choices whose options differ in width (`a|aa`, `a(?:|a)`)."""
    out: list[tuple[list[Any], bool]] = []
    for op, arg in items:
        if op in _REPEATS:
            low, high, body = arg
            if low != high:
                out.append((list(body), _unbounded(high)))
            out += _variable_parts(list(body))
        elif op == sre.SUBPATTERN:
            out += _variable_parts(list(arg[-1]))
        elif op == sre.BRANCH:
            widths = {branch.getwidth() for branch in arg[1]}
            if len(widths) > 1 or any(lo != hi for lo, hi in widths):
                merged = [item for branch in arg[1] for item in branch]
                out.append((merged, any(_unbounded(hi) for _lo, hi in widths)))
            for branch in arg[1]:
                out += _variable_parts(list(branch))
    return out


def _separated(body: list[Any], inner: list[list[Any]]) -> bool:
    """True if `body` must match a literal character that none of its inner repeats can match.

    `( [A-Za-z]+)*` is safe: each round must match a space, which `[A-Za-z]+` cannot swallow, so
    the text splits into rounds one way only. `(a+)+` and `(\\w+\\s?)*` have no such separator.
    """
    for op, arg in body:
        if op == sre.LITERAL and not any(_may_match(r, int(arg)) for r in inner):
            return True
        chars = _class_chars(list(arg)) if op == sre.IN else None
        if chars is not None and not any(_may_match(r, c) for r in inner for c in chars):
            return True
        if op == sre.SUBPATTERN and _separated(list(arg[-1]), inner):
            return True
    return False


def _class_chars(items: list[Any]) -> list[int] | None:
    """The characters of a small, plain class like `[-.]` or `[,;]`; None for anything else."""
    chars: list[int] = []
    for op, arg in items:
        if op == sre.LITERAL:
            chars.append(int(arg))
        elif op == sre.RANGE and arg[1] - arg[0] < 64:
            chars += range(arg[0], arg[1] + 1)
        else:
            return None
    return chars


def _may_match(items: list[Any], char: int) -> bool:
    """Could any character position in `items` match `char`? True when unsure."""
    for op, arg in items:
        if op == sre.LITERAL:
            if int(arg) == char:
                return True
        elif op == sre.IN:
            if _in_class(list(arg), char):
                return True
        elif op in _REPEATS:
            if _may_match(list(arg[2]), char):
                return True
        elif op == sre.SUBPATTERN:
            if _may_match(list(arg[-1]), char):
                return True
        elif op == sre.BRANCH:
            if any(_may_match(list(b), char) for b in arg[1]):
                return True
        elif op not in (sre.AT,):
            return True  # ANY, NOT_LITERAL, categories outside a class...: assume it can
    return False


_CATEGORIES: dict[str, Callable[[str], bool]] = {
    "CATEGORY_DIGIT": str.isdigit,
    "CATEGORY_NOT_DIGIT": lambda c: not c.isdigit(),
    "CATEGORY_SPACE": str.isspace,
    "CATEGORY_NOT_SPACE": lambda c: not c.isspace(),
    "CATEGORY_WORD": lambda c: c.isalnum() or c == "_",
    "CATEGORY_NOT_WORD": lambda c: not (c.isalnum() or c == "_"),
}


def _in_class(items: list[Any], char: int) -> bool:
    negate = False
    hit = False
    for op, arg in items:
        if op == sre.NEGATE:
            negate = True
        elif op == sre.LITERAL:
            hit = hit or int(arg) == char
        elif op == sre.RANGE:
            hit = hit or arg[0] <= char <= arg[1]
        elif op == sre.CATEGORY:
            test = _CATEGORIES.get(str(arg))
            hit = hit or test is None or bool(test(chr(char)))
        else:
            return True
    return hit != negate


def _ambiguous_branch(items: list[Any]) -> bool:
    """True if `items` hold, anywhere, a choice whose options may match the same text.

    Options are told apart only by a different first character; the stdlib parser factors a
    shared prefix out (`a|a` becomes `a(?:|)`), which leaves options that are all empty: ambiguous.
    """
    for op, arg in items:
        if op == sre.BRANCH:
            firsts = [_first(list(b)) for b in arg[1]]
            if any(f is None for f in firsts) or len(set(firsts)) != len(firsts):
                return True
            if any(_ambiguous_branch(list(b)) for b in arg[1]):
                return True
        elif op == sre.SUBPATTERN:
            if _ambiguous_branch(list(arg[-1])):
                return True
        elif op in _REPEATS and _ambiguous_branch(list(arg[2])):
            return True
    return False


def _first(items: list[Any]) -> int | None:
    if items and items[0][0] == sre.LITERAL:
        return int(items[0][1])
    if items and items[0][0] == sre.SUBPATTERN:
        return _first(list(items[0][1][-1]))
    return None
