"""Claims CSV files: good rows kept, bad rows named by line and column, the header checked once."""

from __future__ import annotations

from datetime import date

import pytest

from connectors import claims
from connectors.claims import ClaimLine, ClaimsProblem, read_claims

HEADER = "case,auth_number,service_date,units,claim_id,code\n"


def _read(text: str) -> claims.Claims:
    return read_claims(text.encode("utf-8"))


def test_good_rows_are_read_with_their_lines_and_normalized() -> None:
    found = _read(
        HEADER
        + "pa-abcd2345,,2026-03-02,2,C-1,97110\n"
        + ",ACME123,03/04/2026,1,,g0283\n"
        + "\n"  # blank lines are skipped, and still counted for the line numbers
        + "PA-WXYZ7890,A-9,2026-03-05,12,C-2/1,\n"
    )
    assert found.problems == [] and found.notes == []
    assert found.lines == [
        ClaimLine(2, "PA-ABCD2345", None, date(2026, 3, 2), 2, "C-1", "97110"),
        ClaimLine(3, None, "ACME123", date(2026, 3, 4), 1, None, "G0283"),
        ClaimLine(5, "PA-WXYZ7890", "A-9", date(2026, 3, 5), 12, "C-2/1", None),
    ]


def test_bad_rows_are_named_by_line_and_column_and_the_good_rows_kept() -> None:
    found = _read(
        "Case,Service Date,Units,Claim ID\n"
        "PA-ABCD2345,2026-03-02,2,C-1\n"
        "PA-1,2026-02-30,0,C 2\n"
        ",2026-03-02,1,C-3\n"
        "PA-ABCD2345,,1.5,C-4\n"
        "PA-ABCD2345,2026-03-03,1,C-5,extra\n"
        "PA-ABCD2345,2026-03-04,999999,C-6\n"
        "PA-ABCD2345,2026-03-05,3,C-7\n"
    )
    assert [line.line for line in found.lines] == [2, 8]
    assert found.problems == [
        ClaimsProblem(
            3, "Case", "not a priorauth case reference (PA- and 8 letters or digits, as the case page shows)"
        ),
        ClaimsProblem(3, "Service Date", "not a date: write YYYY-MM-DD"),
        ClaimsProblem(3, "Units", "must be a whole number above 0 (units or visits on this line)"),
        ClaimsProblem(3, "Claim ID", "a claim id is 1 to 64 letters, digits or marks, without spaces"),
        ClaimsProblem(4, "Case", "say which case: its reference or the auth number"),
        ClaimsProblem(5, "Units", "must be a whole number above 0 (units or visits on this line)"),
        ClaimsProblem(5, "Service Date", "required, and empty in this row"),
        ClaimsProblem(6, "", "more cells than the header has columns"),
        ClaimsProblem(7, "Units", "more than 100,000 units on one line: check the number"),
    ]


def test_messages_never_repeat_a_cells_value() -> None:
    found = _read(HEADER + "PA-SECRET99X,,not-a-date,lots,,\n")
    assert found.lines == []
    assert all("SECRET" not in p.message and "lots" not in p.message for p in found.problems)


def test_a_byte_order_mark_is_not_part_of_the_first_columns_name() -> None:
    found = read_claims(b"\xef\xbb\xbf" + HEADER.encode() + b"PA-ABCD2345,,2026-03-02,2,,\n")
    assert found.problems == [] and [line.case for line in found.lines] == ["PA-ABCD2345"]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("", [ClaimsProblem(1, "", "the file is empty: it needs a header row")]),
        (
            "case,units\nPA-ABCD2345,2\n",
            [ClaimsProblem(1, "service_date", "required column missing: add it to the header row")],
        ),
        (
            "patient,service_date,units\nx,2026-03-02,2\n",
            [ClaimsProblem(1, "case", "no column names the case: add `case` (PA-...) or `auth_number`")],
        ),
        (
            "case,units,service_date,Units\nPA-ABCD2345,2,2026-03-02,3\n",
            [ClaimsProblem(1, "Units", "this column is named twice: keep one")],
        ),
    ],
)
def test_a_header_that_cannot_be_read_imports_nothing_and_says_why(
    text: str, problems: list[ClaimsProblem]
) -> None:
    found = _read(text)
    assert found.lines == [] and found.problems == problems


def test_an_unknown_column_is_noted_once_and_ignored() -> None:
    found = _read("case,service_date,units,notes,notes,\nPA-ABCD2345,2026-03-02,2,hi,there,x\n")
    assert found.problems == [] and len(found.lines) == 1
    assert found.notes == [
        ClaimsProblem(1, "notes", "unknown column: ignored (docs/usage.md lists the columns)"),
        ClaimsProblem(1, "", "a column without a name: ignored"),
    ]


def test_a_file_that_is_not_utf8_names_the_line() -> None:
    found = read_claims(HEADER.encode() + b"PA-ABCD2345,,2026-03-02,2,\xff,\n")
    assert found.lines == []
    assert found.problems == [
        ClaimsProblem(2, "", 'not UTF-8 text: in Excel, save as "CSV UTF-8 (Comma delimited)"')
    ]


def test_size_and_row_count_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claims, "MAX_BYTES", 100)
    assert _read(HEADER + "x" * 100).problems == [ClaimsProblem(1, "", "the file is larger than 0 MiB")]
    monkeypatch.setattr(claims, "MAX_BYTES", 10_000)
    monkeypatch.setattr(claims, "MAX_ROWS", 2)
    found = _read(HEADER + "PA-ABCD2345,,2026-03-02,1,,\n" * 3)
    assert found.lines == []
    assert found.problems == [ClaimsProblem(4, "", "more than 2 rows: split the file into smaller ones")]


def test_a_control_character_in_a_cell_is_a_bad_cell_not_a_crash() -> None:
    found = read_claims(HEADER.encode() + b"PA-ABCD2345,,2026-03-02,1,\x00,\n")
    assert found.lines == []
    assert found.problems == [
        ClaimsProblem(2, "claim_id", "a claim id is 1 to 64 letters, digits or marks, without spaces")
    ]
