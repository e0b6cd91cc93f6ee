"""A ruleset with a mistake is refused as `file:line: what is wrong: how to fix`, at the right line.

Every file in tests/fixtures/bad_rulesets/ opens with `# expect: <line>: <message>`; the one
parametrized test below runs `priorauth rulesets check FILE` on it and looks for `FILE:<line>: ...`
on stderr. A fixture that reproduces a known engine bug says so on its second line (`# bug: ...`)
and is marked xfail from it.
"""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest

from engine import LoadError, Problem, check_rulesets, load_ruleset, run_tests
from engine.rulesets import load_ruleset_file

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad_rulesets"
PRIORAUTH = ROOT / ".venv" / "bin" / "priorauth"


def _header(path: Path, key: str) -> str | None:
    for line in path.read_text("utf-8").splitlines():
        if not line.startswith("#"):
            return None
        if line.startswith(f"# {key}:"):
            return line[len(f"# {key}:") :].strip()
    return None


def _bad_rulesets() -> list[object]:
    params = []
    for path in sorted(BAD.glob("*.yaml")):
        bug = _header(path, "bug")
        marks = [pytest.mark.xfail(reason=f"bug: {bug}", strict=True)] if bug else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def test_every_bad_ruleset_fixture_states_what_it_expects():
    files = sorted(BAD.glob("*.yaml"))
    assert len(files) >= 20
    for path in files:
        assert path.read_text("utf-8").startswith("# expect: "), path.name


