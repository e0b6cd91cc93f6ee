"""`priorauth forms check|validate|questionnaire`: JSON on stdout, `file:line` sentences on stderr.

Like tests/admin/test_cli.py, the tests call `admin.cli.main([...])` in-process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from admin import cli

ROOT = Path(__file__).resolve().parents[2]
FORMS = ROOT / "forms"
IMAGING = FORMS / "imaging-readiness.yaml"
BAD = ROOT / "tests" / "fixtures" / "bad_forms"
GOOD = ROOT / "tests" / "fixtures" / "forms"
ANSWERS = GOOD / "answers"


def run(capsys, *argv: object) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _expected(path: Path) -> tuple[list[str], bool]:
    """A bad-form fixture's `# expect:` lines, and whether it reproduces a known bug."""
    lines = path.read_text("utf-8").splitlines()
    header = [line for line in lines if line.startswith("#")]
    expect = [line[len("# expect: ") :] for line in header if line.startswith("# expect: ")]
    return expect, any(line.startswith("# bug: ") for line in header)


# -- forms check ----------------------------------------------------------------------------------------
def test_forms_check_passes_the_shipped_forms(capsys):
    status, out, err = run(capsys, "forms", "check", FORMS)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == len(list(FORMS.glob("*.yaml")))
    assert f"ok  {IMAGING}: imaging-readiness v3 · 11 fields" in lines


def test_forms_check_refuses_a_bad_form_with_file_line_on_stderr_and_no_traceback(capsys):
    path = BAD / "show-if-cycle.yaml"
    status, out, err = run(capsys, "forms", "check", path)
    assert status == 1
    assert out == ""
    assert err.splitlines() == [
        f"{path}:21: show_if of 'note' depends on itself through other questions: "
        "make the questions depend in one direction",
        f"{path}:22: show_if of 'seen_on' depends on itself through other questions: "
        "make the questions depend in one direction",
        "priorauth: 2 problem(s) found",
    ]


def test_forms_check_reports_every_problem_of_every_bad_form_of_a_folder(capsys):
    status, out, err = run(capsys, "forms", "check", BAD)
    assert status == 1
    assert out == ""
    assert "Traceback" not in err
    *problems, summary = err.splitlines()
    assert summary == f"priorauth: {len(problems)} problem(s) found"
    where = re.compile(rf"{re.escape(str(BAD))}/[a-z0-9-]+\.yaml:\d+: \S")
    assert all(where.match(line) for line in problems), problems
    files = [path for path in sorted(BAD.glob("*.yaml")) if not _expected(path)[1]]
    assert {line.split(":", 1)[0] for line in problems} >= {str(p) for p in files}
    for path in files:
        expect, _ = _expected(path)
        assert [line for line in problems if line.startswith(f"{path}:")] == [f"{path}:{e}" for e in expect]


def test_forms_check_of_a_missing_path_says_so(capsys, tmp_path):
    status, out, err = run(capsys, "forms", "check", tmp_path / "nope.yaml")
    assert status == 1
    assert out == ""
    assert err == (
        f"{tmp_path / 'nope.yaml'}: no such file or folder: check the path\npriorauth: 1 problem(s) found\n"
    )


def test_forms_check_prints_a_form_without_a_version_in_words(capsys):
    path = GOOD / "unversioned.yaml"
    status, out, err = run(capsys, "forms", "check", path)
    assert (status, err) == (0, "")
    assert out == f"ok  {path}: unversioned (no version) · 1 field\n"


# -- forms validate ---------------------------------------------------------------------------------------
def test_forms_validate_json_gives_valid_errors_and_facts_exactly(capsys, tmp_path):
    answers = tmp_path / "a.json"
    answers.write_text(
        json.dumps({"symptom_weeks": -1, "conservative_therapy": ["none"], "therapy_weeks": 4}), "utf-8"
    )
    status, out, err = run(capsys, "forms", "validate", "--form", IMAGING, "--answers", answers, "--json")
    assert (status, err) == (1, "")
    assert json.loads(out) == {
        "valid": False,
        "errors": [
            {"field": "body_region", "message": "Body region is required"},
            {
                "field": "clinical_question",
                "message": "Clinical question the study should answer is required",
            },
            {"field": "symptom_weeks", "message": "Weeks of symptoms must be 0 or more"},
            {"field": "red_flags", "message": "Red flags present is required"},
            {"field": "prior_imaging", "message": "This area was imaged before is required"},
        ],
        "facts": {"clinical.symptom_weeks": -1, "clinical.conservative_therapy": ["none"]},
    }
    assert list(json.loads(out)) == ["valid", "errors", "facts"]


def test_forms_validate_json_of_valid_answers_exits_0(capsys):
    answers = ANSWERS / "imaging-readiness-valid.json"
    status, out, err = run(capsys, "forms", "validate", "--form", IMAGING, "--answers", answers, "--json")
    assert (status, err) == (0, "")
    result = json.loads(out)
    assert (result["valid"], result["errors"]) == (True, [])
    assert result["facts"]["clinical.conservative_therapy_weeks"] == 6


