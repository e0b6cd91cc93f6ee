"""Evaluation backends. Each turns a Plan into a Runner that says which rules' `when` holds.

Both must agree exactly (tests run every embedded ruleset test and a generated corpus through
both). `durable` is the reference semantics; `compiled` is the fast one for batch work.
"""

from __future__ import annotations

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


def prepare(backend: str, plan: Plan) -> Runner:
    """A runner for `plan` on the named backend (imported lazily)."""
    if backend == "compiled":
        from engine.backends.compiled import CompiledRunner

        return CompiledRunner(plan)
    if backend == "durable":
        from engine.backends.durable import DurableRunner

        return DurableRunner(plan)
    raise EngineError(f"unknown engine backend '{backend}': use one of {', '.join(BACKENDS)}")
