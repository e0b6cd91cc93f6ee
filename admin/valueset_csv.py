"""Import a value set from a CSV file into a ruleset's text.

    codes, problems = read_csv(data)                 # the first column; a header row is skipped
    text = put_valueset(text, "lumbar_mri", codes, "lumbar.csv")

Each row's code must be a valid value-set entry (a code, `A-B` range, `X*` prefix); a bad row is
named by its line number and nothing is imported until every row is fixed. The value set is
written as a YAML block list under `valuesets:` (replacing one of the same name), leaving the rest
of the text, comments included, as it was. The result is saved like any edit: checked first.
"""

from __future__ import annotations

import csv
import io
import json
import re

from engine.valuesets import EntryError, parse_entry
from engine.yamlsafe import line_of, load_yaml

MAX_ROWS = 100_000
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,39}\*?")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_HEADERS = {"code", "codes", "value", "cpt", "hcpcs", "icd10", "icd-10", "icd-10-cm"}


def read_csv(data: bytes) -> tuple[list[str], list[str]]:
    """(codes in file order without repeats, problems naming their line)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["the file is not UTF-8 text: save it as UTF-8 CSV"]
    codes: list[str] = []
    seen: set[str] = set()
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text))
    for number, row in enumerate(reader, start=1):
        if number > MAX_ROWS:
            problems.append(f"the file has more than {MAX_ROWS:,} rows: split it")
            break
        cell = row[0].strip() if row else ""
        if not cell or (number == 1 and cell.lower() in _HEADERS):
            continue
        if not _CODE.fullmatch(cell):
            problems.append(
                f"line {number}: {cell[:40]!r} is not a code: use letters, digits, '.', '-' or a final '*'"
            )
            continue
        try:
            parse_entry(cell)
        except EntryError as exc:
            problems.append(f"line {number}: {exc.what}: {exc.fix}")
            continue
        if cell not in seen:
            seen.add(cell)
            codes.append(cell)
    if not codes and not problems:
        problems.append("the file holds no codes: put one code per row in the first column")
    return codes, problems


def put_valueset(text: str, name: str, codes: list[str], source: str) -> str:
    """The ruleset text with value set `name` set to `codes` (added, or replacing the old list)."""
    if not NAME.fullmatch(name):
        raise ValueError("a value set name is letters, digits and _ (like lumbar_mri)")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    block = [f"  {name}:  # {len(codes)} codes imported from {_comment(source)}\n"]
    block += [f"    - {json.dumps(code)}\n" for code in codes]
    doc = load_yaml(text, "<ruleset>")
    sets = doc.get("valuesets") if isinstance(doc, dict) else None
    if not isinstance(sets, dict):
        return "".join(lines) + "\nvaluesets:\n" + "".join(block)
    if name not in sets:
        at = line_of(doc, "valuesets") or 0  # insert right under `valuesets:`
        return "".join(lines[:at] + block + lines[at:])
    start = (line_of(sets, name) or 1) - 1
    end = _entry_end(doc, sets, name, len(lines))
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1  # blank lines and comments before the next entry belong to it
    return "".join(lines[:start] + block + lines[end:])


def _entry_end(doc: dict[str, object], sets: dict[str, object], name: str, total: int) -> int:
    """The index of the first line after value set `name`: the next entry, or the next top-level key."""
    start = line_of(sets, name) or 1
    following = [line_of(sets, k) or 0 for k in sets if (line_of(sets, k) or 0) > start]
    following += [line_of(doc, k) or 0 for k in doc if (line_of(doc, k) or 0) > start]
    return (min(following) - 1) if following else total


def _comment(source: str) -> str:
    return re.sub(r"[^A-Za-z0-9._ -]", "_", source)[:80] or "a CSV file"
