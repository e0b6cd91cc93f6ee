"""A claims CSV made into usage lines: bad rows named, good rows kept (docs/usage.md).

    claims = read_claims(data)
    for line in claims.lines: ...                      # ClaimLine: where, which case, when, how many
    for line, column, message in claims.problems: ...  # rows left out, and a header that cannot be read
    for line, column, message in claims.notes: ...     # unknown columns, ignored

The first row names the columns; case, spaces and hyphens in a column's name do not matter. Each
row names its case by priorauth reference (`case`) or by the payer's authorization number
(`auth_number`), and gives `service_date` and `units`; `claim_id` and `code` are optional. A row
with any bad cell is left out, each bad cell named by its line and column; the other rows are kept.
Messages name the column, never the cell's value.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

MAX_ROWS = 100_000
MAX_BYTES = 16 * 1024 * 1024  # far above 100,000 claim lines: only a wrong file is refused
MAX_UNITS = 100_000  # on one line; more is a typing slip (and would not fit the column)

_REFERENCE = re.compile(r"PA-[A-Z0-9]{8}")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_CODE = re.compile(r"[A-Z0-9]{1,12}")
_ID = re.compile(r"[!-~]{1,64}")  # printable ASCII without spaces: what claim systems write


class ClaimsProblem(NamedTuple):
    """Where (line of the file, column as its header writes it) and what is wrong."""

    line: int
    column: str
    message: str


class ClaimLine(NamedTuple):
    """One good row: its line, the case it names (by reference or auth number) and the usage."""

    line: int
    case: str | None
    auth_number: str | None
    service_date: date
    units: int
    claim_id: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class Claims:
    """The good rows, the problems that kept rows (or the whole file) out, and notes (ignored columns)."""

    lines: list[ClaimLine]
    problems: list[ClaimsProblem]
    notes: list[ClaimsProblem]


class _Bad(ValueError):
    """A cell that cannot be read; the message says what to write instead."""


def _reference(value: str) -> str:
    reference = value.upper()
    if not _REFERENCE.fullmatch(reference):
        raise _Bad("not a priorauth case reference (PA- and 8 letters or digits, as the case page shows)")
    return reference


def _auth_number(value: str) -> str:
    if not _ID.fullmatch(value):
        raise _Bad("an authorization number is 1 to 64 letters, digits or marks, without spaces")
    return value


def _date(value: str) -> date:
    us = _US_DATE.fullmatch(value)  # what Excel writes in the United States
    try:
        if us:
            return date(int(us[3]), int(us[1]), int(us[2]))
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise _Bad("not a date: write YYYY-MM-DD")


def _units(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) == 0:
        raise _Bad("must be a whole number above 0 (units or visits on this line)")
    if int(value) > MAX_UNITS:
        raise _Bad(f"more than {MAX_UNITS:,} units on one line: check the number")
    return int(value)


def _claim_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise _Bad("a claim id is 1 to 64 letters, digits or marks, without spaces")
    return value


def _code(value: str) -> str:
    code = value.upper()
    if not _CODE.fullmatch(code):
        raise _Bad("a service code is 1 to 12 letters or digits (CPT, HCPCS or revenue code)")
    return code


#: column -> reader of a non-empty cell
COLUMNS: dict[str, Callable[[str], Any]] = {
    "case": _reference,
    "auth_number": _auth_number,
    "service_date": _date,
    "units": _units,
    "claim_id": _claim_id,
    "code": _code,
}
REQUIRED = ("service_date", "units")
WHICH_CASE = ("case", "auth_number")  # one of them, in the header and in every row


def _column(header: str) -> str:
    return re.sub(r"[\s-]+", "_", header.strip().lower())


class _Reader:
    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.columns = [_column(h) for h in header]
        self.problems: list[ClaimsProblem] = []
        self.notes: list[ClaimsProblem] = []
        seen: set[str] = set()
        for written, column in zip(header, self.columns, strict=True):
            if column in seen:
                if column in COLUMNS:  # which of the two cells would be meant cannot be told
                    self.problems.append(ClaimsProblem(1, written, "this column is named twice: keep one"))
                continue  # an unknown column is reported once
            seen.add(column)
            if not column:
                self.notes.append(ClaimsProblem(1, "", "a column without a name: ignored"))
            elif column not in COLUMNS:
                self.notes.append(
                    ClaimsProblem(1, written, "unknown column: ignored (docs/usage.md lists the columns)")
                )
        for column in REQUIRED:
            if column not in seen:
                self.problems.append(
                    ClaimsProblem(1, column, "required column missing: add it to the header row")
                )
        if not any(column in seen for column in WHICH_CASE):
            self.problems.append(
                ClaimsProblem(1, "case", "no column names the case: add `case` (PA-...) or `auth_number`")
            )

    @property
    def usable(self) -> bool:
        return not self.problems

    def cell(self, cells: list[str], column: str) -> str:
        if column not in self.columns:
            return ""
        index = self.columns.index(column)
        return cells[index].strip() if index < len(cells) else ""

    def row(self, line: int, cells: list[str]) -> ClaimLine | None:
        """The claim line of one row, or None when a cell is bad (each bad cell reported)."""
        values: dict[str, Any] = {}
        bad = False
        if len(cells) > len(self.columns):
            self.problems.append(ClaimsProblem(line, "", "more cells than the header has columns"))
            bad = True
        for column, read in COLUMNS.items():
            value = self.cell(cells, column)
            if not value:
                continue
            try:
                values[column] = read(value)
            except _Bad as exc:
                self.problems.append(ClaimsProblem(line, self._written(column), str(exc)))
                bad = True
        for column in REQUIRED:
            if not self.cell(cells, column):
                self.problems.append(
                    ClaimsProblem(line, self._written(column), "required, and empty in this row")
                )
                bad = True
        if not any(self.cell(cells, column) for column in WHICH_CASE):
            where = next(c for c in WHICH_CASE if c in self.columns)
            self.problems.append(
                ClaimsProblem(line, self._written(where), "say which case: its reference or the auth number")
            )
            bad = True
        if bad:
            return None
        return ClaimLine(
            line,
            values.get("case"),
            values.get("auth_number"),
            values["service_date"],
            values["units"],
            values.get("claim_id"),
            values.get("code"),
        )

    def _written(self, column: str) -> str:
        """The column's name as the header writes it."""
        return self.header[self.columns.index(column)] if column in self.columns else column


