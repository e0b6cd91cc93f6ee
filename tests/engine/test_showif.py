"""`show_if`: each operator on a present and a missing answer, chains, and what hiding does.

The operators keep the rulesets' meaning on a missing answer (None, "" or []): a comparison never
holds (`not_in` included, as in rulesets); `exists: false`, `not_contains` and `none_in` do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.forms import load_form, load_form_file
from engine.showif import Check, ShowIf, holds, parse

ROOT = Path(__file__).resolve().parents[2]
MISSING = [None, "", []]

KINDS = {"weeks": "integer", "region": "choice", "therapy": "choices", "seen_on": "date", "imaged": "boolean"}
CHOICES = {"region": ("spine", "knee", "hip"), "therapy": ("pt", "nsaids", "none")}


@pytest.mark.parametrize(
    ("op", "value", "answer", "expected"),
    [
        ("eq", "spine", "spine", True),
        ("eq", "spine", "knee", False),
        ("ne", "spine", "knee", True),
        ("ne", "spine", "spine", False),
        ("in", ("spine", "knee"), "knee", True),
        ("in", ("spine", "knee"), "hip", False),
        ("not_in", ("spine", "knee"), "hip", True),
        ("not_in", ("spine", "knee"), "spine", False),
        ("lt", 6, 5, True),
        ("lt", 6, 6, False),
        ("lte", 6, 6, True),
        ("lte", 6, 7, False),
        ("gt", 6, 7, True),
        ("gt", 6, 6, False),
        ("gte", 6, 6, True),
        ("gte", 6, 5, False),
        ("gte", 2.5, 2.5, True),
        ("lt", "2026-01-31", "2026-01-30", True),
        ("lt", "2026-01-31", "2026-02-01", False),
        ("gt", 6, "seven", False),  # an answer of another kind never compares
        ("exists", True, 0, True),
        ("exists", True, False, True),
        ("exists", False, 0, False),
        ("contains", "none", ["pt", "none"], True),
        ("contains", "none", ["pt"], False),
        ("not_contains", "none", ["pt"], True),
        ("not_contains", "none", ["none"], False),
        ("any_in", ("pt", "nsaids"), ["nsaids"], True),
        ("any_in", ("pt", "nsaids"), ["none"], False),
        ("none_in", ("pt", "nsaids"), ["none"], True),
        ("none_in", ("pt", "nsaids"), ["pt", "none"], False),
        ("exists", True, ["pt"], True),
        ("exists", False, ["pt"], False),
    ],
)
def test_each_operator_on_a_present_answer(op, value, answer, expected):
    assert holds(Check("q", op, value), answer) is expected


ON_MISSING = [
    ("eq", "spine", False),
    ("ne", "spine", False),
    ("in", ("spine",), False),
    ("not_in", ("spine",), False),  # a comparison, as in rulesets: never on a missing answer
    ("lt", 6, False),
    ("lte", 6, False),
    ("gt", 6, False),
    ("gte", 6, False),
    ("exists", True, False),
    ("exists", False, True),
    ("contains", "none", False),
    ("not_contains", "none", True),
    ("any_in", ("pt",), False),
    ("none_in", ("pt",), True),
]


def _on_missing() -> list[object]:
    params = []
    for missing, name in zip(MISSING, ["none", "blank", "empty-list"], strict=True):
        for op, value, expected in ON_MISSING:
            params.append(pytest.param(op, value, expected, missing, id=f"{op}-{name}"))
    return params


@pytest.mark.parametrize(("op", "value", "expected", "missing"), _on_missing())
def test_each_operator_on_a_missing_answer(op, value, expected, missing):
    assert holds(Check("q", op, value), missing) is expected


def test_a_scalar_operator_never_holds_on_a_list_answer():
    for op, value in [("eq", "pt"), ("ne", "pt"), ("in", ("pt",)), ("gt", 1)]:
        assert holds(Check("q", op, value), ["pt"]) is False, op


def test_a_bare_value_means_eq():
    rule, problems = parse("note", {"region": "spine", "imaged": True}, KINDS, CHOICES)
    assert problems == []
    assert rule == ShowIf((Check("region", "eq", "spine"), Check("imaged", "eq", True)))


def test_every_check_of_a_rule_must_hold():
    rule, _ = parse("note", {"region": {"in": ["spine"]}, "weeks": {"gte": 6, "lt": 12}}, KINDS, CHOICES)
    assert rule is not None
    assert rule.holds({"region": "spine", "weeks": 6})
    assert not rule.holds({"region": "spine", "weeks": 12})
    assert not rule.holds({"region": "knee", "weeks": 6})
    assert not rule.holds({})


def test_set_operators_keep_their_values_as_a_tuple_and_as_json_gives_lists():
    rule, _ = parse("note", {"therapy": {"any_in": ["pt", "nsaids"]}}, KINDS, CHOICES)
    assert rule == ShowIf((Check("therapy", "any_in", ("pt", "nsaids")),))
    assert rule.as_json() == [{"field": "therapy", "op": "any_in", "value": ["pt", "nsaids"]}]


def test_a_date_written_unquoted_in_yaml_is_compared_as_iso_text():
    form = load_form(
        "form: t\nschema:\n  type: object\n  properties:\n    seen_on: {type: string, format: date}\n"
        "    note: {type: string}\nui:\n  show_if:\n    note: {seen_on: {lt: 2026-01-31}}\n"
    )
    assert form.show_if["note"].checks == (Check("seen_on", "lt", "2026-01-31"),)
    assert form.visible({"seen_on": "2026-01-30"}) == {"seen_on", "note"}
    assert form.visible({"seen_on": "2026-01-31"}) == {"seen_on"}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("yes", "show_if of 'note' must map other questions to checks, like {prior_imaging: true}"),
        ({}, "show_if of 'note' must map other questions to checks, like {prior_imaging: true}"),
        ({"region": {}}, "show_if of 'note' has an empty check on 'region'"),
        (
            {"region": {"in": []}},
            "show_if of 'note' on 'region': 'in' takes a list of values, like [a, b]",
        ),
        ({"region": {"eq": ["spine"]}}, "show_if of 'note' on 'region': 'eq' takes plain values"),
        (
            {"imaged": {"eq": "yes"}},
            "show_if of 'note' on 'imaged': 'imaged' is yes/no; test it with true or false",
        ),
        (
            {"weeks": {"gt": True}},
            "show_if of 'note' on 'weeks': 'weeks' is a number; compare it with a number",
        ),
        (
            {"seen_on": {"lt": 20260131}},
            "show_if of 'note' on 'seen_on': 'seen_on' is a date; compare it with a date in quotes, "
            "like '2026-01-31'",
        ),
        (
            {"therapy": {"any_in": ["pt", "yoga"]}},
            "show_if of 'note' on 'therapy': 'yoga' is not one of its choices (pt, nsaids, none)",
        ),
        (
            {"therapy": {"any_in": ["pt", "nsaids"]}, "region": {"eq": "spine"}},
            "show_if of 'note': `in` / `any_in` with several values must be its only check "
            "(FHIR enableWhen cannot mix 'any' and 'all')",
        ),
    ],
)
def test_parse_refuses_a_check_it_cannot_run_in_words(raw, problem):
    rule, problems = parse("note", raw, KINDS, CHOICES)
    assert rule is None
    assert problems == [problem]


def test_an_in_with_one_value_may_sit_beside_other_checks():
    rule, problems = parse("note", {"region": {"in": ["spine"]}, "imaged": True}, KINDS, CHOICES)
    assert problems == []
    assert rule is not None


# -- in a form: chains, clean, to_facts -------------------------------------------------------------------
CHAIN = """\
form: chain
schema:
  type: object
  required: [imaged]
  properties:
    imaged: {type: boolean}
    modality: {type: string, enum: [ct, mri]}
    contrast: {type: string, enum: [with, without]}
    reaction: {type: string, minLength: 5}
