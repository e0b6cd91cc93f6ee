"""Errors the engine raises, split by what the caller does about them.

    EngineError                 anything the engine refuses; message names where, never a patient value
     ├── LoadError              a document (ruleset, form, YAML) cannot be used: fix the file
     │                          .problems: every Problem found, each with file:line, what and how to fix
     ├── FactsError             a case's facts break the fact schema: fix the case (names the path)
     └── BackendError           an evaluation backend failed on a ruleset: report it; names the ruleset

Problems are collected, not raised one at a time: a person fixes all of them in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a document: where it is, what is wrong and how to fix it."""

    file: str
    line: int | None
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}" + (f": {self.fix}" if self.fix else "")


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class LoadError(EngineError):
    """A document cannot be loaded; `problems` lists every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "the document could not be loaded")


class FactsError(EngineError):
    """A case's facts do not fit the fact schema; `paths` names the offending fact paths."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: tuple[tuple[str, str], ...] = tuple(errors)
        super().__init__("; ".join(f"{path}: {what}" for path, what in self.errors))


class BackendError(EngineError):
    """An evaluation backend failed; the message names the ruleset and the backend."""
