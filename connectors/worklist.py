"""A coordinator's CSV worklist made into case facts: bad rows named, good rows kept.

    worklist = read_worklist(data, payer_ids={"ACME Health": "acme"})
    for line, facts in worklist.cases: ...            # one case per good row
    for line, column, message in worklist.problems: ...

The first row names the columns (docs/intake.md lists them); case, spaces and hyphens in a column's
name do not matter. A row with any bad cell is left out, and each bad cell is named by its line and
column; the other rows are kept. Messages name the column, never the cell's value (it may be PHI).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from connectors.fhir.intake import MAX_NAME, PRIORITY, US_STATES, billing_code, icd10cm, valid_npi
from engine.facts import MAX_NUMBER, URGENCIES
from engine.rulesets import SLUG

MAX_ROWS = 100_000
MAX_BYTES = 64 * 1024 * 1024  # far above 100,000 rows of worklist: only a wrong file is refused

_SPLIT = re.compile(r"[\s;,]+")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_MODIFIER = re.compile(r"[0-9A-Z]{2}")
SEX = {"f": "F", "female": "F", "m": "M", "male": "M", "o": "O", "other": "O", "u": "U", "unknown": "U"}


class WorklistProblem(NamedTuple):
    """Where (line of the file, column as its header writes it) and what is wrong."""

    line: int
    column: str
    message: str


@dataclass(frozen=True, slots=True)
class Worklist:
    """The good rows as (line, case facts) and every problem found."""

    cases: list[tuple[int, dict[str, Any]]]
    problems: list[WorklistProblem]


class _Bad(ValueError):
    """A cell that cannot be read; the message says what to write instead."""


# -- cells ------------------------------------------------------------------------------------------
def _text(value: str) -> str:
    return value


def _name(value: str) -> str:
    """A patient's name, "Family, Given", as written (runs of spaces made one)."""
    name = " ".join(value.split())
    if len(name) > MAX_NAME:
        raise _Bad(f"longer than {MAX_NAME} characters: write Family, Given only")
    return name


def _date(value: str) -> str:
    us = _US_DATE.fullmatch(value)  # what Excel writes in the United States
    try:
        if us:
            return date(int(us[3]), int(us[1]), int(us[2])).isoformat()
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise _Bad("not a date: write YYYY-MM-DD or MM/DD/YYYY")


def _sex(value: str) -> str:
    if value.lower() not in SEX:
        raise _Bad("must be F, M, O or U")
    return SEX[value.lower()]


def _state(value: str) -> str:
    if value.upper() not in US_STATES:
        raise _Bad("not a two-letter US state code")
    return value.upper()


def _word(value: str) -> str:
    """A lowercase id such as `commercial` or `hospital-outpatient` (`Medicare Advantage` is taken)."""
    word = re.sub(r"[\s_]+", "-", value.lower())
    if not SLUG.fullmatch(word):
        raise _Bad("write a lowercase word such as commercial (letters, digits and -)")
    return word


def _items(value: str) -> list[str]:
    """The codes of a cell: separated by spaces, semicolons or commas."""
    return [item for item in _SPLIT.split(value) if item]


def _codes(value: str) -> list[str]:
    out: list[str] = []
    for n, item in enumerate(_items(value), 1):
        code = billing_code(item)
        if code is None:
            raise _Bad(
                f"code {n} is not a CPT or HCPCS code (CPT: 5 digits, or 4 digits and F, T or U; "
                "HCPCS: a letter A-V and 4 digits)"
            )
        if code not in out:
            out.append(code)
    return out


def _modifiers(value: str) -> list[str]:
    out = [m.upper() for m in _items(value)]
    if not all(_MODIFIER.fullmatch(m) for m in out):
        raise _Bad("a modifier is two letters or digits (25, LT, RT)")
    return out


def _diagnoses(value: str) -> list[str]:
    out: list[str] = []
    for n, item in enumerate(_items(value), 1):
        code = icd10cm(item)
        if code is None:
            raise _Bad(
                f"diagnosis {n} is not an ICD-10-CM code (a letter, 2 characters, then up to 4 after a dot)"
            )
        if code not in out:
            out.append(code)
    return out


