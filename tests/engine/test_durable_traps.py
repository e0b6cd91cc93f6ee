"""Each durable-rules 2.0.28 trap the durable backend is built to avoid: shown in durable itself
(in a subprocess, with a timeout, since some traps hang or crash), then shown avoided by our backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from datetime import date
from pathlib import Path

import pytest

from engine import BackendError, Evaluator, load_ruleset, load_ruleset_file
from engine.backends.durable import DurableRunner
from engine.plan import compile_plan

ROOT = Path(__file__).resolve().parents[2]
RULESET = ROOT / "tests" / "fixtures" / "spec" / "acme-commercial.yaml"
CASE = ROOT / "tests" / "fixtures" / "spec" / "case.json"
TODAY = date(2026, 11, 20)


def in_durable(code: str, timeout: float = 60) -> str:
    """Run `code` in a fresh interpreter and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def acme():
    return load_ruleset_file(str(RULESET))


@pytest.fixture(scope="module")
def case():
    return json.loads(CASE.read_text("utf-8"))


def runner_of(evaluator: Evaluator, ruleset) -> DurableRunner:
    runner = evaluator.runner(compile_plan(ruleset))
    assert isinstance(runner, DurableRunner)
    return runner


# -- a fact no rule matches ------------------------------------------------------------------------------
def test_durable_raises_message_not_handled_for_a_fact_no_rule_matches():
    out = in_durable(
        """
        from durable import engine
        rs = engine.Ruleset("t", None, {"r": {"all": [{"m": {"x": 1}}], "run": lambda c: None}})
        try:
            rs.assert_fact({"sid": "s", "k": 1, "x": 2})
            print("handled")
        except engine.MessageNotHandledException:
            print("MessageNotHandledException")
        """
    )
    assert out == "MessageNotHandledException"


def test_our_backend_decides_a_case_that_fires_no_rule(acme):
    facts = {
        "case_id": "C-0",
        "as_of": "2026-11-20",
        "coverage": {"payer": "acme", "plan_type": "commercial"},
    }
    decision = Evaluator([acme]).evaluate(facts, TODAY)
    assert decision["fired"] == []
    assert decision["auth"] == "unknown"
    assert decision == Evaluator([acme], backend="compiled").evaluate(facts, TODAY)


# -- the same fact twice ---------------------------------------------------------------------------------
def test_durable_raises_message_observed_for_an_identical_fact_asserted_twice():
    out = in_durable(
        """
        from durable import engine
        rs = engine.Ruleset("t", None, {"r": {"all": [{"m": {"x": 1}}], "run": lambda c: None}})
        state = rs.assert_fact({"sid": "s", "x": 1})
        rs.do_actions(state, lambda error, s: None)
        try:
            rs.assert_fact({"sid": "s", "x": 1})
            print("asserted twice")
        except engine.MessageObservedException:
            print("MessageObservedException")
        """
    )
    assert out == "MessageObservedException"


def test_our_backend_evaluates_the_identical_case_twice_and_in_one_batch(acme, case):
    evaluator = Evaluator([acme])
    first = evaluator.evaluate(case, TODAY)
    assert evaluator.evaluate(case, TODAY) == first
    assert list(evaluator.evaluate_many([case, case, case], TODAY)) == [first, first, first]


# -- an OR fires once per branch ----------------------------------------------------------------------------
def test_durable_fires_an_or_once_per_matching_branch():
    out = in_durable(
        """
        from durable import engine
        hits = []
        definition = {"r": {"all": [{"m": {"$or": [{"a": True}, {"b": True}]}}],
                            "run": lambda c: hits.append(c.m["k"])}}
        rs = engine.Ruleset("t", None, definition)
        state = rs.assert_fact({"sid": "s", "k": 7, "a": True, "b": True})
        rs.do_actions(state, lambda error, s: None)
        print(hits)
        """
    )
    assert out == "[7, 7]"


def test_our_backend_reports_a_rule_with_an_or_once_when_both_branches_hold():
    text = """
ruleset: either
payer: acme
effective: {from: 2026-01-01}
rules:
  - id: either
    when:
      any:
        - urgency: expedited
        - service.codes: {any_in: ["72148"]}
        - patient.state: {prefix: O}
    then: {auth: required, notes: [once]}
"""
    ruleset = load_ruleset(text, "either.yaml")
    facts = {
        "as_of": "2026-03-01",
        "urgency": "expedited",
        "coverage": {"payer": "acme"},
        "service": {"codes": ["72148"]},
        "patient": {"state": "OH"},
    }
    evaluator = Evaluator([ruleset])
    plan = compile_plan(ruleset)
    runner = runner_of(evaluator, ruleset)
    assert runner.fired(_flat(evaluator, facts), date(2026, 3, 1)) == [0]
    decision = evaluator.evaluate(facts, TODAY)
    assert [f["rule"] for f in decision["fired"]] == ["either"]
    assert decision["notes"] == ["once"]
    assert len(plan.rules) == 1


