"""Code indexes: from a code to the code sets that hold it, as the bits of one integer.

A rule's *gate* is a top-level membership test it cannot fire without
(`service.codes: {any_in: lumbar_mri}`). A `CodeIndex` merges many code sets of one fact path:
exact codes (and the codes of ranges, written out) in one dict, prefixes in another, by the few
lengths they come in. Looking up a code costs one dict lookup per prefix length and one more,
however many code sets there are. The durable backend's `GateIndex` gives each rule's gate a
bit, so a case's codes tell which rules it can reach; the compiled backend gives each code set a
bit, so membership tests become bit tests (backends/compiled.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.valuesets import ValueSet

_DIGITS = "0123456789"
#: Ranges are written out code by code, into the exact codes, up to this many codes per index
#: (a lookup is then one dict lookup); wider ones are bisected.
EXPAND_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class Gate:
    """Rule `position` cannot fire unless fact `path` holds a value in `codes` (or equal to it)."""

    path: str
    codes: ValueSet | frozenset[str]


class CodeIndex:
    """Code sets of one fact path, merged: which of them hold a code, as a bit mask.

    `exact` maps a code to its mask (ranges written out too, up to EXPAND_LIMIT codes), and
    `prefixes` a prefix to its mask, for each length in `lengths`. The compiled backend reads
    them directly in its generated code; `lookup` is the same thing as a method.
    """

    def __init__(self, sets: Iterable[tuple[int, ValueSet | frozenset[str]]]) -> None:
        """`sets`: (bit, codes) pairs; several sets may share a bit (then it means any of them)."""
        exact: dict[str, int] = {}
        prefixes: dict[str, int] = {}
        intervals: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
        for bit, codes in sets:
            flag = 1 << bit
            if isinstance(codes, ValueSet):
                for code in codes.codes:
                    exact[code] = exact.get(code, 0) | flag
                for prefix in codes.prefixes:
                    prefixes[prefix] = prefixes.get(prefix, 0) | flag
                for key, bounds in codes.ranges.items():
                    intervals.setdefault(key, []).extend((low, high, flag) for low, high in bounds)
            else:
                for code in codes:
                    exact[code] = exact.get(code, 0) | flag
        if sum(high - low + 1 for spans in intervals.values() for low, high, _ in spans) <= EXPAND_LIMIT:
            for (stem, length), spans in intervals.items():
                width = length - len(stem)
                for low, high, flag in spans:
                    for number in range(low, high + 1):
                        code = stem + str(number).zfill(width)
                        exact[code] = exact.get(code, 0) | flag
            intervals = {}
        self.exact = exact
        self.prefixes = prefixes
        self.lengths = tuple(sorted({len(p) for p in prefixes}))
        self._segments = {key: _segments(spans) for key, spans in intervals.items()}

    @property
    def ranges(self) -> bool:
        """Whether some ranges were too wide to write out: `in_ranges` must be asked too."""
        return bool(self._segments)

    def lookup(self, code: str) -> int:
        """The mask of the sets that hold `code` (0 when none does)."""
        found = self.exact.get(code, 0)
        for size in self.lengths:
            found |= self.prefixes.get(code[:size], 0)
        if self._segments:
            found |= self.in_ranges(code)
        return found

    def in_ranges(self, code: str) -> int:
        """The mask of the ranges that were not written out and hold `code`."""
        # ranges are keyed by their digit-free prefix and length (valuesets.split_code): a code
        # whose part before its last digits holds a digit finds no table, as it should
        stem = code.rstrip(_DIGITS)
        table = self._segments.get((stem, len(code)))
        if table is None or len(stem) == len(code):
            return 0
        starts, masks = table
        at = bisect.bisect_right(starts, int(code[len(stem) :])) - 1
        return masks[at] if at >= 0 else 0


def _segments(spans: Sequence[tuple[int, int, int]]) -> tuple[list[int], list[int]]:
    """Disjoint segments over possibly overlapping [low, high] spans: (starts, mask per segment)."""
    events: dict[int, list[tuple[int, int]]] = {}
    for low, high, flag in spans:
        events.setdefault(low, []).append((flag, 1))
        events.setdefault(high + 1, []).append((flag, -1))
    active: dict[int, int] = {}
    starts: list[int] = []
    masks: list[int] = []
    for point in sorted(events):
        for flag, step in events[point]:
            active[flag] = active.get(flag, 0) + step
            if not active[flag]:
                del active[flag]
        mask = 0
        for flag in active:
            mask |= flag
        starts.append(point)
        masks.append(mask)
    return starts, masks


class GateIndex:
    """Which rules of a plan a case can reach, from its values on the gated paths."""

    def __init__(self, gates: Sequence[Gate | None]) -> None:
        self.ungated = sum(1 << i for i, g in enumerate(gates) if g is None)
        by_path: dict[str, list[tuple[int, ValueSet | frozenset[str]]]] = {}
        for position, gate in enumerate(gates):
            if gate is not None:
                by_path.setdefault(gate.path, []).append((position, gate.codes))
        self._paths = tuple((path, CodeIndex(entries)) for path, entries in by_path.items())

    def candidates(self, flat: Mapping[str, Any]) -> list[int]:
        """Positions (ascending) of the rules whose gate the case passes, plus the ungated ones."""
        mask = self.ungated
        for path, index in self._paths:
            value = flat.get(path)
            if value is None:
                continue
            for v in value if type(value) is list else (value,):
                if type(v) is str:
                    mask |= index.lookup(v)
        positions = []
        while mask:
            low = mask & -mask
            positions.append(low.bit_length() - 1)
            mask ^= low
        return positions
