"""Evaluation backends. Each turns a Plan into a Runner that says which rules' `when` holds.

Both must agree exactly (tests run every embedded ruleset test and a generated corpus through
both). `durable` is the reference semantics; `compiled` is the fast one for batch work.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from typing import Protocol

from engine.errors import EngineError
from engine.plan import Flat, Plan

BACKENDS = ("durable", "compiled")


class Runner(Protocol):
    """Evaluates one plan. `fired` returns the positions (in evaluation order) whose `when` holds."""

    def fired(self, flat: Flat, as_of: date) -> list[int]: ...

    def fired_many(self, cases: Sequence[tuple[Flat, date]]) -> list[list[int]]: ...


_CACHE: OrderedDict[tuple[str, str], Runner] = OrderedDict()
_CACHE_SIZE = 256
_CACHE_LOCK = threading.Lock()


def prepare(backend: str, plan: Plan) -> Runner:
    """A runner for `plan` on the named backend, shared per (backend, ruleset sha256).

    Sharing matters for durable-rules: a ruleset that has evaluated facts keeps ~120 KB of C
    memory even after `delete_ruleset`, so the same version must not be compiled into it twice.
    """
    # the same text loaded with other forms known may type answers.* paths differently
    key = (backend, plan.ruleset.sha256 + str(hash(frozenset(plan.ruleset.types.items()))))
    with _CACHE_LOCK:
        runner = _CACHE.get(key)
        if runner is not None:
            _CACHE.move_to_end(key)
            return runner
    runner = _build(backend, plan)
    with _CACHE_LOCK:
        _CACHE[key] = runner
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return runner


def _build(backend: str, plan: Plan) -> Runner:
    if backend == "compiled":
        from engine.backends.compiled import CompiledRunner

        return CompiledRunner(plan)
    if backend == "durable":
        from engine.backends.durable import DurableRunner

        return DurableRunner(plan)
    raise EngineError(f"unknown engine backend '{backend}': use one of {', '.join(BACKENDS)}")