def _units(value: str) -> int | float:
    try:
        number = float(value)
    except ValueError:
        raise _Bad("not a number") from None
    if not 0 < number <= MAX_NUMBER:
        raise _Bad("must be a positive number")
    return int(number) if number.is_integer() else number


def _urgency(value: str) -> str:
    word = PRIORITY.get(value.lower(), value.lower())  # the FHIR priorities read the same here
    if word not in URGENCIES:
        raise _Bad("must be standard, expedited or emergency")
    return word


def _npi(value: str) -> str:
    if not valid_npi(value):
        raise _Bad("not a valid NPI (10 digits ending in the right check digit)")
    return value


def _place(value: str) -> str:
    # spreadsheets drop the leading zero of "02" (telehealth): one digit is read as its two-digit code
    if not (value.isdigit() and value.isascii() and len(value) <= 2):
        raise _Bad("must be a two-digit place-of-service code")
    return value.zfill(2)


#: column -> (fact path, reader of a non-empty cell)
COLUMNS: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "case_id": (("case_id",), _text),
    "patient_id": (("patient", "id"), _text),
    "patient_name": (("patient", "name"), _name),  # for the payer's form and fax matching, not for rules
    "birth_date": (("patient", "birth_date"), _date),
    "sex": (("patient", "sex"), _sex),
    "state": (("patient", "state"), _state),
    "payer": (("coverage", "payer"), _text),  # read by _Reader.payer, with the payer table
    "plan_type": (("coverage", "plan_type"), _word),
    "product": (("coverage", "product"), _text),
    "member_id": (("coverage", "member_id"), _text),
    "group": (("coverage", "group"), _text),
    "eligibility": (("coverage", "eligibility"), _word),
    "codes": (("service", "codes"), _codes),
    "modifiers": (("service", "modifiers"), _modifiers),
    "units": (("service", "units"), _units),
    "service_date": (("service", "date"), _date),
    "place_of_service": (("service", "place_of_service"), _place),
    "site_of_care": (("service", "site_of_care"), _word),
    "urgency": (("urgency",), _urgency),
    "diagnoses": (("diagnoses",), _diagnoses),
    "ordering_npi": (("providers", "ordering", "npi"), _npi),
    "ordering_name": (("providers", "ordering", "name"), _text),
    "rendering_npi": (("providers", "rendering", "npi"), _npi),
    "facility_npi": (("providers", "facility", "npi"), _npi),
}
REQUIRED = ("payer", "codes")


def _column(header: str) -> str:
    return re.sub(r"[\s-]+", "_", header.strip().lower())


# -- rows -------------------------------------------------------------------------------------------
class _Reader:
    def __init__(self, header: list[str], payer_ids: Mapping[str, str]) -> None:
        self.payer_ids = {" ".join(k.split()).casefold(): v for k, v in payer_ids.items()}
        self.header = header
        self.columns = [_column(h) for h in header]
        self.problems: list[WorklistProblem] = []
        self.usable = True  # False when no row can be read: a required column missing or named twice
        seen: set[str] = set()
        for written, column in zip(header, self.columns, strict=True):
            if column in seen:
                if column in COLUMNS:  # which of the two cells would be meant cannot be told
                    self.problems.append(WorklistProblem(1, written, "this column is named twice: keep one"))
                    self.usable = False
                continue  # an unknown column is reported once
            seen.add(column)
            if not column:
                self.problems.append(WorklistProblem(1, "", "a column without a name: ignored"))
            elif column not in COLUMNS:
                self.problems.append(
                    WorklistProblem(1, written, "unknown column: ignored (docs/intake.md lists the columns)")
                )
        for column in REQUIRED:
            if column not in seen:
                self.problems.append(
                    WorklistProblem(1, column, "required column missing: add it to the header row")
                )
                self.usable = False

    def payer(self, value: str) -> str:
        mapped = self.payer_ids.get(" ".join(value.split()).casefold())
        if mapped is not None:
            return mapped
        if not SLUG.fullmatch(value.lower()):
            raise _Bad(
                "not a priorauth payer id (lowercase letters, digits and -): write the id or map the name"
            )
        return value.lower()

    def row(self, line: int, cells: list[str]) -> dict[str, Any] | None:
        """The facts of one row, or None when a cell is bad (each bad cell reported)."""
        facts: dict[str, Any] = {}
        bad = False
        if len(cells) > len(self.columns):
            self.problems.append(WorklistProblem(line, "", "more cells than the header has columns"))
            bad = True
        for written, column, cell in zip(self.header, self.columns, cells, strict=False):
            value = cell.strip()
            if column not in COLUMNS or not value:
                continue
            path, read = COLUMNS[column]
            try:
                parsed = self.payer(value) if column == "payer" else read(value)
            except _Bad as exc:
                self.problems.append(WorklistProblem(line, written, str(exc)))
                bad = True
                continue
            node = facts
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = parsed
        for column in REQUIRED:
            if column in self.columns and not _filled(cells, self.columns.index(column)):
                self.problems.append(
                    WorklistProblem(
                        line, self.header[self.columns.index(column)], "required, and empty in this row"
                    )
                )
                bad = True
        return None if bad else facts


