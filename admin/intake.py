"""Case facts from a file, whatever kind it is: a FHIR R4 Bundle, a worklist CSV, or a case's facts
as JSON. The command line (`priorauth cases import`) and the import page both read files here.

    read = read_file("worklist.csv", data, payer_ids={"ACME Health": "acme"})
    for where, facts in read.cases: ...      # where: "worklist.csv:3" (the row's line)
    read.errors    # what stopped a case, each with where: "worklist.csv:3:codes: required, ..."
    read.warnings  # what was read but not used (FHIR elements priorauth does not map)

A bundle with any error makes no case; a worklist keeps its good rows. Messages name a path, a
line or a column, never a value from the file (it is patient data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 10 * 1024 * 1024


@dataclass(slots=True)
class Read:
    cases: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_file(name: str, data: bytes, *, payer_ids: Mapping[str, str] | None = None) -> Read:
    read = Read()
    if len(data) > MAX_BYTES:
        read.errors.append(f"{name}: the file is over {MAX_BYTES // (1024 * 1024)} MiB")
        return read
    if name.lower().endswith(".csv"):
        from connectors.worklist import read_worklist

        sheet = read_worklist(data, payer_ids=payer_ids)
        read.cases = [(f"{name}:{line}", facts) for line, facts in sheet.cases]
        read.errors = [
            f"{name}:{line}:{column}: {message}" if column else f"{name}:{line}: {message}"
            for line, column, message in sheet.problems
        ]
        return read
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        if isinstance(exc, json.JSONDecodeError):
            read.errors.append(f"{name}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}): fix the file")
        else:
            read.errors.append(f"{name}: not UTF-8 text: a case file is JSON, a worklist is .csv")
        return read
    if isinstance(parsed, dict) and parsed.get("resourceType") == "Bundle":
        from connectors.fhir.intake import bundle_to_facts

        intake = bundle_to_facts(data, payer_ids=payer_ids)  # its own strict reading (duplicate keys)
        read.errors = [f"{name}: {p.path}: {p.message}" for p in intake.problems if p.severity == "error"]
        read.warnings = [
            f"{name}: {p.path}: {p.message} (not imported)" for p in intake.problems if p.severity != "error"
        ]
        if not read.errors:
            read.cases = [(name, intake.facts)]
        return read
    if not isinstance(parsed, dict):
        read.errors.append(f"{name}: a case is a JSON object of facts (or a FHIR Bundle)")
        return read
    read.cases = [(name, parsed)]
    return read
