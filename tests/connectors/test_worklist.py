"""CSV worklists: each fixture file beside the cases, problems and decisions it must give.

tests/fixtures/worklists/<name>.csv is the input (synthetic), <name>.expected.json the options it is
read with, the exact (line, facts) of its good rows, the exact (line, column, message) problems and,
for each good row, the ruleset and auth the shipped rulesets decide.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.worklist import MAX_ROWS, WorklistProblem, read_worklist
from engine import Evaluator, load_forms, load_rulesets
from engine.facts import base_types, check_types, flatten

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "worklists"
WORKLISTS = sorted(p.stem for p in FIXTURES.glob("*.csv"))
TODAY = date(2026, 11, 20)
HEADER = "case_id,payer,plan_type,codes,service_date\n"


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    forms, problems = load_forms([ROOT / "forms"])
    rulesets, more = load_rulesets([ROOT / "rulesets"], forms)
    assert problems == more == []
    return Evaluator(rulesets, forms)


@pytest.mark.parametrize("name", WORKLISTS)
def test_each_worklist_gives_its_expected_cases_problems_and_decisions(
    name: str, evaluator: Evaluator
) -> None:
    want: dict[str, Any] = json.loads((FIXTURES / f"{name}.expected.json").read_text("utf-8"))
    worklist = read_worklist((FIXTURES / f"{name}.csv").read_bytes(), **want.get("options", {}))
    assert [[line, facts] for line, facts in worklist.cases] == want["cases"]
    assert [list(p) for p in worklist.problems] == want["problems"]
    decisions = []
    for line, facts in worklist.cases:
        assert check_types(flatten(facts), base_types()) == []
        decision = evaluator.evaluate(facts, TODAY)
        ruleset = decision["ruleset"]["id"] if decision["ruleset"] else None
        decisions.append({"line": line, "ruleset": ruleset, "auth": decision["auth"]})
    assert decisions == want["decisions"]


def test_every_good_row_of_the_good_worklist_reaches_a_ruleset() -> None:
    want = json.loads((FIXTURES / "good.expected.json").read_text("utf-8"))
    assert len(want["decisions"]) == 7
    assert all(d["ruleset"] for d in want["decisions"])


def test_bad_rows_are_named_and_the_good_rows_kept() -> None:
    worklist = read_worklist((FIXTURES / "bad-rows.csv").read_bytes())
    assert [line for line, _ in worklist.cases] == [2, 5, 11]
    assert sorted({p.line for p in worklist.problems if p.line > 1}) == [3, 4, 8, 9, 10]
    assert WorklistProblem(
        3, "ordering_npi", "not a valid NPI (10 digits ending in the right check digit)"
    ) in (worklist.problems)


def test_problems_never_hold_a_cells_value() -> None:
    data = (FIXTURES / "bad-rows.csv").read_bytes()
    worklist = read_worklist(data)
    said = " ".join(p.message for p in worklist.problems)
    for value in ("1975-02-30", "1234567890", "7214", "Ohio", "2026/12/01", "54.16", "ACME Health", "1/2/75"):
        assert value in data.decode("utf-8")
        assert value not in said


def test_a_worklist_of_more_than_the_row_limit_is_refused_whole() -> None:
    rows = "C-1,acme,commercial,72148,2026-12-01\n" * (MAX_ROWS + 1)
    worklist = read_worklist((HEADER + rows).encode("utf-8"))
    assert worklist.cases == []
    assert worklist.problems == [
        WorklistProblem(MAX_ROWS + 2, "", "more than 100,000 rows: split the worklist into smaller files")
    ]


def test_a_worklist_at_the_row_limit_is_read() -> None:
    rows = "C-1,acme,commercial,72148,2026-12-01\n" * MAX_ROWS
    worklist = read_worklist((HEADER + rows).encode("utf-8"))
    assert len(worklist.cases) == MAX_ROWS
    assert worklist.problems == []


def test_headers_are_matched_whatever_their_case_spaces_and_hyphens() -> None:
    worklist = read_worklist(b"CASE-ID, Payer ,Service  Date,CODES\nC-1,acme,12/01/2026,72148\n")
    assert worklist.cases == [
        (
            2,
            {
                "case_id": "C-1",
                "coverage": {"payer": "acme"},
                "service": {"date": "2026-12-01", "codes": ["72148"]},
            },
        )
    ]
    assert worklist.problems == []


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("72148", ["72148"]), ("97110;97140", ["97110", "97140"]), ("97110 ; 97140;", ["97110", "97140"]),
     ("e0601, a7034", ["E0601", "A7034"]), ("97110 97110", ["97110"])],
)  # fmt: skip
def test_codes_are_split_on_spaces_semicolons_and_commas(cell: str, expected: list[str]) -> None:
    worklist = read_worklist(f'payer,codes\nacme,"{cell}"\n'.encode())
    assert worklist.cases == [(2, {"coverage": {"payer": "acme"}, "service": {"codes": expected}})]


def test_a_place_of_service_that_lost_its_leading_zero_is_read_as_two_digits() -> None:
    worklist = read_worklist(b"payer,codes,place_of_service\nacme,72148,2\n")
    assert worklist.cases[0][1]["service"]["place_of_service"] == "02"


def test_a_patient_name_is_kept_as_written_and_one_too_long_is_a_bad_cell_naming_its_column() -> None:
    data = (FIXTURES / "patient-name.csv").read_bytes()
    worklist = read_worklist(data)
    names = {line: facts["patient"].get("name") for line, facts in worklist.cases}
    assert names == {2: "Rivera, Sam", 4: "Doe, Jane Q", 5: None}
    assert worklist.problems == [
        WorklistProblem(3, "Patient Name", "longer than 200 characters: write Family, Given only")
    ]
    assert "Rivera-" not in " ".join(p.message for p in worklist.problems)
