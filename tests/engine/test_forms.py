"""Readiness forms: a bad form is refused as `file:line: what: fix`, answers get plain-word errors.

Every file in tests/fixtures/bad_forms/ opens with one `# expect: <line>: <message>: <fix>` line per
problem the loader must report (all of them, in order, nothing else). A fixture that reproduces a
known engine bug says so in a `# bug: ...` header line and is marked xfail from it.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import LoadError
from engine.forms import Form, load_form, load_form_file

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad_forms"
ANSWERS = ROOT / "tests" / "fixtures" / "forms" / "answers"
SHIPPED = sorted((ROOT / "forms").glob("*.yaml"))
IMAGING = ROOT / "forms" / "imaging-readiness.yaml"
RAW_JSONSCHEMA = (
    "is not valid under any of the given schemas",
    "Failed validating",
    "is not of type",
    "is a required property",
    "does not match",
    "is not one of",
    "is too short",
    "is less than the minimum",
    "Additional properties",
)


def _headers(path: Path, key: str) -> list[str]:
    """The values of the leading `# key: value` comment lines of a fixture."""
    found = []
    for line in path.read_text("utf-8").splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(f"# {key}: "):
            found.append(line[len(f"# {key}: ") :])
    return found


def _bad_forms() -> list[object]:
    params = []
    for path in sorted(BAD.glob("*.yaml")):
        bug = _headers(path, "bug")
        marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {bug[0]}")] if bug else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def problems_of(text: str, file: str = "f.yaml") -> list[str]:
    with pytest.raises(LoadError) as info:
        load_form(text, file)
    return [str(p) for p in info.value.problems]


def answers_of(form_id: str, which: str) -> dict:
    return json.loads((ANSWERS / f"{form_id}-{which}.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def imaging() -> Form:
    return load_form_file(IMAGING)


# -- bad forms: one parametrized test walks the folder -----------------------------------------------
def test_every_bad_form_fixture_states_what_it_expects():
    files = sorted(BAD.glob("*.yaml"))
    assert len(files) >= 40
    for path in files:
        assert path.read_text("utf-8").startswith("# expect: "), path.name


@pytest.mark.parametrize("path", _bad_forms())
def test_load_form_refuses_the_bad_form_with_every_problem_at_its_line(path):
    expected = [f"{path}:{line}" for line in _headers(path, "expect")]
    try:
        load_form_file(path)
    except LoadError as exc:
        got = [str(p) for p in exc.problems]
    else:
        got = []
    assert got == expected


def test_a_form_with_three_problems_reports_three_lines_in_line_order():
    path = BAD / "every-problem-at-once.yaml"
    with pytest.raises(LoadError) as info:
        load_form_file(path)
    assert [p.line for p in info.value.problems] == [20, 22, 24]
    assert str(info.value).count("\n") == 2


def test_a_form_that_is_not_a_mapping_is_refused_at_line_1():
    assert problems_of("just text\n") == ["f.yaml:1: a form must be a YAML mapping: start with `form: <id>`"]


# -- the shipped forms ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_form_loads_with_its_questions_in_ui_order(path):
    form = load_form_file(path)
    assert form.id == path.stem
    assert form.version is not None and form.version >= 1
    assert [q.name for q in form.questions] == list(form.schema["properties"])
    assert len(form.sha256) == 64


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_valid_answers_fixture_of_every_shipped_form_is_valid_and_the_partial_one_is_not(path):
    form = load_form_file(path)
    assert form.errors(answers_of(form.id, "valid")) == []
    assert form.complete(answers_of(form.id, "valid"))
    assert form.errors(answers_of(form.id, "partial")) != []
    assert not form.complete(answers_of(form.id, "partial"))


def test_a_local_ref_to_defs_gives_the_choices_and_is_validated_against():
    form = load_form_file(ROOT / "forms" / "infusion-readiness.yaml")
    prior = form.fields["prior_therapies"]
    assert prior.kind == "choices"
    assert prior.choices[:3] == ("methotrexate", "leflunomide", "sulfasalazine")
    answers = {**answers_of("infusion-readiness", "valid"), "prior_therapies": ["homeopathy"]}
    assert form.errors(answers) == [
        ("prior_therapies", "Therapies tried before must be one of the listed choices")
    ]


def test_a_ref_to_defs_keeps_the_siblings_written_beside_it():
    form = load_form(
        "form: t\nschema:\n  type: object\n  $defs: {count: {type: integer, minimum: 5}}\n"
        "  properties:\n    weeks: {$ref: '#/$defs/count', title: Weeks}\n"
    )
    assert (form.fields["weeks"].kind, form.fields["weeks"].title) == ("integer", "Weeks")
    assert form.errors({"weeks": 4}) == [("weeks", "Weeks must be 5 or more")]


# -- remote $ref is never fetched ----------------------------------------------------------------------
class _Spy(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a schema, and counts it."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        body = b'{"type": "integer", "minimum": 0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def spy() -> Iterator[tuple[str, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Spy)
    server.hits = []  # type: ignore[attr-defined]
    # a short poll interval: shutdown() waits for it, and six tests start a server
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x.json", server.hits  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _remote_form(prop: str) -> str:
    return f"form: t\nschema:\n  type: object\n  properties:\n    weeks: {prop}\n"


def test_the_spy_server_counts_a_request_so_zero_means_none_was_made(spy):
    url, hits = spy
    with urllib.request.urlopen(url, timeout=5) as response:
        assert json.loads(response.read()) == {"type": "integer", "minimum": 0}
    assert hits == ["/x.json"]


def test_a_question_that_is_only_a_remote_ref_is_refused_at_load_without_fetching_it(spy):
    url, hits = spy
    assert problems_of(_remote_form(f"{{$ref: '{url}'}}")) == [
        f"f.yaml:5: the schema refers to '{url}', outside this form; nothing outside a form is ever "
        "fetched: copy the definition under $defs and refer to it as #/$defs/<name>",
        "f.yaml:5: question 'weeks' is not a kind a form can ask: use type string (with enum or "
        "format: date), integer, number, boolean, or an array of an enum",
    ]
    assert hits == []


@pytest.mark.parametrize("schema_part", ["prop", "items", "allOf"])
def test_a_remote_ref_is_never_fetched_at_load_or_at_validation(spy, schema_part):
    url, hits = spy
    if schema_part == "prop":
        text = _remote_form(f"{{type: integer, $ref: '{url}'}}")
    elif schema_part == "items":
        text = _remote_form(f"{{type: array, items: {{enum: [a, b], $ref: '{url}'}}}}")
    else:
        text = _remote_form("{type: integer}") + f"  allOf: [{{$ref: '{url}'}}]\n"
    try:
        form = load_form(text, "f.yaml")
        form.errors({"weeks": 3})
        form.errors({"weeks": ["a"]})
    except Exception:  # what is raised is judged below; here only the network is watched
        pass
    assert hits == []


def test_a_remote_ref_gives_a_clear_error_at_load_or_at_validation_not_a_raw_exception(spy):
    url, hits = spy
    try:
        form = load_form(_remote_form(f"{{type: integer, $ref: '{url}'}}"), "f.yaml")
    except LoadError as exc:
        assert url in str(exc)
    else:
        errors = form.errors({"weeks": 3})
        assert errors
        assert all(isinstance(f, str) and isinstance(m, str) for f, m in errors)
    assert hits == []


def test_a_ref_to_a_missing_local_def_is_refused_at_load():
    with pytest.raises(LoadError) as info:
        load_form(_remote_form("{type: integer, $ref: '#/$defs/nope'}"), "f.yaml")
    assert "#/$defs/nope" in str(info.value)


# -- validation messages -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"symptom_weeks": -1}, [("symptom_weeks", "Weeks of symptoms must be 0 or more")]),
        ({"symptom_weeks": 521}, [("symptom_weeks", "Weeks of symptoms must be 520 or less")]),
        ({"symptom_weeks": "eight"}, [("symptom_weeks", "Weeks of symptoms must be a whole number")]),
        ({"symptom_weeks": 8.5}, [("symptom_weeks", "Weeks of symptoms must be a whole number")]),
        ({"symptom_weeks": True}, [("symptom_weeks", "Weeks of symptoms must be a whole number")]),
        ({"prior_imaging": "yes"}, [("prior_imaging", "This area was imaged before must be yes or no")]),
        ({"red_flags": "fever"}, [("red_flags", "Red flags present must be a list")]),
        ({"body_region": "knee"}, [("body_region", "Body region must be one of the listed choices")]),
        (
            {"conservative_therapy": ["yoga"]},
            [("conservative_therapy", "Conservative therapy tried must be one of the listed choices")],
        ),
        (
            {"conservative_therapy": []},
            [("conservative_therapy", "Conservative therapy tried needs at least 1 choice")],
        ),
        (
            {"conservative_therapy": ["nsaids", "nsaids"]},
            [("conservative_therapy", "Conservative therapy tried lists the same choice twice")],
        ),
        (
            {"clinical_question": "Why?"},
            [
                (
                    "clinical_question",
                    "Clinical question the study should answer must have at least 10 characters",
                )
            ],
        ),
        (
            {"prior_imaging_date": "2026-02-30"},
            [("prior_imaging_date", "Date of prior imaging must be a valid date (YYYY-MM-DD)")],
        ),
        (
            {"extra": 1, "more": "x"},
            [
                ("extra", "'extra' is not a question of this form; remove it"),
                ("more", "'more' is not a question of this form; remove it"),
            ],
        ),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else None,
)
def test_each_kind_of_invalid_answer_gets_its_plain_words(imaging, change, errors):
    answers = {**answers_of("imaging-readiness", "valid"), **change}
    assert imaging.errors(answers) == errors
    assert not imaging.complete(answers)


@pytest.mark.parametrize(
    "text",
    ["2026-02-30", "2025-02-29", "20260203", "2026-W05-1", "2026-2-3", " 2026-02-03", "2026-02-03T00:00", ""],
)
def test_a_date_answer_must_be_a_real_yyyy_mm_dd(imaging, text):
    answers = {**answers_of("imaging-readiness", "valid"), "prior_imaging_date": text}
    assert imaging.errors(answers) == [
        ("prior_imaging_date", "Date of prior imaging must be a valid date (YYYY-MM-DD)")
    ]


@pytest.mark.parametrize("text", ["2024-02-29", "2026-12-31", "2026-01-01"])
def test_a_real_date_is_accepted(imaging, text):
    assert imaging.errors({**answers_of("imaging-readiness", "valid"), "prior_imaging_date": text}) == []


def test_every_missing_required_answer_is_reported_at_once_in_form_order(imaging):
    assert imaging.errors({}) == [
        ("body_region", "Body region is required"),
        ("clinical_question", "Clinical question the study should answer is required"),
        ("symptom_weeks", "Weeks of symptoms is required"),
        ("conservative_therapy", "Conservative therapy tried is required"),
        ("therapy_weeks", "Weeks of conservative therapy is required"),
        ("red_flags", "Red flags present is required"),
        ("prior_imaging", "This area was imaged before is required"),
    ]


def test_prior_imaging_true_makes_its_three_follow_up_questions_required(imaging):
    answers = answers_of("imaging-readiness", "valid")
    for name in ("prior_imaging_modality", "prior_imaging_date", "change_since_prior"):
        del answers[name]
    assert imaging.errors(answers) == [
        ("prior_imaging_modality", "Modality of the prior study is required"),
        ("prior_imaging_date", "Date of prior imaging is required"),
        ("change_since_prior", "What changed since the prior study is required"),
    ]
    assert imaging.errors({**answers, "prior_imaging": False}) == []


def test_therapy_weeks_is_required_unless_no_therapy_was_tried(imaging):
    answers = answers_of("imaging-readiness", "valid")
    del answers["therapy_weeks"]
    assert imaging.errors(answers) == [("therapy_weeks", "Weeks of conservative therapy is required")]
    assert imaging.errors({**answers, "conservative_therapy": ["none"]}) == []


def test_none_with_another_therapy_is_refused_by_the_if_then_of_the_imaging_form(imaging):
    answers = {**answers_of("imaging-readiness", "valid"), "conservative_therapy": ["none", "nsaids"]}
    assert imaging.errors(answers) == [
        ("conservative_therapy", "Conservative therapy tried allows at most 1 choice")
    ]


def test_unrelated_problems_of_one_submission_are_all_reported(imaging):
    errors = imaging.errors(
        {"symptom_weeks": "x", "body_region": 1, "red_flags": "fever", "bogus": 1, "prior_imaging": 0}
    )
    assert errors == [
        ("body_region", "Body region must be text"),
        ("body_region", "Body region must be one of the listed choices"),
        ("clinical_question", "Clinical question the study should answer is required"),
        ("symptom_weeks", "Weeks of symptoms must be a whole number"),
        ("conservative_therapy", "Conservative therapy tried is required"),
        ("therapy_weeks", "Weeks of conservative therapy is required"),
        ("red_flags", "Red flags present must be a list"),
        ("prior_imaging", "This area was imaged before must be yes or no"),
        ("bogus", "'bogus' is not a question of this form; remove it"),
    ]


@pytest.mark.parametrize(
    ("form_id", "change", "errors"),
    [
        (
            "infusion-readiness",
            {"dose_mg": 0},
            [("dose_mg", "Dose per administration (mg) must be more than 0")],
        ),
        (
            "infusion-readiness",
            {"weight_kg": 0.25},
            [("weight_kg", "Current weight (kg) must be 0.5 or more")],
        ),
        (
            "infusion-readiness",
            {"indication": "back pain"},
            [("indication", "Diagnosis the drug treats (ICD-10-CM) is not in the expected format")],
        ),
        (
            "infusion-readiness",
            {"lab_date": "2026-13-01"},
            [("lab_date", "Date of these labs must be a valid date (YYYY-MM-DD)")],
        ),
        (
            "dme-readiness",
            {"medical_need": "x" * 2001},
            [
                (
                    "medical_need",
                    "How the item meets the patient's medical need at home must have at most 2000 characters",
                )
            ],
        ),
        (
            "sleep-cpap-readiness",
            {"ahi": "12"},
            [("ahi", "Apnea-hypopnea index (events per hour) must be a number")],
        ),
    ],
)
def test_bounds_patterns_and_types_of_other_forms_get_plain_words(form_id, change, errors):
    form = load_form_file(ROOT / "forms" / f"{form_id}.yaml")
    assert form.errors({**answers_of(form_id, "valid"), **change}) == errors


@pytest.mark.parametrize(
    ("form_id", "name", "title"),
    [
        ("dme-readiness", "item_code", "HCPCS code of the item"),
        ("infusion-readiness", "indication", "Diagnosis the drug treats (ICD-10-CM)"),
    ],
)
def test_a_code_with_a_trailing_newline_does_not_match_its_pattern(form_id, name, title):
    form = load_form_file(ROOT / "forms" / f"{form_id}.yaml")
    answers = answers_of(form_id, "valid")
    answers[name] += "\n"
    assert form.errors(answers) == [(name, f"{title} is not in the expected format")]


def test_a_dependent_required_answer_is_named_by_the_question_it_needs():
    form = load_form_file(ROOT / "forms" / "infusion-readiness.yaml")
    answers = answers_of("infusion-readiness", "valid")
    del answers["tb_screen_result"]
    assert form.errors(answers) == [("tb_screen_result", "Tuberculosis screening result is required")]


@pytest.mark.parametrize("answers", [[], "symptom_weeks=3", None, 3, [{"symptom_weeks": 3}]])
def test_answers_that_are_not_an_object_get_one_error_for_the_whole_form(imaging, answers):
    assert imaging.errors(answers) == [("", "the answers must be a JSON object of question: answer")]
    assert not imaging.complete(answers)
    assert imaging.to_facts(answers) == {}


# -- hidden questions: dropped before validation and from the facts ----------------------------------
def test_a_bad_answer_to_a_hidden_question_is_not_an_error(imaging):
    answers = {**answers_of("imaging-readiness", "valid"), "prior_imaging": False}
    answers.update(prior_imaging_date="not a date", change_since_prior=5, prior_imaging_modality="x")
    assert imaging.errors(answers) == []
    assert imaging.complete(answers)
    assert "prior_imaging_date" not in imaging.clean(answers)


def test_the_same_bad_answer_is_an_error_once_its_question_is_shown(imaging):
    answers = {**answers_of("imaging-readiness", "valid"), "prior_imaging_date": "not a date"}
    assert imaging.errors(answers) == [
        ("prior_imaging_date", "Date of prior imaging must be a valid date (YYYY-MM-DD)")
    ]


def test_to_facts_maps_answers_to_fact_paths_and_drops_hidden_and_unmapped_ones(imaging):
    answers = answers_of("imaging-readiness", "valid")
    assert imaging.to_facts(answers) == {
        "clinical.symptom_weeks": 8,
        "clinical.conservative_therapy": ["physical-therapy", "nsaids"],
        "clinical.conservative_therapy_weeks": 6,
        "clinical.red_flags": ["progressive-deficit"],
        "clinical.prior_imaging_date": "2025-11-03",
    }
    hidden = {**answers, "conservative_therapy": ["none"], "prior_imaging": False}
    assert imaging.to_facts(hidden) == {
        "clinical.symptom_weeks": 8,
        "clinical.conservative_therapy": ["none"],
        "clinical.red_flags": ["progressive-deficit"],
    }


def test_answer_types_give_the_fact_type_of_each_question(imaging):
    assert imaging.answer_types == {
        "body_region": "string",
        "contrast": "string",
        "clinical_question": "string",
        "symptom_weeks": "integer",
        "conservative_therapy": "[string]",
        "therapy_weeks": "integer",
        "red_flags": "[string]",
        "prior_imaging": "boolean",
        "prior_imaging_modality": "string",
        "prior_imaging_date": "date",
        "change_since_prior": "string",
    }


# -- properties over any answers to the shipped forms -------------------------------------------------
FORMS = {p.stem: load_form_file(p) for p in SHIPPED}
_ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 600),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=2),
)


def _value(question) -> st.SearchStrategy:
    if question.kind in ("choice", "boolean"):
        good = st.sampled_from(question.choices)
    elif question.kind == "choices":
        good = st.lists(st.sampled_from(question.choices), unique=True, max_size=3)
    elif question.kind == "integer":
        good = st.integers(-2, 600)
    elif question.kind == "number":
        good = st.floats(-10, 400, allow_nan=False)
    elif question.kind == "date":
        good = st.sampled_from(["2026-01-31", "2026-02-30", "soon"])
    else:
        good = st.text(max_size=30)
    return st.one_of(good, good, _ANYTHING)


@st.composite
def _form_and_answers(draw) -> tuple[str, dict]:
    form_id = draw(st.sampled_from(sorted(FORMS)))  # an id, not a Form: hypothesis prints what it draws
    form = FORMS[form_id]
    answers = {q.name: draw(_value(q)) for q in form.questions if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        answers["not_a_question"] = 1
    return form_id, answers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_form_and_answers())
def test_errors_are_plain_words_about_shown_questions_and_agree_with_complete(case):
    form_id, answers = case
    form = FORMS[form_id]
    errors = form.errors(answers)
    assert form.complete(answers) == (errors == [])
    shown = form.visible(answers)
    for field, message in errors:
        # a form never asks for (or complains about) an answer to a question it hides
        assert field in shown or field not in form.fields, (field, message)
        assert not any(raw in message for raw in RAW_JSONSCHEMA), message
    assert set(form.to_facts(answers)) <= set(form.facts.values())