def _text_of(data: bytes) -> tuple[str | None, ClaimsProblem | None]:
    if len(data) > MAX_BYTES:
        return None, ClaimsProblem(1, "", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig"), None  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, ClaimsProblem(
            line, "", 'not UTF-8 text: in Excel, save as "CSV UTF-8 (Comma delimited)"'
        )


def read_claims(data: bytes) -> Claims:
    """Every good row of a claims CSV, every problem and every ignored column (docs/usage.md).

    Never raises for what is in the file: a file that cannot be read at all gives no lines and the
    problem that stops it (line 1 for the header).
    """
    text, problem = _text_of(data)
    if text is None:
        return Claims([], [problem] if problem else [], [])
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, None)
        if header is None or not any(h.strip() for h in header):
            return Claims([], [ClaimsProblem(1, "", "the file is empty: it needs a header row")], [])
        reader = _Reader(header)
        if not reader.usable:
            return Claims([], reader.problems, reader.notes)
        lines: list[ClaimLine] = []
        count = 0
        line = rows.line_num + 1  # where the next record starts: a quoted cell may span lines
        for cells in rows:
            start, line = line, rows.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            count += 1
            if count > MAX_ROWS:
                message = f"more than {MAX_ROWS:,} rows: split the file into smaller ones"
                return Claims([], [*reader.problems, ClaimsProblem(start, "", message)], reader.notes)
            found = reader.row(start, cells)
            if found is not None:
                lines.append(found)
    except csv.Error as exc:  # a NUL byte, a cell over the csv module's size limit
        return Claims([], [ClaimsProblem(rows.line_num, "", f"not a readable CSV file ({exc})")], [])
    return Claims(lines, reader.problems, reader.notes)
