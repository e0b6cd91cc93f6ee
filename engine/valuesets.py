"""Value sets: named code lists with exact codes, numeric ranges and prefixes -> fast membership.

Entries: a code (`"73721"`, `"G47.33"`); `"A-B"`, a range of codes of one length sharing a
non-digit prefix (`"E0600-E0699"`, `"72148-72158"`), bounds included; `"X*"`, a prefix.
Membership is a set lookup, then a bisect per (prefix, length) range table, then one
`str.startswith` over all prefixes; a set of 10,000 codes builds in milliseconds.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

_CODE = re.compile(r"([^0-9]*)([0-9]+)")


class EntryError(ValueError):
    """A value set entry is malformed: `what` is wrong and how to `fix` it."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}: {fix}")
        self.what, self.fix = what, fix


def split_code(code: str) -> tuple[str, str] | None:
    """(non-digit prefix, digits) of a code like E0601, or None when it does not end in digits."""
    match = _CODE.fullmatch(code)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True, slots=True)
class ValueSet:
    """An immutable, compiled code list."""

    name: str
    codes: frozenset[str]
    # (non-digit prefix, total length) -> sorted, merged [(low, high)] of the numeric part
    ranges: dict[tuple[str, int], tuple[tuple[int, int], ...]] = field(default_factory=dict)
    prefixes: tuple[str, ...] = ()
    size: int = 0

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        if code in self.codes:
            return True
        if self.ranges:
            parts = split_code(code)
            if parts is not None:
                table = self.ranges.get((parts[0], len(code)))
                if table is not None:
                    number = int(parts[1])
                    at = bisect.bisect_right(table, (number, 1 << 62)) - 1
                    if at >= 0 and table[at][0] <= number <= table[at][1]:
                        return True
        return bool(self.prefixes) and code.startswith(self.prefixes)


def parse_entry(entry: object) -> tuple[str, object]:
    """Classify one entry: ("code", str) | ("range", (prefix, length, low, high)) | ("prefix", str).

    Raises EntryError with what is wrong and how to fix it.
    """
    if not isinstance(entry, str):
        shown = "a number" if isinstance(entry, int | float) else type(entry).__name__
        raise EntryError(f"an entry is {shown}; codes are strings", f'quote it: "{entry}"')
    text = entry.strip()
    if not text or text != entry:
        raise EntryError(f"entry {entry!r} is empty or has spaces around it", "write the code alone")
    if text.endswith("*"):
        stem = text[:-1]
        if not stem or "*" in stem or "-" in stem:
            raise EntryError(
                f"entry {entry!r} is not a prefix", 'write a code start followed by one *, like "M46.2*"'
            )
        return "prefix", stem
    if "-" in text:
        low, _, high = text.partition("-")
        lo, hi = split_code(low), split_code(high)
        if lo is None or hi is None:
            raise EntryError(
                f"range {entry!r} is malformed",
                'a range is two codes of one length that share a non-digit prefix and end in digits, like "E0600-E0699"',
            )
        if len(low) != len(high) or lo[0] != hi[0]:
            raise EntryError(
                f"range {entry!r} mixes codes of different lengths or prefixes",
                "both bounds must have the same length and the same letters before the digits",
            )
        if int(lo[1]) > int(hi[1]):
            raise EntryError(f"range {entry!r} runs backwards", "put the lower code first")
        return "range", (lo[0], len(low), int(lo[1]), int(hi[1]))
    if "*" in text:
        raise EntryError(f"entry {entry!r} has a * that is not at the end", "a prefix ends in one *")
    return "code", text


def build(name: str, entries: Iterable[object]) -> ValueSet:
    """Compile entries into a ValueSet. Raises EntryError on the first bad entry."""
    codes: set[str] = set()
    ranges: dict[tuple[str, int], list[tuple[int, int]]] = {}
    prefixes: list[str] = []
    count = 0
    for entry in entries:
        kind, value = parse_entry(entry)
        count += 1
        if kind == "code":
            codes.add(value)  # type: ignore[arg-type]
        elif kind == "prefix":
            prefixes.append(value)  # type: ignore[arg-type]
        else:
            prefix, length, low, high = cast(tuple[str, int, int, int], value)
            ranges.setdefault((prefix, length), []).append((low, high))
    return ValueSet(name, frozenset(codes), {k: _merge(v) for k, v in ranges.items()}, tuple(prefixes), count)


def _merge(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)