def _flat(evaluator: Evaluator, facts: dict) -> dict:
    flat, _ = evaluator.select(facts, TODAY)
    return flat


# -- a fact over 255 fields -----------------------------------------------------------------------------------
def test_durable_fails_on_a_fact_with_more_than_255_fields():
    out = in_durable(
        """
        from durable import engine
        definition = {"r": {"all": [{"m": {"a0": True}}], "run": lambda c: None}}
        rs = engine.Ruleset("t", None, definition)
        fact = {"sid": "s", "k": 1}
        fact.update({f"a{i}": True for i in range(300)})
        try:
            rs.assert_fact(fact)
            print("asserted")
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    assert out == "error Could not assert fact, error code: 302"


def _wide_ruleset(atoms: int) -> str:
    # prefix tests are not comparisons durable-rules runs itself: each is one precomputed atom flag
    rules = "".join(
        f"  - id: r{i}\n    when: {{case_id: {{prefix: C-{i}-}}}}\n    then: {{notes: [case {i}]}}\n"
        for i in range(atoms)
    )
    return "ruleset: wide\npayer: acme\neffective: {from: 2026-01-01}\nrules:\n" + rules


def test_our_backend_splits_300_atoms_into_facts_that_durable_accepts():
    ruleset = load_ruleset(_wide_ruleset(300), "wide.yaml")
    assert len(compile_plan(ruleset).atoms) == 300
    durable = Evaluator([ruleset], backend="durable")
    compiled = Evaluator([ruleset], backend="compiled")
    for number in (0, 1, 150, 239, 240, 241, 254, 255, 256, 299, 300, None):
        facts = {"as_of": "2026-03-01", "coverage": {"payer": "acme"}}
        if number is not None:
            facts["case_id"] = f"C-{number}-x"
        decision = durable.evaluate(facts, TODAY)
        assert decision == compiled.evaluate(facts, TODAY)
        expected = [] if number is None or number >= 300 else [f"r{number}"]
        assert [f["rule"] for f in decision["fired"]] == expected


def test_our_backend_agrees_with_compiled_on_a_wide_ruleset_in_a_batch():
    ruleset = load_ruleset(_wide_ruleset(300), "wide.yaml")
    cases = [
        {"as_of": "2026-03-01", "coverage": {"payer": "acme"}, "case_id": f"C-{i % 310}-x"}
        for i in range(620)
    ]
    durable = list(Evaluator([ruleset], backend="durable").evaluate_many(cases, TODAY))
    compiled = list(Evaluator([ruleset], backend="compiled").evaluate_many(cases, TODAY))
    assert durable == compiled
    assert sum(1 for d in durable if d["fired"]) == 600


def test_one_rule_wider_than_a_fact_still_decides_like_compiled():
    tests = "".join(f"        - case_id: {{prefix: C-{i}-}}\n" for i in range(300))
    text = (
        "ruleset: huge-rule\npayer: acme\nversion: 2\neffective: {from: 2026-01-01}\n"
        "rules:\n  - id: huge\n    when:\n      any:\n" + tests + "    then: {auth: review}\n"
        "  - id: huge-not\n    when:\n      not:\n        any:\n"
        + tests.replace("        - ", "          - ")
        + "    then: {notes: [none of them]}\n"
    )
    ruleset = load_ruleset(text, "huge.yaml")
    durable = Evaluator([ruleset], backend="durable")
    compiled = Evaluator([ruleset], backend="compiled")
    for case_id in ("C-0-a", "C-299-b", "C-300-c", None):
        facts = {"coverage": {"payer": "acme"}, "as_of": "2026-03-01"}
        if case_id is not None:
            facts["case_id"] = case_id
        decision = durable.evaluate(facts, TODAY)
        assert decision == compiled.evaluate(facts, TODAY)
        expected = ["huge"] if case_id in ("C-0-a", "C-299-b") else ["huge-not"]
        assert [f["rule"] for f in decision["fired"]] == expected


# -- a fact passing 64 tests ------------------------------------------------------------------------------------
def test_durable_fails_when_one_fact_passes_more_than_64_tests():
    out = in_durable(
        """
        from durable import engine
        definition = {f"r{i}": {"all": [{"m": {"$gte": {"x": i}}}], "run": lambda c: None} for i in range(65)}
        rs = engine.Ruleset("t", None, definition)
        try:
            rs.assert_fact({"sid": "s", "k": 1, "x": 1000})
            print("asserted")
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    assert out == "error Could not assert fact, error code: 303"


def test_our_backend_fires_100_rules_that_one_case_satisfies_like_compiled():
    rules = "".join(
        f"  - id: r{i}\n    when: {{clinical.score: {{gte: {i}}}}}\n    then: {{notes: [n{i}]}}\n"
        for i in range(100)
    )
    wide = "".join(f"        - clinical.score: {{gte: {i}}}\n" for i in range(100))
    text = (
        "ruleset: deep\npayer: acme\neffective: {from: 2026-01-01}\nfacts: {clinical.score: number}\nrules:\n"
        + rules
        + "  - id: wide\n    when:\n      any:\n"
        + wide
        + "    then: {notes: [wide]}\n"
    )
    ruleset = load_ruleset(text, "deep.yaml")
    facts = {"as_of": "2026-03-01", "coverage": {"payer": "acme"}, "clinical": {"score": 1000}}
    durable = Evaluator([ruleset], backend="durable").evaluate(facts, TODAY)
    assert durable == Evaluator([ruleset], backend="compiled").evaluate(facts, TODAY)
    assert [f["rule"] for f in durable["fired"]] == [f"r{i}" for i in range(100)] + ["wide"]


# -- numbers durable-rules cannot read ---------------------------------------------------------------------------
def test_durable_cannot_read_a_number_written_with_an_exponent_and_no_point():
    # Python writes 0.00001 as 1e-05 in JSON; durable-rules' parser refuses it (error 204)
    out = in_durable(
        """
        from durable import engine
        definition = {
            "r": {"all": [{"m": {"$gt": {"x": 2}}}], "run": lambda c: None},
            "any": {"all": [{"m": {"$ex": {"k": 1}}}], "run": lambda c: None},
        }
        rs = engine.Ruleset("t", None, definition)
        for value in (1.5e-05, 0.00001):
            try:
                rs.assert_fact({"sid": "s", "k": str(value), "x": value})
                print("asserted", value)
            except Exception as exc:
                print(type(exc).__name__, exc)
        """
    )
    assert out.splitlines() == ["asserted 1.5e-05", "error Could not assert fact, error code: 204"]


_TINY_RULESET = (
    "ruleset: tiny\npayer: acme\neffective: {from: 2026-01-01}\nrules:\n"
    "  - id: many-units\n    when: {service.units: {gt: 2}}\n    then: {auth: review}\n"
    "  - id: some-units\n    when: {service.units: {gt: 0.000001}}\n    then: {notes: [some]}\n"
    "  - id: always\n    when: {}\n    then: {notes: [always fires]}\n"
)
_TINY_NUMBERS = f"""
import json, sys
from datetime import date
from engine import Evaluator, load_ruleset
evaluator = Evaluator([load_ruleset({_TINY_RULESET!r}, "tiny.yaml")], backend=sys.argv[1])
fired = []
for units in (0.00001, 5e-324, 1e-20, 3):
    facts = {{"as_of": "2026-03-01", "coverage": {{"payer": "acme"}}, "service": {{"units": units}}}}
    fired.append([f["rule"] for f in evaluator.evaluate(facts, date(2026, 3, 1))["fired"]])
print(json.dumps(fired))
"""


def _tiny_numbers_on(backend: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _TINY_NUMBERS, backend], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_the_compiled_backend_decides_cases_with_tiny_numbers():
    result = _tiny_numbers_on("compiled")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["some-units", "always"],
        ["always"],
        ["always"],
        ["many-units", "some-units", "always"],
    ]


