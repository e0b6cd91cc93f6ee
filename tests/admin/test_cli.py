"""The `priorauth` command line: decisions on stdout, sentences on stderr, an exit status, no traceback.

Most tests call `admin.cli.main([...])` in-process; a few run the installed console script to prove
it is wired, and to read its output while it is still running (streaming).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import date
from pathlib import Path
from typing import ClassVar

import pytest

from admin import cli
from engine import Evaluator, load_ruleset_file

ROOT = Path(__file__).resolve().parents[2]
PRIORAUTH = ROOT / ".venv" / "bin" / "priorauth"
SPEC = ROOT / "tests" / "fixtures" / "spec"
RULESET = SPEC / "acme-commercial.yaml"
CASE = SPEC / "case.json"
FIXTURES = ROOT / "tests" / "fixtures" / "cli"
SECRET = "SECRET-VALUE-123"
SPEC_KEYS = [
    "case_id",
    "ruleset",
    "auth",
    "channel",
    "portal",
    "queue",
    "urgency",
    "due",
    "forms",
    "missing",
    "satisfied",
    "ready",
    "fired",
]


@pytest.fixture(autouse=True)
def _no_engine_from_the_environment(monkeypatch):
    monkeypatch.delenv("PRIORAUTH_ENGINE", raising=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def expected_decision(case: Path = CASE, backend: str = "durable") -> dict:
    evaluator = Evaluator([load_ruleset_file(str(RULESET))], backend=backend)
    return evaluator.evaluate(json.loads(case.read_text("utf-8")), date.today())


# -- evaluate --case ---------------------------------------------------------------------------------------
def test_evaluate_json_prints_the_decision_of_the_spec_case(capsys):
    status, out, err = run(capsys, "evaluate", "--case", CASE, "--ruleset", RULESET, "--json")
    assert (status, err) == (0, "")
    decision = json.loads(out)
    assert list(decision)[: len(SPEC_KEYS)] == SPEC_KEYS
    assert decision["case_id"] == "C-1001"
    assert decision["ruleset"]["id"] == "acme-commercial"
    assert decision["ruleset"]["version"] == 4
    assert decision["auth"] == "required"
    assert (decision["channel"], decision["portal"], decision["queue"]) == (
        "portal",
        "acme-portal",
        "imaging",
    )
    assert (decision["urgency"], decision["due"]) == ("standard", "2026-11-27")
    assert decision["forms"] == ["imaging-readiness"]
    assert decision["missing"] == [
        {"id": "order", "label": "Signed order", "rule": "imaging-needs-auth"},
        {
            "id": "conservative-therapy-6w",
            "label": "Six weeks of conservative therapy documented",
            "rule": "lumbar-conservative-therapy",
        },
    ]
    assert decision["satisfied"] == [
        {"id": "recent-note", "label": "Clinical note from the last 60 days", "by": ["D1"]}
    ]
    assert decision["ready"] is False
    assert [f["rule"] for f in decision["fired"]] == ["imaging-needs-auth", "lumbar-conservative-therapy"]
    assert decision["fired"][0] == {
        "rule": "imaging-needs-auth",
        "priority": 0,
        "applied": True,
        "facts": {"service.codes": ["72148"]},
    }
    assert decision == expected_decision()


def test_evaluate_with_a_rulesets_folder_decides_like_the_single_file(capsys):
    status, out, _ = run(capsys, "evaluate", "--case", CASE, "--rulesets", SPEC, "--json")
    assert status == 0
    assert json.loads(out) == expected_decision()


def test_evaluate_without_json_prints_the_decision_in_words(capsys):
    sha = load_ruleset_file(str(RULESET)).sha256
    status, out, err = run(capsys, "evaluate", "--case", CASE, "--ruleset", RULESET)
    assert (status, err) == (0, "")
    assert (
        out
        == "\n".join(
            [
                "case C-1001: auth REQUIRED  ·  not ready",
                f"  ruleset   acme-commercial v4 ({sha[:12]})",
                "  channel   portal (acme-portal)",
                "  queue     imaging",
                "  urgency   standard, payer decision due 2026-11-27",
                "  forms     imaging-readiness",
                "  MISSING   Signed order [order]: rule 'imaging-needs-auth' requires it and nothing in the case "
                "satisfies it (documents: some with type = order)",
                "  MISSING   Six weeks of conservative therapy documented [conservative-therapy-6w]: rule "
                "'lumbar-conservative-therapy' names it as missing",
                "  ok        Clinical note from the last 60 days [recent-note] by D1",
                "  rule      imaging-needs-auth (priority 0, applied)",
                "  rule      lumbar-conservative-therapy (priority 0, applied)",
            ]
        )
        + "\n"
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_evaluate_in_words_says_why_no_ruleset_applies(capsys, tmp_path):
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"case_id": "C-2", "as_of": "2026-11-20", "coverage": {"payer": "nobody"}}))
    status, out, _ = run(capsys, "evaluate", "--case", case, "--ruleset", RULESET)
    assert status == 0
    assert out.splitlines()[:2] == [
        "case C-2: auth UNKNOWN  ·  not ready",
        "  ruleset   none: no ruleset for payer 'nobody'",
    ]


def test_evaluate_in_words_never_prints_none_for_a_ruleset_without_a_version(capsys):
    status, out, _ = run(capsys, "evaluate", "--case", CASE, "--ruleset", FIXTURES / "unversioned.yaml")
    assert status == 0
    ruleset_line = out.splitlines()[1]
    assert ruleset_line.startswith("  ruleset   draft-imaging ")
    assert "None" not in ruleset_line


def test_malformed_case_json_exits_1_with_file_line_and_column(capsys):
    path = FIXTURES / "malformed-case.json"
    status, out, err = run(capsys, "evaluate", "--case", path, "--ruleset", RULESET, "--json")
    assert (status, out) == (1, "")
    assert err == f"priorauth: {path}:6:1: not valid JSON (Expecting ',' delimiter): fix the JSON\n"


def test_a_case_that_is_not_a_json_object_exits_1(capsys, tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    status, _, err = run(capsys, "evaluate", "--case", path, "--ruleset", RULESET)
    assert status == 1
    assert err == f"priorauth: {path}: the case must be a JSON object of facts\n"


@pytest.mark.parametrize(
    ("fixture", "named"),
    [
        ("wrong-type-case.json", "service.units: expected a number, got a string"),
        (
            "wrong-clinical-type-case.json",
            "clinical.conservative_therapy_weeks: expected a whole number, got a string",
        ),
    ],
)
def test_a_wrong_typed_fact_exits_1_naming_the_path_but_never_the_value(capsys, fixture, named):
    path = FIXTURES / fixture
    assert SECRET in path.read_text("utf-8")
    status, out, err = run(capsys, "evaluate", "--case", path, "--ruleset", RULESET, "--json")
    assert (status, out) == (1, "")
    assert err == f"priorauth: {path}: facts of the wrong type: {named}\n"
    assert SECRET not in err


def test_a_missing_case_file_exits_1_with_a_sentence(capsys, tmp_path):
    path = tmp_path / "absent.json"
    status, _, err = run(capsys, "evaluate", "--case", path, "--ruleset", RULESET)
    assert status == 1
    assert err == f"priorauth: {path}: cannot read the file (No such file or directory)\n"


def test_evaluate_without_a_ruleset_source_uses_the_store_and_says_how_to_set_it_up(capsys):
    status, _, err = run(capsys, "evaluate", "--case", CASE)
    assert status == 1
    assert "has no priorauth tables yet: run `priorauth db upgrade`" in err
    assert err.endswith("or pass --rulesets DIR / --ruleset FILE to evaluate from files\n")


def test_evaluate_refuses_a_bad_ruleset_with_its_problems(capsys):
    bad = ROOT / "tests" / "fixtures" / "bad_rulesets" / "unknown-operator.yaml"
    status, out, err = run(capsys, "evaluate", "--case", CASE, "--ruleset", bad)
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        f"{bad}:12: unknown operator 'gtee' on 'clinical.ahi': did you mean 'gte'?",
        "priorauth: 1 problem(s) in the rulesets: run `priorauth rulesets check` and fix them",
    ]


def test_a_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", "--case", str(CASE), "--cases", "x.jsonl"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# -- evaluate --cases (JSONL) ----------------------------------------------------------------------------
MIXED = FIXTURES / "cases.jsonl"


def stream(capsys, path: Path, *extra: str) -> tuple[int, list[dict], str]:
    status, out, err = run(capsys, "evaluate", "--cases", path, "--rulesets", SPEC, *extra)
    return status, [json.loads(line) for line in out.splitlines()], err


def test_evaluate_cases_writes_one_json_line_per_case_and_skips_blank_lines(capsys):
    status, records, _ = stream(capsys, FIXTURES / "good-cases.jsonl")
    assert status == 0
    assert [r["case_id"] for r in records] == ["G-1", "G-3", "G-4"]
    assert [r["auth"] for r in records] == ["required", "not-required", "unknown"]


def test_evaluate_cases_turns_each_bad_line_into_an_error_record_and_goes_on(capsys):
    status, records, err = stream(capsys, MIXED)
    assert status == 1
    assert err == "priorauth: 6 of 9 line(s) failed; see the error records\n"
    assert [r.get("case_id", r.get("line")) for r in records] == ["J-1", 3, 4, 6, "J-7", "J-8", 9, 10, 11]
    errors = [r for r in records if "error" in r]
    assert errors == [
        {
            "line": 3,
            "error": "line 3, column 49: not valid JSON (Expecting property name enclosed in double quotes): fix the JSON",
        },
        {
            "line": 4,
            "error": "line 4: facts of the wrong type: service.codes: expected a list of strings, got a string",
        },
        {"line": 6, "error": "line 6: a case must be a JSON object"},
        {"line": 9, "error": "line 9: not valid JSON (duplicate key 'case_id'): fix the JSON"},
        {"line": 10, "error": "line 10: not valid JSON (NaN is not a JSON number): fix the JSON"},
        {
            "line": 11,
            "error": "line 11: facts of the wrong type: clinical.conservative_therapy_weeks: "
            "expected a whole number, got a string",
        },
    ]
    assert records[0]["auth"] == "required"
    assert records[4]["auth"] == "not-required"
    assert records[5]["reason"] == "no ruleset for payer 'nobody'"


def test_evaluate_cases_never_prints_a_wrong_typed_value(capsys):
    cli.main(["evaluate", "--cases", str(MIXED), "--rulesets", str(SPEC)])
    out, err = capsys.readouterr()
    assert SECRET in MIXED.read_text("utf-8")
    assert SECRET not in out
    assert SECRET not in err


def test_evaluate_cases_decides_each_case_like_evaluate_case(capsys, tmp_path):
    single = tmp_path / "one.jsonl"
    single.write_text(json.dumps(json.loads(CASE.read_text("utf-8"))) + "\n")
    status, records, _ = stream(capsys, single, "--backend", "durable")
    assert status == 0
    assert records == [expected_decision()]


@pytest.mark.parametrize("path", [MIXED, FIXTURES / "good-cases.jsonl"], ids=["mixed", "good"])
def test_evaluate_cases_prints_the_same_on_the_durable_and_the_compiled_backend(capsys, path):
    durable = run(capsys, "evaluate", "--cases", path, "--rulesets", SPEC, "--backend", "durable")
    compiled = run(capsys, "evaluate", "--cases", path, "--rulesets", SPEC, "--backend", "compiled")
    assert durable == compiled
    assert durable[1]


def test_evaluate_cases_of_an_empty_file_prints_nothing_and_exits_0(capsys, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n   \n")
    assert run(capsys, "evaluate", "--cases", path, "--rulesets", SPEC) == (0, "", "")


def test_evaluate_cases_reports_a_line_that_is_not_utf8_and_goes_on(capsys, tmp_path):
    path = tmp_path / "cases.jsonl"
    case = {"case_id": "U-2", "as_of": "2026-11-20", "coverage": {"payer": "acme", "plan_type": "commercial"}}
    path.write_bytes(b'{"case_id": "caf\xe9"}\n' + json.dumps(case).encode() + b"\n")
    status, records, _ = stream(capsys, path)
    assert status == 1
    assert records[0] == {"line": 1, "error": "line 1: not UTF-8 text"}
    assert records[1]["case_id"] == "U-2"


def test_as_of_dates_a_case_that_has_no_as_of(capsys, tmp_path):
    case = json.loads(CASE.read_text("utf-8"))
    del case["as_of"]
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    status, out, _ = run(
        capsys, "evaluate", "--case", path, "--ruleset", RULESET, "--json", "--as-of", "2026-11-20"
    )
    assert status == 0
    assert json.loads(out) == expected_decision()


def test_an_impossible_as_of_exits_1_and_shows_the_format(capsys):
    status, _, err = run(capsys, "evaluate", "--case", CASE, "--ruleset", RULESET, "--as-of", "2026-11-31")
    assert status == 1
    assert err == "priorauth: --as-of '2026-11-31' is not a date: write YYYY-MM-DD\n"


def test_a_case_nested_too_deeply_exits_1_without_a_traceback(capsys, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    status, out, err = run(capsys, "evaluate", "--case", path, "--ruleset", RULESET)
    assert (status, out) == (1, "")
    assert err == f"priorauth: {path}: the JSON nests too deeply: flatten it\n"


def test_a_line_nested_too_deeply_is_an_error_record_and_the_rest_go_on(capsys, tmp_path):
    path = tmp_path / "deep.jsonl"
    case = {"case_id": "N-2", "as_of": "2026-11-20", "coverage": {"payer": "nobody"}}
    path.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000 + "\n" + json.dumps(case) + "\n")
    status, records, _ = stream(capsys, path)
    assert status == 1
    assert records[0] == {"line": 1, "error": "line 1: the JSON nests too deeply: flatten it"}
    assert records[1]["case_id"] == "N-2"


def test_a_missing_cases_file_exits_1_with_a_sentence(capsys, tmp_path):
    path = tmp_path / "absent.jsonl"
    status, out, err = run(capsys, "evaluate", "--cases", path, "--rulesets", SPEC)
    assert (status, out) == (1, "")
    assert err == f"priorauth: {path}: cannot read the file (No such file or directory)\n"


def big_jsonl(path: Path, lines: int) -> None:
    with path.open("w") as out:
        for i in range(lines):
            case = {
                "case_id": f"S-{i}",
                "as_of": "2026-11-20",
                "coverage": {"payer": "acme", "plan_type": "commercial"},
                "service": {"codes": ["72148" if i % 3 else "99213"]},
                "clinical": {"conservative_therapy_weeks": i % 10},
                "documents": [{"id": f"D{i}", "type": "clinical-note", "date": "2026-10-01"}],
            }
            out.write(json.dumps(case) + "\n")


@pytest.mark.parametrize("backend", ["durable", "compiled"])
def test_evaluate_cases_gets_through_20000_lines(tmp_path, backend):
    path = tmp_path / "big.jsonl"
    big_jsonl(path, 20_000)
    result = subprocess.run(
        [str(PRIORAUTH), "evaluate", "--cases", str(path), "--rulesets", str(SPEC), "--backend", backend],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert len(lines) == 20_000
    assert json.loads(lines[0])["case_id"] == "S-0"
    assert json.loads(lines[-1])["case_id"] == "S-19999"


def test_evaluate_cases_streams_decisions_before_its_input_ends(tmp_path):
    fifo = tmp_path / "cases.fifo"
    os.mkfifo(fifo)
    cases = tmp_path / "cases.jsonl"
    big_jsonl(cases, 600)
    proc = subprocess.Popen(
        [str(PRIORAUTH), "evaluate", "--cases", str(fifo), "--rulesets", str(SPEC)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    # O_RDWR: Linux opens a FIFO this way without waiting for the reader
    writer = os.open(fifo, os.O_RDWR)
    lines: list[str] = []
    first = threading.Event()

    def read_all() -> None:
        for line in proc.stdout:
            lines.append(line)
            first.set()

    reader = threading.Thread(target=read_all, daemon=True)
    try:
        threading.Thread(target=os.write, args=(writer, cases.read_bytes()), daemon=True).start()
        reader.start()
        assert first.wait(timeout=30), "no decision came out while the input was still open"
        assert proc.poll() is None
        assert json.loads(lines[0])["case_id"] == "S-0"
    finally:
        os.close(writer)
        reader.join(timeout=60)
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == 0
    assert len(lines) == 600


# -- rulesets check -----------------------------------------------------------------------------------------
def test_rulesets_check_exits_0_on_a_good_ruleset(capsys):
    status, out, err = run(capsys, "rulesets", "check", RULESET)
    assert (status, err) == (0, "")
    assert out == f"ok  {RULESET}: acme-commercial v4 · 3 rules · 1 tests pass on both backends\n"


def test_rulesets_check_exits_1_on_a_bad_ruleset(capsys):
    bad = ROOT / "tests" / "fixtures" / "bad_rulesets" / "duplicate-rule-id.yaml"
    status, out, err = run(capsys, "rulesets", "check", RULESET, bad)
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        f"{bad}:9: rule id 'emergency' is used twice (first on line 6): give each rule its own id",
        "priorauth: 1 problem(s) found",
    ]


def test_rulesets_check_exits_1_on_a_path_that_does_not_exist(capsys, tmp_path):
    status, _, err = run(capsys, "rulesets", "check", tmp_path / "nope.yaml")
    assert status == 1
    assert err.splitlines()[0] == f"{tmp_path / 'nope.yaml'}: no such file or folder: check the path"


# -- which backend -----------------------------------------------------------------------------------------
class _Recording(Evaluator):
    backends: ClassVar[list[str]] = []

    def __init__(self, rulesets, forms=None, backend="durable"):
        _Recording.backends.append(backend)
        super().__init__(rulesets, forms, backend)


@pytest.fixture
def recorded(monkeypatch):
    _Recording.backends = []
    monkeypatch.setattr(cli, "Evaluator", _Recording)
    return _Recording.backends


@pytest.mark.parametrize("backend", ["durable", "compiled"])
def test_priorauth_engine_selects_the_backend_for_one_case(capsys, monkeypatch, recorded, backend):
    monkeypatch.setenv("PRIORAUTH_ENGINE", backend)
    status, out, _ = run(capsys, "evaluate", "--case", CASE, "--ruleset", RULESET, "--json")
    assert status == 0
    assert recorded == [backend]
    assert json.loads(out) == expected_decision(backend=backend)


@pytest.mark.parametrize("backend", ["durable", "compiled"])
def test_priorauth_engine_selects_the_backend_for_a_stream(capsys, monkeypatch, recorded, backend):
    monkeypatch.setenv("PRIORAUTH_ENGINE", backend)
    status, _, _ = run(capsys, "evaluate", "--cases", FIXTURES / "good-cases.jsonl", "--rulesets", SPEC)
    assert status == 0
    assert recorded == [backend]


def test_without_priorauth_engine_one_case_uses_durable_and_a_stream_compiled(capsys, recorded):
    run(capsys, "evaluate", "--case", CASE, "--ruleset", RULESET)
    run(capsys, "evaluate", "--cases", FIXTURES / "good-cases.jsonl", "--rulesets", SPEC)
    assert recorded == ["durable", "compiled"]


def test_the_backend_option_wins_over_priorauth_engine(capsys, monkeypatch, recorded):
    monkeypatch.setenv("PRIORAUTH_ENGINE", "compiled")
    run(capsys, "evaluate", "--case", CASE, "--ruleset", RULESET, "--backend", "durable")
    assert recorded == ["durable"]


def test_an_unknown_priorauth_engine_exits_1_and_names_the_choices(capsys, monkeypatch):
    monkeypatch.setenv("PRIORAUTH_ENGINE", "drools")
    status, out, err = run(capsys, "evaluate", "--case", CASE, "--ruleset", RULESET)
    assert (status, out) == (1, "")
    assert err == "priorauth: PRIORAUTH_ENGINE is 'drools': set it to one of durable, compiled\n"


# -- the console script ----------------------------------------------------------------------------------
def test_the_priorauth_console_script_prints_the_decision_json():
    result = subprocess.run(
        [str(PRIORAUTH), "evaluate", "--case", str(CASE), "--ruleset", str(RULESET), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "PRIORAUTH_ENGINE"},
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == expected_decision()


def test_the_priorauth_console_script_fails_without_a_traceback():
    result = subprocess.run(
        [
            str(PRIORAUTH),
            "evaluate",
            "--case",
            str(FIXTURES / "wrong-type-case.json"),
            "--ruleset",
            str(RULESET),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr
    assert result.stderr.startswith("priorauth: ")
