"""Answers: prefilled from a case's facts, read back from typed text, and shown again as text."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.answers import as_typed, prefill, read_typed
from engine.forms import Form, load_form, load_form_file

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "forms").glob("*.yaml"))
ANSWERS = ROOT / "tests" / "fixtures" / "forms" / "answers"


def shipped(form_id: str) -> Form:
    return load_form_file(ROOT / "forms" / f"{form_id}.yaml")


def valid_answers(form_id: str) -> dict:
    return json.loads((ANSWERS / f"{form_id}-valid.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def imaging() -> Form:
    return shipped("imaging-readiness")


@pytest.fixture(scope="module")
def sleep() -> Form:
    return shipped("sleep-cpap-readiness")


# -- prefill ---------------------------------------------------------------------------------------------
def test_prefill_takes_nested_facts_and_the_latest_matching_document(imaging):
    facts = {
        "clinical": {"symptom_weeks": 6, "conservative_therapy_weeks": 4},
        "documents": [
            {"type": "imaging-report", "date": "2025-01-10"},
            {"type": "imaging-report", "date": date(2025, 6, 1)},
            {"type": "order", "date": "2026-01-01"},
            {"type": "imaging-report", "date": "2025-03-15"},
        ],
    }
    assert prefill(imaging, facts) == {
        "prior_imaging_date": "2025-06-01",
        "symptom_weeks": 6,
        "therapy_weeks": 4,
    }


def test_prefill_leaves_out_what_the_case_does_not_have(imaging):
    assert prefill(imaging, {}) == {}
    assert prefill(imaging, {"clinical": 5, "documents": {"type": "imaging-report"}}) == {}
    assert prefill(imaging, {"documents": [{"type": "order", "date": "2026-01-01"}, "junk"]}) == {}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"clinical": {"symptom_weeks": 600}}, {}),  # over the maximum (520)
        ({"clinical": {"symptom_weeks": -1}}, {}),  # under the minimum (0)
        ({"clinical": {"symptom_weeks": "6"}}, {}),  # text for a number
        ({"clinical": {"symptom_weeks": True}}, {}),  # a boolean is not a number
        ({"clinical": {"symptom_weeks": 6.5}}, {}),  # not whole
        ({"clinical": {"symptom_weeks": 6.0}}, {"symptom_weeks": 6}),
        ({"documents": [{"type": "imaging-report", "date": 20250601}]}, {}),
    ],
)
def test_prefill_leaves_out_a_value_that_does_not_fit_its_question(imaging, facts, expected):
    assert prefill(imaging, facts) == expected


def test_prefill_leaves_out_a_value_that_is_not_one_of_the_choices_and_keeps_one_that_is():
    surgery = shipped("surgery-readiness")
    assert prefill(surgery, {"clinical": {"bmi": 41.5, "smoking_status": "sometimes"}}) == {"bmi": 41.5}
    assert prefill(surgery, {"clinical": {"bmi": 9, "smoking_status": "former"}}) == {
        "smoking_status": "former"
    }


def test_prefill_reads_a_base_fact_path_and_a_date_object():
    infusion = shipped("infusion-readiness")
    facts = {
        "service": {"site_of_care": "home"},
        "clinical": {"weight_kg": 0.2, "tb_screen_date": date(2026, 1, 2)},
    }
    assert prefill(infusion, facts) == {"site_of_care": "home", "tb_screen_date": "2026-01-02"}


def test_prefill_of_a_list_of_choices_keeps_only_the_known_choices():
    form = load_form(
        "form: t\nschema:\n  type: object\n  properties:\n"
        "    flags: {type: array, items: {enum: [fever, trauma]}}\nprefill:\n  flags: clinical.flags\n"
    )
    assert prefill(form, {"clinical": {"flags": ["fever", "rash"]}}) == {"flags": ["fever"]}
    assert prefill(form, {"clinical": {"flags": ["rash"]}}) == {}
    assert prefill(form, {"clinical": {"flags": "fever"}}) == {}


@pytest.mark.parametrize("text", ["2026-02-30", "last spring"])
def test_prefill_leaves_out_a_date_that_is_not_a_real_date(imaging, text):
    assert prefill(imaging, {"documents": [{"type": "imaging-report", "date": text}]}) == {}


def test_prefill_leaves_out_a_value_on_an_exclusive_bound():
    form = load_form(
        "form: t\nschema:\n  type: object\n  properties:\n"
        "    dose: {type: number, exclusiveMinimum: 0, title: Dose}\nprefill:\n  dose: clinical.dose\n"
    )
    assert form.errors({"dose": 0}) == [("dose", "Dose must be more than 0")]
    assert prefill(form, {"clinical": {"dose": 0}}) == {}


# -- read_typed ------------------------------------------------------------------------------------------
def test_read_typed_converts_text_to_each_kind(imaging):
    typed = {
        "body_region": "spine-lumbar",
        "clinical_question": "  Is there a herniated disc?  ",
        "symptom_weeks": " 12 ",
        "conservative_therapy": ["nsaids", "physical-therapy"],
        "red_flags": "fever",
        "prior_imaging": "true",
        "prior_imaging_date": "2026-01-01",
    }
    assert read_typed(imaging, typed) == (
        {
            "body_region": "spine-lumbar",
            "clinical_question": "Is there a herniated disc?",
            "symptom_weeks": 12,
            "conservative_therapy": ["nsaids", "physical-therapy"],
            "red_flags": ["fever"],
            "prior_imaging": True,
            "prior_imaging_date": "2026-01-01",
        },
        [],
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("72.5", 72.5), ("70", 70), ("+5", 5), ("-0", 0), (".5", 0.5), ("5.", 5.0), ("0.25", 0.25)],
)
def test_read_typed_reads_a_number(sleep, text, value):
    answers, problems = read_typed(sleep, {"ahi": text})
    assert problems == []
    assert answers == {"ahi": value}
    assert type(answers["ahi"]) is type(value)


@pytest.mark.parametrize("text", ["nan", "inf", "12,5", "five", "1.2.3", "--1", "0x10", "1_000"])
def test_read_typed_names_a_number_question_whose_text_is_not_a_number(sleep, text):
    assert read_typed(sleep, {"ahi": text}) == (
        {},
        [("ahi", "Apnea-hypopnea index (events per hour) must be a number, like 72.5")],
    )


@pytest.mark.parametrize("text", ["12.0", "1e3", "twelve", "1 2", "12.5", "0x1"])
def test_read_typed_names_an_integer_question_whose_text_is_not_a_whole_number(imaging, text):
    assert read_typed(imaging, {"symptom_weeks": text}) == (
        {},
        [("symptom_weeks", "Weeks of symptoms must be a whole number, like 12")],
    )


@pytest.mark.parametrize("text", ["1", "on", "y", "maybe"])
def test_read_typed_takes_only_yes_or_no_for_a_yes_no_question(imaging, text):
    assert read_typed(imaging, {"prior_imaging": text}) == (
        {},
        [("prior_imaging", "This area was imaged before must be yes or no")],
    )


@pytest.mark.parametrize(("text", "value"), [("yes", True), ("True", True), ("no", False), ("FALSE", False)])
def test_read_typed_reads_yes_no_true_false_in_any_case(imaging, text, value):
    assert read_typed(imaging, {"prior_imaging": text}) == ({"prior_imaging": value}, [])


def test_read_typed_reads_false_as_an_answer_not_as_blank(imaging):
    assert read_typed(imaging, {"prior_imaging": "false"}) == ({"prior_imaging": False}, [])


def test_read_typed_leaves_blank_text_unanswered_and_keeps_an_empty_group_as_none_of_these(imaging):
    typed = {"symptom_weeks": "  ", "body_region": "", "prior_imaging": "", "red_flags": [], "contrast": []}
    assert read_typed(imaging, typed) == ({"red_flags": []}, [])
    assert read_typed(imaging, {"red_flags": ["", "fever"]}) == ({"red_flags": ["fever"]}, [])


def test_read_typed_names_every_problem_at_once_and_ignores_keys_that_are_not_questions(imaging):
    typed = {"symptom_weeks": "a lot", "therapy_weeks": "6.5", "prior_imaging": "maybe", "csrf": "x"}
    assert read_typed(imaging, typed) == (
        {},
        [
            ("symptom_weeks", "Weeks of symptoms must be a whole number, like 12"),
            ("therapy_weeks", "Weeks of conservative therapy must be a whole number, like 12"),
            ("prior_imaging", "This area was imaged before must be yes or no"),
        ],
    )


def test_read_typed_takes_the_last_of_several_values_for_a_single_answer(imaging):
    assert read_typed(imaging, {"symptom_weeks": ["3", "4"]}) == ({"symptom_weeks": 4}, [])


def test_read_typed_keeps_a_date_as_text_and_leaves_its_check_to_validation(imaging):
    answers, problems = read_typed(imaging, {"prior_imaging_date": "2026-02-30"})
    assert (answers, problems) == ({"prior_imaging_date": "2026-02-30"}, [])


# -- as_typed and the round trip ------------------------------------------------------------------------
def test_as_typed_writes_each_answer_as_the_text_a_page_shows(sleep):
    answers = {"ahi": 12.5, "epworth_score": 14, "cpap_failed": False, "symptoms": ["insomnia"], "x": 1}
    assert as_typed(sleep, answers) == {
        "ahi": "12.5",
        "epworth_score": "14",
        "symptoms": ["insomnia"],
        "cpap_failed": "false",
    }


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_valid_answers_of_every_shipped_form_survive_a_round_trip_through_text(path):
    form = load_form_file(path)
    answers = valid_answers(form.id)
    assert read_typed(form, as_typed(form, answers)) == (answers, [])


def test_an_empty_list_of_choices_survives_a_round_trip(imaging):
    answers = {**valid_answers("imaging-readiness"), "red_flags": []}
    assert imaging.errors(answers) == []
    assert read_typed(imaging, as_typed(imaging, answers)) == (answers, [])


@pytest.mark.parametrize(
    ("form_id", "name", "value"),
    [
        ("sleep-cpap-readiness", "ahi", 1e-05),
        ("pt-readiness", "improvement_pct", 100 / 3),
        ("infusion-readiness", "dose_mg", 0.1 + 0.2),
    ],
)
def test_a_valid_float_answer_survives_a_round_trip_through_text(form_id, name, value):
    form = shipped(form_id)
    answers = {**valid_answers(form_id), name: value}
    assert form.errors(answers) == []
    assert read_typed(form, as_typed(form, answers)) == (answers, [])


FORMS = {p.stem: load_form_file(p) for p in SHIPPED}
WORDS = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=60
)


def _valid_value(form: Form, name: str) -> st.SearchStrategy:
    """What a person could type for one question (bounds kept; patterned text kept as it is)."""
    question = form.fields[name]
    spec = form.schema["properties"][name]
    low = question.minimum if question.minimum is not None else -(10**6)
    high = question.maximum if question.maximum is not None else 10**6
    if question.kind in ("choice", "boolean"):
        return st.sampled_from(question.choices)
    if question.kind == "choices":
        return st.lists(st.sampled_from(question.choices), unique=True)
    if question.kind == "integer":
        return st.integers(int(low), int(high))
    if question.kind == "number":
        # what a person types: up to 2 decimals (see the xfail above for computed floats)
        return st.one_of(
            st.integers(int(low), int(high)),
            st.decimals(low, high, places=2, allow_nan=False, allow_infinity=False).map(float),
        )
    if question.kind == "date":
        return st.dates(date(1990, 1, 1), date(2040, 12, 31)).map(date.isoformat)
    if "pattern" in spec:
        return st.just(valid_answers(form.id)[name]) if name in valid_answers(form.id) else st.nothing()
    # blank text reads back as unanswered (the page cannot tell "" from nothing typed)
    return WORDS.map(str.strip).filter(
        lambda t: max(question.min_length or 0, 1) <= len(t) <= (question.max_length or 10**6)
    )


@st.composite
def _valid(draw) -> tuple[str, dict]:
    form_id = draw(st.sampled_from(sorted(FORMS)))  # an id, not a Form: hypothesis prints what it draws
    form = FORMS[form_id]
    answers = valid_answers(form.id)
    for name in form.fields:
        if draw(st.integers(0, 2)) == 0:
            answers[name] = draw(_valid_value(form, name))
    answers = form.clean(answers)
    assume(form.errors(answers) == [])
    return form_id, answers


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(case=_valid())
def test_read_typed_of_as_typed_gives_back_any_valid_answers(case):
    form_id, answers = case
    form = FORMS[form_id]
    assert read_typed(form, as_typed(form, answers)) == (answers, [])