def test_our_backend_decides_cases_with_tiny_numbers_like_compiled():
    result = _tiny_numbers_on("durable")
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-500:]}"
    assert json.loads(result.stdout) == [
        ["some-units", "always"],
        ["always"],
        ["always"],
        ["many-units", "some-units", "always"],
    ]


# -- a ruleset name registered twice ---------------------------------------------------------------------------
def test_durable_lang_refuses_to_register_a_ruleset_name_twice():
    out = in_durable(
        """
        from durable.lang import get_host, m, ruleset, when_all
        with ruleset("acme"):
            @when_all(m.x == 1)
            def first(c):
                pass
        get_host()
        try:
            with ruleset("acme"):
                @when_all(m.x == 2)
                def second(c):
                    pass
            get_host()
            print("registered twice")
        except Exception as exc:
            print(exc)
        """
    )
    assert out == "Ruleset with name acme already registered"


def test_two_evaluators_on_the_same_ruleset_both_work(acme, case):
    first, second = Evaluator([acme]), Evaluator([acme])
    assert first.evaluate(case, TODAY) == second.evaluate(case, TODAY)
    assert second.evaluate(case, TODAY) == first.evaluate(case, TODAY)


def test_two_durable_runners_of_one_plan_register_under_their_own_names(acme, case):
    plan = compile_plan(acme)
    first, second = DurableRunner(plan), DurableRunner(plan)
    assert first._ruleset._name != second._ruleset._name
    assert first._ruleset._name.startswith("priorauth_acme-commercial_")
    flat = _flat(Evaluator([acme]), case)
    assert first.fired(flat, TODAY) == second.fired(flat, TODAY) == [1, 2]


