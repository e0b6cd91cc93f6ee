"""An inverted index over the rules' gates: from a code to the rules that could fire on it.

A rule's *gate* is a top-level membership test it cannot fire without
(`service.codes: {any_in: lumbar_mri}`). Per fact path, all gates merge into one index: exact
codes in a dict, ranges as disjoint segments (bisect), prefixes by every leading slice of the
code. Looking up a code costs a few dict lookups and one bisect, however many rules and value
sets there are; results are cached per code (bounded).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.valuesets import ValueSet, split_code

_CACHE_LIMIT = 50_000
_EMPTY: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Gate:
    """Rule `position` cannot fire unless fact `path` holds a value in `codes` (or equal to it)."""

    path: str
    codes: ValueSet | frozenset[str]


class PathIndex:
    """Every gate on one fact path, merged."""

    def __init__(self, gates: Iterable[tuple[int, ValueSet | frozenset[str]]]) -> None:
        exact: dict[str, set[int]] = {}
        prefixes: dict[str, set[int]] = {}
        intervals: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
        for position, codes in gates:
            if isinstance(codes, ValueSet):
                for code in codes.codes:
                    exact.setdefault(code, set()).add(position)
                for prefix in codes.prefixes:
                    prefixes.setdefault(prefix, set()).add(position)
                for key, table in codes.ranges.items():
                    intervals.setdefault(key, []).extend((low, high, position) for low, high in table)
            else:
                for code in codes:
                    exact.setdefault(code, set()).add(position)
        self._exact = {k: frozenset(v) for k, v in exact.items()}
        self._prefixes = {k: frozenset(v) for k, v in prefixes.items()}
        self._longest = max((len(p) for p in prefixes), default=0)
        self._segments = {key: _segments(spans) for key, spans in intervals.items()}
        self._cache: dict[str, frozenset[int]] = {}

    def lookup(self, code: str) -> frozenset[int]:
        """The positions of the rules whose gate admits `code`."""
        hit = self._cache.get(code)
        if hit is not None:
            return hit
        found: set[int] = set(self._exact.get(code, _EMPTY))
        if self._segments:
            parts = split_code(code)
            if parts is not None:
                table = self._segments.get((parts[0], len(code)))
                if table is not None:
                    starts, sets = table
                    at = bisect.bisect_right(starts, int(parts[1])) - 1
                    if at >= 0:
                        found |= sets[at]
        for size in range(1, min(len(code), self._longest) + 1):
            more = self._prefixes.get(code[:size])
            if more:
                found |= more
        result = frozenset(found)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # bounded memory whatever the stream of codes
        self._cache[code] = result
        return result


def _segments(spans: Sequence[tuple[int, int, int]]) -> tuple[list[int], list[frozenset[int]]]:
    """Disjoint segments over possibly overlapping [low, high] spans: (starts, rules per segment)."""
    events: dict[int, list[tuple[int, int]]] = {}
    for low, high, position in spans:
        events.setdefault(low, []).append((position, 1))
        events.setdefault(high + 1, []).append((position, -1))
    active: Counter[int] = Counter()
    starts: list[int] = []
    sets: list[frozenset[int]] = []
    for point in sorted(events):
        for position, step in events[point]:
            active[position] += step
            if not active[position]:
                del active[position]
        starts.append(point)
        sets.append(frozenset(active))
    return starts, sets


class GateIndex:
    """Which rules of a plan a case can reach, from its values on the gated paths."""

    def __init__(self, gates: Sequence[Gate | None]) -> None:
        self.ungated = frozenset(i for i, g in enumerate(gates) if g is None)
        by_path: dict[str, list[tuple[int, ValueSet | frozenset[str]]]] = {}
        for position, gate in enumerate(gates):
            if gate is not None:
                by_path.setdefault(gate.path, []).append((position, gate.codes))
        self._paths = tuple((path, PathIndex(entries)) for path, entries in by_path.items())

    def candidates(self, flat: Mapping[str, Any]) -> list[int]:
        """Positions (ascending) of the rules whose gate the case passes, plus the ungated ones."""
        return sorted(self.reachable(flat))

    def reachable(self, flat: Mapping[str, Any]) -> set[int]:
        """The same positions, as a set."""
        found = set(self.ungated)
        for path, index in self._paths:
            value = flat.get(path)
            if value is None:
                continue
            for v in value if type(value) is list else (value,):
                if type(v) is str:
                    found |= index.lookup(v)
        return found