@pytest.mark.parametrize("path", _bad_rulesets())
def test_rulesets_check_refuses_the_bad_ruleset_at_the_right_line(path):
    expect = _header(path, "expect")
    relative = path.relative_to(ROOT)
    result = subprocess.run(
        [str(PRIORAUTH), "rulesets", "check", str(relative)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1, result.stderr
    assert f"{relative}:{expect}" in result.stderr, result.stderr
    assert result.stdout == ""
    assert result.stderr.rstrip().splitlines()[-1].startswith("priorauth: ")


# -- the same refusals through the engine's API ------------------------------------------------------
BASE = """\
ruleset: sample
payer: acme
effective: {from: 2026-01-01}
facts:
  clinical.ahi: number
valuesets:
  lumbar_mri: ["72148", "72149", "72158"]
items:
  order: {label: Signed order, satisfied_by: {documents: {some: {type: order}}}}
rules:
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(LoadError) as info:
        load_ruleset(text, "r.yaml")
    return [str(p) for p in info.value.problems]


def test_a_good_sample_loads():
    ruleset = load_ruleset(
        BASE + "  - id: a\n    when: {service.codes: {any_in: lumbar_mri}}\n    then: {auth: required}\n"
    )
    assert [rule.id for rule in ruleset.rules] == ["a"]


def test_it_collects_every_problem_of_a_document_in_line_order():
    text = BASE + (
        "  - id: a\n"  # 11
        "    when:\n"
        "      all:\n"
        "        - service.code: {any_in: lumbar_mri}\n"  # 14
        "        - clinical.ahi: {gtee: 5}\n"  # 15
        "    then: {auth: required, require: [ordr]}\n"  # 16
        "  - id: a\n"  # 17
        "    when: {diagnoses: {in: [M54.5]}}\n"  # 18
        "    then: {auth: maybe}\n"  # 19
    )
    assert problems_of(text) == [
        "r.yaml:14: unknown fact path 'service.code': did you mean 'service.codes'?",
        "r.yaml:15: unknown operator 'gtee' on 'clinical.ahi': did you mean 'gte'?",
        "r.yaml:16: rule 'a' requires unknown item 'ordr': did you mean 'order'?",
        "r.yaml:17: rule id 'a' is used twice (first on line 11): give each rule its own id",
        "r.yaml:18: operator 'in' cannot test 'diagnoses', which is a list of strings: use any_in / all_in / none_in on a list",
        "r.yaml:19: auth 'maybe' is not one of required, not-required, review: pick one of required, not-required, review",
    ]


def test_an_unknown_path_in_a_document_condition_names_the_record_fields():
    text = BASE + "  - id: a\n    when: {documents: {some: {typ: order}}}\n    then: {auth: required}\n"
    assert problems_of(text) == ["r.yaml:12: unknown fact path 'typ': did you mean 'type'?"]


def test_an_unknown_path_in_an_items_condition_is_refused_at_its_line():
    text = (
        BASE.replace(
            "items:\n",
            "items:\n  note: {label: Note, satisfied_by: {documents: {some: {type: note}}, sevrice.units: 1}}\n",
        )
        + "  - id: a\n    when: {urgency: emergency}\n    then: {auth: required, require: [note]}\n"
    )
    assert problems_of(text) == ["r.yaml:9: unknown fact path 'sevrice.units': did you mean 'service.units'?"]


def test_an_undeclared_clinical_path_in_the_scope_is_refused():
    text = BASE.replace("rules:\n", "scope: {clinical.bmi: {gte: 40}}\nrules:\n") + (
        "  - id: a\n    when: {urgency: emergency}\n    then: {auth: required}\n"
    )
    assert problems_of(text) == [
        "r.yaml:10: unknown fact path 'clinical.bmi': declare it under "
        "`facts:` with its type (e.g. `clinical.bmi: number`)"
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('"72158-72148"', "value set 'v': range '72158-72148' runs backwards: put the lower code first"),
        (
            '"E06-E0699"',
            "value set 'v': range 'E06-E0699' mixes codes of different lengths or prefixes: both bounds "
            "must have the same length and the same letters before the digits",
        ),
        (
            '"A10-B20"',
            "value set 'v': range 'A10-B20' mixes codes of different lengths or prefixes: both bounds "
            "must have the same length and the same letters before the digits",
        ),
        ("72148", "value set 'v': an entry is a number; codes are strings: quote it: \"72148\""),
        (
            '"M46.2**"',
            "value set 'v': entry 'M46.2**' is not a prefix: write a code start followed by one *, like \"M46.2*\"",
        ),
        ('"72148 "', "value set 'v': entry '72148 ' is empty or has spaces around it: write the code alone"),
    ],
)
def test_a_bad_value_set_entry_is_refused_at_its_own_line(entry, message):
    text = f'ruleset: s\npayer: acme\neffective: {{from: 2026-01-01}}\nvaluesets:\n  v:\n    - "73721"\n    - {entry}\nrules:\n  - id: a\n    when: {{urgency: emergency}}\n    then: {{auth: required}}\n'
    assert problems_of(text) == [f"r.yaml:7: {message}"]


def test_a_value_set_with_a_bad_entry_is_reported_once_not_also_as_unknown():
    text = 'ruleset: s\npayer: acme\neffective: {from: 2026-01-01}\nvaluesets:\n  v: ["72158-72148"]\nrules:\n  - id: a\n    when: {service.codes: {any_in: v}}\n    then: {auth: required}\n'
    assert problems_of(text) == [
        "r.yaml:5: value set 'v': range '72158-72148' runs backwards: put the lower code first"
    ]


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            "{service.place_of_service: 22}",
            "'service.place_of_service' is text and the value is a number: "
            "quote it exactly as written: YAML reads unquoted digits as a number (011 even becomes 9)",
        ),
        (
            '{clinical.ahi: {gte: "15"}}',
            "'clinical.ahi' is a number and the value is not: write a number without quotes",
        ),
        (
            "{service.date: {gte: soon}}",
            "'service.date' is a date and the value is not: write a date as YYYY-MM-DD",
        ),
        (
            "{coverage.payer: true}",
            "'coverage.payer' is text and the value is true/false: quote it: YAML reads "
            'yes/no/on/off/true/false unquoted as true/false (write "yes")',
        ),
        (
            "{clinical.ahi: {between: [15, 5]}}",
            "between on 'clinical.ahi' has its low bound above its high bound: swap them",
        ),
        (
            "{documents: {some: {date: {within_days: -1}}}}",
            "within_days on 'date' takes a whole number of days: write within_days: 60",
        ),
        ("{case_id: {matches: 5}}", "matches on 'case_id' takes a string: quote the pattern"),
        (
            "{diagnoses: M54.5}",
            "'diagnoses' is a list and cannot equal a single value: use {any_in: [...]} (any of), {all_in: [...]} or {none_in: [...]}",
        ),
        (
            "{service.units: {in: lumbar_mri}}",
            "value set 'lumbar_mri' holds codes but 'service.units' is not text: write a list of values",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_path(when, message):
    text = BASE + f"  - id: a\n    when: {when}\n    then: {{auth: required}}\n"
    assert problems_of(text) == [f"r.yaml:12: {message}"]


def test_every_value_of_the_wrong_type_in_a_list_is_refused():
    text = (
        BASE
        + '  - id: a\n    when: {service.place_of_service: {in: [21, "11", 22]}}\n    then: {auth: required}\n'
    )
    problems = problems_of(text)
    assert problems
    assert set(problems) == {
        "r.yaml:12: 'service.place_of_service' is text and the value is a number: "
        "quote it exactly as written: YAML reads unquoted digits as a number (011 even becomes 9)"
    }


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            "{service.place_of_service: 2.5}",
            "'service.place_of_service' is text and the value is a number: "
            "quote it exactly as written: YAML reads unquoted digits as a number",
        ),
        (
            "{coverage.payer: 2026-01-01}",
            "'coverage.payer' is text and the value is a date: quote it: YAML reads an unquoted "
            "YYYY-MM-DD as a date",
        ),
    ],
)
def test_the_quote_it_hint_says_why_yaml_changed_the_value(when, message):
    text = BASE + f"  - id: a\n    when: {when}\n    then: {{auth: required}}\n"
    assert problems_of(text) == [f"r.yaml:12: {message}"]


def test_a_pattern_of_exactly_200_characters_is_allowed():
    pattern = "C" + "[0-9]" * 39 + "x" * 4
    assert len(pattern) == 200
    text = (
        BASE + f'  - id: a\n    when: {{case_id: {{matches: "{pattern}"}}}}\n    then: {{auth: required}}\n'
    )
    assert load_ruleset(text, "r.yaml").rules[0].id == "a"


def test_a_pattern_of_201_characters_is_refused():
    pattern = "C" + "[0-9]" * 40
    text = (
        BASE + f'  - id: a\n    when: {{case_id: {{matches: "{pattern}"}}}}\n    then: {{auth: required}}\n'
    )
    assert problems_of(text) == [
        "r.yaml:12: the pattern on 'case_id' is 201 characters, over 200: shorten it"
    ]


# -- embedded tests ---------------------------------------------------------------------------------------
FAILING = BAD / "failing-embedded-test.yaml"


def test_run_tests_reports_a_failing_embedded_test_with_its_name_expected_and_got():
    ruleset = load_ruleset_file(FAILING)
    assert run_tests(ruleset) == [
        Problem(
            str(FAILING),
            15,
            "test 'expedited MRI needs auth' failed: expected auth 'not-required', got 'required' "
            "(rules fired: imaging)",
            "fix the rules or the test's expectation",
        )
    ]


def test_run_tests_runs_on_one_backend_when_asked():
    ruleset = load_ruleset_file(FAILING)
    for backend in ("durable", "compiled"):
        problems = run_tests(ruleset, backends=[backend])
        assert [p.line for p in problems] == [15]


def test_check_rulesets_loads_validates_and_runs_the_tests():
    rulesets, problems = check_rulesets([FAILING])
    assert [r.id for r in rulesets] == ["bad-test"]
    assert [str(p) for p in problems] == [
        f"{FAILING}:15: test 'expedited MRI needs auth' failed: expected auth 'not-required', got 'required' "
        "(rules fired: imaging): fix the rules or the test's expectation"
    ]


def test_check_rulesets_reports_every_bad_file_of_a_folder(tmp_path):
    for name in ("unknown-operator.yaml", "duplicate-rule-id.yaml"):
        (tmp_path / name).write_text((BAD / name).read_text("utf-8"), "utf-8")
    _, problems = check_rulesets([tmp_path])
    assert [(Path(p.file).name, p.line) for p in problems] == [
        ("duplicate-rule-id.yaml", 9),
        ("unknown-operator.yaml", 12),
    ]


def test_a_test_without_as_of_is_evaluated_as_of_effective_from():
    text = (
        "ruleset: s\npayer: acme\neffective: {from: 2026-03-01}\nrules:\n"
        "  - id: a\n    when: {as_of: 2026-03-01}\n    then: {auth: required}\n"
        "tests:\n  - name: as of effective.from\n    facts: {coverage: {payer: acme}}\n"
        "    expect: {auth: required, due: 2026-03-08}\n"
    )
    ruleset = load_ruleset(text, "r.yaml")
    assert ruleset.effective_from == date(2026, 3, 1)
    assert run_tests(ruleset) == []
