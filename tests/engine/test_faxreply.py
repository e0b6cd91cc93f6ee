"""Reading a payer's faxed reply (its OCR text) into a suggestion: letters, boilerplate, noise, bounds."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import faxreply, regexsafe
from engine.faxreply import Reply, read_reply

FAXES = Path(__file__).resolve().parents[1] / "fixtures" / "faxes"
EXPECTED = json.loads((FAXES / "expected.json").read_text(encoding="utf-8"))
TODAY = date(2026, 11, 20)


def _decision(text: str) -> str | None:
    return read_reply(text, today=TODAY).decision


def test_every_fixture_letter_has_its_expectations() -> None:
    assert sorted(EXPECTED) == sorted(path.name for path in FAXES.glob("*.txt"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_letter_reads_into_exactly_the_expected_reply(name: str) -> None:
    reply = read_reply((FAXES / name).read_text(encoding="utf-8"), today=TODAY)
    got = json.loads(json.dumps(dataclasses.asdict(reply)))  # tuples as lists, like the JSON
    assert got == EXPECTED[name]


@pytest.mark.parametrize(
    ("text", "decision"),
    [
        ("Your request has been approved.", "approved"),
        ("The services are certified for 12 visits.", "approved"),
        ("The service is medically necessary.", "approved"),
        ("The request was not approved.", "denied"),
        ("The request has not been authorized.", "denied"),
        ("The service was not found to be medically necessary.", "denied"),
        ("NOTICE OF ADVERSE DETERMINATION", "denied"),
        ("Request partially approved: 12 visits approved, 12 visits denied.", "partially-approved"),
        ("The request was approved with modifications.", "partially-approved"),
        ("Additional information is required.", "pended"),
        ("We need additional records from the treating provider.", "pended"),
        ("REQUEST FOR INFORMATION", "pended"),
        ("Your request is incomplete.", "pended"),
        # boilerplate decides nothing
        ("If approved, an authorization number will be faxed to you.", None),
        ("This is not a denial of coverage.", None),
        ("You may appeal this decision if denied.", None),
        ("If your request is denied, you have the right to an appeal.", None),
        ("Appeal rights: you may appeal a denied request within 180 days.", None),
        ("We check whether the service is medically necessary using InterQual.", None),
        ("An authorized representative may act for the member.", None),
        ("Only FDA-approved drugs are covered.", None),
        ("Approval does not guarantee payment.", None),
        ("Thank you for your request.", None),
        # words elsewhere must all agree
        ("Your request has been approved.\nThe service is denied.", None),
        ("Approved.\nIf denied, you may appeal.", "approved"),
        # a labelled line wins over words elsewhere, on its line or the next
        ("Status: Denied\nServices previously approved remain approved.", "denied"),
        ("Decision: Pending\nOnce approved, you will be notified.", "pended"),
        ("Determination\n\nNOT MEDICALLY NECESSARY\nThe member was approved before.", "denied"),
        ("Outcome: Approved\nAdditional information is required for the other request.", "approved"),
        ("Review outcome: adverse determination", "denied"),
        # labels that say nothing leave the words to decide; labels that disagree decide nothing
        ("Status: Received\nYour request has been denied.", "denied"),
        ("Status: Approved\nStatus: Denied", None),
        (
            "Decision: Partially approved\nLine 1 Status: Approved\nLine 2 Status: Denied",
            "partially-approved",
        ),
        # OCR noise in labels and words
        ("DETERMINATI0N : APPR0VED", "approved"),
        ("Decisi0n DEN1ED", "denied"),
        ("STATUS    pended", "pended"),
    ],
)
def test_the_decision_comes_from_labels_first_then_words_that_agree(text: str, decision: str | None) -> None:
    assert _decision(text) == decision


def test_a_decision_comes_with_the_lines_that_made_it() -> None:
    reply = read_reply("Your request has been approved.\nThe service is denied.", today=TODAY)
    assert reply.decision is None  # contradictory: the person sees both lines and why nothing was offered
    assert reply.evidence == (
        ("decision approved (word)", "Your request has been approved."),
        ("decision denied (word)", "The service is denied."),
    )


@pytest.mark.parametrize(
    "text",
    [
        "Re: PA-7KQ2M9XD",
        "Re: PA 7KQ2M9XD",
        "Re: PA-7KQ2 M9XD",
        "Re: pa-7kq2m9xd",
        "Re: PA7KQ2M9XD",
        "Re: PA – 7KQ2M9XD",
        "Your reference #: PA_7KQ2M9XD.",
        "Your reference: PA-7KQ2M9xXD",  # one glyph read twice, in two cases
        "Your reference: PA-7KQ2/M9XD",  # a speck read as a slash
        "Re: PA-7KQ2M9XD A new request",
    ],
)
def test_case_references_are_normalised_however_ocr_wrote_them(text: str) -> None:
    reply = read_reply(text, today=TODAY)
    assert reply.references == ("PA-7KQ2M9XD",)
    assert reply.payer_references == ()  # "Your reference" holds ours, not the payer's


@pytest.mark.parametrize(
    "text",
    [
        "PA-7KQ2M9X0",  # 0 is not in the alphabet (nor O, 1, I): references are read out on the phone
        "PA-7KQ2M9XDD",
        "Page 2 of 2",
        "Pittsburgh, PA 15213",
        "PA HEALTH CARE",
    ],
)
def test_things_that_only_look_like_references_are_not_references(text: str) -> None:
    assert read_reply(text, today=TODAY).references == ()


def test_references_come_first_seen_first_and_once() -> None:
    text = "Cases PA-WXYZ7893 and PA-7KQ2M9XD\nRe: pa wxyz7893"
    assert read_reply(text, today=TODAY).references == ("PA-WXYZ7893", "PA-7KQ2M9XD")


@pytest.mark.parametrize(
    ("text", "birth_dates"),
    [
        ("DOB: 03/02/1968", ("1968-03-02",)),
        ("DOB 3/2/68", ("1968-03-02",)),
        ("Date of birth: 1968-03-02", ("1968-03-02",)),
        ("Birth date: March 2, 1968", ("1968-03-02",)),
        ("Birthdate: Mar. 2nd, 1968", ("1968-03-02",)),
        ("D.O.B.: 2 Mar 1968", ("1968-03-02",)),
        ("D0B: O3/O2/l968", ("1968-03-02",)),  # OCR's O for 0 and l for 1
        ("Date of birth:\n03/02/1968", ("1968-03-02",)),  # the value on the next line
        ("DOB: 1/5/26", ("2026-01-05",)),  # up to this year's two digits: 20yy
        ("DOB: 1/5/27", ("1927-01-05",)),  # after them: 19yy (nobody is born in the future)
        ("DOB: 02/30/1968", ()),  # no such day: OCR misread it
        ("DOB: 03/02/2099", ()),
    ],
)
def test_birth_dates_come_out_as_iso_dates(text: str, birth_dates: tuple[str, ...]) -> None:
    assert read_reply(text, today=TODAY).birth_dates == birth_dates


def test_the_century_of_two_digit_birth_years_follows_today() -> None:
    assert read_reply("DOB: 1/5/29", today=date(2030, 1, 1)).birth_dates == ("2029-01-05",)
    assert read_reply("DOB: 1/5/29", today=TODAY).birth_dates == ("1929-01-05",)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("Valid from 12/01/2026 to 02/28/2027", "2026-12-01", "2027-02-28"),
        ("Approved dates: 12/01/26 - 02/28/27", "2026-12-01", "2027-02-28"),  # 20yy, not a birth date
        ("Effective December 1, 2026 through February 28, 2027", "2026-12-01", "2027-02-28"),
        ("Authorization period: 2026-12-01 thru 2027-02-28", "2026-12-01", "2027-02-28"),
        ("Approved dates:\n12/01/2026 – 02/28/2027", "2026-12-01", "2027-02-28"),
        ("Valid from' 12/01/2026. te 02/28/2027", "2026-12-01", "2027-02-28"),  # OCR's specks and "te"
        ("Effective 12/01/2026", "2026-12-01", None),
        ("This decision is effective immediately.", None, None),
    ],
)
def test_approved_dates_are_read_from_a_range(text: str, start: str | None, end: str | None) -> None:
    reply = read_reply(text, today=TODAY)
    assert (reply.approved_from, reply.approved_to) == (start, end)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("Approved units: 12", 12),
        ("Units approved: 12", 12),
        ("Requested: 24 visits. Visits approved: 8", 8),
        ("6 visits approved.", 6),
        ("Approved un1ts: l2", 12),
        ("Approved units: pending", None),
    ],
)
def test_approved_units(text: str, units: int | None) -> None:
    assert read_reply(text, today=TODAY).approved_units == units


def test_labelled_numbers_go_to_their_own_fields() -> None:
    text = (
        "Subscriber ID: W123-456  ID # 99887766\n"
        "Request ID: R-1  Tracking #: TRK-2  Case number: C 3\n"
        "Approval number: A-77\nCertification #: C-88\n"
        "Please quote the authorization number on your claims.\n"
        "Member Services: 1-800-555-0100"
    )
    reply = read_reply(text, today=TODAY)
    assert reply.member_ids == ("W123-456", "99887766")
    assert reply.payer_references == ("R-1", "TRK-2")  # "C 3": OCR split it; too short to trust
    assert reply.auth_number == "A-77"  # the first one; the evidence shows both
    assert ("authorization number C-88", "Certification #: C-88") in reply.evidence
    assert reply.names == ()  # "Member Services" is not a member's name


@pytest.mark.parametrize(
    "line",
    [
        "Member ID: XJH123456789",
        "Member ID; XJH123456789",  # OCR's colon lookalikes
        "Member ID! XJH123456789",
        "MemberlD XJH123456789",
        "Mamber ID: XJH123456789",  # a, e and o mixed up
        "Member ID: . XJH123456789",  # a speck before the value
        "MEMBER   ID   XJH123456789",
    ],
)
def test_labels_are_found_as_ocr_writes_them(line: str) -> None:
    assert read_reply(line, today=TODAY).member_ids == ("XJH123456789",)


def test_labels_without_colons_count_only_where_a_label_would_stand() -> None:
    reply = read_reply(
        "Member ID XJH123456789\nPatient name DOE, JANE\nthe member reason status", today=TODAY
    )
    assert (reply.member_ids, reply.names, reply.decision) == (("XJH123456789",), ("DOE, JANE",), None)


def test_a_name_stops_at_the_next_label_even_when_ocr_ate_its_colon() -> None:
    reply = read_reply("Patient name: DOE, JANE MemberID: XJH123456789 Provider: Dr Who", today=TODAY)
    assert (reply.names, reply.member_ids) == (("DOE, JANE",), ("XJH123456789",))


def test_a_form_read_in_two_columns_does_not_pair_a_label_with_the_next_label() -> None:
    # tesseract's page segmentation 3 reads a wide form as all its labels, then all its values
    reply = read_reply(
        "Member Name:\nMember ID:\nReason:\nReview Date:\n\nJANE DOE\nXJH123\nDENIED", today=TODAY
    )
    assert (reply.names, reply.member_ids, reply.denial_reason) == ((), (), None)
    assert reply.decision == "denied"  # the word alone, which nothing contradicts


def test_the_denial_reason_is_the_first_line_trimmed_and_only_on_a_denial() -> None:
    long = "x" * 400
    denial = read_reply(f"Decision: Denied\nReason:   {long}\nmore text", today=TODAY)
    assert denial.denial_reason == "x" * 300
    pend = read_reply("Status: Pended\nReason: records missing", today=TODAY)
    assert pend.denial_reason is None
    assert all(not what.startswith("denial reason") for what, _ in pend.evidence)


def test_evidence_lines_are_trimmed_to_160_characters() -> None:
    reply = read_reply("Determination:   APPROVED " + "y " * 200, today=TODAY)
    assert reply.decision == "approved"
    assert [len(line) for _, line in reply.evidence] == [160]


def test_a_reply_is_a_frozen_value() -> None:
    reply = read_reply("", today=TODAY)
    assert reply == Reply((), (), (), (), (), None, None, None, None, None, None, ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        reply.decision = "approved"  # type: ignore[misc]


def test_text_beyond_the_limit_is_not_read() -> None:
    text = " " * faxreply.MAX_TEXT + "Re: PA-7KQ2M9XD\nDecision: Approved"
    assert read_reply(text, today=TODAY) == read_reply("", today=TODAY)


def test_every_pattern_passes_the_nested_repeat_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regexsafe, "MAX_PATTERN", 10_000)  # ours are long, being generated tries
    patterns = {name: value for name, value in vars(faxreply).items() if isinstance(value, re.Pattern)}
    assert len(patterns) >= 10
    assert {name: regexsafe.problem(p.pattern) for name, p in patterns.items()} == dict.fromkeys(patterns)


@pytest.mark.parametrize(
    "text",
    [
        " " * 300_000,
        ":" * 300_000,
        "Member " * 40_000,
        "Member ID: " * 30_000,
        "Status:\n" * 100_000,
        "PA " * 100_000,
        "12/01/2026 - " * 30_000,
        "Patient: " + "Ab " * 100_000,
        "if approved denied pending " * 10_000,  # one 270,000-character clause
        "Reason: " * 30_000 + "\n" + "x" * 150_000,
    ],
    ids=lambda text: repr(text[:12]),
)
def test_hostile_text_is_read_in_bounded_time(text: str) -> None:
    # a guard against quadratic or exponential matching (seconds to hours), not a benchmark
    started = time.perf_counter()
    read_reply(text, today=TODAY)
    assert time.perf_counter() - started < 5


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            list("PA-7KQ2M9XD0Ol1 :#/.,\n\f\tStatus Member ID DOB denied approved if not")
        ),
        max_size=300,
    )
)
def test_any_text_gives_a_reply_and_never_an_error(text: str) -> None:
    reply = read_reply(text, today=TODAY)
    assert reply.decision in (None, *faxreply.DECISIONS)
    assert all(re.fullmatch(r"PA-[A-HJ-NP-Z2-9]{8}", reference) for reference in reply.references)
    assert all(len(line) <= 160 for _, line in reply.evidence)


def test_the_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(faxreply.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - {"__future__"} <= sys.stdlib_module_names