# -- Host timer threads ---------------------------------------------------------------------------------------
def test_durable_host_starts_background_timer_threads():
    out = in_durable(
        """
        import threading
        from durable import engine
        before = threading.active_count()
        engine.Host()
        print(threading.active_count() - before)
        """
    )
    assert int(out) >= 2


def test_our_backend_never_creates_a_durable_host_or_a_thread():
    out = in_durable(
        f"""
        import json, threading
        from datetime import date
        before = threading.active_count()
        import durable.lang
        from engine import Evaluator, load_ruleset_file
        evaluator = Evaluator([load_ruleset_file({str(RULESET)!r})], backend="durable")
        case = json.loads(open({str(CASE)!r}).read())
        evaluator.evaluate(case, date(2026, 11, 20))
        list(evaluator.evaluate_many([case] * 300, date(2026, 11, 20)))
        print(durable.lang._main_host is None, threading.active_count() - before)
        """
    )
    assert out == "True 0"


# -- one session, no growth --------------------------------------------------------------------------------------
def test_five_thousand_evaluations_leave_no_facts_in_the_one_session(acme, case):
    evaluator = Evaluator([acme])
    runner = runner_of(evaluator, acme)
    for i in range(2_500):
        evaluator.evaluate({**case, "case_id": f"C-{i}", "urgency": ("standard", "emergency")[i % 2]}, TODAY)
    batch = [{**case, "case_id": f"B-{i}"} for i in range(2_500)]
    assert len(list(evaluator.evaluate_many(batch, TODAY))) == 2_500
    assert runner_of(evaluator, acme) is runner
    assert runner._ruleset.get_facts("pa") == []
    assert runner._ruleset.get_state("pa") == {"sid": "pa", "id": "sid-pa", "$s": 1}


# -- failures become BackendError ------------------------------------------------------------------------------
def test_a_failure_inside_durable_becomes_a_backend_error_naming_the_ruleset(acme, case, monkeypatch):
    evaluator = Evaluator([acme])
    runner = runner_of(evaluator, acme)

    def broken(_text):
        raise RuntimeError("the engine broke (case C-1001 for patient P-77)")

    monkeypatch.setattr(runner, "_assert_facts", broken)
    with pytest.raises(BackendError) as info:
        evaluator.evaluate(case, TODAY)
    assert str(info.value) == "durable-rules failed evaluating ruleset acme-commercial v4: RuntimeError"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_failure_inside_durable_is_one_error_per_case_of_a_batch(acme, case, monkeypatch):
    evaluator = Evaluator([acme])
    runner = runner_of(evaluator, acme)
    monkeypatch.setattr(runner, "_assert_facts", lambda _text: 1 / 0)
    results = list(evaluator.evaluate_many([case, {"coverage": {"payer": "nobody"}}, case], TODAY))
    assert [type(r).__name__ for r in results] == ["BackendError", "dict", "BackendError"]
    assert str(results[0]) == "durable-rules failed evaluating ruleset acme-commercial v4: ZeroDivisionError"


def test_the_runner_works_again_after_a_failure(acme, case, monkeypatch):
    evaluator = Evaluator([acme])
    good = evaluator.evaluate(case, TODAY)
    runner = runner_of(evaluator, acme)
    monkeypatch.setattr(runner, "_assert_facts", lambda _text: 1 / 0)
    with pytest.raises(BackendError):
        evaluator.evaluate(case, TODAY)
    monkeypatch.undo()
    assert evaluator.evaluate(case, TODAY) == good
    assert runner._ruleset.get_facts("pa") == []


# -- threads ---------------------------------------------------------------------------------------------------
def test_the_evaluator_serialises_access_across_threads(acme, case):
    cases = [
        {
            **case,
            "case_id": f"T-{i}",
            "urgency": ("standard", "expedited", "emergency")[i % 3],
            "service": {**case["service"], "codes": [("72148", "70551", "99213", "72158")[i % 4]]},
            "clinical": {**case["clinical"], "conservative_therapy_weeks": i % 9},
        }
        for i in range(500)
    ]
    expected = [Evaluator([acme]).evaluate(c, TODAY) for c in cases]
    shared = Evaluator([acme])
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            results[worker] = [shared.evaluate(c, TODAY) for c in cases]
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sorted(results) == [0, 1, 2, 3]
    for worker in range(4):
        assert results[worker] == expected