def _filled(cells: list[str], index: int) -> bool:
    return index < len(cells) and bool(cells[index].strip())


def _text_of(data: bytes) -> tuple[str | None, WorklistProblem | None]:
    if len(data) > MAX_BYTES:
        return None, WorklistProblem(1, "", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig"), None  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, WorklistProblem(
            line, "", 'not UTF-8 text: in Excel, save as "CSV UTF-8 (Comma delimited)"'
        )


def read_worklist(data: bytes, *, payer_ids: Mapping[str, str] | None = None) -> Worklist:
    """Every good row of a CSV worklist as case facts, and every problem (docs/intake.md).

    `payer_ids` maps a payer's name, as coordinators write it, to its priorauth payer id (case and
    spacing do not matter); a payer cell that is not in it must be a priorauth payer id itself.
    """
    text, problem = _text_of(data)
    if text is None:
        return Worklist([], [problem] if problem else [])
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, None)
        if header is None or not any(h.strip() for h in header):
            return Worklist([], [WorklistProblem(1, "", "the worklist is empty: it needs a header row")])
        reader = _Reader(header, payer_ids or {})
        if not reader.usable:
            return Worklist([], reader.problems)
        cases: list[tuple[int, dict[str, Any]]] = []
        count = 0
        line = rows.line_num + 1  # where the next record starts: a quoted cell may span lines
        for cells in rows:
            start, line = line, rows.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            count += 1
            if count > MAX_ROWS:
                message = f"more than {MAX_ROWS:,} rows: split the worklist into smaller files"
                return Worklist([], [*reader.problems, WorklistProblem(start, "", message)])
            facts = reader.row(start, cells)
            if facts is not None:
                cases.append((start, facts))
    except csv.Error as exc:  # a NUL byte, a cell over the csv module's size limit
        return Worklist([], [WorklistProblem(rows.line_num, "", f"not a readable CSV file ({exc})")])
    return Worklist(cases, reader.problems)


def read_fields(
    fields: Mapping[str, str], *, payer_ids: Mapping[str, str] | None = None
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """One case typed into a page, by worklist column (`{"payer": "acme", "codes": "72148"}`): its
    facts, read exactly as a worklist row is, or None and every (column, problem)."""
    header = [name for name in fields if _column(name) in COLUMNS]
    reader = _Reader(header, payer_ids or {})
    facts = reader.row(2, [fields[name] for name in header]) if reader.usable else None
    problems = [(p.column, p.message) for p in reader.problems]
    return (facts if not problems else None), problems


def fields_of(facts: Mapping[str, Any]) -> dict[str, str]:
    """The inverse: a case's facts as the text of each worklist column (lists joined by commas)."""
    out: dict[str, str] = {}
    for column, (path, _read) in COLUMNS.items():
        node: Any = facts
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, list):
            out[column] = ", ".join(str(v) for v in node)
        elif node is not None and not isinstance(node, Mapping):
            out[column] = str(node)
    return out