def test_forms_validate_without_json_prints_one_line_per_error(capsys, tmp_path):
    answers = tmp_path / "a.json"
    answers.write_text("[1, 2]", "utf-8")
    status, out, err = run(capsys, "forms", "validate", "--form", IMAGING, "--answers", answers)
    assert (status, out, err) == (1, "(form): the answers must be a JSON object of question: answer\n", "")
    status, out, err = run(
        capsys, "forms", "validate", "--form", IMAGING, "--answers", ANSWERS / "imaging-readiness-valid.json"
    )
    assert (status, out, err) == (0, "valid\n", "")


def test_a_malformed_answers_file_is_named_with_line_and_column(capsys, tmp_path):
    answers = tmp_path / "a.json"
    answers.write_text('{"symptom_weeks": 3,\n  "red_flags": }\n', "utf-8")
    status, out, err = run(capsys, "forms", "validate", "--form", IMAGING, "--answers", answers, "--json")
    assert (status, out) == (1, "")
    assert err == f"priorauth: {answers}:2:16: not valid JSON (Expecting value): fix the JSON\n"


def test_a_duplicate_key_in_the_answers_file_is_refused(capsys, tmp_path):
    answers = tmp_path / "a.json"
    answers.write_text('{"symptom_weeks": 3, "symptom_weeks": 4}', "utf-8")
    status, out, err = run(capsys, "forms", "validate", "--form", IMAGING, "--answers", answers)
    assert (status, out) == (1, "")
    assert err == f"priorauth: {answers}: not valid JSON (duplicate key 'symptom_weeks'): fix the JSON\n"


def test_forms_validate_with_a_bad_form_prints_its_problems(capsys):
    path = BAD / "wrong-widget.yaml"
    status, out, err = run(
        capsys, "forms", "validate", "--form", path, "--answers", ANSWERS / "imaging-readiness-valid.json"
    )
    assert (status, out) == (1, "")
    assert err == (
        f"{path}:19: widget 'checkboxes' does not fit question 'region' (choice): use radio or select\n"
    )


def test_forms_validate_of_a_form_with_an_unresolvable_ref_fails_in_words(capsys, tmp_path):
    form = tmp_path / "remote.yaml"
    form.write_text(
        "form: remote\nschema:\n  type: object\n  properties:\n"
        "    weeks: {type: integer, $ref: 'https://example.org/weeks.json'}\n",
        "utf-8",
    )
    answers = tmp_path / "a.json"
    answers.write_text('{"weeks": 3}', "utf-8")
    status, out, err = run(capsys, "forms", "validate", "--form", form, "--answers", answers, "--json")
    assert status == 1
    assert "https://example.org/weeks.json" in err + out


# -- forms questionnaire ----------------------------------------------------------------------------------
def test_forms_questionnaire_prints_a_questionnaire_that_validates(capsys):
    status, out, err = run(capsys, "forms", "questionnaire", "--form", IMAGING)
    assert (status, err) == (0, "")
    q = json.loads(out)
    Questionnaire.model_validate(q)
    assert (q["id"], q["url"], q["version"]) == (
        "imaging-readiness",
        "urn:priorauth:questionnaire:imaging-readiness",
        "3",
    )


def test_forms_questionnaire_with_an_https_base_puts_the_id_after_a_slash(capsys):
    status, out, err = run(
        capsys,
        "forms",
        "questionnaire",
        "--form",
        IMAGING,
        "--base",
        "https://example.org/fhir/Questionnaire",
    )
    assert (status, err) == (0, "")
    assert json.loads(out)["url"] == "https://example.org/fhir/Questionnaire/imaging-readiness"


def test_forms_questionnaire_with_answers_prints_a_response_that_validates(capsys):
    status, out, err = run(
        capsys,
        "forms",
        "questionnaire",
        "--form",
        IMAGING,
        "--answers",
        ANSWERS / "imaging-readiness-partial.json",
        "--base",
        "https://example.org/fhir/Questionnaire",
    )
    assert (status, err) == (0, "")
    r = json.loads(out)
    QuestionnaireResponse.model_validate(r)
    assert r["resourceType"] == "QuestionnaireResponse"
    assert r["questionnaire"] == "https://example.org/fhir/Questionnaire/imaging-readiness|3"
    assert r["status"] == "in-progress"
    assert [i["linkId"] for i in r["item"]] == ["symptom_weeks", "conservative_therapy", "red_flags"]


def test_forms_questionnaire_refuses_answers_that_are_not_an_object(capsys, tmp_path):
    answers = tmp_path / "a.json"
    answers.write_text('["symptom_weeks"]', "utf-8")
    status, out, err = run(capsys, "forms", "questionnaire", "--form", IMAGING, "--answers", answers)
    assert (status, out) == (1, "")
    assert err == f"priorauth: {answers}: the answers must be a JSON object of question: answer\n"


def test_forms_questionnaire_of_a_bad_form_prints_its_problems(capsys):
    path = BAD / "unknown-top-level-key.yaml"
    status, out, err = run(capsys, "forms", "questionnaire", "--form", path)
    assert (status, out) == (1, "")
    assert err == f"{path}:18: unknown key 'titel': did you mean 'title'?\n"


def test_forms_without_an_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["forms"])
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err