ui:
  show_if:
    modality: {imaged: true}
    contrast: {modality: {exists: true}}
    reaction: {contrast: with}
facts:
  modality: clinical.modality
  contrast: clinical.contrast
  reaction: clinical.contrast_reaction
"""


def test_a_question_is_hidden_when_a_question_it_depends_on_is_hidden():
    form = load_form(CHAIN)
    everything = {"imaged": True, "modality": "ct", "contrast": "with", "reaction": "hives, twice"}
    assert form.visible(everything) == {"imaged", "modality", "contrast", "reaction"}
    # imaged: false hides modality; contrast (modality exists) and reaction follow it down
    assert form.visible({**everything, "imaged": False}) == {"imaged"}
    assert form.visible({**everything, "contrast": "without"}) == {"imaged", "modality", "contrast"}


def test_clean_drops_hidden_answers_down_the_chain_and_keeps_keys_that_are_not_questions():
    form = load_form(CHAIN)
    answers = {"imaged": False, "modality": "ct", "contrast": "with", "reaction": "no", "other": 1}
    assert form.clean(answers) == {"imaged": False, "other": 1}
    assert form.errors(answers) == []  # the schema does not forbid additional properties
    assert form.clean({"imaged": True, "modality": "ct"}) == {"imaged": True, "modality": "ct"}


def test_a_hidden_bad_answer_is_not_an_error_but_a_shown_one_is():
    form = load_form(CHAIN)
    hidden = {"imaged": True, "modality": "ct", "contrast": "without", "reaction": "no"}
    assert form.errors(hidden) == []
    shown = {**hidden, "contrast": "with"}
    assert form.errors(shown) == [("reaction", "Reaction must have at least 5 characters")]


def test_to_facts_drops_hidden_answers_down_the_chain():
    form = load_form(CHAIN)
    answers = {"imaged": True, "modality": "mri", "contrast": "without", "reaction": "hives, twice"}
    assert form.to_facts(answers) == {"clinical.modality": "mri", "clinical.contrast": "without"}
    assert form.to_facts({**answers, "imaged": False}) == {}


@pytest.mark.parametrize(
    ("form_id", "answers", "hidden"),
    [
        (
            "imaging-readiness",
            {"conservative_therapy": ["none"]},
            {"therapy_weeks", "prior_imaging_modality", "prior_imaging_date", "change_since_prior"},
        ),
        (
            "imaging-readiness",
            {"conservative_therapy": []},
            {"prior_imaging_modality", "prior_imaging_date", "change_since_prior"},
        ),
        ("imaging-readiness", {"prior_imaging": True}, set()),
        (
            "dme-readiness",
            {"acquisition": "purchase"},
            {
                "rental_months",
                "can_use_cane_walker",
                "can_self_propel_manual",
                "home_assessment_done",
                "insulin_treated",
                "problematic_hypoglycemia",
            },
        ),
        (
            "dme-readiness",
            {"acquisition": "capped-rental", "item_category": "mobility"},
            {"insulin_treated", "problematic_hypoglycemia"},
        ),
        ("sleep-cpap-readiness", {"device": "bilevel-with-backup", "request_type": "continued"}, set()),
        (
            "sleep-cpap-readiness",
            {},
            {"cpap_failed", "trial_days", "adherence_pct", "reevaluation_date", "benefit_documented"},
        ),
        (
            "surgery-readiness",
            {"procedure": "bariatric-sleeve", "setting": "inpatient"},
            {"smoke_free_weeks", "kl_grade", "throat_infections_past_year", "visual_field_loss_pct"},
        ),
        ("pt-readiness", {"post_surgical": False}, {"surgery_date"}),
        ("pt-readiness", {}, {"surgery_date"}),
    ],
)
def test_the_shipped_forms_hide_exactly_what_their_show_if_says(form_id, answers, hidden):
    form = load_form_file(ROOT / "forms" / f"{form_id}.yaml")
    assert set(form.fields) - form.visible(answers) == hidden
