"""The condition language, operator by operator (spec rulesets.md, "Conditions").

Every test evaluates one probe rule on both backends: the rule fires exactly when its `when` holds.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from engine import Evaluator, LoadError, load_form, load_ruleset

BACKENDS = ("durable", "compiled")
AS_OF = "2026-11-20"
TODAY = date(2026, 11, 20)

RULESET = """\
ruleset: probe
payer: acme
effective: {from: 2020-01-01}
facts:
  clinical.ahi: number
  clinical.weeks: integer
  clinical.smoker: boolean
  clinical.stage: string
  clinical.onset: date
  clinical.flags: [string]
valuesets:
  imaging: ["70551-70553", "72148-72158", "73721"]
  dme: ["E0600-E0699"]
  red_flag_dx: ["C79.51", "G83.4", "M46.2*"]
  plans: [commercial, medicare]
  facility_pos: ["19", "21-23"]
rules:
  - id: probe
    when: WHEN
    then: {auth: required}
"""

_evaluators: dict[tuple[str, str], Evaluator] = {}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def evaluator(when: str, backend: str) -> Evaluator:
    # one Evaluator per condition and backend: durable-rules registers a ruleset per runner
    key = (when, backend)
    if key not in _evaluators:
        _evaluators[key] = Evaluator(
            [load_ruleset(RULESET.replace("WHEN", when), "probe.yaml")], backend=backend
        )
    return _evaluators[key]


def case(**facts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"case_id": "C-1", "as_of": AS_OF, "coverage": {"payer": "acme"}}
    for key, value in facts.items():
        if key == "coverage":
            out["coverage"] = {**out["coverage"], **value}
        else:
            out[key] = value
    return out


def decide(backend: str, when: str, facts: dict[str, Any], today: date = TODAY) -> dict[str, Any]:
    return evaluator(when, backend).evaluate(facts, today=today)


def holds(backend: str, when: str, facts: dict[str, Any], today: date = TODAY) -> bool:
    """Whether the probe rule fired; its auth follows, so a decision and its explanation agree."""
    decision = decide(backend, when, facts, today)
    fired = [f["rule"] for f in decision["fired"]]
    assert decision["auth"] == ("required" if fired else "unknown")
    return fired == ["probe"]


def ahi(value: Any) -> dict[str, Any]:
    return case(clinical={"ahi": value})


def onset(value: str) -> dict[str, Any]:
    return case(clinical={"onset": value})


def docs(*items: dict[str, Any]) -> dict[str, Any]:
    return case(documents=[{"id": f"D{i + 1}", **item} for i, item in enumerate(items)])


NOTHING = case()


# -- comparisons ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [(15, True), (15.0, True), (16, False), (14.9, False)])
def test_eq_holds_only_for_an_equal_value(backend: str, value: float, expected: bool) -> None:
    assert holds(backend, "{clinical.ahi: {eq: 15}}", ahi(value)) is expected


@pytest.mark.parametrize(("value", "expected"), [(16, True), (14, True), (15, False)])
def test_ne_holds_for_any_other_value(backend: str, value: float, expected: bool) -> None:
    assert holds(backend, "{clinical.ahi: {ne: 15}}", ahi(value)) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("lt", 14, True),
        ("lt", 15, False),
        ("lt", 16, False),
        ("lte", 14, True),
        ("lte", 15, True),
        ("lte", 16, False),
        ("gt", 14, False),
        ("gt", 15, False),
        ("gt", 16, True),
        ("gte", 14, False),
        ("gte", 15, True),
        ("gte", 16, True),
    ],
)
def test_ordering_operators_compare_numbers_with_their_boundary(
    backend: str, op: str, value: float, expected: bool
) -> None:
    assert holds(backend, f"{{clinical.ahi: {{{op}: 15}}}}", ahi(value)) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [(5, True), (10, True), (15, True), (4.9, False), (15.1, False)]
)
def test_between_includes_both_bounds(backend: str, value: float, expected: bool) -> None:
    assert holds(backend, "{clinical.ahi: {between: [5, 15]}}", ahi(value)) is expected


# -- membership ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("when", "plan", "expected"),
    [
        ("{coverage.plan_type: {in: [commercial, employer-group]}}", "employer-group", True),
        ("{coverage.plan_type: {in: [commercial, employer-group]}}", "medicaid", False),
        ("{coverage.plan_type: {in: plans}}", "commercial", True),
        ("{coverage.plan_type: {in: plans}}", "medicaid", False),
    ],
)
def test_in_tests_a_scalar_against_a_list_or_a_value_set(
    backend: str, when: str, plan: str, expected: bool
) -> None:
    assert holds(backend, when, case(coverage={"plan_type": plan})) is expected


@pytest.mark.parametrize(
    ("pos", "expected"), [("19", True), ("21", True), ("23", True), ("20", False), ("24", False)]
)
def test_in_a_value_set_with_a_range_holds_inside_the_range(backend: str, pos: str, expected: bool) -> None:
    facts = case(service={"place_of_service": pos})
    assert holds(backend, "{service.place_of_service: {in: facility_pos}}", facts) is expected


@pytest.mark.parametrize(
    ("when", "plan", "expected"),
    [
        ("{coverage.plan_type: {not_in: [medicaid, medicare]}}", "commercial", True),
        ("{coverage.plan_type: {not_in: [medicaid, medicare]}}", "medicare", False),
        ("{coverage.plan_type: {not_in: plans}}", "medicaid", True),
        ("{coverage.plan_type: {not_in: plans}}", "commercial", False),
    ],
)
def test_not_in_holds_for_a_scalar_outside_the_list(
    backend: str, when: str, plan: str, expected: bool
) -> None:
    assert holds(backend, when, case(coverage={"plan_type": plan})) is expected


@pytest.mark.parametrize(
    ("codes", "expected"),
    [(["99213", "72148"], True), (["73721"], True), (["99213"], False), ([], False)],
)
def test_any_in_holds_when_the_list_shares_a_value(backend: str, codes: list[str], expected: bool) -> None:
    when = '{service.codes: {any_in: ["72148", "73721"]}}'
    assert holds(backend, when, case(service={"codes": codes})) is expected


@pytest.mark.parametrize(
    ("dx", "expected"),
    [
        (["M54.50"], True),
        (["M54.50", "M51.16"], True),
        (["M54.50", "C79.51"], False),
        ([], False),
    ],
)
def test_all_in_holds_when_the_list_is_a_non_empty_subset(
    backend: str, dx: list[str], expected: bool
) -> None:
    when = '{diagnoses: {all_in: ["M54.50", "M51.16"]}}'
    assert holds(backend, when, case(diagnoses=dx)) is expected


@pytest.mark.parametrize(
    ("dx", "expected"),
    [(["M54.50"], True), ([], True), (["M54.50", "C79.51"], False), (["M46.21"], False)],
)
def test_none_in_holds_when_the_list_shares_no_value(backend: str, dx: list[str], expected: bool) -> None:
    assert holds(backend, "{diagnoses: {none_in: red_flag_dx}}", case(diagnoses=dx)) is expected


def test_a_membership_operator_on_the_wrong_kind_of_fact_is_a_load_error() -> None:
    for when in (
        "{diagnoses: {in: [M54.50]}}",
        "{diagnoses: {not_in: [M54.50]}}",
        "{coverage.plan_type: {any_in: [commercial]}}",
        "{coverage.plan_type: {all_in: [commercial]}}",
        "{coverage.plan_type: {none_in: [commercial]}}",
    ):
        with pytest.raises(LoadError):
            load_ruleset(RULESET.replace("WHEN", when), "probe.yaml")


@pytest.mark.parametrize(
    "when",
    [
        '{diagnoses: {prefix: "M54"}}',
        '{diagnoses: {matches: "M54.*"}}',
        '{clinical.ahi: {prefix: "1"}}',
        "{clinical.stage: {within_days: 60}}",
        "{clinical.stage: {older_than_days: 60}}",
    ],
)
def test_string_and_date_operators_on_the_wrong_kind_of_fact_are_load_errors(when: str) -> None:
    with pytest.raises(LoadError):
        load_ruleset(RULESET.replace("WHEN", when), "probe.yaml")


# -- exists, matches, prefix ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("when", "facts", "expected"),
    [
        ("{clinical.ahi: {exists: true}}", ahi(0), True),
        ("{clinical.ahi: {exists: true}}", NOTHING, False),
        ("{clinical.ahi: {exists: true}}", ahi(None), False),
        ("{clinical.ahi: {exists: false}}", ahi(0), False),
        ("{clinical.ahi: {exists: false}}", NOTHING, True),
        ("{clinical.ahi: {exists: false}}", ahi(None), True),
    ],
    ids=["true-present", "true-missing", "true-null", "false-present", "false-missing", "false-null"],
)
def test_exists_tests_presence_and_treats_null_as_missing(
    backend: str, when: str, facts: dict[str, Any], expected: bool
) -> None:
    assert holds(backend, when, facts) is expected


@pytest.mark.parametrize(
    ("state", "expected"), [("OH", True), ("OK", True), ("OHIO", False), ("XOH", False), ("oh", False)]
)
def test_matches_is_a_full_match_regular_expression(backend: str, state: str, expected: bool) -> None:
    assert holds(backend, '{patient.state: {matches: "O[HK]"}}', case(patient={"state": state})) is expected


def test_matches_refuses_a_pattern_over_200_characters() -> None:
    load_ruleset(RULESET.replace("WHEN", '{patient.state: {matches: "' + "a" * 200 + '"}}'), "p.yaml")
    with pytest.raises(LoadError):
        load_ruleset(RULESET.replace("WHEN", '{patient.state: {matches: "' + "a" * 201 + '"}}'), "p.yaml")


@pytest.mark.parametrize(
    ("npi", "expected"), [("1234567893", True), ("123", True), ("9123456789", False), ("12", False)]
)
def test_prefix_tests_the_start_of_a_string(backend: str, npi: str, expected: bool) -> None:
    facts = case(providers={"ordering": {"npi": npi}})
    assert holds(backend, '{providers.ordering.npi: {prefix: "123"}}', facts) is expected


# -- days ----------------------------------------------------------------------------------------------
# as_of 2026-11-20 minus 60 days is 2026-09-21
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-09-21", True),  # exactly as_of - 60 days
        ("2026-09-20", False),
        ("2026-11-20", True),
        ("2026-12-25", True),  # after as_of holds too
        ("2025-11-20", False),
    ],
)
def test_within_days_holds_on_or_after_as_of_minus_n_days(backend: str, day: str, expected: bool) -> None:
    assert holds(backend, "{clinical.onset: {within_days: 60}}", onset(day)) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-09-20", True),
        ("2025-01-01", True),
        ("2026-09-21", False),
        ("2026-11-20", False),
        ("2026-12-25", False),
    ],
)
def test_older_than_days_holds_only_before_as_of_minus_n_days(backend: str, day: str, expected: bool) -> None:
    assert holds(backend, "{clinical.onset: {older_than_days: 60}}", onset(day)) is expected


def test_within_days_counts_from_as_of_and_not_from_today(backend: str) -> None:
    facts = case(clinical={"onset": "2026-09-21"})
    assert holds(backend, "{clinical.onset: {within_days: 60}}", facts, today=date(2027, 6, 1)) is True


def test_within_days_counts_from_today_when_the_case_has_no_as_of(backend: str) -> None:
    facts = case(clinical={"onset": "2026-09-21"})
    del facts["as_of"]
    assert holds(backend, "{clinical.onset: {within_days: 60}}", facts, today=date(2026, 11, 20)) is True
    assert holds(backend, "{clinical.onset: {within_days: 60}}", facts, today=date(2026, 11, 21)) is False


@pytest.mark.parametrize(
    ("when", "day", "expected"),
    [
        ("{documents: {some: {date: {within_days: 60}}}}", "2026-09-21", True),
        ("{documents: {some: {date: {within_days: 60}}}}", "2026-09-20", False),
        ("{documents: {some: {date: {older_than_days: 60}}}}", "2026-09-20", True),
        ("{documents: {some: {date: {older_than_days: 60}}}}", "2026-09-21", False),
    ],
)
def test_day_operators_work_on_document_dates(backend: str, when: str, day: str, expected: bool) -> None:
    assert holds(backend, when, docs({"type": "clinical-note", "date": day})) is expected


# -- lists of records ------------------------------------------------------------------------------------
ORDER = {"type": "order"}
NOTE = {"type": "clinical-note"}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [(docs(NOTE, ORDER), True), (docs(NOTE), False), (docs(), False), (NOTHING, False)],
    ids=["one-matches", "none-match", "empty", "missing"],
)
def test_some_holds_when_one_document_matches(backend: str, facts: dict[str, Any], expected: bool) -> None:
    assert holds(backend, "{documents: {some: {type: order}}}", facts) is expected


@pytest.mark.parametrize(
    ("facts", "expected"),
    [(docs(NOTE), True), (docs(NOTE, ORDER), False), (docs(), True), (NOTHING, True)],
    ids=["none-match", "one-matches", "empty", "missing"],
)
def test_none_holds_when_no_document_matches(backend: str, facts: dict[str, Any], expected: bool) -> None:
    assert holds(backend, "{documents: {none: {type: order}}}", facts) is expected


@pytest.mark.parametrize(
    ("facts", "expected"),
    [(docs(ORDER, ORDER), True), (docs(ORDER, NOTE), False), (docs(), False), (NOTHING, False)],
    ids=["all-match", "one-differs", "empty", "missing"],
)
def test_every_holds_when_all_documents_match_and_is_false_on_an_empty_list(
    backend: str, facts: dict[str, Any], expected: bool
) -> None:
    assert holds(backend, "{documents: {every: {type: order}}}", facts) is expected


@pytest.mark.parametrize(
    ("when", "facts", "expected"),
    [
        ("{documents: {count: {gte: 2}}}", docs(NOTE, ORDER), True),
        ("{documents: {count: {gte: 2}}}", docs(NOTE), False),
        ("{documents: {count: 1}}", docs(NOTE), True),
        ("{documents: {count: 1}}", docs(NOTE, NOTE), False),
        ("{documents: {some: {type: order}, count: {gte: 2}}}", docs(ORDER, NOTE, ORDER), True),
        ("{documents: {some: {type: order}, count: {gte: 2}}}", docs(ORDER, NOTE, NOTE), False),
        ("{documents: {some: {type: order}, count: 0}}", docs(NOTE, NOTE), True),
        ("{documents: {count: 0}}", NOTHING, True),
        ("{documents: {count: {lt: 1}}}", NOTHING, True),
        ("{documents: {count: {gte: 1}}}", NOTHING, False),
        ("{documents: {some: {type: order}, count: 0}}", NOTHING, True),
    ],
    ids=[
        "all-gte-2",
        "all-gte-2-short",
        "bare-number",
        "bare-number-off",
        "matching-some",
        "matching-some-short",
        "no-match-counts-0",
        "missing-counts-0",
        "missing-lt-1",
        "missing-gte-1",
        "missing-with-some-counts-0",
    ],
)
def test_count_counts_documents_matching_some_and_a_missing_list_counts_zero(
    backend: str, when: str, facts: dict[str, Any], expected: bool
) -> None:
    assert holds(backend, when, facts) is expected


def test_some_tests_all_fields_of_one_document_together(backend: str) -> None:
    when = "{documents: {some: {type: clinical-note, date: {within_days: 60}}}}"
    # a recent order and an old note: no single document is a recent note
    split = docs({"type": "order", "date": "2026-11-01"}, {"type": "clinical-note", "date": "2025-01-01"})
    assert holds(backend, when, split) is False
    assert holds(backend, when, docs({"type": "clinical-note", "date": "2026-11-01"})) is True


# -- combining conditions -----------------------------------------------------------------------------
NESTED = "{all: [{clinical.ahi: {gte: 5}}, {any: [{clinical.stage: early}, {not: {clinical.smoker: true}}]}]}"


@pytest.mark.parametrize(
    ("clinical", "expected"),
    [
        ({"ahi": 10, "stage": "late", "smoker": False}, True),
        ({"ahi": 10, "stage": "late", "smoker": True}, False),
        ({"ahi": 10, "stage": "early", "smoker": True}, True),
        ({"ahi": 4, "stage": "early", "smoker": False}, False),
        ({"ahi": 10, "stage": "late"}, True),  # smoker missing: `smoker: true` fails, `not` inverts it
    ],
)
def test_all_any_and_not_nest(backend: str, clinical: dict[str, Any], expected: bool) -> None:
    assert holds(backend, NESTED, case(clinical=clinical)) is expected


@pytest.mark.parametrize(
    ("clinical", "expected"),
    [
        ({"ahi": 10, "stage": "early"}, True),
        ({"ahi": 10, "stage": "late"}, False),
        ({"ahi": 4, "stage": "early"}, False),
    ],
)
def test_a_mapping_of_several_paths_is_an_and(backend: str, clinical: dict[str, Any], expected: bool) -> None:
    assert (
        holds(backend, "{clinical.ahi: {gte: 5}, clinical.stage: early}", case(clinical=clinical)) is expected
    )


@pytest.mark.parametrize(("value", "expected"), [(5, True), (14.9, True), (15, False), (4, False)])
def test_several_operators_on_one_path_are_an_and(backend: str, value: float, expected: bool) -> None:
    assert holds(backend, "{clinical.ahi: {gte: 5, lt: 15}}", ahi(value)) is expected


@pytest.mark.parametrize(
    ("when", "facts", "expected"),
    [
        ("{clinical.stage: early}", case(clinical={"stage": "early"}), True),
        ("{clinical.stage: early}", case(clinical={"stage": "earlier"}), False),
        ("{clinical.ahi: 15}", ahi(15), True),
        ("{clinical.ahi: 15}", ahi(15.5), False),
        ("{clinical.smoker: true}", case(clinical={"smoker": True}), True),
        ("{clinical.smoker: true}", case(clinical={"smoker": False}), False),
        ("{clinical.smoker: false}", case(clinical={"smoker": False}), True),
        ("{urgency: emergency}", case(urgency="emergency"), True),
        ("{urgency: emergency}", case(urgency="expedited"), False),
    ],
)
def test_a_bare_value_tests_equality(backend: str, when: str, facts: dict[str, Any], expected: bool) -> None:
    assert holds(backend, when, facts) is expected


# -- value sets -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("72148", True),  # low bound
        ("72150", True),
        ("72158", True),  # high bound
        ("72147", False),
        ("72159", False),
        ("70552", True),
        ("73721", True),
        ("7215", False),  # a range holds codes of its own length only
        ("072150", False),
        ("72150.0", False),
    ],
)
def test_a_numeric_range_in_a_value_set_includes_both_bounds(backend: str, code: str, expected: bool) -> None:
    assert holds(backend, "{service.codes: {any_in: imaging}}", case(service={"codes": [code]})) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("E0600", True),
        ("E0650", True),
        ("E0699", True),
        ("E0599", False),
        ("E0700", False),
        ("E650", False),
        ("e0650", False),
        ("K0650", False),
    ],
)
def test_a_range_with_a_letter_prefix_keeps_the_prefix_and_length(
    backend: str, code: str, expected: bool
) -> None:
    assert holds(backend, "{service.codes: {any_in: dme}}", case(service={"codes": [code]})) is expected


@pytest.mark.parametrize(
    ("dx", "expected"),
    [
        ("M46.2", True),
        ("M46.20", True),
        ("M46.28", True),
        ("M46.3", False),
        ("M462", False),
        ("C79.51", True),
        ("C79.5", False),
        ("G83.4", True),
        ("G83.41", False),  # an exact code is not a prefix
    ],
)
def test_a_trailing_star_is_a_prefix_and_other_entries_are_exact(
    backend: str, dx: str, expected: bool
) -> None:
    assert holds(backend, "{diagnoses: {any_in: red_flag_dx}}", case(diagnoses=[dx])) is expected


@pytest.mark.parametrize(
    ("code", "expected"), [("72148-72158", True), ("72150", False), ("72*", True), ("721", False)]
)
def test_an_inline_list_holds_literal_values_only(backend: str, code: str, expected: bool) -> None:
    when = '{service.codes: {any_in: ["72148-72158", "72*"]}}'
    assert holds(backend, when, case(service={"codes": [code]})) is expected


# -- codes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("when", "dx", "expected"),
    [
        ('{diagnoses: {any_in: ["M54.50"]}}', "M54.50", True),
        ('{diagnoses: {any_in: ["M54.50"]}}', "M5450", False),
        ('{diagnoses: {any_in: ["M54.50"]}}', "m54.50", False),
        ('{diagnoses: {any_in: ["M54.50"]}}', "M54.50 ", False),
        ('{diagnoses: {any_in: ["M54.5"]}}', "M54.50", False),
        ('{diagnoses: {any_in: ["M54.50"]}}', "M54.5", False),
    ],
)
def test_diagnosis_codes_compare_exactly_as_strings(backend: str, when: str, dx: str, expected: bool) -> None:
    assert holds(backend, when, case(diagnoses=[dx])) is expected


@pytest.mark.parametrize(("code", "expected"), [("00100", True), ("100", False), ("0100", False)])
def test_procedure_codes_keep_their_leading_zeros(backend: str, code: str, expected: bool) -> None:
    assert holds(backend, '{service.codes: {any_in: ["00100"]}}', case(service={"codes": [code]})) is expected


def test_an_unquoted_numeric_code_in_a_condition_is_a_load_error() -> None:
    with pytest.raises(LoadError) as caught:
        load_ruleset(RULESET.replace("WHEN", "{service.codes: {any_in: [72148]}}"), "probe.yaml")
    assert "quote it" in str(caught.value)


# -- missing facts ------------------------------------------------------------------------------------------
COMPARISONS_ON_A_MISSING_FACT = [
    "{clinical.ahi: {eq: 15}}",
    "{clinical.ahi: {ne: 15}}",
    "{clinical.ahi: {lt: 15}}",
    "{clinical.ahi: {lte: 15}}",
    "{clinical.ahi: {gt: 15}}",
    "{clinical.ahi: {gte: 15}}",
    "{clinical.ahi: {between: [0, 100]}}",
    "{clinical.ahi: 15}",
    "{clinical.smoker: false}",
    "{coverage.plan_type: {in: [commercial]}}",
    "{coverage.plan_type: {not_in: [commercial]}}",
    "{coverage.plan_type: {not_in: plans}}",
    "{clinical.flags: {any_in: [cauda-equina]}}",
    "{clinical.flags: {all_in: [cauda-equina]}}",
    '{patient.state: {matches: ".*"}}',
    '{patient.state: {prefix: ""}}',
    "{clinical.onset: {within_days: 60}}",
    "{clinical.onset: {older_than_days: 60}}",
    "{clinical.onset: {lt: 2030-01-01}}",
    "{documents: {some: {type: order}}}",
    "{documents: {every: {type: order}}}",
    "{documents: {some: {date: {ne: 2026-01-01}}}}",
]


@pytest.mark.parametrize("when", COMPARISONS_ON_A_MISSING_FACT)
def test_a_missing_fact_never_matches_a_comparison(backend: str, when: str) -> None:
    facts = docs({"type": "order"}) if "date" in when else NOTHING
    assert holds(backend, when, facts) is False


HOLDS_ON_A_MISSING_FACT = [
    "{clinical.ahi: {exists: false}}",
    "{clinical.flags: {none_in: [cauda-equina]}}",
    "{diagnoses: {none_in: red_flag_dx}}",
    "{documents: {none: {type: order}}}",
    "{not: {clinical.ahi: {eq: 15}}}",
    "{not: {clinical.ahi: {ne: 15}}}",
    "{not: {coverage.plan_type: {not_in: [commercial]}}}",
    "{not: {clinical.onset: {older_than_days: 60}}}",
]


@pytest.mark.parametrize("when", HOLDS_ON_A_MISSING_FACT)
def test_exists_false_none_none_in_and_not_hold_on_a_missing_fact(backend: str, when: str) -> None:
    assert holds(backend, when, NOTHING) is True


def test_a_null_fact_is_missing(backend: str) -> None:
    facts = case(clinical={"ahi": None, "flags": None}, diagnoses=None, documents=None)
    assert holds(backend, "{clinical.ahi: {ne: 15}}", facts) is False
    assert holds(backend, "{clinical.flags: {none_in: [cauda-equina]}}", facts) is True
    assert holds(backend, "{documents: {count: 0}}", facts) is True


@pytest.mark.parametrize(
    "when", ["{clinical.flags: {all_in: [cauda-equina]}}", "{diagnoses: {all_in: red_flag_dx}}"]
)
def test_all_in_is_false_on_an_empty_or_missing_list(backend: str, when: str) -> None:
    assert holds(backend, when, NOTHING) is False
    assert holds(backend, when, case(clinical={"flags": []}, diagnoses=[])) is False


def test_a_missing_fact_is_never_an_error(backend: str) -> None:
    # a case with no facts at all beyond its payer evaluates every operator without raising
    for when in COMPARISONS_ON_A_MISSING_FACT + HOLDS_ON_A_MISSING_FACT:
        decide(backend, when, {"coverage": {"payer": "acme"}})


# -- dates --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("when", "day", "expected"),
    [
        ("{clinical.onset: {lt: 2026-10-01}}", "2026-09-30", True),
        ("{clinical.onset: {lt: 2026-10-01}}", "2026-10-01", False),
        ("{clinical.onset: {gte: 2026-10-01}}", "2026-10-01", True),
        ("{clinical.onset: {eq: 2026-10-01}}", "2026-10-01", True),
        ("{clinical.onset: 2026-10-01}", "2026-10-01", True),
        ("{clinical.onset: {ne: 2026-10-01}}", "2026-10-01", False),
        ("{clinical.onset: {between: [2026-01-01, 2026-03-31]}}", "2026-03-31", True),
        ("{clinical.onset: {between: [2026-01-01, 2026-03-31]}}", "2026-04-01", False),
        ("{clinical.onset: {in: [2026-10-01, 2026-10-02]}}", "2026-10-02", True),
    ],
)
def test_dates_compare_as_dates(backend: str, when: str, day: str, expected: bool) -> None:
    assert holds(backend, when, onset(day)) is expected


@pytest.mark.parametrize(("as_of", "expected"), [("2026-11-01", True), ("2026-10-31", False)])
def test_as_of_compares_as_a_date(backend: str, as_of: str, expected: bool) -> None:
    facts = case()
    facts["as_of"] = as_of
    assert holds(backend, "{as_of: {gte: 2026-11-01}}", facts) is expected


def test_document_dates_compare_as_dates(backend: str) -> None:
    when = "{documents: {some: {date: {gte: 2026-11-01}}}}"
    assert holds(backend, when, docs({"type": "order", "date": "2026-11-01"})) is True
    assert holds(backend, when, docs({"type": "order", "date": "2026-10-31"})) is False


# -- patient.age -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("as_of", "age"),
    [("2026-03-01", 57), ("2026-03-02", 58), ("2026-11-20", 58), ("2027-03-01", 58), ("2027-03-02", 59)],
)
def test_patient_age_is_whole_years_at_as_of(backend: str, as_of: str, age: int) -> None:
    facts = case(patient={"birth_date": "1968-03-02"})
    facts["as_of"] = as_of
    decision = decide(backend, "{patient.age: {gte: 0}}", facts, today=date(2030, 1, 1))
    assert decision["fired"][0]["facts"] == {"patient.age": age}
    assert holds(backend, f"{{patient.age: {age}}}", facts, today=date(2030, 1, 1)) is True


def test_patient_age_is_missing_without_a_birth_date(backend: str) -> None:
    assert holds(backend, "{patient.age: {exists: false}}", case(patient={"sex": "F"})) is True
    assert holds(backend, "{patient.age: {lt: 200}}", case(patient={"sex": "F"})) is False


# -- more nesting ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("when", "clinical", "expected"),
    [
        ("{not: {any: [{clinical.ahi: 1}, {clinical.weeks: 1}]}}", {"ahi": 2, "weeks": 2}, True),
        ("{not: {any: [{clinical.ahi: 1}, {clinical.weeks: 1}]}}", {"ahi": 1, "weeks": 2}, False),
        ("{not: {all: [{clinical.ahi: 1}, {clinical.weeks: 1}]}}", {"ahi": 1, "weeks": 2}, True),
        ("{not: {all: [{clinical.ahi: 1}, {clinical.weeks: 1}]}}", {"ahi": 1, "weeks": 1}, False),
        ("{not: {clinical.ahi: 1, clinical.weeks: 1}}", {"ahi": 1, "weeks": 2}, True),
        ("{not: {clinical.ahi: 1, clinical.weeks: 1}}", {"ahi": 1, "weeks": 1}, False),
        ("{not: {not: {clinical.ahi: 1}}}", {"ahi": 1}, True),
        ("{not: {not: {clinical.ahi: 1}}}", {}, False),
        ("{any: [{clinical.ahi: 1}, {not: {clinical.ahi: 1}}]}", {}, True),
    ],
)
def test_not_negates_any_all_and_mappings_as_a_whole(
    backend: str, when: str, clinical: dict[str, Any], expected: bool
) -> None:
    assert holds(backend, when, case(clinical=clinical)) is expected


@pytest.mark.parametrize(
    ("when", "item", "expected"),
    [
        ("{documents: {some: {any: [{type: order}, {type: referral}]}}}", {"type": "referral"}, True),
        ("{documents: {some: {any: [{type: order}, {type: referral}]}}}", {"type": "clinical-note"}, False),
        ("{documents: {some: {not: {type: order}}}}", {"type": "order"}, False),
        ("{documents: {some: {not: {type: order}}}}", {"type": "referral"}, True),
        ("{documents: {some: {date: {exists: false}}}}", {"type": "order"}, True),
        ("{documents: {every: {date: {exists: true}}}}", {"type": "order"}, False),
        ("{not: {documents: {some: {type: order}}}}", {"type": "order"}, False),
    ],
)
def test_conditions_nest_inside_a_document_test(
    backend: str, when: str, item: dict[str, Any], expected: bool
) -> None:
    assert holds(backend, when, docs(item)) is expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("branches", [64, 100])
def test_any_holds_however_many_of_its_branches_hold(backend: str, branches: int) -> None:
    when = "{any: [" + ", ".join(f"{{clinical.ahi: {{gt: {i}}}}}" for i in range(branches)) + "]}"
    assert holds(backend, when, ahi(1000)) is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_with_63_holding_branches_holds(backend: str) -> None:
    when = "{any: [" + ", ".join(f"{{clinical.ahi: {{gt: {i}}}}}" for i in range(100)) + "]}"
    assert holds(backend, when, ahi(63)) is True


# -- value sets: several ranges ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "expected"),
    [("70010", True), ("70025", True), ("70026", False), ("70029", False), ("70030", True), ("70039", True)],
)
def test_several_ranges_in_one_value_set_keep_their_gaps(backend: str, code: str, expected: bool) -> None:
    text = RULESET.replace(
        "valuesets:\n", 'valuesets:\n  split: ["70010-70019", "70030-70039", "70020-70025"]\n'
    )
    ruleset = load_ruleset(text.replace("WHEN", "{service.codes: {any_in: split}}"), "probe.yaml")
    decision = Evaluator([ruleset], backend=backend).evaluate(case(service={"codes": [code]}), today=TODAY)
    assert bool(decision["fired"]) is expected


# -- dates on answers of a form the ruleset does not know --------------------------------------------------------
@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{answers.readiness.prior_imaging: {lt: 2026-10-01}}", True),
        ("{answers.readiness.prior_imaging: {within_days: 90}}", True),
    ],
)
def test_dates_compare_as_dates_on_answers_of_an_unknown_form(
    backend: str, when: str, expected: bool
) -> None:
    facts = case(answers={"readiness": {"prior_imaging": "2026-09-01"}})
    assert holds(backend, when, facts) is expected


def test_dates_compare_as_dates_on_answers_of_a_known_form(backend: str) -> None:
    form = load_form(
        "form: readiness\nschema:\n  type: object\n  properties:\n    prior_imaging: {type: string, format: date}\n",
        "readiness.yaml",
    )
    text = RULESET.replace("WHEN", "{answers.readiness.prior_imaging: {lt: 2026-10-01}}")
    ruleset = load_ruleset(text, "probe.yaml", {"readiness": form.answer_types})
    evaluator = Evaluator([ruleset], forms={"readiness": form}, backend=backend)
    for answer, expected in (("2026-09-30", True), ("2026-10-01", False)):
        facts = case(answers={"readiness": {"prior_imaging": answer}})
        assert bool(evaluator.evaluate(facts, today=TODAY)["fired"]) is expected
